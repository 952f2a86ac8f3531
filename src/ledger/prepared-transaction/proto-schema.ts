import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * Loads our .proto transcription (proto/) into a protobufjs reflection root once, at import.
 * Reflection rather than generated code: the schema is small, stays readable next to Canton's,
 * and the typed surface of this module is our own types.ts anyway, never protobufjs objects.
 */

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

const FILES = ['com/daml/ledger/api/v2/interactive/prepared_transaction.proto'];

function loadRoot(): protobuf.Root {
  // 64-bit fields must round-trip exactly; without Long protobufjs falls back to lossy doubles.
  if (!protobuf.util.Long) throw new Error('protobufjs loaded without "long": 64-bit fields would lose precision');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  // keepCase: field names stay as in the .proto (snake_case), as in Canton's proto-JSON fixtures.
  root.loadSync(FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

const root = loadRoot();

export const ProtoTypes = {
  PreparedTransaction: root.lookupType('com.daml.ledger.api.v2.interactive.PreparedTransaction'),
} as const;

export type ProtoType = protobuf.Type;
export type ProtoField = protobuf.Field;

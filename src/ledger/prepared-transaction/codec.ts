import { preparedTransactionFromPlain, preparedTransactionToPlain } from './convert.js';
import { fail, PreparedTransactionError } from './errors.js';
import { isPlain } from './plain-reader.js';
import { normalizeProtoJson } from './proto-json.js';
import { ProtoTypes } from './proto-schema.js';
import type { PreparedTransaction } from './types.js';

const TO_OBJECT = { longs: String, enums: String, defaults: false, arrays: false, oneofs: false } as const;

export interface DecodeOptions {
  /**
   * Accept bytes that do not re-encode to themselves (unknown fields, duplicated or out-of-order
   * fields, fields with the wrong wire type). Default false: such bytes carry something our model
   * cannot see, and the node that executes them would read every byte, so we refuse to sign.
   * Canton writes canonical protobuf (fields in number order, no unknown fields), which passes.
   */
  allowNonCanonical?: boolean;
}

/**
 * Decodes the `preparedTransaction` of a prepare response: raw protobuf bytes, or the base64
 * string exactly as the JSON Ledger API returns it. Throws PreparedTransactionError (DECODE) on
 * anything that is not a complete, canonical PreparedTransaction.
 */
export function decodePreparedTransaction(input: Uint8Array | string, options: DecodeOptions = {}): PreparedTransaction {
  const bytes = typeof input === 'string' ? base64ToBytes(input, 'preparedTransaction') : input;
  if (!(bytes instanceof Uint8Array)) fail('DECODE', 'preparedTransaction must be bytes or a base64 string');
  if (bytes.length === 0) fail('DECODE', 'preparedTransaction is empty');
  let plain: unknown;
  try {
    const message = ProtoTypes.PreparedTransaction.decode(bytes);
    plain = ProtoTypes.PreparedTransaction.toObject(message, TO_OBJECT);
  } catch (e) {
    fail('DECODE', `preparedTransaction is not a PreparedTransaction protobuf: ${errorText(e)}`, e);
  }
  if (!isPlain(plain)) fail('DECODE', 'preparedTransaction did not decode to a message');
  const tx = wrapDecode(() => preparedTransactionFromPlain(plain));
  if (!options.allowNonCanonical) {
    const again = encodePreparedTransaction(tx);
    if (!equalBytes(again, bytes)) {
      fail(
        'DECODE',
        'preparedTransaction is not in canonical protobuf form (unknown, repeated or misplaced fields): ' +
          'it may carry content this client cannot inspect',
      );
    }
  }
  return tx;
}

/** Encodes to protobuf bytes, fields in field-number order (as Canton's Java encoder writes them). */
export function encodePreparedTransaction(tx: PreparedTransaction): Uint8Array {
  const plain = preparedTransactionToPlain(tx);
  const message = ProtoTypes.PreparedTransaction.fromObject(plain);
  const out = ProtoTypes.PreparedTransaction.encode(message).finish();
  // A fresh plain Uint8Array: protobufjs may hand back a Node Buffer view over a shared pool.
  return new Uint8Array(out);
}

export function encodePreparedTransactionBase64(tx: PreparedTransaction): string {
  return bytesToBase64(encodePreparedTransaction(tx));
}

/**
 * Reads a PreparedTransaction in protobuf-JSON form (what `protoc --decode`/grpcurl style tools and
 * our recorded fixtures show): proto field names or lowerCamelCase, 64-bit numbers as strings,
 * bytes as base64. Unknown keys are refused, not ignored.
 */
export function preparedTransactionFromProtoJson(json: unknown): PreparedTransaction {
  const normalized = wrapDecode(() => normalizeProtoJson(ProtoTypes.PreparedTransaction, json, 'PreparedTransaction'));
  let plain: unknown;
  try {
    const message = ProtoTypes.PreparedTransaction.fromObject(normalized);
    plain = ProtoTypes.PreparedTransaction.toObject(message, TO_OBJECT);
  } catch (e) {
    fail('DECODE', `not a PreparedTransaction in protobuf-JSON form: ${errorText(e)}`, e);
  }
  if (!isPlain(plain)) fail('DECODE', 'protobuf-JSON did not convert to a message');
  return wrapDecode(() => preparedTransactionFromPlain(plain));
}

/**
 * The reverse of preparedTransactionFromProtoJson, in the form of our recorded fixtures: proto
 * field names, scalars and lists written even when default, unset messages left out, int64 as
 * strings, bytes base64.
 */
export function preparedTransactionToProtoJson(tx: PreparedTransaction): Record<string, unknown> {
  const message = ProtoTypes.PreparedTransaction.fromObject(preparedTransactionToPlain(tx));
  const json: unknown = ProtoTypes.PreparedTransaction.toObject(message, {
    ...TO_OBJECT,
    defaults: true,
    arrays: true,
    bytes: String,
  });
  if (!isPlain(json)) fail('DECODE', 'unexpected protobufjs output');
  return tidyProtoJson(json) as Record<string, unknown>;
}

/**
 * Drops the nulls protobufjs writes for unset messages, and gives back Canton's name for the
 * field our .proto calls `constructor_name` (see value.proto).
 */
function tidyProtoJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(tidyProtoJson);
  if (!isPlain(v)) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== null && x !== undefined)
      .map(([k, x]) => [k === 'constructor_name' ? 'constructor' : k, tidyProtoJson(x)]),
  );
}

// ---------------------------------------------------------------------------------------------

/** Strict standard base64 (the JSON Ledger API's encoding): no whitespace, padding required. */
export function base64ToBytes(s: string, what: string): Uint8Array {
  if (typeof s !== 'string') fail('DECODE', `${what} is not valid base64`);
  // Node's decoder skips what is not base64: only text that encodes back to itself is canonical
  // base64 (padded, standard alphabet). Natively, rather than a regular expression over the text.
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) fail('DECODE', `${what} is not valid base64`);
  return new Uint8Array(bytes);
}

export function bytesToBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function wrapDecode<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PreparedTransactionError) throw e;
    // e.g. RangeError from a pathological nesting depth: still a refusal, never a crash.
    fail('DECODE', `preparedTransaction could not be read: ${errorText(e)}`, e);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

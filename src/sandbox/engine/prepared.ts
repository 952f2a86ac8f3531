import {
  decodePreparedTransaction,
  encodePreparedTransaction,
  hashPreparedTransaction,
  type CreateNode,
  type Identifier,
  type InputContract,
  type PreparedTransaction,
  type TransactionNode,
  type Value,
} from '../../ledger/prepared-transaction/index.js';
import { isJsonObject, type Json } from '../util/json.js';
import type { Rng } from '../util/rng.js';
import { isoToMicros, type Micros } from '../util/time.js';
import { encodeBlob } from './blob.js';
import { createArgument, signatories, stakeholders, templateOf } from './templates.js';
import { planInputs, type TxPlan } from './tx.js';
import type { Contract, NodeDraft, QualifiedName } from './types.js';

/**
 * The one place where an interpreted transaction becomes Canton's PreparedTransaction protobuf
 * (src/ledger/prepared-transaction) and its V2 hash — the bytes an external party signs. A client
 * can decode what prepare returns and recompute the hash, exactly as against a real node.
 *
 * The double's values are JSON; they become protobuf values by shape: "<hint>::1220…" is a
 * Party, "00…" hex a ContractId, an ISO instant a Timestamp, "123.0000000000" a Numeric, a digit
 * string an Int64, {tag, value} a variant, null an empty Optional, `values` maps (Metadata,
 * ChoiceContext) TextMaps, everything else Text / records / lists. So damlValueToJson of a
 * decoded value gives back exactly the JSON the double shows on the ledger.
 */
const PARTY = /^[^:\s]+::1220[0-9a-f]{64}$/;
const CONTRACT_ID = /^00[0-9a-f]{64}(?:ca111220[0-9a-f]{64})?$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;
const NUMERIC = /^-?\d+\.\d{10}$/;
const INT64 = /^-?\d{1,18}$/;
const LF_VERSION = '2.1';

function textValue(s: string): Value {
  return { kind: 'text', value: s };
}

export function jsonToValue(json: Json, inTextMap = false): Value {
  if (json === null) return { kind: 'optional' };
  if (typeof json === 'boolean') return { kind: 'bool', value: json };
  if (typeof json === 'number') return { kind: 'int64', value: BigInt(Math.trunc(json)) };
  if (typeof json === 'string') {
    if (inTextMap) return textValue(json);
    if (PARTY.test(json)) return { kind: 'party', value: json };
    if (CONTRACT_ID.test(json)) return { kind: 'contractId', value: json };
    if (TIMESTAMP.test(json)) return { kind: 'timestamp', value: isoToMicros(json) };
    if (NUMERIC.test(json)) return { kind: 'numeric', value: json };
    if (INT64.test(json)) return { kind: 'int64', value: BigInt(json) };
    return textValue(json);
  }
  if (Array.isArray(json)) return { kind: 'list', elements: json.map((x) => jsonToValue(x)) };
  const keys = Object.keys(json);
  if (keys.length === 2 && typeof json['tag'] === 'string' && 'value' in json) {
    return { kind: 'variant', tag: json['tag'], value: jsonToValue(json['value'] ?? null) };
  }
  return {
    kind: 'record',
    fields: keys.map((label) => {
      const x = json[label] ?? null;
      // Metadata and ChoiceContext keep their entries in a TextMap called `values`.
      if (label === 'values' && isJsonObject(x)) {
        return {
          label,
          value: {
            kind: 'textMap',
            entries: Object.entries(x).map(([key, val]) => ({ key, value: typeof val === 'string' ? textValue(val) : jsonToValue(val) })),
          },
        };
      }
      return { label, value: jsonToValue(x) };
    }),
  };
}

function ident(q: QualifiedName): Identifier {
  return { packageId: q.packageId, moduleName: q.moduleName, entityName: q.entityName };
}

function createNode(c: Contract): CreateNode {
  const template = templateOf(c.payload);
  return {
    kind: 'create',
    lfVersion: LF_VERSION,
    contractId: c.contractId,
    packageName: template.packageName,
    templateId: ident(template),
    argument: jsonToValue(createArgument(c.payload)),
    signatories: signatories(c.payload),
    stakeholders: [...stakeholders(c.payload)].sort(),
  };
}

export interface PreparedMeta {
  readonly actAs: readonly string[];
  readonly commandId: string;
  readonly synchronizerId: string;
  readonly transactionUuid: string;
  readonly preparationTime: Micros;
  readonly maxRecordTime?: Micros;
  /** Ledger-time bounds the interpretation depends on (requestedAt … executeBefore). */
  readonly minLedgerEffectiveTime?: Micros;
  readonly maxLedgerEffectiveTime?: Micros;
  /** The contracts the transaction uses that existed before it. */
  readonly inputs: ReadonlyMap<string, Contract>;
}

/** Builds the PreparedTransaction of a plan (node ids in pre-order, like the committed tree). */
export function buildPreparedTransaction(plan: TxPlan, meta: PreparedMeta, rng: Rng): PreparedTransaction {
  const nodes: TransactionNode[] = [];
  const seeds: { nodeId: number; seed: Uint8Array }[] = [];
  let next = 0;
  const visit = (n: NodeDraft): string => {
    const id = next++;
    const nodeId = String(id);
    const slot = nodes.length;
    nodes.push({ nodeId, version: 'v1', node: { kind: 'rollback', children: [] } });
    if (n.kind === 'create') {
      seeds.push({ nodeId: id, seed: new Uint8Array(rng.bytes(32)) });
      nodes[slot] = { nodeId, version: 'v1', node: createNode(n.contract) };
    } else if (n.kind === 'fetch') {
      const template = templateOf(n.target.payload);
      nodes[slot] = {
        nodeId,
        version: 'v1',
        node: {
          kind: 'fetch',
          lfVersion: LF_VERSION,
          contractId: n.target.contractId,
          packageName: template.packageName,
          templateId: ident(template),
          signatories: signatories(n.target.payload),
          stakeholders: [...stakeholders(n.target.payload)].sort(),
          actingParties: [...new Set(n.actingParties)].sort(),
        },
      };
    } else {
      seeds.push({ nodeId: id, seed: new Uint8Array(rng.bytes(32)) });
      const template = templateOf(n.target.payload);
      const children = n.children.map(visit);
      nodes[slot] = {
        nodeId,
        version: 'v1',
        node: {
          kind: 'exercise',
          lfVersion: LF_VERSION,
          contractId: n.target.contractId,
          packageName: template.packageName,
          templateId: ident(template),
          signatories: signatories(n.target.payload),
          stakeholders: [...stakeholders(n.target.payload)].sort(),
          actingParties: [...new Set(n.actingParties)].sort(),
          ...(n.interfaceId ? { interfaceId: ident(n.interfaceId) } : {}),
          choiceId: n.choice,
          chosenValue: jsonToValue(n.choiceArgument),
          consuming: n.consuming,
          children,
          exerciseResult: jsonToValue(n.result),
          choiceObservers: [...new Set(n.choiceObservers ?? [])].sort(),
        },
      };
    }
    return nodeId;
  };
  const roots = plan.roots.map(visit);
  const inputContracts: InputContract[] = [...meta.inputs.values()]
    .sort((a, b) => a.contractId.localeCompare(b.contractId))
    .map((c) => ({
      contract: { version: 'v1', create: createNode(c) },
      createdAt: isoToMicros(c.createdAt),
      eventBlob: new Uint8Array(Buffer.from(encodeBlob(c), 'base64')),
    }));
  return {
    transaction: { version: LF_VERSION, roots, nodes, nodeSeeds: seeds },
    metadata: {
      submitterInfo: { actAs: [...meta.actAs], commandId: meta.commandId },
      synchronizerId: meta.synchronizerId,
      mediatorGroup: 0,
      transactionUuid: meta.transactionUuid,
      preparationTime: meta.preparationTime,
      inputContracts,
      globalKeyMapping: [],
      ...(meta.minLedgerEffectiveTime !== undefined ? { minLedgerEffectiveTime: meta.minLedgerEffectiveTime } : {}),
      ...(meta.maxLedgerEffectiveTime !== undefined ? { maxLedgerEffectiveTime: meta.maxLedgerEffectiveTime } : {}),
      ...(meta.maxRecordTime !== undefined ? { maxRecordTime: meta.maxRecordTime } : {}),
    },
  };
}

/** Contracts a plan reads or spends that exist outside it (the prepared tx's input contracts). */
export function inputContractsOf(plan: TxPlan): Map<string, Contract> {
  const { consumed, referenced } = planInputs(plan);
  const wanted = new Set([...consumed, ...referenced]);
  const out = new Map<string, Contract>();
  const walk = (ns: readonly NodeDraft[]) => {
    for (const n of ns) {
      if (n.kind !== 'create' && wanted.has(n.target.contractId)) out.set(n.target.contractId, n.target);
      if (n.kind === 'exercise') walk(n.children);
    }
  };
  walk(plan.roots);
  return out;
}

export interface EncodedPrepared {
  readonly bytes: Uint8Array;
  /** The 32 bytes the party signs. */
  readonly hash: Uint8Array;
}

export function encodePrepared(tx: PreparedTransaction): EncodedPrepared {
  return { bytes: encodePreparedTransaction(tx), hash: hashPreparedTransaction(tx, 'HASHING_SCHEME_VERSION_V2') };
}

/** Decodes a submitted preparedTransaction and recomputes its hash (throws PreparedTransactionError). */
export function decodePrepared(base64: string): { tx: PreparedTransaction; hash: Uint8Array } {
  const tx = decodePreparedTransaction(base64);
  return { tx, hash: hashPreparedTransaction(tx, 'HASHING_SCHEME_VERSION_V2') };
}

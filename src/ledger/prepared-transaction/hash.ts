import { createHash } from 'node:crypto';
import { bytesToBase64 } from './codec.js';
import { fail } from './errors.js';
import { indexTransaction, SEED_LENGTH, type TransactionIndex } from './structure.js';
import type {
  CreateNode,
  DamlTransaction,
  ExerciseNode,
  FetchNode,
  HashingSchemeVersion,
  Identifier,
  InputContract,
  Metadata,
  PreparedTransaction,
  RollbackNode,
  TransactionNode,
  Value,
} from './types.js';

/**
 * Canton's "External Signing Hashing Algorithm", hashing scheme V2, implemented from the
 * specification (docs.digitalasset.com, explanations/external-signing/external_signing_hashing_algorithm).
 *
 * Shape of the computation:
 *   hash(tx)       = sha256(purpose || encode(version) || encode(roots as node hashes))
 *   hash(node)     = sha256(encode_node(node)), children are embedded as their node hashes
 *   hash(metadata) = sha256(purpose || 0x01 || act_as || command_id || transaction_uuid ||
 *                           mediator_group || synchronizer_id || opt(min LET) || opt(max LET) ||
 *                           preparation_time || input contracts)
 *   final          = sha256(purpose || 0x02 || hash(tx) || hash(metadata))
 * with purpose = 0x00000030 and Java's big-endian encodings of integers (see Encoder).
 *
 * Deliberately NOT covered by V2 (so a preparing node could change them without changing the
 * hash): metadata.max_record_time, metadata.global_key_mapping, input contracts' event blobs,
 * and the node ids themselves (only the tree shape is hashed).
 */

const HASH_PURPOSE = Uint8Array.of(0x00, 0x00, 0x00, 0x30);
const HASHING_SCHEME_V2_BYTE = 0x02;
const NODE_ENCODING_V1 = 0x01;
const METADATA_ENCODING_V1 = 0x01;

const NodeTag = { Create: 0x00, Exercise: 0x01, Fetch: 0x02, Rollback: 0x03 } as const;

/** One-byte type tags that prefix every encoded Daml value. */
const VALUE_TAG = {
  unit: 0x00,
  bool: 0x01,
  int64: 0x02,
  numeric: 0x03,
  timestamp: 0x04,
  date: 0x05,
  party: 0x06,
  text: 0x07,
  contractId: 0x08,
  optional: 0x09,
  list: 0x0a,
  textMap: 0x0b,
  record: 0x0c,
  variant: 0x0d,
  enum: 0x0e,
  genMap: 0x0f,
} as const satisfies Record<Value['kind'], number>;

/** The 32-byte V2 hash: the bytes the party signs. Raw SHA-256 output, not a multihash. */
export function hashPreparedTransaction(tx: PreparedTransaction, version: HashingSchemeVersion = 'HASHING_SCHEME_VERSION_V2'): Uint8Array {
  if (version !== 'HASHING_SCHEME_VERSION_V2') fail('UNSUPPORTED', `hashing scheme ${String(version)} is not implemented`);
  let txHash: Uint8Array;
  try {
    txHash = hashTransaction(tx.transaction);
  } catch (e) {
    // A tree deep enough to exhaust the stack is refused like any other malformed transaction.
    if (e instanceof RangeError) fail('INVALID', `transaction could not be hashed: ${e.message}`, e);
    throw e;
  }
  return sha256(new Encoder().raw(HASH_PURPOSE).byte(HASHING_SCHEME_V2_BYTE).raw(txHash).raw(hashMetadata(tx.metadata)).finish());
}

/** Base64 of hashPreparedTransaction: compare with the prepare response's `preparedTransactionHash`. */
export function hashPreparedTransactionBase64(
  tx: PreparedTransaction,
  version: HashingSchemeVersion = 'HASHING_SCHEME_VERSION_V2',
): string {
  return bytesToBase64(hashPreparedTransaction(tx, version));
}

export function hashTransaction(tx: DamlTransaction): Uint8Array {
  const index = indexTransaction(tx);
  const e = new Encoder().raw(HASH_PURPOSE).string(tx.version);
  e.list(tx.roots, (id) => e.raw(hashNode(index.node(id), index)));
  return sha256(e.finish());
}

export function hashMetadata(m: Metadata): Uint8Array {
  const e = new Encoder().raw(HASH_PURPOSE).byte(METADATA_ENCODING_V1);
  e.list(m.submitterInfo.actAs, (p) => e.string(p));
  e.string(m.submitterInfo.commandId);
  e.string(m.transactionUuid);
  e.int32(m.mediatorGroup);
  e.string(m.synchronizerId);
  e.optional(m.minLedgerEffectiveTime, (t) => e.int64(t));
  e.optional(m.maxLedgerEffectiveTime, (t) => e.int64(t));
  e.int64(m.preparationTime);
  e.list(m.inputContracts, (c) => encodeInputContract(e, c));
  return sha256(e.finish());
}

/** created_at, then the hash of the contract's create node as if it had no seed. */
function encodeInputContract(e: Encoder, c: InputContract): void {
  e.int64(c.createdAt);
  if (c.contract.version !== 'v1') fail('UNSUPPORTED', 'input contract: only v1 contracts can be hashed');
  e.raw(sha256(encodeCreate(new Encoder(), c.contract.create, undefined).finish()));
}

function hashNode(n: TransactionNode, index: TransactionIndex): Uint8Array {
  if (n.version !== 'v1') fail('UNSUPPORTED', `node ${n.nodeId}: only v1 nodes can be hashed`);
  const e = new Encoder();
  const node = n.node;
  switch (node.kind) {
    case 'create':
      encodeCreate(e, node, index.seed(n.nodeId));
      break;
    case 'exercise': {
      const seed = index.seed(n.nodeId);
      if (!seed) fail('INVALID', `exercise node ${n.nodeId} has no seed`);
      encodeExercise(e, node, seed, index);
      break;
    }
    case 'fetch':
      encodeFetch(e, node);
      break;
    case 'rollback':
      encodeRollback(e, node, index);
      break;
  }
  return sha256(e.finish());
}

function encodeCreate(e: Encoder, n: CreateNode, seed: Uint8Array | undefined): Encoder {
  e.byte(NODE_ENCODING_V1).string(n.lfVersion).byte(NodeTag.Create);
  // Seeds have a fixed length, so they go in without a length prefix.
  e.optional(seed, (s) => e.raw(checkedSeed(s)));
  e.hex(n.contractId, 'create.contract_id').string(n.packageName).identifier(n.templateId).value(n.argument);
  e.list(n.signatories, (p) => e.string(p));
  e.list(n.stakeholders, (p) => e.string(p));
  return e;
}

function encodeExercise(e: Encoder, n: ExerciseNode, seed: Uint8Array, index: TransactionIndex): void {
  e.byte(NODE_ENCODING_V1).string(n.lfVersion).byte(NodeTag.Exercise).raw(checkedSeed(seed));
  e.hex(n.contractId, 'exercise.contract_id').string(n.packageName).identifier(n.templateId);
  e.list(n.signatories, (p) => e.string(p));
  e.list(n.stakeholders, (p) => e.string(p));
  e.list(n.actingParties, (p) => e.string(p));
  e.optional(n.interfaceId, (id) => e.identifier(id));
  e.string(n.choiceId).value(n.chosenValue).bool(n.consuming);
  e.optional(n.exerciseResult, (v) => e.value(v));
  e.list(n.choiceObservers, (p) => e.string(p));
  e.list(n.children, (id) => e.raw(hashNode(index.node(id), index)));
}

function encodeFetch(e: Encoder, n: FetchNode): void {
  e.byte(NODE_ENCODING_V1).string(n.lfVersion).byte(NodeTag.Fetch);
  e.hex(n.contractId, 'fetch.contract_id').string(n.packageName).identifier(n.templateId);
  e.list(n.signatories, (p) => e.string(p));
  e.list(n.stakeholders, (p) => e.string(p));
  e.optional(n.interfaceId, (id) => e.identifier(id));
  e.list(n.actingParties, (p) => e.string(p));
}

function encodeRollback(e: Encoder, n: RollbackNode, index: TransactionIndex): void {
  // Rollback nodes carry no LF version.
  e.byte(NODE_ENCODING_V1).byte(NodeTag.Rollback);
  e.list(n.children, (id) => e.raw(hashNode(index.node(id), index)));
}

function checkedSeed(seed: Uint8Array): Uint8Array {
  if (seed.length !== SEED_LENGTH) fail('INVALID', `node seed is ${seed.length} bytes, not ${SEED_LENGTH}`);
  return seed;
}

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

/**
 * The spec's `encode` functions. Integers are written as Java writes them: big-endian, two's
 * complement, 4 bytes for (u)int32 and 8 for (u)int64 — an unsigned value with the top bit set
 * has the same bytes as Java's negative signed counterpart. Collection lengths are int32.
 */
export class Encoder {
  // One growing buffer: a node encodes hundreds of small fields, and a buffer per field (then a
  // copy of each into the result) was most of the hashing time.
  private buf = Buffer.allocUnsafe(256);
  private size = 0;

  private reserve(n: number): void {
    if (this.size + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.size + n));
    this.buf.copy(next, 0, 0, this.size);
    this.buf = next;
  }

  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.size);
    this.size += b.length;
    return this;
  }

  byte(b: number): this {
    this.reserve(1);
    this.buf[this.size++] = b;
    return this;
  }

  bool(b: boolean): this {
    return this.byte(b ? 1 : 0);
  }

  int32(n: number): this {
    if (!Number.isInteger(n) || n < -(2 ** 31) || n > 2 ** 32 - 1) fail('VALUE', `${n} does not fit 32 bits`);
    this.reserve(4);
    this.size = this.buf.writeUInt32BE(n >>> 0, this.size);
    return this;
  }

  int64(n: bigint): this {
    if (n < -(2n ** 63n) || n > 2n ** 64n - 1n) fail('VALUE', `${n} does not fit 64 bits`);
    this.reserve(8);
    this.size = this.buf.writeBigUInt64BE(BigInt.asUintN(64, n), this.size);
    return this;
  }

  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): this {
    return this.int32(b.length).raw(b);
  }

  string(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.int32(n).reserve(n);
    this.size += this.buf.write(s, this.size, n, 'utf8');
    return this;
  }

  /** Contract ids are hex strings and are hashed as the bytes they spell, length-prefixed. */
  hex(s: string, what: string): this {
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) fail('INVALID', `${what} "${s}" is not a hex string`);
    return this.bytes(new Uint8Array(Buffer.from(s, 'hex')));
  }

  list<T>(items: readonly T[], each: (item: T) => void): this {
    this.int32(items.length);
    for (const item of items) each(item);
    return this;
  }

  optional<T>(v: T | undefined, each: (v: T) => void): this {
    if (v === undefined) return this.byte(0);
    this.byte(1);
    each(v);
    return this;
  }

  identifier(id: Identifier): this {
    this.string(id.packageId);
    this.list(id.moduleName.split('.'), (s) => this.string(s));
    this.list(id.entityName.split('.'), (s) => this.string(s));
    return this;
  }

  value(v: Value): this {
    this.byte(VALUE_TAG[v.kind]);
    switch (v.kind) {
      case 'unit':
        return this;
      case 'bool':
        return this.bool(v.value);
      case 'int64':
      case 'timestamp':
        return this.int64(v.value);
      case 'date':
        return this.int32(v.value);
      case 'numeric':
      case 'party':
      case 'text':
        return this.string(v.value);
      case 'contractId':
        return this.hex(v.value, 'contract id value');
      case 'optional':
        return this.optional(v.value, (x) => this.value(x));
      case 'list':
        return this.list(v.elements, (x) => this.value(x));
      case 'textMap':
        return this.list(v.entries, (x) => this.string(x.key).value(x.value));
      case 'genMap':
        return this.list(v.entries, (x) => this.value(x.key).value(x.value));
      case 'record':
        this.optional(v.recordId, (id) => this.identifier(id));
        // The spec encodes every label as a present optional (`some(label)`), even an empty one.
        return this.list(v.fields, (f) => this.byte(1).string(f.label).value(f.value));
      case 'variant':
        this.optional(v.variantId, (id) => this.identifier(id));
        return this.string(v.tag).value(v.value);
      case 'enum':
        this.optional(v.enumId, (id) => this.identifier(id));
        return this.string(v.tag);
    }
  }

  finish(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.size));
  }
}

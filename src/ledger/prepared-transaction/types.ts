/**
 * A decoded `com.daml.ledger.api.v2.interactive.PreparedTransaction`, as plain typed data.
 *
 * Shapes follow the protobuf messages one to one (camelCase names), with two conventions:
 * - 64-bit integers (Daml Int, timestamps, preparation time, ...) are `bigint`, never `number`,
 *   so no value above 2^53 is silently rounded;
 * - a message field that protobuf can leave unset (interface id, exercise result, record id, the
 *   `optional` metadata times, ...) is an optional property: "unset" and "set to a default" hash
 *   differently, so the difference must survive decoding.
 */

export interface Identifier {
  packageId: string;
  /** Dot-separated, e.g. "Splice.Api.Token.TransferInstructionV1". */
  moduleName: string;
  entityName: string;
}

export interface RecordField {
  /** Canton always labels fields in prepared transactions; "" means no label. */
  label: string;
  value: Value;
}

export interface TextMapEntry {
  key: string;
  value: Value;
}

export interface GenMapEntry {
  key: Value;
  value: Value;
}

/** A Daml-LF value (`com.daml.ledger.api.v2.Value`). */
export type Value =
  | { kind: 'unit' }
  | { kind: 'bool'; value: boolean }
  | { kind: 'int64'; value: bigint }
  /** Days since 1970-01-01 (int32). */
  | { kind: 'date'; value: number }
  /** Microseconds since 1970-01-01T00:00:00Z. */
  | { kind: 'timestamp'; value: bigint }
  /** Decimal string exactly as the ledger wrote it (e.g. "15.0000000000"). */
  | { kind: 'numeric'; value: string }
  | { kind: 'party'; value: string }
  | { kind: 'text'; value: string }
  /** Hex string. */
  | { kind: 'contractId'; value: string }
  /** `value` absent = None. */
  | { kind: 'optional'; value?: Value }
  | { kind: 'list'; elements: Value[] }
  | { kind: 'textMap'; entries: TextMapEntry[] }
  | { kind: 'genMap'; entries: GenMapEntry[] }
  | { kind: 'record'; recordId?: Identifier; fields: RecordField[] }
  | { kind: 'variant'; variantId?: Identifier; tag: string; value: Value }
  | { kind: 'enum'; enumId?: Identifier; tag: string };

export type ValueKind = Value['kind'];

export interface CreateNode {
  kind: 'create';
  lfVersion: string;
  contractId: string;
  packageName: string;
  templateId: Identifier;
  argument: Value;
  signatories: string[];
  stakeholders: string[];
}

/** What an exercise and a fetch both say about the contract they act on. */
export interface ContractAction {
  lfVersion: string;
  contractId: string;
  packageName: string;
  templateId: Identifier;
  signatories: string[];
  stakeholders: string[];
  actingParties: string[];
  /** Set when the contract was acted on through an interface. */
  interfaceId?: Identifier;
}

export interface ExerciseNode extends ContractAction {
  kind: 'exercise';
  choiceId: string;
  chosenValue: Value;
  consuming: boolean;
  /** Node ids of the sub-actions, in execution order. */
  children: string[];
  exerciseResult?: Value;
  choiceObservers: string[];
}

export interface FetchNode extends ContractAction {
  kind: 'fetch';
}

export interface RollbackNode {
  kind: 'rollback';
  children: string[];
}

/** `interactive.transaction.v1.Node`. */
export type NodeV1 = CreateNode | ExerciseNode | FetchNode | RollbackNode;

/** `DamlTransaction.Node`: a node id plus the versioned node (only version 1 exists in 3.4). */
export interface TransactionNode {
  nodeId: string;
  version: 'v1';
  node: NodeV1;
}

export interface NodeSeed {
  nodeId: number;
  /** 32 bytes. */
  seed: Uint8Array;
}

export interface DamlTransaction {
  /** Serialization version, e.g. "2.1". */
  version: string;
  roots: string[];
  nodes: TransactionNode[];
  nodeSeeds: NodeSeed[];
}

export interface SubmitterInfo {
  actAs: string[];
  commandId: string;
}

export interface GlobalKey {
  templateId: Identifier;
  packageName: string;
  key: Value;
  hash: Uint8Array;
}

export interface GlobalKeyMappingEntry {
  key: GlobalKey;
  value?: Value;
}

export interface InputContract {
  /** The contract's create node (`oneof contract { v1 }`). */
  contract: { version: 'v1'; create: CreateNode };
  /** Microseconds since the epoch. */
  createdAt: bigint;
  eventBlob: Uint8Array;
}

export interface Metadata {
  submitterInfo: SubmitterInfo;
  synchronizerId: string;
  mediatorGroup: number;
  transactionUuid: string;
  /** Microseconds since the epoch. */
  preparationTime: bigint;
  inputContracts: InputContract[];
  globalKeyMapping: GlobalKeyMappingEntry[];
  minLedgerEffectiveTime?: bigint;
  maxLedgerEffectiveTime?: bigint;
  /** Microseconds since the epoch. NOT covered by the V2 hash. */
  maxRecordTime?: bigint;
}

export interface PreparedTransaction {
  transaction: DamlTransaction;
  metadata: Metadata;
}

export type HashingSchemeVersion = 'HASHING_SCHEME_VERSION_V2';

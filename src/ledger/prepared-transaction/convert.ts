import { fail } from './errors.js';
import { bool, bytes, int, isPlain, list, long, obj, optLong, optMsg, req, str, strings, type Plain } from './plain-reader.js';
import type {
  ContractAction,
  CreateNode,
  DamlTransaction,
  ExerciseNode,
  FetchNode,
  GlobalKeyMappingEntry,
  Identifier,
  InputContract,
  Metadata,
  NodeSeed,
  NodeV1,
  PreparedTransaction,
  RollbackNode,
  TransactionNode,
  Value,
} from './types.js';

/**
 * Conversion between our typed model (types.ts) and the plain objects protobufjs reads and writes
 * (snake_case keys, 64-bit integers as decimal strings, bytes as Uint8Array). The only place that
 * knows protobufjs' object shapes; both directions check what they see.
 */

/** Far above anything Daml produces (values nest at most 100 deep), far below a stack overflow. */
const MAX_VALUE_DEPTH = 500;

const VALUE_KINDS = [
  'unit',
  'bool',
  'int64',
  'date',
  'timestamp',
  'numeric',
  'party',
  'text',
  'contract_id',
  'optional',
  'list',
  'text_map',
  'gen_map',
  'record',
  'variant',
  'enum',
] as const;

// ---------------------------------------------------------------------------------------------
// plain -> typed

export function preparedTransactionFromPlain(p: Plain): PreparedTransaction {
  return {
    transaction: transactionFromPlain(req(p, 'transaction', 'PreparedTransaction'), 'transaction'),
    metadata: metadataFromPlain(req(p, 'metadata', 'PreparedTransaction'), 'metadata'),
  };
}

function transactionFromPlain(p: Plain, at: string): DamlTransaction {
  return {
    version: str(p, 'version', at),
    roots: strings(p, 'roots', at),
    nodes: list(p, 'nodes', at).map((n, i) => transactionNodeFromPlain(obj(n, `${at}.nodes[${i}]`), `${at}.nodes[${i}]`)),
    nodeSeeds: list(p, 'node_seeds', at).map((s, i): NodeSeed => {
      const sp = obj(s, `${at}.node_seeds[${i}]`);
      return { nodeId: int(sp, 'node_id', `${at}.node_seeds[${i}]`), seed: bytes(sp, 'seed', `${at}.node_seeds[${i}]`) };
    }),
  };
}

function transactionNodeFromPlain(p: Plain, at: string): TransactionNode {
  const v1 = optMsg(p, 'v1', at);
  if (!v1) fail('UNSUPPORTED', `${at}: node has no known version (only v1 is supported)`);
  return { nodeId: str(p, 'node_id', at), version: 'v1', node: nodeV1FromPlain(v1, `${at}.v1`) };
}

function nodeV1FromPlain(p: Plain, at: string): NodeV1 {
  const present = (['create', 'fetch', 'exercise', 'rollback'] as const).filter((k) => p[k] !== undefined && p[k] !== null);
  if (present.length !== 1) fail('DECODE', `${at}: expected exactly one node type, found ${present.length}`);
  switch (present[0]) {
    case 'create':
      return createFromPlain(req(p, 'create', at), `${at}.create`);
    case 'exercise':
      return exerciseFromPlain(req(p, 'exercise', at), `${at}.exercise`);
    case 'fetch':
      return fetchFromPlain(req(p, 'fetch', at), `${at}.fetch`);
    default:
      return rollbackFromPlain(req(p, 'rollback', at), `${at}.rollback`);
  }
}

function createFromPlain(p: Plain, at: string): CreateNode {
  return {
    kind: 'create',
    lfVersion: str(p, 'lf_version', at),
    contractId: str(p, 'contract_id', at),
    packageName: str(p, 'package_name', at),
    templateId: identifierFromPlain(req(p, 'template_id', at), `${at}.template_id`),
    argument: valueFromPlain(req(p, 'argument', at), `${at}.argument`, 0),
    signatories: strings(p, 'signatories', at),
    stakeholders: strings(p, 'stakeholders', at),
  };
}

function contractActionFromPlain(p: Plain, at: string): ContractAction {
  const interfaceId = optMsg(p, 'interface_id', at);
  return {
    lfVersion: str(p, 'lf_version', at),
    contractId: str(p, 'contract_id', at),
    packageName: str(p, 'package_name', at),
    templateId: identifierFromPlain(req(p, 'template_id', at), `${at}.template_id`),
    signatories: strings(p, 'signatories', at),
    stakeholders: strings(p, 'stakeholders', at),
    actingParties: strings(p, 'acting_parties', at),
    ...(interfaceId ? { interfaceId: identifierFromPlain(interfaceId, `${at}.interface_id`) } : {}),
  };
}

function exerciseFromPlain(p: Plain, at: string): ExerciseNode {
  const result = optMsg(p, 'exercise_result', at);
  return {
    kind: 'exercise',
    ...contractActionFromPlain(p, at),
    choiceId: str(p, 'choice_id', at),
    chosenValue: valueFromPlain(req(p, 'chosen_value', at), `${at}.chosen_value`, 0),
    consuming: bool(p, 'consuming', at),
    children: strings(p, 'children', at),
    ...(result ? { exerciseResult: valueFromPlain(result, `${at}.exercise_result`, 0) } : {}),
    choiceObservers: strings(p, 'choice_observers', at),
  };
}

function fetchFromPlain(p: Plain, at: string): FetchNode {
  return { kind: 'fetch', ...contractActionFromPlain(p, at) };
}

function rollbackFromPlain(p: Plain, at: string): RollbackNode {
  return { kind: 'rollback', children: strings(p, 'children', at) };
}

function identifierFromPlain(p: Plain, at: string): Identifier {
  return {
    packageId: str(p, 'package_id', at),
    moduleName: str(p, 'module_name', at),
    entityName: str(p, 'entity_name', at),
  };
}

function metadataFromPlain(p: Plain, at: string): Metadata {
  const submitter = req(p, 'submitter_info', at);
  const minLet = optLong(p, 'min_ledger_effective_time', at);
  const maxLet = optLong(p, 'max_ledger_effective_time', at);
  const maxRecordTime = optLong(p, 'max_record_time', at);
  return {
    submitterInfo: {
      actAs: strings(submitter, 'act_as', `${at}.submitter_info`),
      commandId: str(submitter, 'command_id', `${at}.submitter_info`),
    },
    synchronizerId: str(p, 'synchronizer_id', at),
    mediatorGroup: int(p, 'mediator_group', at),
    transactionUuid: str(p, 'transaction_uuid', at),
    preparationTime: long(p, 'preparation_time', at),
    inputContracts: list(p, 'input_contracts', at).map((c, i) =>
      inputContractFromPlain(obj(c, `${at}.input_contracts[${i}]`), `${at}.input_contracts[${i}]`),
    ),
    globalKeyMapping: list(p, 'global_key_mapping', at).map((e, i) =>
      globalKeyEntryFromPlain(obj(e, `${at}.global_key_mapping[${i}]`), `${at}.global_key_mapping[${i}]`),
    ),
    ...(minLet !== undefined ? { minLedgerEffectiveTime: minLet } : {}),
    ...(maxLet !== undefined ? { maxLedgerEffectiveTime: maxLet } : {}),
    ...(maxRecordTime !== undefined ? { maxRecordTime } : {}),
  };
}

function inputContractFromPlain(p: Plain, at: string): InputContract {
  const v1 = optMsg(p, 'v1', at);
  if (!v1) fail('UNSUPPORTED', `${at}: input contract has no known version (only v1 is supported)`);
  return {
    contract: { version: 'v1', create: createFromPlain(v1, `${at}.v1`) },
    createdAt: long(p, 'created_at', at),
    eventBlob: bytes(p, 'event_blob', at),
  };
}

function globalKeyEntryFromPlain(p: Plain, at: string): GlobalKeyMappingEntry {
  const key = req(p, 'key', at);
  const value = optMsg(p, 'value', at);
  return {
    key: {
      templateId: identifierFromPlain(req(key, 'template_id', `${at}.key`), `${at}.key.template_id`),
      packageName: str(key, 'package_name', `${at}.key`),
      key: valueFromPlain(req(key, 'key', `${at}.key`), `${at}.key.key`, 0),
      hash: bytes(key, 'hash', `${at}.key`),
    },
    ...(value ? { value: valueFromPlain(value, `${at}.value`, 0) } : {}),
  };
}

export function valueFromPlain(p: Plain, at: string, depth: number): Value {
  if (depth > MAX_VALUE_DEPTH) fail('DECODE', `${at}: value nested deeper than ${MAX_VALUE_DEPTH}`);
  const present = VALUE_KINDS.filter((k) => p[k] !== undefined && p[k] !== null);
  if (present.length !== 1) fail('DECODE', `${at}: expected exactly one value kind, found ${present.length}`);
  const d = depth + 1;
  switch (present[0]) {
    case 'unit':
      obj(p['unit'], `${at}.unit`);
      return { kind: 'unit' };
    case 'bool':
      return { kind: 'bool', value: bool(p, 'bool', at) };
    case 'int64':
      return { kind: 'int64', value: long(p, 'int64', at) };
    case 'date':
      return { kind: 'date', value: int(p, 'date', at) };
    case 'timestamp':
      return { kind: 'timestamp', value: long(p, 'timestamp', at) };
    case 'numeric':
      return { kind: 'numeric', value: str(p, 'numeric', at) };
    case 'party':
      return { kind: 'party', value: str(p, 'party', at) };
    case 'text':
      return { kind: 'text', value: str(p, 'text', at) };
    case 'contract_id':
      return { kind: 'contractId', value: str(p, 'contract_id', at) };
    case 'optional': {
      const inner = optMsg(req(p, 'optional', at), 'value', `${at}.optional`);
      return inner ? { kind: 'optional', value: valueFromPlain(inner, `${at}.optional.value`, d) } : { kind: 'optional' };
    }
    case 'list':
      return {
        kind: 'list',
        elements: list(req(p, 'list', at), 'elements', `${at}.list`).map((e, i) =>
          valueFromPlain(obj(e, `${at}.list.elements[${i}]`), `${at}.list.elements[${i}]`, d),
        ),
      };
    case 'text_map':
      return {
        kind: 'textMap',
        entries: list(req(p, 'text_map', at), 'entries', `${at}.text_map`).map((e, i) => {
          const ep = obj(e, `${at}.text_map.entries[${i}]`);
          const eat = `${at}.text_map.entries[${i}]`;
          return { key: str(ep, 'key', eat), value: valueFromPlain(req(ep, 'value', eat), `${eat}.value`, d) };
        }),
      };
    case 'gen_map':
      return {
        kind: 'genMap',
        entries: list(req(p, 'gen_map', at), 'entries', `${at}.gen_map`).map((e, i) => {
          const ep = obj(e, `${at}.gen_map.entries[${i}]`);
          const eat = `${at}.gen_map.entries[${i}]`;
          return {
            key: valueFromPlain(req(ep, 'key', eat), `${eat}.key`, d),
            value: valueFromPlain(req(ep, 'value', eat), `${eat}.value`, d),
          };
        }),
      };
    case 'record': {
      const r = req(p, 'record', at);
      const id = optMsg(r, 'record_id', `${at}.record`);
      return {
        kind: 'record',
        ...(id ? { recordId: identifierFromPlain(id, `${at}.record.record_id`) } : {}),
        fields: list(r, 'fields', `${at}.record`).map((f, i) => {
          const fp = obj(f, `${at}.record.fields[${i}]`);
          const fat = `${at}.record.fields[${i}]`;
          return { label: str(fp, 'label', fat), value: valueFromPlain(req(fp, 'value', fat), `${fat}.value`, d) };
        }),
      };
    }
    case 'variant': {
      const v = req(p, 'variant', at);
      const id = optMsg(v, 'variant_id', `${at}.variant`);
      return {
        kind: 'variant',
        ...(id ? { variantId: identifierFromPlain(id, `${at}.variant.variant_id`) } : {}),
        tag: str(v, 'constructor_name', `${at}.variant`),
        value: valueFromPlain(req(v, 'value', `${at}.variant`), `${at}.variant.value`, d),
      };
    }
    default: {
      const e = req(p, 'enum', at);
      const id = optMsg(e, 'enum_id', `${at}.enum`);
      return {
        kind: 'enum',
        ...(id ? { enumId: identifierFromPlain(id, `${at}.enum.enum_id`) } : {}),
        tag: str(e, 'constructor_name', `${at}.enum`),
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// typed -> plain

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function int32(n: number, at: string): number {
  if (!Number.isInteger(n) || n < INT32_MIN || n > INT32_MAX) fail('VALUE', `${at}: ${n} is not an int32`);
  return n;
}

function uint32(n: number, at: string): number {
  if (!Number.isInteger(n) || n < 0 || n > UINT32_MAX) fail('VALUE', `${at}: ${n} is not a uint32`);
  return n;
}

function int64(n: bigint, at: string): string {
  if (typeof n !== 'bigint' || n < INT64_MIN || n > INT64_MAX) fail('VALUE', `${at}: ${String(n)} is not an int64`);
  return n.toString();
}

function uint64(n: bigint, at: string): string {
  if (typeof n !== 'bigint' || n < 0n || n > UINT64_MAX) fail('VALUE', `${at}: ${String(n)} is not a uint64`);
  return n.toString();
}

export function preparedTransactionToPlain(tx: PreparedTransaction): Plain {
  return { transaction: transactionToPlain(tx.transaction), metadata: metadataToPlain(tx.metadata) };
}

function transactionToPlain(t: DamlTransaction): Plain {
  return {
    version: t.version,
    roots: [...t.roots],
    nodes: t.nodes.map((n, i) => {
      if (n.version !== 'v1') fail('UNSUPPORTED', `transaction.nodes[${i}]: only v1 nodes can be encoded`);
      return { node_id: n.nodeId, v1: nodeV1ToPlain(n.node) };
    }),
    node_seeds: t.nodeSeeds.map((s, i) => ({ node_id: int32(s.nodeId, `transaction.node_seeds[${i}].nodeId`), seed: s.seed })),
  };
}

function nodeV1ToPlain(n: NodeV1): Plain {
  switch (n.kind) {
    case 'create':
      return { create: createToPlain(n) };
    case 'exercise':
      return {
        exercise: {
          ...contractActionToPlain(n),
          choice_id: n.choiceId,
          chosen_value: valueToPlain(n.chosenValue, 0),
          consuming: n.consuming,
          children: [...n.children],
          ...(n.exerciseResult ? { exercise_result: valueToPlain(n.exerciseResult, 0) } : {}),
          choice_observers: [...n.choiceObservers],
        },
      };
    case 'fetch':
      return { fetch: contractActionToPlain(n) };
    case 'rollback':
      return { rollback: { children: [...n.children] } };
  }
}

function contractActionToPlain(n: ContractAction): Plain {
  return {
    lf_version: n.lfVersion,
    contract_id: n.contractId,
    package_name: n.packageName,
    template_id: identifierToPlain(n.templateId),
    signatories: [...n.signatories],
    stakeholders: [...n.stakeholders],
    acting_parties: [...n.actingParties],
    ...(n.interfaceId ? { interface_id: identifierToPlain(n.interfaceId) } : {}),
  };
}

function createToPlain(n: CreateNode): Plain {
  return {
    lf_version: n.lfVersion,
    contract_id: n.contractId,
    package_name: n.packageName,
    template_id: identifierToPlain(n.templateId),
    argument: valueToPlain(n.argument, 0),
    signatories: [...n.signatories],
    stakeholders: [...n.stakeholders],
  };
}

function identifierToPlain(id: Identifier): Plain {
  return { package_id: id.packageId, module_name: id.moduleName, entity_name: id.entityName };
}

function metadataToPlain(m: Metadata): Plain {
  return {
    submitter_info: { act_as: [...m.submitterInfo.actAs], command_id: m.submitterInfo.commandId },
    synchronizer_id: m.synchronizerId,
    mediator_group: uint32(m.mediatorGroup, 'metadata.mediatorGroup'),
    transaction_uuid: m.transactionUuid,
    preparation_time: uint64(m.preparationTime, 'metadata.preparationTime'),
    input_contracts: m.inputContracts.map((c, i) => {
      if (c.contract.version !== 'v1') fail('UNSUPPORTED', `metadata.inputContracts[${i}]: only v1 contracts can be encoded`);
      return {
        v1: createToPlain(c.contract.create),
        created_at: uint64(c.createdAt, `metadata.inputContracts[${i}].createdAt`),
        event_blob: c.eventBlob,
      };
    }),
    global_key_mapping: m.globalKeyMapping.map((e) => ({
      key: {
        template_id: identifierToPlain(e.key.templateId),
        package_name: e.key.packageName,
        key: valueToPlain(e.key.key, 0),
        hash: e.key.hash,
      },
      ...(e.value ? { value: valueToPlain(e.value, 0) } : {}),
    })),
    ...(m.minLedgerEffectiveTime !== undefined
      ? { min_ledger_effective_time: uint64(m.minLedgerEffectiveTime, 'metadata.minLedgerEffectiveTime') }
      : {}),
    ...(m.maxLedgerEffectiveTime !== undefined
      ? { max_ledger_effective_time: uint64(m.maxLedgerEffectiveTime, 'metadata.maxLedgerEffectiveTime') }
      : {}),
    ...(m.maxRecordTime !== undefined ? { max_record_time: uint64(m.maxRecordTime, 'metadata.maxRecordTime') } : {}),
  };
}

export function valueToPlain(v: Value, depth: number): Plain {
  if (depth > MAX_VALUE_DEPTH) fail('VALUE', `value nested deeper than ${MAX_VALUE_DEPTH}`);
  const d = depth + 1;
  switch (v.kind) {
    case 'unit':
      return { unit: {} };
    case 'bool':
      return { bool: v.value };
    case 'int64':
      return { int64: int64(v.value, 'int64 value') };
    case 'date':
      return { date: int32(v.value, 'date value') };
    case 'timestamp':
      return { timestamp: int64(v.value, 'timestamp value') };
    case 'numeric':
      return { numeric: v.value };
    case 'party':
      return { party: v.value };
    case 'text':
      return { text: v.value };
    case 'contractId':
      return { contract_id: v.value };
    case 'optional':
      return { optional: v.value ? { value: valueToPlain(v.value, d) } : {} };
    case 'list':
      return { list: { elements: v.elements.map((e) => valueToPlain(e, d)) } };
    case 'textMap':
      return { text_map: { entries: v.entries.map((e) => ({ key: e.key, value: valueToPlain(e.value, d) })) } };
    case 'genMap':
      return {
        gen_map: { entries: v.entries.map((e) => ({ key: valueToPlain(e.key, d), value: valueToPlain(e.value, d) })) },
      };
    case 'record':
      return {
        record: {
          ...(v.recordId ? { record_id: identifierToPlain(v.recordId) } : {}),
          fields: v.fields.map((f) => ({ label: f.label, value: valueToPlain(f.value, d) })),
        },
      };
    case 'variant':
      return {
        variant: {
          ...(v.variantId ? { variant_id: identifierToPlain(v.variantId) } : {}),
          constructor_name: v.tag,
          value: valueToPlain(v.value, d),
        },
      };
    case 'enum':
      return {
        enum: {
          ...(v.enumId ? { enum_id: identifierToPlain(v.enumId) } : {}),
          constructor_name: v.tag,
        },
      };
  }
}

export { isPlain };

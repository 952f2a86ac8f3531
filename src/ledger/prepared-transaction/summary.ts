import { damlValueToJson, type DamlJson } from './daml-json.js';
import { indexTransaction, type TransactionIndex } from './structure.js';
import { microsToIso } from './time.js';
import type { Identifier, PreparedTransaction } from './types.js';

/**
 * What a prepared transaction would do, in the terms a signer checks: who acts, which contracts
 * it consumes, and the action tree with every argument in Daml-LF JSON (the same encoding we send
 * as `choiceArgument`, so the check is a comparison, not a re-interpretation).
 *
 * Times are ISO strings with microseconds. `maxRecordTime` is reported but is NOT covered by the
 * V2 hash: do not rely on it as a signed bound.
 */
export interface PreparedTransactionSummary {
  actAs: string[];
  commandId: string;
  synchronizerId: string;
  transactionUuid: string;
  mediatorGroup: number;
  preparationTime: string;
  minLedgerEffectiveTime?: string;
  maxLedgerEffectiveTime?: string;
  maxRecordTime?: string;
  /** Contracts the transaction uses that existed before it (disclosed or fetched by the node). */
  inputContractIds: string[];
  roots: NodeSummary[];
  nodeCount: number;
}

export type NodeSummary = ExerciseSummary | CreateSummary | FetchSummary | RollbackSummary;

export interface ExerciseSummary {
  kind: 'exercise';
  nodeId: string;
  templateId: Identifier;
  interfaceId?: Identifier;
  packageName: string;
  contractId: string;
  choice: string;
  consuming: boolean;
  actingParties: string[];
  choiceArgument: DamlJson;
  exerciseResult?: DamlJson;
  children: NodeSummary[];
}

export interface CreateSummary {
  kind: 'create';
  nodeId: string;
  templateId: Identifier;
  packageName: string;
  contractId: string;
  argument: DamlJson;
  signatories: string[];
  stakeholders: string[];
}

export interface FetchSummary {
  kind: 'fetch';
  nodeId: string;
  templateId: Identifier;
  interfaceId?: Identifier;
  packageName: string;
  contractId: string;
  actingParties: string[];
}

export interface RollbackSummary {
  kind: 'rollback';
  nodeId: string;
  children: NodeSummary[];
}

export function summarizePreparedTransaction(tx: PreparedTransaction): PreparedTransactionSummary {
  const index = indexTransaction(tx.transaction);
  const m = tx.metadata;
  return {
    actAs: [...m.submitterInfo.actAs],
    commandId: m.submitterInfo.commandId,
    synchronizerId: m.synchronizerId,
    transactionUuid: m.transactionUuid,
    mediatorGroup: m.mediatorGroup,
    preparationTime: microsToIso(m.preparationTime),
    ...(m.minLedgerEffectiveTime !== undefined ? { minLedgerEffectiveTime: microsToIso(m.minLedgerEffectiveTime) } : {}),
    ...(m.maxLedgerEffectiveTime !== undefined ? { maxLedgerEffectiveTime: microsToIso(m.maxLedgerEffectiveTime) } : {}),
    ...(m.maxRecordTime !== undefined ? { maxRecordTime: microsToIso(m.maxRecordTime) } : {}),
    inputContractIds: m.inputContracts.map((c) => c.contract.create.contractId),
    roots: tx.transaction.roots.map((id) => summarizeNode(id, index)),
    nodeCount: tx.transaction.nodes.length,
  };
}

function summarizeNode(nodeId: string, index: TransactionIndex): NodeSummary {
  const n = index.node(nodeId).node;
  switch (n.kind) {
    case 'exercise':
      return {
        kind: 'exercise',
        nodeId,
        templateId: n.templateId,
        ...(n.interfaceId ? { interfaceId: n.interfaceId } : {}),
        packageName: n.packageName,
        contractId: n.contractId,
        choice: n.choiceId,
        consuming: n.consuming,
        actingParties: [...n.actingParties],
        choiceArgument: damlValueToJson(n.chosenValue),
        ...(n.exerciseResult ? { exerciseResult: damlValueToJson(n.exerciseResult) } : {}),
        children: n.children.map((c) => summarizeNode(c, index)),
      };
    case 'create':
      return {
        kind: 'create',
        nodeId,
        templateId: n.templateId,
        packageName: n.packageName,
        contractId: n.contractId,
        argument: damlValueToJson(n.argument),
        signatories: [...n.signatories],
        stakeholders: [...n.stakeholders],
      };
    case 'fetch':
      return {
        kind: 'fetch',
        nodeId,
        templateId: n.templateId,
        ...(n.interfaceId ? { interfaceId: n.interfaceId } : {}),
        packageName: n.packageName,
        contractId: n.contractId,
        actingParties: [...n.actingParties],
      };
    case 'rollback':
      return { kind: 'rollback', nodeId, children: n.children.map((c) => summarizeNode(c, index)) };
  }
}

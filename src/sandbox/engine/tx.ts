import { replaceStrings, type Json } from '../util/json.js';
import { interpretationError } from './errors.js';
import { signatories, stakeholders } from './templates.js';
import type { Contract, NodeDraft, Payload, TxNode } from './types.js';

/** The outcome of interpreting a command: a transaction tree not yet on the ledger. */
export interface TxPlan {
  readonly roots: readonly NodeDraft[];
  /** Ledger effective time (also the createdAt of its contracts). */
  readonly effectiveAt: string;
  /** Short description for logs and the books ("transfer", "accept", …). */
  readonly description: string;
}

export interface PlanInputs {
  /** Contracts archived by the transaction: each must still be active at commit. */
  readonly consumed: ReadonlySet<string>;
  /** Contracts fetched or exercised non-consumingly: must also be active at commit. */
  readonly referenced: ReadonlySet<string>;
  /** Provisional ids of the contracts it creates. */
  readonly created: ReadonlyMap<string, Contract>;
}

function walk(nodes: readonly NodeDraft[], visit: (n: NodeDraft) => void): void {
  for (const n of nodes) {
    visit(n);
    if (n.kind === 'exercise') walk(n.children, visit);
  }
}

/** What a plan reads and spends; a contract spent twice within one transaction is an error. */
export function planInputs(plan: TxPlan): PlanInputs {
  const consumed = new Set<string>();
  const referenced = new Set<string>();
  const created = new Map<string, Contract>();
  walk(plan.roots, (n) => {
    if (n.kind === 'create') created.set(n.contract.contractId, n.contract);
    else if (n.kind === 'exercise' && n.consuming) {
      if (consumed.has(n.target.contractId)) {
        throw interpretationError(`contract ${n.target.contractId} is consumed twice in one transaction`);
      }
      consumed.add(n.target.contractId);
    } else referenced.add(n.target.contractId);
  });
  for (const c of created.keys()) {
    consumed.delete(c);
    referenced.delete(c);
  }
  for (const c of consumed) referenced.delete(c);
  return { consumed, referenced, created };
}

function informees(n: NodeDraft): string[] {
  switch (n.kind) {
    case 'create':
      return [...stakeholders(n.contract.payload)];
    case 'exercise':
      return n.consuming
        ? [...stakeholders(n.target.payload), ...n.actingParties, ...(n.choiceObservers ?? [])]
        : [...signatories(n.target.payload), ...n.actingParties, ...(n.choiceObservers ?? [])];
    case 'fetch':
      return [...signatories(n.target.payload), ...n.actingParties];
  }
}

function renameContract(c: Contract, ids: ReadonlyMap<string, string>): Contract {
  return {
    contractId: ids.get(c.contractId) ?? c.contractId,
    createdAt: c.createdAt,
    payload: replaceStrings(c.payload as unknown as Json, ids) as unknown as Payload,
  };
}

/**
 * Numbers the nodes in pre-order (fetches take a number but are not emitted, which leaves the
 * gaps real transactions have), gives each node its witnesses (its informees plus everyone who
 * witnesses an ancestor: a party sees the whole subtree of an action it is informed of), and
 * renames provisional contract ids to their committed form everywhere in the tree.
 */
export function finalizeNodes(plan: TxPlan, finalIds: ReadonlyMap<string, string>): TxNode[] {
  const inputs = planInputs(plan);
  const out: TxNode[] = [];
  let next = 0;

  const visit = (n: NodeDraft, parentWitnesses: ReadonlySet<string>): void => {
    const nodeId = next++;
    const witnesses = new Set([...parentWitnesses, ...informees(n)]);
    if (n.kind === 'fetch') return;
    if (n.kind === 'create') {
      out.push({
        kind: 'create',
        nodeId,
        contract: renameContract(n.contract, finalIds),
        witnesses,
        consumedInTx: false,
      });
      return;
    }
    const index = out.length;
    out.push({
      kind: 'exercise',
      nodeId,
      lastDescendantNodeId: nodeId,
      target: renameContract(n.target, finalIds),
      ...(n.interfaceId ? { interfaceId: n.interfaceId } : {}),
      choice: n.choice,
      choiceArgument: replaceStrings(n.choiceArgument, finalIds),
      actingParties: [...new Set(n.actingParties)].sort(),
      consuming: n.consuming,
      result: replaceStrings(n.result, finalIds),
      witnesses,
      createdInTx: inputs.created.has(n.target.contractId),
    });
    for (const child of n.children) visit(child, witnesses);
    const self = out[index];
    if (self?.kind === 'exercise') out[index] = { ...self, lastDescendantNodeId: next - 1 };
  };
  for (const root of plan.roots) visit(root, new Set());

  // A contract created and archived within the same transaction is transient: no ACS delta.
  const consumedHere = new Set<string>();
  for (const n of out) if (n.kind === 'exercise' && n.consuming) consumedHere.add(n.target.contractId);
  return out.map((n) => (n.kind === 'create' && consumedHere.has(n.contract.contractId) ? { ...n, consumedInTx: true } : n));
}

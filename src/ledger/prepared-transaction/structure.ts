import { fail } from './errors.js';
import type { DamlTransaction, NodeV1, TransactionNode } from './types.js';

/**
 * The node graph of a transaction, checked. The hash walks the tree from the roots; a node the
 * walk never reaches is not covered by the signature, and a node reached twice (or a cycle) has no
 * meaning in Daml. Both would let a preparing node show us one thing and sign another, so they
 * are refused here rather than tolerated.
 */
export interface TransactionIndex {
  node(id: string): TransactionNode;
  /** The 32-byte seed recorded for a node, if any. */
  seed(id: string): Uint8Array | undefined;
}

export const SEED_LENGTH = 32;

export function indexTransaction(tx: DamlTransaction): TransactionIndex {
  const nodes = new Map<string, TransactionNode>();
  for (const n of tx.nodes) {
    if (nodes.has(n.nodeId)) fail('INVALID', `transaction: node id "${n.nodeId}" appears twice`);
    nodes.set(n.nodeId, n);
  }
  const seeds = new Map<string, Uint8Array>();
  for (const s of tx.nodeSeeds) {
    const id = String(s.nodeId);
    if (seeds.has(id)) fail('INVALID', `transaction: node ${id} has two seeds`);
    if (s.seed.length !== SEED_LENGTH) fail('INVALID', `transaction: seed of node ${id} is ${s.seed.length} bytes, not ${SEED_LENGTH}`);
    seeds.set(id, s.seed);
  }
  if (tx.roots.length === 0) fail('INVALID', 'transaction: no root nodes');

  const visited = new Set<string>();
  const stack = [...tx.roots].reverse();
  while (stack.length > 0) {
    const id = stack.pop() as string;
    const n = nodes.get(id);
    if (!n) fail('INVALID', `transaction: node "${id}" is referenced but missing`);
    if (visited.has(id)) fail('INVALID', `transaction: node "${id}" is referenced more than once`);
    visited.add(id);
    for (const c of [...childrenOf(n.node)].reverse()) stack.push(c);
  }
  for (const id of nodes.keys()) {
    if (!visited.has(id)) fail('INVALID', `transaction: node "${id}" is not reachable from the roots`);
  }

  return {
    node(id) {
      const n = nodes.get(id);
      if (!n) fail('INVALID', `transaction: node "${id}" is referenced but missing`);
      return n;
    },
    seed: (id) => seeds.get(id),
  };
}

export function childrenOf(n: NodeV1): string[] {
  return n.kind === 'exercise' || n.kind === 'rollback' ? n.children : [];
}

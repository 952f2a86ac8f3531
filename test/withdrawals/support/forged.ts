import { randomBytes } from 'node:crypto';
import {
  decodePreparedTransaction,
  encodePreparedTransactionBase64,
  hashPreparedTransactionBase64,
  type ExerciseNode,
  type NodeV1,
  type PreparedTransaction,
} from '../../../src/ledger/prepared-transaction/index.js';
import type { PreparedSubmission } from '../../../src/machines/submission.js';

/**
 * What a hostile preparing node or registry could hand us: a prepared transaction edited and
 * re-encoded, with a hash that verifies (unless `rehash` is false).
 */
export function forged(p: PreparedSubmission, edit: (tx: PreparedTransaction) => void, rehash = true): PreparedSubmission {
  const tx = decodePreparedTransaction(p.preparedTransaction);
  edit(tx);
  return {
    ...p,
    preparedTransaction: encodePreparedTransactionBase64(tx),
    preparedTransactionHash: rehash ? hashPreparedTransactionBase64(tx, 'HASHING_SCHEME_VERSION_V2') : p.preparedTransactionHash,
  };
}

export function rootOf(tx: PreparedTransaction): ExerciseNode {
  const root = tx.transaction.nodes.find((n) => n.nodeId === tx.transaction.roots[0])?.node;
  if (root?.kind !== 'exercise') throw new Error('the transaction has no root exercise');
  return root;
}

/** Appends `node` as the root's last action, with the seed Canton gives every created or exercised node. */
export function addUnderRoot(tx: PreparedTransaction, node: NodeV1): void {
  const id = Math.max(...tx.transaction.nodes.map((n) => Number(n.nodeId))) + 1;
  tx.transaction.nodes.push({ nodeId: String(id), version: 'v1', node });
  tx.transaction.nodeSeeds.push({ nodeId: id, seed: randomBytes(32) });
  rootOf(tx).children.push(String(id));
}

export function freshContractId(): string {
  return `00${randomBytes(32).toString('hex')}`;
}

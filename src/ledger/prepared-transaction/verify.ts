import { base64ToBytes, bytesToBase64, decodePreparedTransaction, equalBytes } from './codec.js';
import { fail } from './errors.js';
import { hashPreparedTransaction } from './hash.js';
import type { PreparedTransaction } from './types.js';

export interface HashCheck {
  transaction: PreparedTransaction;
  /** The hash we computed: sign these bytes, never the node's. */
  hash: Uint8Array;
  hashBase64: string;
  /** Whether the node's `preparedTransactionHash` equals ours. false: refuse to sign. */
  matches: boolean;
}

/**
 * Decodes a prepare response's `preparedTransaction` and recomputes its hash. Throws
 * PreparedTransactionError if the transaction cannot be read or the scheme is not V2; reports a
 * mismatch in `matches` so the caller can record both hashes before refusing.
 */
export function verifyPreparedTransactionHash(response: {
  preparedTransaction: string;
  preparedTransactionHash: string;
  hashingSchemeVersion: string;
}): HashCheck {
  if (response.hashingSchemeVersion !== 'HASHING_SCHEME_VERSION_V2') {
    fail('UNSUPPORTED', `hashing scheme ${response.hashingSchemeVersion} is not supported (only V2)`);
  }
  const transaction = decodePreparedTransaction(response.preparedTransaction);
  const hash = hashPreparedTransaction(transaction, 'HASHING_SCHEME_VERSION_V2');
  const claimed = base64ToBytes(response.preparedTransactionHash, 'preparedTransactionHash');
  return { transaction, hash, hashBase64: bytesToBase64(hash), matches: equalBytes(hash, claimed) };
}

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The corpus of real request bodies (test/fixtures/real-requests, sources in its README): one
 * directory per operation, one JSON body per file.
 */

export const REAL_REQUESTS_DIR = fileURLToPath(new URL('../fixtures/real-requests/', import.meta.url));

/** The operations the corpus has bodies for, by directory name. */
export type Operation =
  | 'prepare'
  | 'execute'
  | 'execute-and-wait'
  | 'updates'
  | 'update-by-id'
  | 'events-by-contract-id'
  | 'active-contracts'
  | 'completions'
  | 'generate-topology'
  | 'allocate-external-party'
  | 'create-user'
  | 'grant-user-rights'
  | 'transfer-factory'
  | 'choice-context-accept'
  | 'choice-context-reject'
  | 'choice-context-withdraw';

export const OPERATIONS: readonly Operation[] = [
  'prepare',
  'execute',
  'execute-and-wait',
  'updates',
  'update-by-id',
  'events-by-contract-id',
  'active-contracts',
  'completions',
  'generate-topology',
  'allocate-external-party',
  'create-user',
  'grant-user-rights',
  'transfer-factory',
  'choice-context-accept',
  'choice-context-reject',
  'choice-context-withdraw',
];

export interface RealRequest {
  operation: Operation;
  /** File name inside the operation's directory. */
  file: string;
  body: unknown;
}

export function realRequests(operation: Operation): RealRequest[] {
  const dir = join(REAL_REQUESTS_DIR, operation);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ operation, file, body: JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown }));
}

export function allRealRequests(): RealRequest[] {
  return OPERATIONS.flatMap((op) => realRequests(op));
}

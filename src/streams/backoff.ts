/**
 * Bounded exponential backoff with jitter for reconnecting to the ledger: attempt n waits about
 * base·2^(n−1), capped, randomised so that many clients do not reconnect in lockstep. After
 * `maxAttempts` consecutive failures the caller gives up loudly (the guide: crash the component
 * rather than spin).
 */
export interface BackoffPolicy {
  /** Consecutive failed attempts tolerated before giving up. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Fraction of each delay that is random (0: none, 1: "full jitter"). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 30_000, jitter: 0.5 };

/** Delay before retry number `attempt` (1-based). */
export function backoffDelay(p: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (1 - p.jitter) + exp * p.jitter * random());
}

/** Retries ran out: carries the last error, which says what went wrong. */
export class RetriesExhaustedError extends Error {
  override readonly name = 'RetriesExhaustedError';
  constructor(
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`gave up after ${attempts} failed attempts: ${lastError instanceof Error ? lastError.message : String(lastError)}`, {
      cause: lastError,
    });
  }
}

import { z } from 'zod';

/** Exponential backoff between retries of a transient failure. */
export const BackoffPolicy = z.object({
  initialMs: z.number().int().positive(),
  maxMs: z.number().int().positive(),
  factor: z.number().min(1),
});
export type BackoffPolicy = z.infer<typeof BackoffPolicy>;

/** Delay before retry number `failures` (1 = the first retry). No jitter: a retry time is persisted and must be reproducible. */
export function backoffDelayMs(policy: BackoffPolicy, failures: number): number {
  const n = Math.max(1, failures);
  return Math.min(policy.maxMs, Math.round(policy.initialMs * policy.factor ** (n - 1)));
}

/** ISO time `ms` from now. Timers live in context as timestamps so a restored machine waits only the remainder. */
export function isoAfter(ms: number, now: number = Date.now()): string {
  return new Date(now + ms).toISOString();
}

/** Milliseconds until an ISO time, never negative; a missing time means "now". */
export function msUntil(iso: string | null): number {
  if (iso === null) return 0;
  return Math.max(0, Date.parse(iso) - Date.now());
}

export function nowIso(): string {
  return new Date().toISOString();
}

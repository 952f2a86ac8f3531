import { z } from 'zod';
import { Failure, isCatalogued, type FailureCode } from '../failures.js';

/**
 * How an effect (actor) failed, in the terms a machine decides on. Actor implementations throw an
 * `ActorError` carrying one of these; anything else they throw is classified as an unexpected,
 * retryable failure (the guide's rule: retry by default, but within a budget).
 */
export const ActorFailure = z.object({
  /** Stable id: a Canton error id (INCONSISTENT, CONTRACT_NOT_FOUND…), or one of ours (src/failures.ts). */
  code: z.string().min(1),
  message: z.string(),
  /** The actor's judgement that trying the same thing again later may succeed. */
  retryable: z.boolean(),
  /**
   * Submissions only: true when the ledger said the submission definitely did not and will not
   * commit (JsCantonError.definiteAnswer). Absent or false = the outcome is unknown.
   */
  definiteAnswer: z.boolean().optional(),
  /** HTTP status of the failed call, when there was one. */
  status: z.number().int().optional(),
  /** Canton errorCategory, when the ledger answered with a JsCantonError. */
  category: z.number().int().optional(),
});
export type ActorFailure = z.infer<typeof ActorFailure>;

/**
 * A submission refused for traffic: definitely not sequenced (Canton's SequencerDeliverError
 * codes carry definiteAnswer), so the same signed transaction may be sent again, and the refusal
 * says nothing about the withdrawal itself.
 */
export function isTrafficRefusal(f: ActorFailure): boolean {
  return f.code === Failure.TRAFFIC_EXHAUSTED || f.code === Failure.TRAFFIC_COST_OUTDATED;
}

/** HTTP statuses never retried, whatever the body says (guide: 401, 403, 500, 501). */
export const NON_RETRYABLE_STATUSES: ReadonlySet<number> = new Set([401, 403, 500, 501]);

/** What actors throw. The machine reads `failure`; the message is for logs. */
export class ActorError extends Error {
  override readonly name = 'ActorError';
  constructor(readonly failure: ActorFailure) {
    super(`${failure.code}: ${failure.message}`);
  }
}

/** Normalises whatever an actor threw, so a machine never has to trust an unknown shape. */
export function toFailure(error: unknown): ActorFailure {
  if (error instanceof ActorError) return error.failure;
  // An ActorError that crossed a serialisation boundary (e.g. restored from a persisted event).
  if (error !== null && typeof error === 'object' && 'failure' in error) {
    const parsed = ActorFailure.safeParse((error as { failure: unknown }).failure);
    if (parsed.success) return parsed.data;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: Failure.UNEXPECTED, message, retryable: true };
}

/** Worth another try after a backoff: the actor says so and the status is not on the never list. */
export function isTransient(f: ActorFailure): boolean {
  return f.retryable && !(f.status !== undefined && NON_RETRYABLE_STATUSES.has(f.status));
}

/**
 * A failure named from a closed set (for metric labels and reason codes): our own code from the
 * catalogue, otherwise only whether it is worth retrying. Ledger and registry error ids are
 * open-ended (a hostile server could invent any), so they stay in messages and logs.
 */
export type FailureClass = FailureCode | 'TRANSIENT_FAILURE' | 'PERMANENT_FAILURE';

export function failureClass(f: ActorFailure): FailureClass {
  if (isCatalogued(f.code)) return f.code;
  return isTransient(f) ? 'TRANSIENT_FAILURE' : 'PERMANENT_FAILURE';
}

/** One line an operator can read in a status_reason. */
export function describeFailure(f: ActorFailure): string {
  const status = f.status === undefined ? '' : ` (HTTP ${f.status})`;
  return `${f.code}${status}: ${f.message}`;
}

/** JSON form of a thrown value for the transition log (Error properties are not enumerable). */
export function serializeError(error: unknown): Record<string, unknown> {
  if (error instanceof ActorError) return { name: error.name, message: error.message, failure: error.failure };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { value: String(error) };
}

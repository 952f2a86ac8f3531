import { z } from 'zod';
import { Int32, opt } from './common.js';

/**
 * The body of every non-2xx JSON response and of a websocket error frame. Decide on `code` and
 * `errorCategory`; the HTTP status is only derived from the gRPC code. (A request the server
 * cannot even decode gets a 400 with a text/plain body instead — not this shape.)
 */
export const JsCantonError = z.object({
  code: z.string(),
  cause: z.string(),
  correlationId: opt(z.string()),
  traceId: opt(z.string()),
  context: z.record(z.string(), z.string()),
  resources: opt(z.array(z.tuple([z.string(), z.string()]))),
  errorCategory: Int32,
  grpcCodeValue: opt(Int32),
  retryInfo: opt(z.string()),
  definiteAnswer: opt(z.boolean()),
});
export type JsCantonError = z.infer<typeof JsCantonError>;

/** Canton's ErrorCategory ids, as carried in `errorCategory`. */
export const ErrorCategory = {
  TransientServerFailure: 1,
  ContentionOnSharedResources: 2,
  DeadlineExceededRequestStateUnknown: 3,
  SystemInternalAssumptionViolated: 4,
  MaliciousOrFaultyBehaviour: 5,
  AuthInterceptorInvalidAuthenticationCredentials: 6,
  InsufficientPermission: 7,
  InvalidIndependentOfSystemState: 8,
  InvalidGivenCurrentSystemStateOther: 9,
  InvalidGivenCurrentSystemStateResourceExists: 10,
  InvalidGivenCurrentSystemStateResourceMissing: 11,
  InvalidGivenCurrentSystemStateSeekAfterEnd: 12,
  BackgroundProcessDegradationWarning: 13,
  InternalUnsupportedOperation: 14,
} as const;
export type ErrorCategory = (typeof ErrorCategory)[keyof typeof ErrorCategory];

const RETRYABLE_CATEGORIES: ReadonlySet<number> = new Set([
  ErrorCategory.TransientServerFailure,
  ErrorCategory.ContentionOnSharedResources,
  ErrorCategory.DeadlineExceededRequestStateUnknown,
  ErrorCategory.InvalidGivenCurrentSystemStateSeekAfterEnd,
]);

/**
 * Retryable per Canton's categories. Category 3 means the outcome is UNKNOWN: retrying is allowed
 * but the caller must first find out whether the original submission committed.
 */
export function isRetryableErrorCategory(category: number): boolean {
  return RETRYABLE_CATEGORIES.has(category);
}

/** Keys that only a stream element (never an error) has. */
const STREAM_ELEMENT_KEYS = ['update', 'contractEntry', 'completionResponse'] as const;

/**
 * Websocket frames are an untagged Either<JsCantonError, element>: an error arrives as an ordinary
 * text frame and ends the stream. An error frame has `code`, `cause` and `errorCategory` and none
 * of the element keys. Only a structural test: parse with JsCantonError afterwards.
 */
export function isJsCantonErrorFrame(frame: unknown): boolean {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return false;
  const f = frame as Record<string, unknown>;
  if (STREAM_ELEMENT_KEYS.some((k) => k in f)) return false;
  return typeof f['code'] === 'string' && typeof f['cause'] === 'string' && typeof f['errorCategory'] === 'number';
}

import type { JsCantonError } from '../../ledger/schema/index.js';

/** gRPC status codes (the `grpcCodeValue` of a JsCantonError, `status.code` of a completion). */
export const Grpc = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** HTTP status the JSON API derives from the gRPC code (Canton's GrpcHttpErrorCodes). */
export function httpStatusOfGrpc(code: number): number {
  switch (code) {
    case Grpc.INVALID_ARGUMENT:
    case Grpc.FAILED_PRECONDITION:
    case Grpc.OUT_OF_RANGE:
      return 400;
    case Grpc.UNAUTHENTICATED:
      return 401;
    case Grpc.PERMISSION_DENIED:
      return 403;
    case Grpc.NOT_FOUND:
      return 404;
    case Grpc.ABORTED:
    case Grpc.ALREADY_EXISTS:
      return 409;
    case Grpc.RESOURCE_EXHAUSTED:
      return 429;
    case Grpc.CANCELLED:
      return 499;
    case Grpc.UNIMPLEMENTED:
      return 501;
    case Grpc.UNAVAILABLE:
      return 503;
    case Grpc.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

/**
 * Canton error codes the double emits, with the category and gRPC code Canton 3.4 gives them
 * (ErrorCategory.scala: 1 TransientServerFailure/UNAVAILABLE, 2 ContentionOnSharedResources/
 * ABORTED, 3 DeadlineExceededRequestStateUnknown, 4 SystemInternalAssumptionViolated/INTERNAL,
 * 8 InvalidIndependentOfSystemState/INVALID_ARGUMENT, 9 InvalidGivenCurrentSystemStateOther/
 * FAILED_PRECONDITION, 10 ...ResourceExists/ALREADY_EXISTS, 11 ...ResourceMissing/NOT_FOUND,
 * 12 ...SeekAfterEnd/OUT_OF_RANGE). Where each is defined in Canton: src/sandbox/README.md,
 * "Error ids".
 */
export const ErrorCodes = {
  DUPLICATE_COMMAND: { category: 10, grpc: Grpc.ALREADY_EXISTS },
  SUBMISSION_ALREADY_IN_FLIGHT: { category: 2, grpc: Grpc.ABORTED },
  CONTRACT_NOT_FOUND: { category: 11, grpc: Grpc.NOT_FOUND },
  LOCAL_VERDICT_INACTIVE_CONTRACTS: { category: 11, grpc: Grpc.NOT_FOUND },
  LOCAL_VERDICT_LOCKED_CONTRACTS: { category: 2, grpc: Grpc.ABORTED },
  LOCAL_VERDICT_LEDGER_TIME_OUT_OF_BOUND: { category: 2, grpc: Grpc.ABORTED },
  NOT_SEQUENCED_TIMEOUT: { category: 2, grpc: Grpc.ABORTED },
  // Traffic (engine/traffic.ts): the participant's send refused, and the sequencer's own refusals.
  SEQUENCER_REQUEST_FAILED: { category: 2, grpc: Grpc.ABORTED },
  SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT: { category: 9, grpc: Grpc.FAILED_PRECONDITION },
  OUTDATED_TRAFFIC_COST: { category: 9, grpc: Grpc.FAILED_PRECONDITION },
  PARTICIPANT_PRUNED_DATA_ACCESSED: { category: 9, grpc: Grpc.FAILED_PRECONDITION },
  OFFSET_AFTER_LEDGER_END: { category: 12, grpc: Grpc.OUT_OF_RANGE },
  OFFSET_OUT_OF_RANGE: { category: 9, grpc: Grpc.FAILED_PRECONDITION },
  CONTRACT_EVENTS_NOT_FOUND: { category: 11, grpc: Grpc.NOT_FOUND },
  UPDATE_NOT_FOUND: { category: 11, grpc: Grpc.NOT_FOUND },
  COMMAND_PREPROCESSING_FAILED: { category: 8, grpc: Grpc.INVALID_ARGUMENT },
  UNHANDLED_EXCEPTION: { category: 9, grpc: Grpc.FAILED_PRECONDITION },
  CONTRACT_DOES_NOT_IMPLEMENT_INTERFACE: { category: 8, grpc: Grpc.INVALID_ARGUMENT },
  DAML_AUTHORIZATION_ERROR: { category: 8, grpc: Grpc.INVALID_ARGUMENT },
  INVALID_ARGUMENT: { category: 8, grpc: Grpc.INVALID_ARGUMENT },
  INVALID_FIELD: { category: 8, grpc: Grpc.INVALID_ARGUMENT },
  MISSING_FIELD: { category: 8, grpc: Grpc.INVALID_ARGUMENT },
  INVALID_DEDUPLICATION_PERIOD: { category: 9, grpc: Grpc.FAILED_PRECONDITION },
  TEMPLATES_OR_INTERFACES_NOT_FOUND: { category: 11, grpc: Grpc.NOT_FOUND },
  PARTY_NOT_KNOWN_ON_LEDGER: { category: 11, grpc: Grpc.NOT_FOUND },
  UNKNOWN_INFORMEES: { category: 11, grpc: Grpc.NOT_FOUND },
  USER_NOT_FOUND: { category: 11, grpc: Grpc.NOT_FOUND },
  USER_ALREADY_EXISTS: { category: 10, grpc: Grpc.ALREADY_EXISTS },
  JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED: { category: 2, grpc: Grpc.ABORTED },
  // ContentionOnSharedResources: ABORTED, so HTTP 409 (base/errors/…/ErrorCategory.scala).
  PARTICIPANT_BACKPRESSURE: { category: 2, grpc: Grpc.ABORTED },
  SERVICE_NOT_RUNNING: { category: 1, grpc: Grpc.UNAVAILABLE },
  REQUEST_TIME_OUT: { category: 3, grpc: Grpc.DEADLINE_EXCEEDED },
  LEDGER_API_INTERNAL_ERROR: { category: 4, grpc: Grpc.INTERNAL },
} as const;
export type ErrorCodeId = keyof typeof ErrorCodes;

/** Retryable categories in Canton: a definite answer is given for all but category 3. */
const RETRY_INFO_CATEGORIES = new Set([1, 2, 12]);

export interface LedgerErrorOptions {
  context?: Record<string, string>;
  resources?: [string, string][];
  definiteAnswer?: boolean;
  correlationId?: string;
}

/**
 * A Canton error as the engine raises it; the wire layer renders it as a JsCantonError with the
 * HTTP status derived from its gRPC code, and completions carry it as a google.rpc.Status.
 */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  readonly category: number;
  readonly grpc: number;

  constructor(
    readonly code: string,
    readonly causeText: string,
    readonly opts: LedgerErrorOptions & { category?: number; grpc?: number } = {},
  ) {
    super(`${code}: ${causeText}`);
    const known = (ErrorCodes as Record<string, { category: number; grpc: number } | undefined>)[code];
    this.category = opts.category ?? known?.category ?? 4;
    this.grpc = opts.grpc ?? known?.grpc ?? Grpc.INTERNAL;
  }

  static of(code: ErrorCodeId, cause: string, opts: LedgerErrorOptions = {}): LedgerError {
    return new LedgerError(code, cause, opts);
  }

  get httpStatus(): number {
    if (this.code === 'JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED') return 413;
    return httpStatusOfGrpc(this.grpc);
  }

  toJs(participant: string, traceId: string): JsCantonError {
    const definite = this.opts.definiteAnswer;
    const context: Record<string, string> = {
      participant,
      category: String(this.category),
      tid: traceId,
      ...(definite !== undefined ? { definite_answer: String(definite) } : {}),
      ...this.opts.context,
    };
    return {
      code: this.code,
      cause: this.causeText,
      ...(this.opts.correlationId !== undefined ? { correlationId: this.opts.correlationId } : {}),
      traceId,
      context,
      resources: this.opts.resources ?? [],
      errorCategory: this.category,
      grpcCodeValue: this.grpc,
      ...(RETRY_INFO_CATEGORIES.has(this.category) ? { retryInfo: '1 second' } : {}),
      ...(definite !== undefined ? { definiteAnswer: definite } : {}),
    };
  }

  /** The completion status message format: "<ID>(<category>,<correlation id prefix>): <cause>". */
  statusMessage(): string {
    const corr = (this.opts.correlationId ?? '0').slice(0, 8);
    return `${this.code}(${this.category},${corr}): ${this.causeText}`;
  }
}

/**
 * Canton hides the details of authentication and authorization failures from the client: the
 * JSON API answers code "NA" with a fixed cause and category -1 (the details go to the node log).
 */
export class SecurityError extends Error {
  override readonly name = 'SecurityError';
  constructor(
    readonly grpc: typeof Grpc.UNAUTHENTICATED | typeof Grpc.PERMISSION_DENIED,
    readonly reason: string,
  ) {
    super(reason);
  }

  get httpStatus(): number {
    return httpStatusOfGrpc(this.grpc);
  }

  toJs(traceId: string, correlationId: string): JsCantonError {
    return {
      code: 'NA',
      cause: 'A security-sensitive error has been received',
      correlationId,
      traceId,
      context: {},
      resources: [],
      errorCategory: -1,
      grpcCodeValue: this.grpc,
    };
  }
}

export function unauthenticated(reason: string): SecurityError {
  return new SecurityError(Grpc.UNAUTHENTICATED, reason);
}

export function permissionDenied(reason: string): SecurityError {
  return new SecurityError(Grpc.PERMISSION_DENIED, reason);
}

/**
 * A Daml precondition failing inside a choice. The token-standard implementations the double
 * models check with Splice.Util's `require` (= `assertMsg`), which throws DA.Exception's
 * AssertionFailed; Canton 3.4 reports an uncaught Daml exception as UNHANDLED_EXCEPTION
 * (RejectionGenerators.processDamlException → CommandExecutionErrors.Interpreter.
 * UnhandledException: the engine's rendering of the exception plus "."). The package-id prefix is
 * the one real rejections show for AssertionFailed.
 */
export function interpretationError(message: string): LedgerError {
  return LedgerError.of(
    'UNHANDLED_EXCEPTION',
    `Interpretation error: Error: Unhandled Daml exception: DA.Exception.AssertionFailed:AssertionFailed@3f4deaf1{ message = ${JSON.stringify(message)} }.`,
    { definiteAnswer: false },
  );
}

export function contractNotFound(contractId: string): LedgerError {
  return LedgerError.of('CONTRACT_NOT_FOUND', `Contract could not be found with id ${contractId}`, {
    resources: [['CONTRACT_ID', contractId]],
    definiteAnswer: false,
  });
}

/**
 * The one error catalogue. Every error the service reports to a client carries one of these stable
 * codes; the message may improve between releases, the code does not. HTTP bodies are
 * `{ code, message, details }`.
 */
export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, summary: 'The request is invalid.' },
  MALFORMED_BODY: { status: 400, summary: 'The request body is not valid JSON.' },
  AMOUNT_PRECISION_EXCEEDED: { status: 400, summary: "The amount has more decimals than the instrument's display decimals." },
  UNAUTHENTICATED: { status: 401, summary: 'A valid bearer token is required.' },
  FORBIDDEN: { status: 403, summary: 'The token lacks the scope this operation needs.' },
  NOT_FOUND: { status: 404, summary: 'No such resource.' },
  IDEMPOTENCY_CONFLICT: { status: 409, summary: 'The id is already used by a request with a different body.' },
  STATE_CONFLICT: { status: 409, summary: 'The operation is not allowed in the current state.' },
  PAYLOAD_TOO_LARGE: { status: 413, summary: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The request body must be application/json.' },
  RATE_LIMITED: { status: 429, summary: 'Too many requests.' },
  INTERNAL: { status: 500, summary: 'Internal error.' },
  NOT_READY: { status: 503, summary: 'The service is not ready.' },
  NOT_ACTIVE: { status: 503, summary: 'This instance is a standby: another instance runs the machines; send the command to the leader.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message ?? ERROR_CATALOGUE[code].summary);
    this.status = ERROR_CATALOGUE[code].status;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, details: this.details };
  }
}

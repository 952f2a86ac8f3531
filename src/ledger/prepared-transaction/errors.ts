/**
 * Why a prepared transaction was refused. Every refusal is final for that input: callers must not
 * sign, and should not retry with the same bytes.
 * - DECODE: the bytes (or proto-JSON) are not a PreparedTransaction we can read completely.
 * - INVALID: it decodes, but breaks a rule the hash or Canton relies on (missing node, cycle, ...).
 * - UNSUPPORTED: a hashing scheme or node version this module does not implement.
 * - VALUE: a Daml value cannot be converted (to/from Daml-LF JSON, or out of range).
 */
export type PreparedTransactionErrorCode = 'DECODE' | 'INVALID' | 'UNSUPPORTED' | 'VALUE';

export class PreparedTransactionError extends Error {
  override readonly name = 'PreparedTransactionError';
  constructor(
    readonly code: PreparedTransactionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function fail(code: PreparedTransactionErrorCode, message: string, cause?: unknown): never {
  throw new PreparedTransactionError(code, message, cause === undefined ? undefined : { cause });
}

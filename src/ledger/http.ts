import type { z } from 'zod';
import { LedgerAuthError, type TokenProvider } from './auth.js';
import { decode, isRetryableErrorCategory, JsCantonError } from './schema/index.js';
import { isOk, ResponseTooLargeError, transportFor, type HttpCall, type HttpExchange, type HttpTransport } from './transport.js';
import { Failure, familyCode } from '../failures.js';

/**
 * The HTTP core every Ledger API and registry client uses: base URL, bearer token, timeout, JSON
 * in and out, zod decoding of responses, and one error type whose `retryable` encodes the rules
 * (docs/internals.md): retry error categories 1, 2, 3 and 12, HTTP 429/502/503/504 without a
 * Canton error body, and network failures; never HTTP 401, 403, 500 or 501.
 */

/** Statuses never retried whatever the body says (integration guide, "Fault tolerance"). */
const NEVER_RETRY: ReadonlySet<number> = new Set([401, 403, 500, 501]);
/** Transient statuses of gateways and overload when the body is not a JsCantonError. */
const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export function isRetryable(status: number, errorCategory: number | undefined): boolean {
  if (NEVER_RETRY.has(status)) return false;
  if (status === 429 || status === 503) return true;
  if (errorCategory !== undefined) return isRetryableErrorCategory(errorCategory);
  return status === 0 || RETRY_STATUSES.has(status);
}

export class LedgerApiError extends Error {
  override readonly name = 'LedgerApiError';
  /** HTTP status; 0 when no response arrived (network error, timeout). */
  readonly status: number;
  /** The JsCantonError code, or NETWORK_ERROR / TIMEOUT / HTTP_<status> without one. */
  readonly code: string;
  readonly errorCategory: number | undefined;
  readonly retryable: boolean;
  readonly cantonError: JsCantonError | undefined;

  constructor(
    message: string,
    o: {
      status: number;
      code: string;
      errorCategory?: number | undefined;
      retryable?: boolean;
      cantonError?: JsCantonError | undefined;
      cause?: unknown;
    },
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.status = o.status;
    this.code = o.code;
    this.errorCategory = o.errorCategory;
    this.cantonError = o.cantonError;
    this.retryable = o.retryable ?? isRetryable(o.status, o.errorCategory);
  }
}

/** Canton's gRPC status → HTTP status mapping (GrpcHttpErrorCodes), for errors that arrive without one. */
const GRPC_TO_HTTP: Readonly<Record<number, number>> = {
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  15: 500,
  16: 401,
};

export function httpStatusOfGrpc(code: number | undefined): number {
  return code === undefined ? 500 : (GRPC_TO_HTTP[code] ?? 500);
}

/** Turns an error response body (JsCantonError JSON, or text) into a LedgerApiError. */
export function errorFromResponse(what: string, status: number, bodyText: string): LedgerApiError {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    /* text/plain, e.g. a 400 for a request body the server cannot decode */
  }
  const canton = JsCantonError.safeParse(json);
  if (canton.success) {
    const e = canton.data;
    return new LedgerApiError(`${what}: HTTP ${status} ${e.code} (category ${e.errorCategory}): ${e.cause}`, {
      status,
      code: e.code,
      errorCategory: e.errorCategory,
      cantonError: e,
    });
  }
  const text = bodyText.length > 500 ? `${bodyText.slice(0, 500)}…` : bodyText;
  return new LedgerApiError(`${what}: HTTP ${status}${text ? `: ${text}` : ''}`, { status, code: familyCode('HTTP_', status) });
}

/** A bearer token for a call; failing to get one is a LedgerApiError naming the call. */
export async function bearerToken(auth: TokenProvider, what: string, signal?: AbortSignal): Promise<string> {
  try {
    return await auth.getToken(signal);
  } catch (e) {
    if (e instanceof LedgerAuthError) {
      throw new LedgerApiError(`${what}: cannot obtain an access token: ${e.message}`, {
        status: e.status,
        code: Failure.AUTH_TOKEN,
        retryable: e.retryable,
        cause: e,
      });
    }
    throw e;
  }
}

/** Default largest answer of one JSON API call (a prepared transaction, an update, a page of ACS). */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * One exchange, time-boxed and size-bounded. The caller's cancellation passes through as it is; a
 * timeout or a network failure (no complete response) becomes a retryable LedgerApiError naming
 * the call; an answer over its size limit a non-retryable RESPONSE_TOO_LARGE (the same call would
 * get the same answer).
 */
export async function timedExchange(
  transport: HttpTransport,
  url: string,
  call: Omit<HttpCall, 'signal'>,
  o: { what: string; timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<HttpExchange> {
  const timeout = AbortSignal.timeout(o.timeoutMs);
  try {
    return await transport(url, { ...call, signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout });
  } catch (e) {
    if (o.signal?.aborted) throw e; // the caller cancelled: not a ledger error
    if (e instanceof ResponseTooLargeError) {
      throw new LedgerApiError(`${o.what}: HTTP ${e.status} with a response larger than ${e.limit} bytes; refused`, {
        status: e.status,
        code: Failure.RESPONSE_TOO_LARGE,
        retryable: false,
        cause: e,
      });
    }
    const timedOut = timeout.aborted;
    throw new LedgerApiError(`${o.what}: ${timedOut ? 'timed out' : `network error: ${(e as Error).message}`}`, {
      status: 0,
      code: timedOut ? Failure.TIMEOUT : Failure.NETWORK_ERROR,
      retryable: true,
      cause: e,
    });
  }
}

export interface LedgerHttpOptions {
  baseUrl: string;
  auth: TokenProvider;
  /** Per request, unless the call sets its own. Default 30 s. */
  timeoutMs?: number;
  /** Largest response body of a call, unless the call sets its own. Default 16 MiB. */
  maxResponseBytes?: number;
  /** Tests: a fetch to send through instead of node:http (transport.ts). */
  fetch?: typeof fetch;
}

export interface RequestOptions<S extends z.ZodType> {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  schema: S;
  /** Names the call in errors, e.g. "GET /v2/state/ledger-end". */
  what?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

export class LedgerHttp {
  readonly baseUrl: string;
  private readonly transport: HttpTransport;

  constructor(private readonly opts: LedgerHttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.transport = transportFor(opts.fetch);
  }

  get auth(): TokenProvider {
    return this.opts.auth;
  }

  url(path: string, query?: Record<string, string | number | undefined>): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** Sends the request and decodes a 2xx body with `schema`; anything else throws LedgerApiError. */
  async request<S extends z.ZodType>(o: RequestOptions<S>): Promise<z.output<S>> {
    const what = o.what ?? `${o.method} ${o.path}`;
    const json = await this.send(o, what, true);
    return decode(o.schema, json, what);
  }

  private async send(o: RequestOptions<z.ZodType>, what: string, mayRefresh: boolean): Promise<unknown> {
    const token = await bearerToken(this.opts.auth, what, o.signal);
    const res = await timedExchange(
      this.transport,
      this.url(o.path, o.query),
      {
        method: o.method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        maxResponseBytes: o.maxResponseBytes ?? this.opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      },
      { what, timeoutMs: o.timeoutMs ?? this.opts.timeoutMs ?? 30_000, signal: o.signal },
    );
    const text = res.text;
    if (isOk(res.status)) {
      try {
        return text === '' ? {} : (JSON.parse(text) as unknown);
      } catch (e) {
        throw new LedgerApiError(`${what}: HTTP ${res.status} with a body that is not JSON`, {
          status: res.status,
          code: Failure.INVALID_RESPONSE,
          retryable: false,
          cause: e,
        });
      }
    }
    // A rotated or revoked OAuth token: fetch a fresh one once. A static token cannot improve.
    if (res.status === 401 && mayRefresh && this.opts.auth.kind === 'oauth2') {
      this.opts.auth.invalidate();
      return this.send(o, what, false);
    }
    throw errorFromResponse(what, res.status, text);
  }
}

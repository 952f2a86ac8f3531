import { decodeJwt } from 'jose';
import { z } from 'zod';
import type { BearerCredentialConfig } from '../config.js';
import { boundedText, ResponseTooLargeError } from './transport.js';

/** A token answer is a few KB; anything far larger is not one. */
const TOKEN_RESPONSE_MAX_BYTES = 256 * 1024;

/**
 * Access tokens for the Ledger API and for registries that want one (src/ledger/registry-auth.ts):
 * a static JWT, or OAuth2 client credentials refreshed before they expire. Secrets (the client
 * secret, the tokens) live only in closures: never in an error
 * message, a log line, or an enumerable property someone might serialise.
 */
export interface TokenProvider {
  readonly kind: 'static' | 'oauth2';
  /** A token valid for at least the refresh margin; concurrent callers share one fetch. */
  getToken(signal?: AbortSignal): Promise<string>;
  /** Forget the cached token (the ledger said 401): the next getToken fetches a fresh one. */
  invalidate(): void;
}

/** The token endpoint refused or failed. `retryable`: a network error, 429 or 5xx. */
export class LedgerAuthError extends Error {
  override readonly name = 'LedgerAuthError';
  constructor(
    message: string,
    readonly status: number,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function staticToken(token: string): TokenProvider {
  return { kind: 'static', getToken: () => Promise.resolve(token), invalidate: () => {} };
}

const TokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().positive().optional(),
});

export interface OAuth2Options {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  audience?: string | undefined;
  scope?: string | undefined;
  /** Refresh this long before expiry (capped at half the token's lifetime). Default 60 s. */
  refreshMarginMs?: number;
  /** Lifetime assumed when neither expires_in nor a JWT exp says. Default 5 min. */
  defaultLifetimeMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/** OAuth2 client-credentials grant (RFC 6749 §4.4), form-encoded, secret in the body. */
export function oauth2ClientCredentials(opts: OAuth2Options): TokenProvider {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const now = opts.now ?? Date.now;
  const margin = opts.refreshMarginMs ?? 60_000;
  const defaultLifetime = opts.defaultLifetimeMs ?? 300_000;
  const { clientSecret } = opts; // kept in this closure only
  let cached: { token: string; refreshAt: number; expiresAt: number } | undefined;
  let inflight: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: opts.clientId, client_secret: clientSecret });
    if (opts.audience) form.set('audience', opts.audience);
    if (opts.scope) form.set('scope', opts.scope);
    const started = now();
    let res: Response;
    try {
      res = await doFetch(opts.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
    } catch (e) {
      throw new LedgerAuthError(`OAuth2 token endpoint ${opts.tokenUrl} unreachable: ${(e as Error).message}`, 0, true, { cause: e });
    }
    if (!res.ok) {
      // The error body (RFC 6749 §5.2: error, error_description) names the problem without secrets.
      let reason = '';
      try {
        const body = JSON.parse(await boundedText(res, TOKEN_RESPONSE_MAX_BYTES)) as { error?: unknown; error_description?: unknown };
        reason = [body.error, body.error_description].filter((x) => typeof x === 'string').join(': ');
      } catch {
        /* not JSON */
      }
      const retryable = res.status === 429 || res.status >= 500;
      throw new LedgerAuthError(
        `OAuth2 token endpoint ${opts.tokenUrl} answered ${res.status}${reason ? ` (${reason})` : ''} for client ${opts.clientId}`,
        res.status,
        retryable,
      );
    }
    let answer: unknown;
    try {
      answer = JSON.parse(await boundedText(res, TOKEN_RESPONSE_MAX_BYTES));
    } catch (e) {
      if (e instanceof ResponseTooLargeError)
        throw new LedgerAuthError(`OAuth2 token endpoint ${opts.tokenUrl} answered more than ${e.limit} bytes; refused`, res.status, false);
      answer = undefined;
    }
    const parsed = TokenResponse.safeParse(answer);
    if (!parsed.success) throw new LedgerAuthError(`OAuth2 token endpoint ${opts.tokenUrl} returned no access_token`, res.status, false);
    const token = parsed.data.access_token;
    let lifetime = parsed.data.expires_in !== undefined ? parsed.data.expires_in * 1000 : undefined;
    if (lifetime === undefined) {
      try {
        const exp = decodeJwt(token).exp;
        if (exp !== undefined) lifetime = exp * 1000 - started;
      } catch {
        /* opaque token */
      }
    }
    const life = Math.max(0, lifetime ?? defaultLifetime);
    cached = { token, expiresAt: started + life, refreshAt: started + life - Math.min(margin, life / 2) };
    return token;
  }

  return {
    kind: 'oauth2',
    getToken() {
      if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
      inflight ??= fetchToken().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate() {
      cached = undefined;
    },
  };
}

export function tokenProviderFor(
  auth: BearerCredentialConfig,
  opts: Pick<OAuth2Options, 'fetch' | 'now' | 'refreshMarginMs'> = {},
): TokenProvider {
  if (auth.kind === 'static') return staticToken(auth.token);
  return oauth2ClientCredentials({ ...auth, ...opts });
}

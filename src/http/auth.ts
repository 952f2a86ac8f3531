import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiScope, ApiToken } from '../config.js';
import { AppError } from '../errors.js';

/**
 * What a route requires: a scope, nothing at all (docs), or `probe`: anyone, and a read-scoped
 * token (when one is presented) is checked and shows the details (the health probes).
 */
export type RouteAccess = ApiScope | 'public' | 'probe';

export interface Principal {
  name: string;
  scopes: readonly ApiScope[];
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token authentication against the configured API tokens. Tokens are compared as SHA-256
 * digests with timingSafeEqual, and every configured token is compared on every request, so the
 * response time reveals neither a matching prefix nor which token matched.
 */
export function createAuthenticator(tokens: readonly ApiToken[]) {
  const known = tokens.map((t) => ({ digest: digest(t.token), principal: { name: t.name, scopes: t.scopes } }));

  function authenticate(authorization: string | undefined): Principal {
    const match = /^Bearer ([^\s]+)$/i.exec(authorization ?? '');
    if (!match) throw new AppError('UNAUTHENTICATED', 'Missing or malformed Authorization header: expected "Bearer <token>".');
    const presented = digest(match[1]!);
    let found: Principal | undefined;
    for (const k of known) {
      if (timingSafeEqual(k.digest, presented)) found = k.principal;
    }
    if (!found) throw new AppError('UNAUTHENTICATED', 'Unknown API token.');
    return found;
  }

  /** Throws the catalogue's 401/403 unless the request may use a route with this access rule. */
  function authorize(access: RouteAccess, authorization: string | undefined): Principal | undefined {
    if (access === 'public') return undefined;
    if (access === 'probe' && authorization === undefined) return undefined;
    const scope = access === 'probe' ? 'read' : access;
    const principal = authenticate(authorization);
    if (!principal.scopes.includes(scope)) {
      // Name only the scope that is missing: what else a token may do is not the caller's to learn.
      throw new AppError('FORBIDDEN', `This operation needs the "${scope}" scope, which token "${principal.name}" lacks.`, {
        requiredScope: scope,
      });
    }
    return principal;
  }

  /** Whether the header carries a configured token (for logging decisions; no error). */
  function knows(authorization: string | undefined): boolean {
    try {
      authenticate(authorization);
      return true;
    } catch {
      return false;
    }
  }

  return { authenticate, authorize, knows };
}

/** Who made an admin request, for the audit trail: admin routes always have an authenticated principal. */
export function operatorName(req: { principal?: Principal | undefined }, what: string): string {
  const name = req.principal?.name;
  if (!name) throw new AppError('INTERNAL', `${what} without an authenticated principal`);
  return name;
}

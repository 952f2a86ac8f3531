import type { RegistryAuthConfig } from '../config.js';
import { tokenProviderFor, type OAuth2Options, type TokenProvider } from './auth.js';

/**
 * How the client of an instrument's registry authenticates, chosen per instrument
 * (`instruments.registry_auth`, `registry_credential`):
 *
 * - `none`: no Authorization header. Scan and most token admins' registries are public.
 * - `ledger`: the daemon's own Ledger API token. A validator's Scan proxy serves the registry API
 *   under `<validator>/api/validator/v0/scan-proxy` and wants a JWT its validator app accepts: any
 *   user, signature and audience checked (Splice: ValidatorApp.scala mounts the token-standard
 *   resources there behind AuthenticationOnlyAuthExtractor; SignatureVerifier.scala checks `aud`
 *   against the validator app's `auth.audience`). The Ledger API token passes when both audiences
 *   are the same (Splice LocalNet: both https://canton.network.global); a deployment with a
 *   separate validator audience uses a credential for it instead.
 * - `credential`: a named credential from the REGISTRY_CREDENTIALS setting, a static bearer token
 *   or OAuth2 client credentials (refreshed as the Ledger API's are: src/ledger/auth.ts).
 *
 * The database, the API and events know only the mode and the credential's name; secrets stay in
 * settings and in the token providers' closures. A credential (and the Ledger API token) may be
 * bound to registry URLs in settings, so that whoever may change an instrument's URL over the
 * admin API cannot have a secret sent to a server of their choosing.
 */

export const REGISTRY_AUTH_MODES = ['none', 'ledger', 'credential'] as const;
export type RegistryAuthMode = (typeof REGISTRY_AUTH_MODES)[number];

export type RegistryAuth = { mode: 'none' } | { mode: 'ledger' } | { mode: 'credential'; credential: string };

export const NO_REGISTRY_AUTH: RegistryAuth = { mode: 'none' };

export const NO_REGISTRY_CREDENTIALS: RegistryAuthConfig = { credentials: {}, ledgerAuthUrls: undefined };

/** For messages: the mode and the credential's name, never anything secret. */
export function describeRegistryAuth(a: RegistryAuth): string {
  return a.mode === 'credential' ? `credential "${a.credential}"` : a.mode;
}

/** An instrument's registry auth cannot be used: unknown credential, URL not allowed for it, no ledger. */
export class RegistryAuthError extends Error {
  override readonly name = 'RegistryAuthError';
  constructor(
    message: string,
    /** The instrument field to fix. */
    readonly field: 'registryAuth' | 'registryAuth.credential' | 'registryUrl',
  ) {
    super(message);
  }
}

export interface RegistryTokens {
  /** Names of the configured credentials (what an operator may choose from). */
  readonly credentialNames: readonly string[];
  /** Why `auth` cannot be used for a registry at `registryUrl`; undefined when it can. */
  problem(auth: RegistryAuth, registryUrl: string): RegistryAuthError | undefined;
  /** Where the bearer token comes from; undefined for `none`. Throws the problem, if any. */
  provider(auth: RegistryAuth, registryUrl: string): TokenProvider | undefined;
}

export interface RegistryTokensOptions {
  config: RegistryAuthConfig;
  /** The Ledger API token (mode `ledger`); undefined when this process has no ledger. */
  ledger: TokenProvider | undefined;
  /** Tests: the token endpoint's fetch and clock. */
  oauth?: Pick<OAuth2Options, 'fetch' | 'now' | 'refreshMarginMs'>;
}

/** The URL is `allowed` or a path below it, on the same origin (scheme, host and port). */
export function isRegistryUrlWithin(url: string, allowed: string): boolean {
  let u: URL;
  let a: URL;
  try {
    u = new URL(url);
    a = new URL(allowed);
  } catch {
    return false;
  }
  if (u.origin !== a.origin) return false;
  const base = a.pathname.replace(/\/+$/, '');
  const path = u.pathname.replace(/\/+$/, '');
  return path === base || path.startsWith(`${base}/`);
}

/** One token provider per credential for the process: callers share its cache and its refreshes. */
export function createRegistryTokens(o: RegistryTokensOptions): RegistryTokens {
  const credentials = new Map(
    Object.entries(o.config.credentials).map(([name, c]) => [
      name,
      { provider: tokenProviderFor(c.auth, o.oauth ?? {}), registryUrls: c.registryUrls },
    ]),
  );
  const names = [...credentials.keys()].sort();

  const urlProblem = (registryUrl: string, allowed: readonly string[] | undefined, whose: string, setting: string) =>
    allowed === undefined || allowed.some((a) => isRegistryUrlWithin(registryUrl, a))
      ? undefined
      : new RegistryAuthError(`${whose} may not be sent to ${registryUrl}: ${setting} allows only ${allowed.join(', ')}`, 'registryUrl');

  const problem = (auth: RegistryAuth, registryUrl: string): RegistryAuthError | undefined => {
    switch (auth.mode) {
      case 'none':
        return undefined;
      case 'ledger':
        if (!o.ledger)
          return new RegistryAuthError(
            'registry auth "ledger" sends the Ledger API token, but this process has no ledger configured',
            'registryAuth',
          );
        return urlProblem(registryUrl, o.config.ledgerAuthUrls, 'the Ledger API token', 'REGISTRY_LEDGER_AUTH_URLS');
      case 'credential': {
        const c = credentials.get(auth.credential);
        if (!c) {
          const known = names.length > 0 ? `it defines ${names.map((n) => `"${n}"`).join(', ')}` : 'it defines none';
          return new RegistryAuthError(
            `unknown registry credential "${auth.credential}": REGISTRY_CREDENTIALS does not define it (${known})`,
            'registryAuth.credential',
          );
        }
        return urlProblem(
          registryUrl,
          c.registryUrls,
          `registry credential "${auth.credential}"`,
          `its registryUrls in REGISTRY_CREDENTIALS`,
        );
      }
    }
  };

  return {
    credentialNames: names,
    problem,
    provider(auth, registryUrl) {
      const p = problem(auth, registryUrl);
      if (p) throw p;
      if (auth.mode === 'ledger') return o.ledger;
      if (auth.mode === 'credential') return credentials.get(auth.credential)?.provider;
      return undefined;
    },
  };
}

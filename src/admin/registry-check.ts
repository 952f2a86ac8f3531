import { LedgerApiError } from '../ledger/http.js';
import {
  describeRegistryAuth,
  NO_REGISTRY_AUTH,
  NO_REGISTRY_CREDENTIALS,
  createRegistryTokens,
  RegistryAuthError,
  type RegistryAuth,
  type RegistryTokens,
} from '../ledger/registry-auth.js';
import { RegistryClient } from '../ledger/registry-client.js';
import type { RegistryUrlPolicy } from '../ledger/registry-url-policy.js';
import type { Logger } from '../logger.js';
import { Failure } from '../failures.js';

/**
 * Token onboarding asks the token admin's registry (token-metadata-v1: `/registry/metadata/v1/info`
 * and `/instruments/{id}`) whether it serves the instrument for that admin, before the
 * configuration is stored: a wrong URL or admin party is a 400 now, not a stalled withdrawal later.
 * It asks with the instrument's registry auth, so a registry that wants a token (a validator's Scan
 * proxy) proves at onboarding that the configured one is accepted.
 */

/** The transfer API withdrawals and 2-step deposits are built on. */
export const REQUIRED_REGISTRY_API = 'splice-api-token-transfer-instruction-v1';

export interface RegistryInstrumentInfo {
  adminId: string;
  name: string;
  symbol: string;
  /** Decimals the token uses: display decimals beyond them mean nothing. */
  decimals: number;
  supportedApis: Record<string, number>;
}

export interface InstrumentToCheck {
  admin: string;
  id: string;
  registryUrl: string;
  /** Default none. */
  registryAuth?: RegistryAuth;
}

export class RegistryCheckError extends Error {
  override readonly name = 'RegistryCheckError';
  constructor(
    message: string,
    /** The registry could not be asked (network, 5xx): trying again later may succeed. */
    readonly retryable: boolean,
    /** The instrument field to fix. */
    readonly field: 'registryUrl' | 'registryAuth' | 'registryAuth.credential' = 'registryUrl',
  ) {
    super(message);
  }
}

export interface InstrumentRegistryCheck {
  /** The registry's description of the instrument; RegistryCheckError when it does not serve it for that admin. */
  check(i: InstrumentToCheck, signal?: AbortSignal): Promise<RegistryInstrumentInfo>;
}

function unreachable(e: unknown, what: string): RegistryCheckError {
  if (e instanceof LedgerApiError) {
    // A refused or unobtainable token is the registry auth's problem, not the URL's.
    const authProblem = e.code === Failure.REGISTRY_UNAUTHORIZED || e.code === Failure.REGISTRY_FORBIDDEN || e.code === Failure.AUTH_TOKEN;
    return new RegistryCheckError(`${what}: ${e.message}`, e.retryable, authProblem ? 'registryAuth' : 'registryUrl');
  }
  return new RegistryCheckError(`${what}: ${(e as Error).message}`, false);
}

export interface RegistryMetadataCheckOptions {
  /** The tokens instruments may use (default: no credentials and no ledger: only `none` works). */
  tokens?: RegistryTokens;
  /** Which registry URLs may be called, as the ledger effects call them. */
  policy: RegistryUrlPolicy;
  /** The debug log of refused calls' bodies. */
  logger?: Logger;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function createRegistryMetadataCheck(o: RegistryMetadataCheckOptions): InstrumentRegistryCheck {
  const tokens = o.tokens ?? createRegistryTokens({ config: NO_REGISTRY_CREDENTIALS, ledger: undefined });
  return {
    async check(i, signal) {
      // A token goes only where the instrument's registry auth (and the settings binding it to URLs) allow.
      const registryAuth = i.registryAuth ?? NO_REGISTRY_AUTH;
      let auth;
      try {
        auth = tokens.provider(registryAuth, i.registryUrl);
      } catch (e) {
        if (e instanceof RegistryAuthError) throw new RegistryCheckError(e.message, false, e.field);
        throw e;
      }
      const client = new RegistryClient({
        baseUrl: i.registryUrl,
        timeoutMs: o.timeoutMs ?? 10_000,
        ...(auth ? { auth } : {}),
        authContext: `instrument ${i.admin}/${i.id}, registry auth ${describeRegistryAuth(registryAuth)}`,
        policy: o.policy,
        ...(o.logger ? { logger: o.logger } : {}),
        ...(o.fetch ? { fetch: o.fetch } : {}),
      });
      const info = await client.info(signal).catch((e: unknown) => {
        throw unreachable(e, `cannot read the registry's metadata at ${i.registryUrl}`);
      });
      if (info.adminId !== i.admin) {
        throw new RegistryCheckError(`the registry at ${i.registryUrl} belongs to admin ${info.adminId}, not ${i.admin}`, false);
      }
      const instrument = await client.instrument(i.id, signal).catch((e: unknown) => {
        if (e instanceof LedgerApiError && e.status === 404)
          throw new RegistryCheckError(`the registry at ${i.registryUrl} does not know instrument "${i.id}"`, false);
        throw unreachable(e, `cannot read instrument "${i.id}" from the registry at ${i.registryUrl}`);
      });
      if (instrument.id !== i.id) {
        throw new RegistryCheckError(
          `the registry at ${i.registryUrl} answered instrument "${instrument.id}" when asked for "${i.id}"`,
          false,
        );
      }
      const supportedApis = { ...info.supportedApis, ...instrument.supportedApis };
      if (!(REQUIRED_REGISTRY_API in supportedApis)) {
        throw new RegistryCheckError(
          `the registry at ${i.registryUrl} does not offer ${REQUIRED_REGISTRY_API}, which withdrawals and 2-step deposits need`,
          false,
        );
      }
      return { adminId: info.adminId, name: instrument.name, symbol: instrument.symbol, decimals: instrument.decimals, supportedApis };
    },
  };
}

import { LedgerApiError } from '../ledger/http.js';
import { RegistryClient } from '../ledger/registry-client.js';

/**
 * Token onboarding asks the token admin's registry (token-metadata-v1: `/registry/metadata/v1/info`
 * and `/instruments/{id}`) whether it serves the instrument for that admin, before the
 * configuration is stored: a wrong URL or admin party is a 400 now, not a stalled withdrawal later.
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
}

export class RegistryCheckError extends Error {
  override readonly name = 'RegistryCheckError';
  constructor(
    message: string,
    /** The registry could not be asked (network, 5xx): trying again later may succeed. */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface InstrumentRegistryCheck {
  /** The registry's description of the instrument; RegistryCheckError when it does not serve it for that admin. */
  check(i: InstrumentToCheck, signal?: AbortSignal): Promise<RegistryInstrumentInfo>;
}

function unreachable(e: unknown, what: string): RegistryCheckError {
  if (e instanceof LedgerApiError) return new RegistryCheckError(`${what}: ${e.message}`, e.retryable);
  return new RegistryCheckError(`${what}: ${(e as Error).message}`, false);
}

export function createRegistryMetadataCheck(o: { timeoutMs?: number; fetch?: typeof fetch } = {}): InstrumentRegistryCheck {
  return {
    async check(i, signal) {
      // Public endpoints: no credentials are sent to a URL an operator just typed.
      const client = new RegistryClient({ baseUrl: i.registryUrl, timeoutMs: o.timeoutMs ?? 10_000, ...(o.fetch ? { fetch: o.fetch } : {}) });
      const info = await client.info(signal).catch((e: unknown) => {
        throw unreachable(e, `cannot read the registry's metadata at ${i.registryUrl}`);
      });
      if (info.adminId !== i.admin) {
        throw new RegistryCheckError(`the registry at ${i.registryUrl} belongs to admin ${info.adminId}, not ${i.admin}`, false);
      }
      const instrument = await client.instrument(i.id, signal).catch((e: unknown) => {
        if (e instanceof LedgerApiError && e.status === 404) throw new RegistryCheckError(`the registry at ${i.registryUrl} does not know instrument "${i.id}"`, false);
        throw unreachable(e, `cannot read instrument "${i.id}" from the registry at ${i.registryUrl}`);
      });
      if (instrument.id !== i.id) {
        throw new RegistryCheckError(`the registry at ${i.registryUrl} answered instrument "${instrument.id}" when asked for "${i.id}"`, false);
      }
      const supportedApis = { ...info.supportedApis, ...instrument.supportedApis };
      if (!(REQUIRED_REGISTRY_API in supportedApis)) {
        throw new RegistryCheckError(`the registry at ${i.registryUrl} does not offer ${REQUIRED_REGISTRY_API}, which withdrawals and 2-step deposits need`, false);
      }
      return { adminId: info.adminId, name: instrument.name, symbol: instrument.symbol, decimals: instrument.decimals, supportedApis };
    },
  };
}

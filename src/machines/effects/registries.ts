import { describeRegistryAuth, RegistryAuthError, type RegistryTokens } from '../../ledger/registry-auth.js';
import { RegistryClient } from '../../ledger/registry-client.js';
import { withoutCredentials, type RegistryUrlPolicy } from '../../ledger/registry-url-policy.js';
import type { Logger } from '../../logger.js';
import type { Sql } from '../../store/db.js';
import { findInstrument, type InstrumentRow } from '../../store/instruments.js';
import { ActorError } from '../failure.js';
import type { InstrumentRef } from '../submission.js';
import { Failure } from '../../failures.js';

/**
 * Which registry serves an instrument, and how its client authenticates: its `registry_url` and
 * registry auth in the `instruments` table (token onboarding is configuration, not code). Rows are
 * re-read after `cacheMs` so an operator's change applies without a restart; a client is kept per
 * instrument while its URL and auth stay the same, and tokens come from the process's shared
 * providers (one cache per credential).
 */
export interface RegistryDirectory {
  /** The instrument's configuration; ActorError INSTRUMENT_NOT_CONFIGURED when there is none. */
  instrument(ref: InstrumentRef): Promise<InstrumentRow>;
  /** ActorError REGISTRY_AUTH_CONFIG (not retryable) when its registry auth cannot be used. */
  client(row: InstrumentRow): RegistryClient;
}

export interface RegistryClientsOptions {
  tokens: RegistryTokens;
  /**
   * Which registry URLs may be called (REGISTRY_ALLOW_HTTP, REGISTRY_ALLOW_HOSTS): a stored URL the
   * policy refuses fails the call, not retried.
   */
  policy: RegistryUrlPolicy;
  /** The debug log of refused calls' bodies. */
  logger?: Logger;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface RegistryDirectoryOptions extends RegistryClientsOptions {
  sql: Sql;
  cacheMs?: number;
}

/**
 * A registry client per instrument, kept while its URL and auth stay the same. ActorError
 * REGISTRY_AUTH_CONFIG (not retryable) when the instrument's registry auth cannot be used.
 */
export function createRegistryClients(opts: RegistryClientsOptions): Pick<RegistryDirectory, 'client'> {
  const clients = new Map<string, { key: string; client: RegistryClient }>();
  return {
    client(row) {
      const instrument = `${row.admin}/${row.id}`;
      const auth = describeRegistryAuth(row.registryAuth);
      const key = `${row.registryUrl} ${auth}`;
      const kept = clients.get(instrument);
      if (kept?.key === key) return kept.client;
      let provider;
      try {
        // Matched by origin and path; a refusal names the URL, never credentials stored in it before the URL policy.
        provider = opts.tokens.provider(row.registryAuth, withoutCredentials(row.registryUrl));
      } catch (e) {
        if (!(e instanceof RegistryAuthError)) throw e;
        // Settings changed under a stored instrument (a credential removed, a URL binding narrowed).
        throw new ActorError({
          code: Failure.REGISTRY_AUTH_CONFIG,
          message: `instrument ${instrument}, registry auth ${auth}: ${e.message}`,
          retryable: false,
        });
      }
      const client = new RegistryClient({
        baseUrl: row.registryUrl,
        ...(provider ? { auth: provider } : {}),
        authContext: `instrument ${instrument}, registry auth ${auth}`,
        policy: opts.policy,
        ...(opts.logger ? { logger: opts.logger } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      });
      clients.set(instrument, { key, client });
      return client;
    },
  };
}

export function createRegistryDirectory(opts: RegistryDirectoryOptions): RegistryDirectory {
  const cacheMs = opts.cacheMs ?? 5_000;
  const rows = new Map<string, { row: InstrumentRow; until: number }>();
  const clients = createRegistryClients(opts);
  return {
    async instrument(ref) {
      const key = `${ref.admin}/${ref.id}`;
      const hit = rows.get(key);
      if (hit && hit.until > Date.now()) return hit.row;
      let row: InstrumentRow | undefined;
      try {
        row = await findInstrument(opts.sql, ref.admin, ref.id);
      } catch (e) {
        throw new ActorError({ code: Failure.DB_ERROR, message: `reading instrument ${key}: ${(e as Error).message}`, retryable: true });
      }
      if (!row)
        throw new ActorError({
          code: Failure.INSTRUMENT_NOT_CONFIGURED,
          message: `instrument ${key} is not onboarded: no registry URL is known for it`,
          retryable: false,
        });
      rows.set(key, { row, until: Date.now() + cacheMs });
      return row;
    },
    client: (row) => clients.client(row),
  };
}

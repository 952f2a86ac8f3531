import type { TokenProvider } from '../../ledger/auth.js';
import { RegistryClient } from '../../ledger/registry-client.js';
import type { Sql } from '../../store/db.js';
import { findInstrument, type InstrumentRow } from '../../store/instruments.js';
import { ActorError } from '../failure.js';
import type { InstrumentRef } from '../submission.js';

/**
 * Which registry serves an instrument: its `registry_url` in the `instruments` table (token
 * onboarding is configuration, not code). Rows are re-read after `cacheMs` so an operator's change
 * of URL applies without a restart; clients are kept per base URL.
 */
export interface RegistryDirectory {
  /** The instrument's configuration; ActorError INSTRUMENT_NOT_CONFIGURED when there is none. */
  instrument(ref: InstrumentRef): Promise<InstrumentRow>;
  client(row: InstrumentRow): RegistryClient;
}

export interface RegistryDirectoryOptions {
  sql: Sql;
  auth?: TokenProvider;
  timeoutMs?: number;
  cacheMs?: number;
  fetch?: typeof fetch;
}

export function createRegistryDirectory(opts: RegistryDirectoryOptions): RegistryDirectory {
  const cacheMs = opts.cacheMs ?? 5_000;
  const rows = new Map<string, { row: InstrumentRow; until: number }>();
  const clients = new Map<string, RegistryClient>();
  return {
    async instrument(ref) {
      const key = `${ref.admin}/${ref.id}`;
      const hit = rows.get(key);
      if (hit && hit.until > Date.now()) return hit.row;
      let row: InstrumentRow | undefined;
      try {
        row = await findInstrument(opts.sql, ref.admin, ref.id);
      } catch (e) {
        throw new ActorError({ code: 'DB_ERROR', message: `reading instrument ${key}: ${(e as Error).message}`, retryable: true });
      }
      if (!row) throw new ActorError({ code: 'INSTRUMENT_NOT_CONFIGURED', message: `instrument ${key} is not onboarded: no registry URL is known for it`, retryable: false });
      rows.set(key, { row, until: Date.now() + cacheMs });
      return row;
    },
    client(row) {
      let c = clients.get(row.registryUrl);
      if (!c) {
        c = new RegistryClient({
          baseUrl: row.registryUrl,
          ...(opts.auth ? { auth: opts.auth } : {}),
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
          ...(opts.fetch ? { fetch: opts.fetch } : {}),
        });
        clients.set(row.registryUrl, c);
      }
      return c;
    },
  };
}

import type { LedgerConfig } from '../../config.js';
import { tokenProviderFor } from '../../ledger/auth.js';
import { LedgerHttp } from '../../ledger/http.js';
import { LedgerReadClient, listOptionsOf } from '../../ledger/read-client.js';
import type { Sql } from '../../store/db.js';
import { readReconciliationSnapshot } from '../../store/reconciliation.js';
import { compareHoldings, type Difference, type InstrumentReconciliation } from './compare.js';
import { createLedgerHoldingsSource, type LedgerHoldingsSource } from './ledger-holdings.js';

/**
 * One reconciliation run: the database snapshot (checkpoint offset, holdings, ingested movements),
 * then the ledger's active holdings of the treasury at that same offset, compared. The report is
 * what `npm run reconcile` prints and GET /v1/reconciliation returns.
 */

export interface ReconciliationReport {
  treasuryParty: string;
  /** The checkpoint offset both sides are taken at. */
  offset: number;
  recordTime: string | null;
  checkedAt: string;
  /** No difference of any kind. */
  clean: boolean;
  instruments: InstrumentReconciliation[];
  differences: Difference[];
}

/** Reconciliation could not run (nothing ingested yet, ledger unreachable, pruned offset…): not a verdict. */
export class ReconciliationError extends Error {
  override readonly name = 'ReconciliationError';
}

export type ReconcileProgress =
  | { phase: 'database'; holdings: number; offset: number }
  | { phase: 'ledger'; read: number }
  | { phase: 'compared'; differences: number };

export interface Reconciler {
  run(onProgress?: (p: ReconcileProgress) => void, signal?: AbortSignal): Promise<ReconciliationReport>;
}

export function createReconcilerFrom(deps: { sql: Sql; treasuryParty: string; ledger: LedgerHoldingsSource }): Reconciler {
  return {
    async run(onProgress, signal) {
      const snapshot = await readReconciliationSnapshot(deps.sql, deps.treasuryParty);
      const cp = snapshot.checkpoint;
      if (!cp) throw new ReconciliationError(`nothing to reconcile yet: ingestion has stored no checkpoint for ${deps.treasuryParty}`);
      onProgress?.({ phase: 'database', holdings: snapshot.holdings.length, offset: cp.offset });
      let ledgerHoldings;
      try {
        ledgerHoldings = await deps.ledger.treasuryHoldingsAt(cp.offset, (read) => onProgress?.({ phase: 'ledger', read }), signal);
      } catch (e) {
        throw new ReconciliationError(`cannot read the ledger's active holdings at offset ${cp.offset}: ${(e as Error).message}`, { cause: e });
      }
      const { instruments, differences } = compareHoldings(snapshot.holdings, ledgerHoldings, snapshot.movements);
      onProgress?.({ phase: 'compared', differences: differences.length });
      return {
        treasuryParty: deps.treasuryParty,
        offset: cp.offset,
        recordTime: cp.recordTime,
        checkedAt: new Date().toISOString(),
        clean: differences.length === 0,
        instruments,
        differences,
      };
    },
  };
}

/** The reconciler against a configured ledger (the daemon's LedgerConfig; the key file is not read). */
export function createReconciler(deps: { sql: Sql; ledger: LedgerConfig; fetch?: typeof fetch }): Reconciler {
  const auth = tokenProviderFor(deps.ledger.auth, deps.fetch ? { fetch: deps.fetch } : {});
  const http = new LedgerHttp({ baseUrl: deps.ledger.apiUrl, auth, timeoutMs: 120_000, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  const reads = new LedgerReadClient(http, listOptionsOf(deps.ledger));
  const source = createLedgerHoldingsSource({ reads, baseUrl: deps.ledger.apiUrl, auth, treasury: deps.ledger.treasuryParty });
  return createReconcilerFrom({ sql: deps.sql, treasuryParty: deps.ledger.treasuryParty, ledger: source });
}

/** Concurrent callers (HTTP requests) share one run: a full ACS read is expensive for the node. */
export function singleFlight(r: Reconciler): Reconciler {
  let current: Promise<ReconciliationReport> | undefined;
  return {
    run(onProgress) {
      current ??= r.run(onProgress).finally(() => {
        current = undefined;
      });
      return current;
    },
  };
}

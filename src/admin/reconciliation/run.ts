import type { LedgerConfig } from '../../config.js';
import { tokenProviderFor } from '../../ledger/auth.js';
import { LedgerHttp } from '../../ledger/http.js';
import { LedgerReadClient, listOptionsOf } from '../../ledger/read-client.js';
import type { Sql } from '../../store/db.js';
import { readReconciliationSnapshot } from '../../store/reconciliation.js';
import { compareHoldings, type Difference, type InstrumentReconciliation } from './compare.js';
import { createLedgerHoldingsSource, isSignedByAdmin, type LedgerHoldingsSource } from './ledger-holdings.js';

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
  /** Ledger holdings naming the treasury that are not its funds: counterfeits, tokens not onboarded. */
  ignoredLedgerHoldings: number;
  instruments: InstrumentReconciliation[];
  differences: Difference[];
}

/** Reconciliation could not run (nothing ingested yet, ledger unreachable, pruned offset…): not a verdict. */
export class ReconciliationError extends Error {
  override readonly name = 'ReconciliationError';
}

export type ReconcileProgress =
  { phase: 'database'; holdings: number; offset: number } | { phase: 'ledger'; read: number } | { phase: 'compared'; differences: number };

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
        throw new ReconciliationError(`cannot read the ledger's active holdings at offset ${cp.offset}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      // The ingestion rule, on the ledger side too: only genuine holdings of onboarded tokens are the
      // treasury's funds; the rest (counterfeits, tokens not onboarded) are reported, not compared.
      const counted = ledgerHoldings.filter(
        (h) => snapshot.onboarded.has(`${h.instrument.admin}/${h.instrument.id}`) && isSignedByAdmin(h),
      );
      const ignored = ledgerHoldings.length - counted.length;
      const { instruments, differences } = compareHoldings(snapshot.holdings, counted, snapshot.movements);
      onProgress?.({ phase: 'compared', differences: differences.length });
      return {
        treasuryParty: deps.treasuryParty,
        offset: cp.offset,
        recordTime: cp.recordTime,
        checkedAt: new Date().toISOString(),
        clean: differences.length === 0,
        ignoredLedgerHoldings: ignored,
        instruments,
        differences,
      };
    },
  };
}

/** The treasury's active holdings on a configured ledger (the daemon's LedgerConfig; the key file is not read). */
export function ledgerHoldingsSourceFor(ledger: LedgerConfig, fetch?: typeof globalThis.fetch): LedgerHoldingsSource {
  const auth = tokenProviderFor(ledger.auth, fetch ? { fetch } : {});
  const http = new LedgerHttp({ baseUrl: ledger.apiUrl, auth, timeoutMs: 120_000, ...(fetch ? { fetch } : {}) });
  const reads = new LedgerReadClient(http, listOptionsOf(ledger));
  return createLedgerHoldingsSource({ reads, baseUrl: ledger.apiUrl, auth, treasury: ledger.treasuryParty });
}

/** The reconciler against a configured ledger. */
export function createReconciler(deps: { sql: Sql; ledger: LedgerConfig; fetch?: typeof fetch }): Reconciler {
  return createReconcilerFrom({
    sql: deps.sql,
    treasuryParty: deps.ledger.treasuryParty,
    ledger: ledgerHoldingsSourceFor(deps.ledger, deps.fetch),
  });
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

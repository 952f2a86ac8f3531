import { z } from 'zod';
import { ReconciliationError, singleFlight, type Reconciler } from '../../admin/reconciliation/run.js';
import { AppError } from '../../errors.js';
import { Amount, Instrument, Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';

const Difference = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('missing'), contractId: z.string(), instrument: Instrument, ledgerAmount: Amount }),
  z.object({ kind: z.literal('extra'), contractId: z.string(), instrument: Instrument, dbAmount: Amount }),
  z.object({ kind: z.literal('amount'), contractId: z.string(), instrument: Instrument, dbAmount: Amount, ledgerAmount: Amount }),
  z.object({
    kind: z.literal('instrument'),
    contractId: z.string(),
    instrument: Instrument,
    dbInstrument: Instrument,
    ledgerAmount: Amount,
    dbAmount: Amount,
  }),
  z.object({ kind: z.literal('lock'), contractId: z.string(), instrument: Instrument, dbLocked: z.boolean(), ledgerLocked: z.boolean() }),
  z.object({ kind: z.literal('movements'), instrument: Instrument, movementsTotal: Amount, dbTotal: Amount }),
]);

const Totals = z.object({ count: z.number().int(), total: Amount });

const ReconciliationResponse = z.object({
  treasuryParty: z.string(),
  offset: z.number().int().describe('The ingestion checkpoint offset both sides were read at'),
  recordTime: Timestamp.nullable(),
  checkedAt: Timestamp,
  clean: z.boolean().describe('true: no difference of any kind'),
  ignoredLedgerHoldings: z
    .number()
    .int()
    .describe(
      "Ledger holdings naming the treasury that are not its funds (not signed by their instrument's admin, or of a token not onboarded): listed as ignored deposits, not compared",
    ),
  instruments: z.array(
    z.object({
      instrument: Instrument,
      db: Totals,
      ledger: Totals,
      movements: z
        .object({ created: Amount, archived: Amount, net: Amount })
        .describe('Σ of the holdings ingestion recorded as created and as archived'),
      differences: z.number().int(),
    }),
  ),
  differences: z
    .array(Difference)
    .describe(
      'missing: on the ledger only; extra: in the database only; amount/instrument/lock: both, differing; movements: ingested creates − archives ≠ holdings total',
    ),
  differencesTotal: z.number().int(),
  truncated: z.boolean().describe('More differences exist than maxDifferences'),
});

export interface ReconciliationRouteDeps {
  /** Absent when the process has no ledger connection: the route answers 503. */
  reconciliation?: Reconciler;
}

/**
 * Read scope: the report changes nothing and monitoring should be able to poll it without the
 * power to reconfigure instruments. Its cost (a full ACS read on the validator) is bounded by
 * sharing one run between concurrent requests.
 */
export function registerReconciliationRoutes(app: App, deps: ReconciliationRouteDeps): void {
  const reconciler = deps.reconciliation ? singleFlight(deps.reconciliation) : undefined;
  app.get(
    '/v1/reconciliation',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Reconcile the treasury holdings with the ledger',
        description:
          "Compares the database's treasury holdings at the ingestion checkpoint with the ledger's active Holding contracts of the treasury at that offset, and the ingested movements with the holdings total (invariant 5). Concurrent requests share one run.",
        tags: ['holdings'],
        querystring: z.object({ maxDifferences: z.coerce.number().int().min(0).max(100_000).default(10_000) }),
        response: { 200: ReconciliationResponse, ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (req) => {
      if (!reconciler) throw new AppError('NOT_READY', 'Reconciliation needs a ledger connection, and this process has none.');
      let report;
      try {
        report = await reconciler.run();
      } catch (e) {
        if (e instanceof ReconciliationError) throw new AppError('NOT_READY', `Cannot reconcile now: ${e.message}`);
        throw e;
      }
      if (!report.clean)
        req.log.warn({ differences: report.differences.length, offset: report.offset }, 'reconciliation found differences');
      const max = req.query.maxDifferences;
      return {
        ...report,
        differences: report.differences.slice(0, max),
        differencesTotal: report.differences.length,
        truncated: report.differences.length > max,
      };
    },
  );
}

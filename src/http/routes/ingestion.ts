import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { LedgerRecovery } from '../../admin/ledger-recovery.js';
import type { ComponentStatus } from '../../lifecycle.js';
import type { Sql } from '../../store/db.js';
import type { IngestionProgress } from '../../streams/index.js';
import { Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';

export interface IngestionRouteDeps {
  sql: Sql;
  /** This process's ingestion component; without it (no ledger) the route answers 503. */
  ingestion?:
    | {
        status(): ComponentStatus;
        progress(): IngestionProgress;
        ledgerEnd(signal?: AbortSignal): Promise<number>;
      }
    | undefined;
  /** POST /v1/ingestion/resync and /migrate; 503 without it (no ledger in this process). */
  ledgerRecovery?: LedgerRecovery | undefined;
}

const Position = z.object({
  offset: z.number().int(),
  updateId: z.string().nullable().describe('The last ingested transaction named by the checkpoint'),
  updateOffset: z.number().int().nullable(),
  participantId: z.string().nullable(),
  synchronizerId: z.string().nullable(),
  recordTime: Timestamp.nullable(),
});

const RecoveryView = z.object({
  action: z.enum(['resync', 'migrate']),
  clearedFailure: z
    .object({ reason: z.string(), detail: z.string() })
    .nullable()
    .describe('The ledger continuity failure that was recorded (now cleared)'),
  before: Position,
  after: Position,
  ledgerEnd: z.number().int(),
  method: z.enum(['operator', 'record-time search', 'nothing ingested']).optional(),
  reads: z.number().int().optional().describe('Ledger reads the record-time search took'),
  undecidedAttempts: z
    .number()
    .int()
    .optional()
    .describe('migrate: withdrawal attempts submitted on the old synchronizer that nothing decides any more'),
  summary: z.array(z.string()).describe('What was done, in sentences'),
});

const ResyncBody = z
  .object({
    offset: z.number().int().min(0).optional().describe('Resume after this offset instead of searching by record time'),
    participant: z.string().min(1).optional().describe("Accept this participant (the ledger's) instead of the one ingested from"),
  })
  .strict()
  .nullish();
const MigrateBody = z
  .object({
    acsTimestamp: Timestamp.optional().describe(
      "The migration dump's acs_timestamp: refused if ingestion had not reached it on the old synchronizer",
    ),
  })
  .strict()
  .nullish();

const IngestionView = z.object({
  state: z.string().describe('running, paused, failed, … (a standby instance reports paused with the reason)'),
  detail: z.string().nullable(),
  checkpointOffset: z.number().int().nullable().describe('The stored checkpoint: everything up to it is in the database'),
  recordTime: Timestamp.nullable().describe('Latest ledger record time ingested'),
  ledgerEnd: z.number().int().nullable().describe("The ledger's end offset; null when the ledger could not be asked"),
  lag: z.number().int().nullable().describe('Offsets between the checkpoint and the ledger end'),
  transport: z.enum(['websocket', 'http']).nullable(),
});

/**
 * GET /v1/ingestion: where ingestion stands against the ledger, for operators following a
 * catch-up (`cxi ingestion --follow`). The checkpoint comes from the database, so a standby
 * instance answers as well as the writer.
 */
export function registerIngestionRoutes(app: App, deps: IngestionRouteDeps): void {
  const recovery = () => {
    if (!deps.ledgerRecovery)
      throw new AppError('NOT_READY', 'No ledger is configured in this process: there is no ingestion to re-point.');
    return deps.ledgerRecovery;
  };
  app.post(
    '/v1/ingestion/resync',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'After a validator restore: re-point ingestion to where the stored record time begins on the ledger',
        description:
          'Finds the offset from which to resume by reading the ledger (record time is ordered within a synchronizer) or takes `offset`; re-points the checkpoint, records the ledger identity and clears a ledger continuity failure; ingestion then resumes and skips the updates it already has. Refused (409) when the ledger is another participant (unless `participant` names it) or no longer on the followed synchronizer (use migrate). Running it again re-points to the same place.',
        tags: ['operations'],
        body: ResyncBody,
        response: { 200: RecoveryView, ...errorResponses(400, 401, 403, 409, 503) },
      },
    },
    async (req) => {
      const r = await recovery().resync({ offset: req.body?.offset, participant: req.body?.participant });
      req.log.warn({ before: r.before, after: r.after, by: req.principal?.name }, 'ingestion re-pointed (resync)');
      return r;
    },
  );
  app.post(
    '/v1/ingestion/migrate',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'After a major upgrade: follow the new synchronizer from the start of the new ledger',
        description:
          "Accepts the new synchronizer (same participant), re-points ingestion to the start of the new ledger and clears a ledger continuity failure; the import transactions re-create holdings and credit nobody. Refused (409) when the synchronizer did not change (a restore: use resync), for another participant, or, with `acsTimestamp`, while ingestion had not reached the migration dump's acs_timestamp.",
        tags: ['operations'],
        body: MigrateBody,
        response: { 200: RecoveryView, ...errorResponses(400, 401, 403, 409, 503) },
      },
    },
    async (req) => {
      const r = await recovery().migrate({ acsTimestamp: req.body?.acsTimestamp });
      req.log.warn({ before: r.before, after: r.after, by: req.principal?.name }, 'ingestion re-pointed (migrate)');
      return r;
    },
  );

  app.get(
    '/v1/ingestion',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Ingestion progress: stored checkpoint, ledger end and the lag between them',
        tags: ['operations'],
        response: { 200: IngestionView, ...errorResponses(401, 403, 503) },
      },
    },
    async () => {
      const ingestion = deps.ingestion;
      if (!ingestion) throw new AppError('NOT_READY', 'No ledger is configured in this process: ingestion is not running.');
      const [cp] = await deps.sql<{ offset: number; record_time: string | null }[]>`
        select ledger_offset as "offset", record_time from ingestion_checkpoint order by ledger_offset desc limit 1`;
      const ledgerEnd = await ingestion.ledgerEnd(AbortSignal.timeout(5_000)).catch(() => null);
      const checkpointOffset = cp?.offset ?? null;
      const status = ingestion.status();
      return {
        state: status.state,
        detail: status.detail ?? null,
        checkpointOffset,
        recordTime: cp?.record_time ?? null,
        ledgerEnd,
        lag: ledgerEnd === null ? null : Math.max(0, ledgerEnd - (checkpointOffset ?? 0)),
        transport: ingestion.progress().transport ?? null,
      };
    },
  );
}

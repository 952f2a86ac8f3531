import { z } from 'zod';
import { AppError } from '../../errors.js';
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
}

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

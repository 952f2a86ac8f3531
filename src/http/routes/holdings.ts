import { z } from 'zod';
import type { Sql } from '../../store/db.js';
import { holdingsSummary } from '../../store/holdings-summary.js';
import { Amount, Instrument, Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';

const Bucket = z.object({ count: z.number().int(), amount: Amount });

const HoldingsSummaryResponse = z.object({
  checkpoint: z
    .object({ offset: z.number().int(), recordTime: Timestamp.nullable() })
    .nullable()
    .describe('How far ingestion has read the ledger: the holdings are as of this offset'),
  items: z.array(
    z.object({
      owner: z.string().describe('The treasury party'),
      instrument: Instrument,
      config: z
        .object({ enabled: z.boolean(), displayDecimals: z.number().int() })
        .nullable()
        .describe('null: the instrument is not onboarded'),
      count: z.number().int(),
      total: Amount,
      locked: Bucket.describe('Locked on the ledger (pending outgoing 2-step offers)'),
      reserved: Bucket.describe('Reserved by a withdrawal or self-transfer attempt'),
      plannedForSelfTransfer: Bucket.describe('Planned inputs of a merge/split not yet reserved'),
      free: Bucket.describe('Available to the next withdrawal'),
      selfTransfersInFlight: z.number().int().describe('Unfinished merges/splits of the holdings job'),
    }),
  ),
});

export function registerHoldingsRoutes(app: App, deps: { sql: Sql }): void {
  app.get(
    '/v1/holdings',
    {
      config: { access: 'read' },
      schema: {
        summary: "The treasury's holdings per instrument",
        description:
          'Count and total of the active holdings per instrument, split into locked, reserved, planned for a self-transfer and free (the four add up).',
        tags: ['holdings'],
        response: { 200: HoldingsSummaryResponse, ...errorResponses(401, 403) },
      },
    },
    async () => holdingsSummary(deps.sql),
  );
}

import { z } from 'zod';
import { describeRecovery, type DbRestoreRecovery } from '../../admin/db-restore-recovery.js';
import { AppError } from '../../errors.js';
import type { RecoveryProgress } from '../../store/recovery.js';
import { SwitchName } from '../../store/switches.js';
import { Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';
import { operatorName } from '../auth.js';

/**
 * Recovery after a database restore (src/admin/db-restore-recovery.ts): admin scope to start a
 * run, read scope to follow it. 503 without a ledger (the run waits for ingestion).
 */
export interface RecoveryRouteDeps {
  recovery?: Pick<DbRestoreRecovery, 'begin' | 'progress'> | undefined;
}

const Run = z.object({
  recoveryId: z.number().int(),
  state: z.enum(['waiting', 'done']).describe('waiting: withdrawals and accepts are held; done: the switches it paused are resumed'),
  safeRecordTime: Timestamp.describe('tSafe: the run ends once the ingested record time is past it'),
  knownDeadline: Timestamp.nullable().describe('Latest deadline of an attempt the restored database knows is not over'),
  assumedTtlMs: z.number().int().describe('Lifetime assumed for attempts written after the backup: tSafe ≥ start + this'),
  pausedSwitches: z
    .array(SwitchName)
    .describe('The switches this run paused (and resumes); one an operator had paused before stays theirs'),
  startedBy: z.string(),
  startedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  finishedRecordTime: Timestamp.nullable(),
});

const Progress = z.object({
  recovery: Run.nullable().describe('The latest run; null when there was none'),
  ingestedRecordTime: Timestamp.nullable(),
  remainingMs: z.number().int().nullable().describe('Record time still to be ingested while waiting; null otherwise'),
  detail: z.string().nullable().describe('What a waiting run waits for, as /health shows it'),
});

const view = (p: RecoveryProgress): z.infer<typeof Progress> => ({
  recovery: p.run ?? null,
  ingestedRecordTime: p.ingestedRecordTime,
  remainingMs: p.remainingMs,
  detail: describeRecovery(p) ?? null,
});

function need(deps: RecoveryRouteDeps): Pick<DbRestoreRecovery, 'begin' | 'progress'> {
  if (!deps.recovery)
    throw new AppError('NOT_READY', 'No ledger is configured in this process: recovery waits for ingestion, which is not running.');
  return deps.recovery;
}

export function registerRecoveryRoutes(app: App, deps: RecoveryRouteDeps): void {
  const tags = ['operator'];
  app.get(
    '/v1/admin/recovery',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The latest recovery run after a database restore, and where ingestion stands against it',
        tags,
        response: { 200: Progress, ...errorResponses(401, 403, 503) },
      },
    },
    async () => view(await need(deps).progress()),
  );

  app.post(
    '/v1/admin/recovery/after-db-restore',
    {
      config: { access: 'admin' },
      schema: {
        summary:
          'After the database was restored from a backup: hold withdrawals and accepts until every attempt lost by the restore is decided',
        description:
          'Pauses the withdrawals and acceptance switches that are open (one an operator paused stays theirs), fixes tSafe = the latest of the deadlines the restored database knows and now + the attempt lifetime, and resumes the switches it paused once the ingested record time is past tSafe. Meanwhile ingestion reads what the lost attempts did (a transfer whose row the backup lacks comes back as a recovered withdrawal). Answers at once with the run; follow it at GET /v1/admin/recovery. Calling it while a run waits returns that run (200, started: false): nothing is paused twice.',
        tags,
        body: z.object({}).strict().nullish(),
        response: {
          200: Progress.extend({ started: z.boolean().describe('false: a run was already waiting, this is it') }),
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (req) => {
      const { progress, started } = await need(deps).begin(operatorName(req, 'recovery'));
      return { ...view(progress), started };
    },
  );
}

import type { Command } from 'commander';
import { z } from 'zod';
import type { ApiClient } from './api-client.js';
import { printRecord } from './output.js';

/**
 * `cxi recovery after-db-restore` and `cxi recovery status` (src/admin/db-restore-recovery.ts):
 * the database-restore runbook as one command. It starts (or continues) the run, then follows it
 * until the daemon has resumed what it paused; Ctrl-C stops only the following — the run goes on
 * in the daemon, and the command run again picks it up.
 */

const Run = z.object({
  recoveryId: z.number().int(),
  state: z.enum(['waiting', 'done']),
  safeRecordTime: z.string(),
  knownDeadline: z.string().nullable(),
  assumedTtlMs: z.number().int(),
  pausedSwitches: z.array(z.string()),
  startedBy: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  finishedRecordTime: z.string().nullable(),
});
const Progress = z.object({
  recovery: Run.nullable(),
  ingestedRecordTime: z.string().nullable(),
  remainingMs: z.number().int().nullable(),
  detail: z.string().nullable(),
});
type Progress = z.infer<typeof Progress>;

function flat(p: Progress): Record<string, unknown> {
  const r = p.recovery;
  if (!r) return { recovery: 'none: the database was never marked restored' };
  return {
    recovery: `#${r.recoveryId}`,
    state: r.state,
    'waits until record time passes': r.safeRecordTime,
    'latest known deadline': r.knownDeadline ?? '(none in the restored database)',
    'assumed attempt lifetime': `${Math.round(r.assumedTtlMs / 1000)} s`,
    'paused (and resumes)': r.pausedSwitches.join(', ') || '(none: already paused by an operator)',
    'ingested record time': p.ingestedRecordTime,
    remaining: p.remainingMs === null ? null : `${Math.ceil(p.remainingMs / 1000)} s of record time`,
    'started by': r.startedBy,
    'started at': r.startedAt,
    'finished at': r.finishedAt,
  };
}

export function registerRecoveryCommands(program: Command, client: () => { api: ApiClient; opts: { json: boolean } }): void {
  const recovery = program.command('recovery').description('recovery runbooks as commands');

  recovery
    .command('after-db-restore')
    .description(
      'run after restoring the database from a backup: holds withdrawals and 2-step accepts until the ingested record time has passed every deadline an attempt lost by the restore can have (tSafe), then resumes them; safe to run again',
    )
    .option('--no-wait', 'start (or show) the run and return; follow it with `cxi recovery status`')
    .option('--interval <seconds>', 'between two progress lines', '5')
    .action(async (o: { wait: boolean; interval: string }) => {
      const { api, opts } = client();
      const first = Progress.extend({ started: z.boolean() }).parse(await api.post('/v1/admin/recovery/after-db-restore', {}));
      const r = first.recovery!;
      if (opts.json) console.log(JSON.stringify(first));
      else {
        console.log(
          first.started
            ? `after-db-restore #${r.recoveryId} started: paused ${r.pausedSwitches.join(', ') || 'nothing (both already paused by an operator: they stay paused)'}`
            : `after-db-restore #${r.recoveryId} is already ${r.state === 'waiting' ? 'running' : 'done'} (started by ${r.startedBy} at ${r.startedAt}): following it`,
        );
        console.log(
          `waiting until the ingested record time passes ${r.safeRecordTime} (latest known deadline ${r.knownDeadline ?? 'none'}; attempts after the backup: at most ${Math.round(r.assumedTtlMs / 1000)} s)`,
        );
      }
      if (!o.wait) return;
      const intervalMs = Math.max(0.2, Number(o.interval)) * 1000;
      let p: Progress = first;
      for (;;) {
        const run = p.recovery!;
        if (run.state === 'done') {
          if (opts.json) console.log(JSON.stringify(p));
          else
            console.log(
              `done at ${run.finishedAt ?? '?'} (ingested record time ${run.finishedRecordTime ?? '?'}): withdrawals and accepts resumed, except any an operator paused`,
            );
          return;
        }
        if (opts.json) console.log(JSON.stringify(p));
        else
          console.log(
            `  ingested record time ${p.ingestedRecordTime ?? '(none yet)'}  ${p.remainingMs === null ? '' : `${Math.ceil(p.remainingMs / 1000)} s to go`}`,
          );
        await new Promise((res) => setTimeout(res, intervalMs));
        p = Progress.parse(await api.get('/v1/admin/recovery'));
      }
    });

  recovery
    .command('status')
    .description('the latest after-db-restore run: what it waits for, the ingested record time, what remains')
    .action(async () => {
      const { api, opts } = client();
      const p = Progress.parse(await api.get('/v1/admin/recovery'));
      printRecord(opts.json ? p : flat(p), opts.json);
    });
}

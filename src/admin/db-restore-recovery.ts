import type { Component, ComponentStatus } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import type { Sql } from '../store/db.js';
import { finishRecoveryRun, readRecoveryProgress, startRecoveryRun, type RecoveryProgress, type RecoveryRun } from '../store/recovery.js';
import type { Switches } from '../gates/switches.js';
import { createPoller } from '../lib/poller.js';

/**
 * `cxi recovery after-db-restore` (issue 20; the guide's database runbook, tSafe): after the
 * database was restored from a backup, attempts the daemon made after the backup are unknown to it,
 * yet may still commit until their deadline (maxRecordTime). So withdrawals and 2-step accepts are
 * held (the operator pause switches) until the ingested record time has passed every deadline such
 * an attempt can have had (src/store/recovery.ts says how tSafe is fixed); meanwhile ingestion reads
 * what they did — a transfer with a memo the database no longer has comes back as a `recovered`
 * withdrawal, an accept as a credit — and the machines learn it. Then the run resumes the switches
 * it paused itself.
 *
 * The run lives in the database, so it outlives the process: every instance's component polls it
 * (any of them may end it; ending twice is harmless), and running the command again shows and
 * continues the run rather than starting another. The component is `running` throughout (held
 * work is not a fault); its detail says what it waits for.
 */
export interface DbRestoreRecovery extends Component {
  /** Starts a run, or returns the waiting one (`started: false`). */
  begin(by: string): Promise<{ progress: RecoveryProgress; started: boolean }>;
  progress(): Promise<RecoveryProgress>;
}

export interface DbRestoreRecoveryOptions {
  sql: Sql;
  logger: Logger;
  treasuryParty: string;
  switches: Pick<Switches, 'refresh'>;
  /** The longest lifetime an attempt (withdrawal or accept) may have had: the deadline of one made just before now. */
  assumedTtlMs: number;
  /** How often a waiting run checks the ingested record time (default 1 s). */
  pollMs?: number;
}

export function describeRecovery(p: RecoveryProgress): string | undefined {
  const run = p.run;
  if (run?.state !== 'waiting') return undefined;
  const held = run.pausedSwitches.length > 0 ? run.pausedSwitches.join(' and ') : 'nothing (both were already paused by an operator)';
  const now = p.ingestedRecordTime === null ? 'nothing ingested yet' : `ingested ${p.ingestedRecordTime}`;
  const left = p.remainingMs === null ? '' : `, ${Math.ceil(p.remainingMs / 1000)} s of record time to go`;
  return `after-db-restore #${run.recoveryId}: ${held} held until the ingested record time passes ${run.safeRecordTime} (${now}${left})`;
}

export function createDbRestoreRecovery(o: DbRestoreRecoveryOptions): DbRestoreRecovery {
  const log = o.logger.child({ component: 'recovery' });
  const pollMs = o.pollMs ?? 1000;
  let status: ComponentStatus = { state: 'stopped' };
  let last: RecoveryProgress | undefined;

  const finish = async (run: RecoveryRun, recordTime: string): Promise<void> => {
    const { resumed } = await finishRecoveryRun(o.sql, run.recoveryId, recordTime);
    await o.switches.refresh().catch(() => {});
    const kept = run.pausedSwitches.filter((s) => !resumed.includes(s));
    log.warn(
      { recoveryId: run.recoveryId, safeRecordTime: run.safeRecordTime, ingestedRecordTime: recordTime, resumed, keptPaused: kept },
      `after-db-restore #${run.recoveryId} done: the ingested record time passed ${run.safeRecordTime}; resumed ${resumed.join(', ') || 'nothing'}`,
    );
  };

  /** One look: ends the run once the record time has passed tSafe. */
  const check = async (): Promise<RecoveryProgress> => {
    let p = await readRecoveryProgress(o.sql, o.treasuryParty);
    if (p.run?.state === 'waiting' && p.passed && p.ingestedRecordTime !== null) {
      await finish(p.run, p.ingestedRecordTime);
      p = await readRecoveryProgress(o.sql, o.treasuryParty);
    }
    last = p;
    return p;
  };

  const poller = createPoller({
    everyMs: pollMs,
    step: check,
    onFailure: (e, failures) => {
      // The run is in the database: a blip only delays its end.
      if (failures === 1 || failures % 60 === 0)
        log.warn({ err: e, failures }, 'after-db-restore: cannot read the recovery run; trying again');
    },
  });

  return {
    name: 'recovery',
    status: () => {
      if (status.state !== 'running') return status;
      const detail = last && describeRecovery(last);
      return detail ? { state: 'running', detail } : status;
    },
    async begin(by) {
      const { run, started } = await startRecoveryRun(o.sql, { by, assumedTtlMs: o.assumedTtlMs });
      await o.switches.refresh().catch(() => {});
      if (started) {
        log.warn(
          {
            recoveryId: run.recoveryId,
            safeRecordTime: run.safeRecordTime,
            knownDeadline: run.knownDeadline,
            assumedTtlMs: run.assumedTtlMs,
            paused: run.pausedSwitches,
            by,
          },
          `after-db-restore #${run.recoveryId}: withdrawals and accepts held until the ingested record time passes ${run.safeRecordTime}`,
        );
      }
      return { progress: await check(), started };
    },
    progress: () => check(),
    async start() {
      if (status.state === 'running') return;
      status = { state: 'starting' };
      // A run left waiting by an earlier process goes on (its switches are still paused).
      const p = await check();
      if (p.run?.state === 'waiting') log.warn({ recoveryId: p.run.recoveryId }, describeRecovery(p));
      status = { state: 'running' };
      poller.start();
    },
    async stop() {
      await poller.stop();
      status = { state: 'stopped' };
    },
  };
}

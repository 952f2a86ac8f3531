import { z } from 'zod';
import type { Queryable, Sql } from './db.js';
import { listSwitches, setSwitchIn, SwitchName } from './switches.js';

/**
 * Runs of `cxi recovery after-db-restore` (sql/020_database_restore.sql; the component is
 * src/admin/db-restore-recovery.ts). Every step is one transaction, so a crash at any point leaves
 * either the step done or not, and running the command again continues the run in the table.
 */

/** The switches a run holds: every effect that may spend or accept on the ledger. */
export const RECOVERY_SWITCHES = ['withdrawals', 'acceptance'] as const satisfies readonly SwitchName[];

/** Serialises starts and ends of runs (different from the outbox and migration keys). */
const RECOVERY_LOCK_KEY = 7_245_019_320;

export const RecoveryRun = z.object({
  recoveryId: z.number().int(),
  state: z.enum(['waiting', 'done']),
  safeRecordTime: z.string(),
  knownDeadline: z.string().nullable(),
  assumedTtlMs: z.number().int(),
  pausedSwitches: z.array(SwitchName),
  startedBy: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  finishedRecordTime: z.string().nullable(),
});
export type RecoveryRun = z.infer<typeof RecoveryRun>;

const Row = z.object({
  recovery_id: z.number(),
  state: z.enum(['waiting', 'done']),
  safe_record_time: z.string(),
  known_deadline: z.string().nullable(),
  assumed_ttl_ms: z.number(),
  paused_switches: z.array(SwitchName),
  started_by: z.string(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  finished_record_time: z.string().nullable(),
});

const toRun = (r: unknown): RecoveryRun => {
  const x = Row.parse(r);
  return {
    recoveryId: x.recovery_id,
    state: x.state,
    safeRecordTime: x.safe_record_time,
    knownDeadline: x.known_deadline,
    assumedTtlMs: x.assumed_ttl_ms,
    pausedSwitches: x.paused_switches,
    startedBy: x.started_by,
    startedAt: x.started_at,
    finishedAt: x.finished_at,
    finishedRecordTime: x.finished_record_time,
  };
};

const COLUMNS =
  'recovery_id, state, safe_record_time, known_deadline, assumed_ttl_ms, paused_switches, started_by, started_at, finished_at, finished_record_time';

/** The reason a run's pause carries: how its end recognises a pause as its own. */
export const recoveryPauseMark = (id: number): string => `after-db-restore #${id}:`;

/** The latest run (waiting or done); undefined when there was none. */
export async function latestRecoveryRun(db: Queryable): Promise<RecoveryRun | undefined> {
  const [row] = await db.unsafe(`select ${COLUMNS} from db_restore_recoveries order by recovery_id desc limit 1`);
  return row ? toRun(row) : undefined;
}

/**
 * Starts a run, or returns the one still waiting (`started: false`): a second command, or the same
 * one after a crash, continues it and pauses nothing twice. In one transaction: the switches of
 * RECOVERY_SWITCHES that are open are paused (those an operator had paused stay theirs: the run
 * neither records nor resumes them), and tSafe is fixed — the latest of the deadlines of attempts
 * this database knows are not over (live reservations, non-final withdrawals) and now + the attempt
 * lifetime, which bounds the deadline of any attempt written after the backup (it was made before
 * now, with at most that lifetime).
 */
export async function startRecoveryRun(
  sql: Sql,
  opts: { by: string; assumedTtlMs: number },
): Promise<{ run: RecoveryRun; started: boolean }> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${RECOVERY_LOCK_KEY})`;
    const [waiting] = await tx.unsafe(`select ${COLUMNS} from db_restore_recoveries where state = 'waiting'`);
    if (waiting) return { run: toRun(waiting), started: false };
    const switches = await listSwitches(tx);
    const toPause = RECOVERY_SWITCHES.filter((name) => !switches.find((s) => s.name === name)?.paused);
    const [row] = await tx.unsafe(
      `with known as (
         select greatest(
           (select max(deadline) from holding_reservations where released_at is null),
           (select max(deadline) from withdrawals where status not in ('completed', 'failed', 'cancelled'))
         ) as deadline
       )
       insert into db_restore_recoveries (state, safe_record_time, known_deadline, assumed_ttl_ms, paused_switches, started_by)
       select 'waiting', greatest(known.deadline, now() + $1 * interval '1 millisecond'), known.deadline, $1, $2::text[], $3
       from known
       returning ${COLUMNS}`,
      [opts.assumedTtlMs, toPause, opts.by],
    );
    const run = toRun(row);
    for (const name of toPause) {
      await setSwitchIn(tx, name, {
        paused: true,
        reason: `${recoveryPauseMark(run.recoveryId)} database restored; held until the ingested record time passes ${run.safeRecordTime}`,
        by: opts.by,
      });
    }
    return { run, started: true };
  });
}

/**
 * Ends a waiting run: resumes the switches it paused that are still paused by it (an operator who
 * paused one again since, with a reason of their own, keeps it paused), and records the ingested
 * record time that ended it. A run already done is returned as it is.
 */
export async function finishRecoveryRun(
  sql: Sql,
  recoveryId: number,
  ingestedRecordTime: string,
): Promise<{ run: RecoveryRun; resumed: SwitchName[] }> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${RECOVERY_LOCK_KEY})`;
    const [current] = await tx.unsafe(`select ${COLUMNS} from db_restore_recoveries where recovery_id = $1`, [recoveryId]);
    if (!current) throw new Error(`no recovery run ${recoveryId}`);
    const run = toRun(current);
    if (run.state === 'done') return { run, resumed: [] };
    const switches = await listSwitches(tx);
    const resumed: SwitchName[] = [];
    for (const name of run.pausedSwitches) {
      const s = switches.find((x) => x.name === name);
      if (!s?.paused || !s.reason?.startsWith(recoveryPauseMark(recoveryId))) continue;
      await setSwitchIn(tx, name, {
        paused: false,
        reason: `${recoveryPauseMark(recoveryId)} the ingested record time passed ${run.safeRecordTime}`,
        by: 'after-db-restore',
      });
      resumed.push(name);
    }
    const [done] = await tx.unsafe(
      `update db_restore_recoveries set state = 'done', finished_at = now(), finished_record_time = $2 where recovery_id = $1 returning ${COLUMNS}`,
      [recoveryId, ingestedRecordTime],
    );
    return { run: toRun(done), resumed };
  });
}

export interface RecoveryProgress {
  run: RecoveryRun | undefined;
  /** The ingested record time of the synchronizer ingestion follows; null before any. */
  ingestedRecordTime: string | null;
  /** The run's tSafe is behind the ingested record time: it may end. */
  passed: boolean;
  /** How much record time is still to be ingested (0 once passed; null without a waiting run or a record time). */
  remainingMs: number | null;
}

/** The latest run and where ingestion stands against it (compared in the database, to the microsecond). */
export async function readRecoveryProgress(db: Queryable, treasuryParty: string): Promise<RecoveryProgress> {
  const run = await latestRecoveryRun(db);
  const [row] = await db<{ record_time: string | null; passed: boolean | null; remaining_ms: number | null }[]>`
    select c.record_time,
      c.record_time > ${run?.safeRecordTime ?? null}::timestamptz as passed,
      -- greatest() skips nulls: without a record time there is no remainder to give.
      case when c.record_time is not null then greatest(0, ceil(extract(epoch from (${run?.safeRecordTime ?? null}::timestamptz - c.record_time)) * 1000))::bigint end as remaining_ms
    from (select (select record_time from ingestion_checkpoint where treasury_party = ${treasuryParty}) as record_time) c`;
  const waiting = run?.state === 'waiting';
  return {
    run,
    ingestedRecordTime: row?.record_time ?? null,
    passed: row?.passed === true,
    remainingMs: waiting ? (row?.remaining_ms ?? null) : null,
  };
}

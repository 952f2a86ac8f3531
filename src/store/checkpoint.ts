import type { Queryable, Tx } from './db.js';
import { settleAll } from '../lib/settle-all.js';
import type { Checkpoint } from '../ingestion/checkpoint.js';

interface Row {
  treasury_party: string;
  ledger_offset: number;
  update_id: string | null;
  update_offset: number | null;
  participant_id: string | null;
  record_time: string | null;
  synchronizer_id: string | null;
  synchronizer_times: Record<string, string>;
}

function toCheckpoint(r: Row): Checkpoint {
  return {
    treasuryParty: r.treasury_party,
    offset: r.ledger_offset,
    updateId: r.update_id,
    updateOffset: r.update_offset,
    participantId: r.participant_id,
    recordTime: r.record_time,
    synchronizerId: r.synchronizer_id,
    synchronizerTimes: r.synchronizer_times,
  };
}

export async function readCheckpoint(db: Queryable, treasuryParty: string): Promise<Checkpoint | undefined> {
  const [row] = await db<Row[]>`
    select treasury_party, ledger_offset, update_id, update_offset, participant_id, record_time, synchronizer_id, synchronizer_times
    from ingestion_checkpoint where treasury_party = ${treasuryParty}`;
  return row ? toCheckpoint(row) : undefined;
}

/**
 * Takes the party's checkpoint lock and reads the checkpoint for the rest of the transaction:
 * batches of one party serialise, and so do they with instrument onboarding (holding-adoptions.ts
 * `lockCheckpointOffset`). The lock is an advisory one, not the row's: before the first batch
 * there is no row, and an onboarding committed while that batch read the instruments would adopt
 * nothing (no checkpoint yet) while the batch ignored the token's holdings (not onboarded yet).
 * Both queries are started at once (execute()), so a caller pipelining them with other queries
 * sends them in the order it calls them: what follows runs with the lock held.
 */
export async function lockCheckpoint(tx: Tx, treasuryParty: string): Promise<Checkpoint | undefined> {
  const [, rows] = await settleAll([
    takeCheckpointLock(tx, treasuryParty),
    tx<Row[]>`
    select treasury_party, ledger_offset, update_id, update_offset, participant_id, record_time, synchronizer_id, synchronizer_times
    from ingestion_checkpoint where treasury_party = ${treasuryParty} for update`.execute(),
  ]);
  const [row] = rows;
  return row ? toCheckpoint(row) : undefined;
}

/** The party's checkpoint lock, held to the end of the transaction (started at once). */
export function takeCheckpointLock(tx: Tx, treasuryParty: string): Promise<unknown> {
  return tx`select pg_advisory_xact_lock(hashtextextended(${`cxi.checkpoint:${treasuryParty}`}, 0))`.execute();
}

/** Started at once (execute()), like lockCheckpoint, so pipelined callers control the order. */
export async function writeCheckpoint(tx: Tx, cp: Checkpoint): Promise<void> {
  await tx`
    insert into ingestion_checkpoint (treasury_party, ledger_offset, update_id, update_offset, participant_id, record_time, synchronizer_id, synchronizer_times)
    values (${cp.treasuryParty}, ${cp.offset}, ${cp.updateId}, ${cp.updateOffset}, ${cp.participantId}, ${cp.recordTime}, ${cp.synchronizerId}, ${JSON.stringify(cp.synchronizerTimes)}::text::jsonb)
    on conflict (treasury_party) do update set
      ledger_offset = excluded.ledger_offset, update_id = excluded.update_id, update_offset = excluded.update_offset,
      participant_id = excluded.participant_id, record_time = excluded.record_time,
      synchronizer_id = excluded.synchronizer_id, synchronizer_times = excluded.synchronizer_times, updated_at = now()`.execute();
}

export type ContinuityReason = 'ledger_end_behind' | 'update_differs' | 'participant_differs' | 'synchronizer_differs';

/** Why ingestion found the ledger not to be the one it read (sql/019); stays until resync or migrate. */
export interface ContinuityFailure {
  treasuryParty: string;
  reason: ContinuityReason;
  detail: string;
  failedAt: string;
}

/** Records a continuity failure on the party's checkpoint row (created if ingestion never committed). */
export async function recordContinuityFailure(db: Queryable, f: Omit<ContinuityFailure, 'failedAt'>): Promise<void> {
  await db`
    insert into ingestion_checkpoint (treasury_party, ledger_offset, continuity_reason, continuity_detail, continuity_failed_at)
    values (${f.treasuryParty}, 0, ${f.reason}, ${f.detail}, now())
    on conflict (treasury_party) do update set
      continuity_reason = excluded.continuity_reason, continuity_detail = excluded.continuity_detail,
      continuity_failed_at = coalesce(ingestion_checkpoint.continuity_failed_at, excluded.continuity_failed_at)`;
}

/** Recorded continuity failures (every treasury party: any of them holds the ledger effects). */
export async function readContinuityFailures(db: Queryable): Promise<ContinuityFailure[]> {
  const rows = await db<
    { treasury_party: string; continuity_reason: ContinuityReason; continuity_detail: string | null; failed_at: string }[]
  >`
    select treasury_party, continuity_reason, continuity_detail, continuity_failed_at as failed_at
    from ingestion_checkpoint where continuity_reason is not null order by treasury_party`;
  return rows.map((r) => ({
    treasuryParty: r.treasury_party,
    reason: r.continuity_reason,
    detail: r.continuity_detail ?? '',
    failedAt: new Date(r.failed_at).toISOString(),
  }));
}

/**
 * Re-points the checkpoint after an operator's resync or migrate, in one statement that also clears
 * the continuity failure: the row is locked by the update, so a batch of a writer that did not stop
 * waits and then finds the offset moved (CheckpointConflictError: it restarts from here).
 */
export async function repointCheckpoint(
  db: Queryable,
  cp: Pick<
    Checkpoint,
    'treasuryParty' | 'offset' | 'updateId' | 'updateOffset' | 'participantId' | 'synchronizerId' | 'recordTime' | 'synchronizerTimes'
  >,
): Promise<void> {
  await db`
    update ingestion_checkpoint set
      ledger_offset = ${cp.offset}, update_id = ${cp.updateId}, update_offset = ${cp.updateOffset}, participant_id = ${cp.participantId},
      synchronizer_id = ${cp.synchronizerId}, record_time = ${cp.recordTime}, synchronizer_times = ${JSON.stringify(cp.synchronizerTimes)}::text::jsonb,
      continuity_reason = null, continuity_detail = null, continuity_failed_at = null, updated_at = now()
    where treasury_party = ${cp.treasuryParty}`;
}

/** Whether ingestion has the update (ingested_updates). */
export async function isIngested(db: Queryable, updateId: string): Promise<boolean> {
  const rows = await db<{ update_id: string }[]>`select update_id from ingested_updates where update_id = ${updateId}`;
  return rows.length > 0;
}

import type { Queryable, Tx } from './db.js';

/**
 * Where ingestion stands for one treasury party: the last fully processed offset and what it
 * knew then. Written only in the transaction of the batch it covers (invariant 1).
 */
export interface Checkpoint {
  treasuryParty: string;
  offset: number;
  /** Last ingested transaction; null while only offset checkpoints were seen. */
  updateId: string | null;
  /**
   * The synchronizer ingestion follows: the only one whose updates it accepts (an update of
   * another stops it). Adopted from the first update, or from the first OffsetCheckpoint when that
   * names a single synchronizer; null until then.
   */
  synchronizerId: string | null;
  /** Latest record time of that synchronizer (transactions and OffsetCheckpoints). */
  recordTime: string | null;
  /**
   * Latest record time of every synchronizer the stream reported, by synchronizer id. Record time
   * is ordered only within one synchronizer: a deadline is compared with its own synchronizer's.
   */
  synchronizerTimes: Record<string, string>;
}

interface Row {
  treasury_party: string;
  ledger_offset: number;
  update_id: string | null;
  record_time: string | null;
  synchronizer_id: string | null;
  synchronizer_times: Record<string, string>;
}

function toCheckpoint(r: Row): Checkpoint {
  return {
    treasuryParty: r.treasury_party,
    offset: r.ledger_offset,
    updateId: r.update_id,
    recordTime: r.record_time,
    synchronizerId: r.synchronizer_id,
    synchronizerTimes: r.synchronizer_times,
  };
}

export async function readCheckpoint(db: Queryable, treasuryParty: string): Promise<Checkpoint | undefined> {
  const [row] = await db<Row[]>`
    select treasury_party, ledger_offset, update_id, record_time, synchronizer_id, synchronizer_times
    from ingestion_checkpoint where treasury_party = ${treasuryParty}`;
  return row ? toCheckpoint(row) : undefined;
}

/**
 * Reads and row-locks the checkpoint for the rest of the transaction: batches of one party
 * serialise. The query is started at once (execute()), so a caller pipelining it with other
 * queries sends them in the order it calls them.
 */
export async function lockCheckpoint(tx: Tx, treasuryParty: string): Promise<Checkpoint | undefined> {
  const [row] = await tx<Row[]>`
    select treasury_party, ledger_offset, update_id, record_time, synchronizer_id, synchronizer_times
    from ingestion_checkpoint where treasury_party = ${treasuryParty} for update`.execute();
  return row ? toCheckpoint(row) : undefined;
}

/** Started at once (execute()), like lockCheckpoint, so pipelined callers control the order. */
export async function writeCheckpoint(tx: Tx, cp: Checkpoint): Promise<void> {
  await tx`
    insert into ingestion_checkpoint (treasury_party, ledger_offset, update_id, record_time, synchronizer_id, synchronizer_times)
    values (${cp.treasuryParty}, ${cp.offset}, ${cp.updateId}, ${cp.recordTime}, ${cp.synchronizerId}, ${JSON.stringify(cp.synchronizerTimes)}::text::jsonb)
    on conflict (treasury_party) do update set
      ledger_offset = excluded.ledger_offset, update_id = excluded.update_id, record_time = excluded.record_time,
      synchronizer_id = excluded.synchronizer_id, synchronizer_times = excluded.synchronizer_times, updated_at = now()`.execute();
}

import type { Tx } from './db.js';
import { takeCheckpointLock } from './checkpoint.js';

/** One holding read from the ledger's ACS, to be adopted into `holdings`. */
export interface AdoptedHolding {
  contractId: string;
  instrument: { admin: string; id: string };
  amount: string;
  lock: Record<string, unknown> | null;
  templateId: string;
  meta: Record<string, string>;
  createdOffset: number;
  createdAt: string;
}

/**
 * The ingestion checkpoint of the treasury, locked for the rest of the transaction: ingestion's
 * next batch waits until the adoption commits, so what was read at this offset stays exact.
 * Undefined while ingestion has stored nothing (it will then read the history itself).
 */
export async function lockCheckpointOffset(tx: Tx, treasury: string): Promise<number | undefined> {
  // The lock ingestion's batches take (checkpoint.ts lockCheckpoint): also before the first batch.
  await takeCheckpointLock(tx, treasury);
  const [r] = await tx<{ ledger_offset: number }[]>`
    select ledger_offset from ingestion_checkpoint where treasury_party = ${treasury} for update`;
  return r?.ledger_offset;
}

/**
 * Inserts the holdings not already known, with their adoption record; returns how many were new.
 * The ACS carries no update id or record time of a contract's creation: the row records the
 * creating offset, `adopted@<offset>` as its update id and the creation's ledger time.
 */
export async function adoptHoldings(
  tx: Tx,
  owner: string,
  holdings: readonly AdoptedHolding[],
  atOffset: number,
  by: string,
): Promise<number> {
  if (holdings.length === 0) return 0;
  const rows = holdings.map((h) => ({
    contract_id: h.contractId,
    instrument_admin: h.instrument.admin,
    instrument_id: h.instrument.id,
    amount: h.amount,
    lock: h.lock,
    template_id: h.templateId,
    meta: h.meta,
    created_offset: h.createdOffset,
    created_update_id: `adopted@${atOffset}`,
    created_record_time: h.createdAt,
  }));
  const inserted = await tx<{ contract_id: string; instrument_admin: string; instrument_id: string; amount: string }[]>`
    insert into holdings (contract_id, owner, instrument_admin, instrument_id, amount, lock, template_id, meta,
                          created_offset, created_update_id, created_record_time)
    select v.contract_id, ${owner}, v.instrument_admin, v.instrument_id, v.amount, v.lock, v.template_id, v.meta,
           v.created_offset, v.created_update_id, v.created_record_time
    from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
      as v(contract_id text, instrument_admin text, instrument_id text, amount numeric, lock jsonb, template_id text, meta jsonb,
           created_offset bigint, created_update_id text, created_record_time timestamptz)
    on conflict (contract_id) do nothing
    returning contract_id, instrument_admin, instrument_id, amount::text as amount`;
  if (inserted.length === 0) return 0;
  await tx`
    insert into holding_adoptions (contract_id, instrument_admin, instrument_id, amount, adopted_offset, adopted_by)
    select v.contract_id, v.instrument_admin, v.instrument_id, v.amount, ${atOffset}, ${by}
    from jsonb_to_recordset(${JSON.stringify(inserted)}::text::jsonb)
      as v(contract_id text, instrument_admin text, instrument_id text, amount numeric)`;
  return inserted.length;
}

import type { Sql } from '../../../src/store/db.js';

/** Reading back what ingestion wrote, in stable order, for assertions and byte-for-byte comparison. */

export async function depositsOf(sql: Sql) {
  return sql<
    {
      deposit_id: string;
      kind: string;
      status: string;
      memo: string | null;
      account_id: string | null;
      transfer_amount: string;
      credited_amount: string | null;
      fee: string | null;
      transfer_instruction_cid: string | null;
      credit_update_id: string | null;
    }[]
  >`
    select deposit_id, kind, status, memo, account_id, transfer_amount::text, credited_amount::text, fee::text, transfer_instruction_cid, credit_update_id
    from deposits order by deposit_id`;
}

export async function eventsOf(sql: Sql, topic?: string) {
  const rows = await sql<{ event_id: number; topic: string; aggregate_id: string; payload: Record<string, unknown> }[]>`
    select event_id, topic, aggregate_id, payload from outbox_events order by event_id`;
  return topic === undefined ? rows : rows.filter((r) => r.topic === topic);
}

export async function withdrawalsOf(sql: Sql) {
  return sql<
    {
      withdrawal_id: string;
      purpose: string;
      status: string;
      recovered: boolean;
      attempt: number;
      transfer_update_id: string | null;
      transfer_instruction_cid: string | null;
      outcome_update_id: string | null;
      expiry_emitted_attempt: number | null;
      amount: string;
      receiver: string;
    }[]
  >`
    select withdrawal_id, purpose, status, recovered, attempt, transfer_update_id, transfer_instruction_cid, outcome_update_id,
           expiry_emitted_attempt, amount::text, receiver
    from withdrawals order by withdrawal_id`;
}

/**
 * Everything ingestion owns, as text, so two databases can be compared exactly. Timestamps of
 * when a row was written (ingested_at, updated_at, created_at) are left out; event ids are kept
 * because the outbox order is part of the contract.
 */
export type IngestionSnapshot = Record<
  'checkpoint' | 'updates' | 'holdings' | 'deposits' | 'instructions' | 'withdrawals' | 'events',
  string[]
>;

export async function ingestionSnapshot(sql: Sql): Promise<IngestionSnapshot> {
  const q = async (text: string) => (await sql.unsafe<{ r: string }[]>(text)).map((x) => x.r);
  return {
    checkpoint: await q(
      `select row(treasury_party, ledger_offset, update_id, record_time, synchronizer_id, synchronizer_times::text)::text as r from ingestion_checkpoint order by treasury_party`,
    ),
    updates: await q(
      `select row(update_id, ledger_offset, record_time, synchronizer_id, facts::text)::text as r from ingested_updates order by ledger_offset`,
    ),
    holdings: await q(
      `select row(contract_id, owner, instrument_admin, instrument_id, amount, lock, template_id, meta, created_offset, created_update_id, created_record_time, archived_offset, archived_update_id, archived_record_time)::text as r from holdings order by contract_id`,
    ),
    deposits: await q(
      `select row(deposit_id, kind, status, instrument_admin, instrument_id, sender, memo, account_id, transfer_amount, credited_amount, fee, transfer_instruction_cid, execute_before, offer_update_id, offer_offset, credit_update_id, credit_offset, credit_record_time, closed_update_id)::text as r from deposits order by deposit_id`,
    ),
    instructions: await q(
      `select row(contract_id, direction, original_instruction_cid, root_instruction_cid, sender, receiver, amount, memo, execute_before, locked_holding_cids, status, created_update_id, closed_update_id, closed_record_time)::text as r from transfer_instructions order by contract_id`,
    ),
    withdrawals: await q(
      `select row(withdrawal_id, purpose, account, amount, receiver, status, recovered, attempt, deadline, transfer_update_id, transfer_offset, transfer_record_time, transfer_instruction_cid, outcome_update_id, expiry_emitted_attempt)::text as r from withdrawals order by withdrawal_id`,
    ),
    // In commit order; the ids themselves may have gaps after a crash (sequences do not roll back).
    events: await q(`select row(topic, aggregate_type, aggregate_id, payload::text)::text as r from outbox_events order by event_id`),
  };
}

/** Empties every table ingestion writes (and the rows tests put beside them). */
export async function resetIngestionTables(sql: Sql): Promise<void> {
  await sql`truncate ingestion_checkpoint, ingested_updates, holding_reservations, holdings, deposits, transfer_instructions, withdrawals, outbox_events, outbox_cursors, deposit_accounts restart identity cascade`;
}

/**
 * Onboards instruments (rows of `instruments`, as the admin API writes them): ingestion counts
 * only holdings and offers of an onboarded instrument (docs/internals.md, money-safety rules).
 */
export async function onboardInstruments(sql: Sql, instruments: readonly { admin: string; id: string }[]): Promise<void> {
  for (const i of instruments) {
    await sql`insert into instruments (admin_party, instrument_id, registry_url) values (${i.admin}, ${i.id}, 'http://registry.invalid') on conflict do nothing`;
  }
}

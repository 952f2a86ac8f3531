import type { CreatedHolding, Instrument, TransactionFacts } from '../ingestion/facts.js';
import type { KnownHolding } from '../ingestion/ledger-state.js';
import type { Queryable, Tx } from './db.js';

/**
 * The treasury's holdings (UTXOs) as ingestion records them: created and archived in the batch
 * transaction that covers them. A batch's rows travel as one JSON document (jsonb_to_recordset):
 * one round trip and one reusable prepared statement whatever the batch size, and no per-value
 * array escaping.
 */

interface KnownRow {
  contract_id: string;
  instrument_admin: string;
  instrument_id: string;
  amount: string;
  locked: boolean;
}

/**
 * Active holdings of `owner` among `contractIds` (others are not ours, or already archived).
 * Here and in the writes below the query is started at once (execute()): ingestion pipelines
 * several statements in one round trip, and their order on the wire is the order of the calls.
 */
export async function fetchActiveHoldings(db: Queryable, owner: string, contractIds: readonly string[]): Promise<KnownHolding[]> {
  if (contractIds.length === 0) return [];
  // By primary key only, filtered here: with an owner predicate the planner prefers the
  // (owner, …) index and scans every active holding of the treasury for each batch.
  const rows = await db<(KnownRow & { owner: string; archived: boolean })[]>`
    select contract_id, owner, instrument_admin, instrument_id, amount::text as amount, lock is not null as locked,
           archived_offset is not null as archived
    from holdings where contract_id = any(${contractIds as string[]}::text[])`.execute();
  return rows
    .filter((r) => r.owner === owner && !r.archived)
    .map((r) => ({
      contractId: r.contract_id,
      instrument: { admin: r.instrument_admin, id: r.instrument_id },
      amount: r.amount,
      locked: r.locked,
    }));
}

/**
 * Records created holdings. An import transaction of a major upgrade re-creates holdings we
 * already have (same contract id): those are left as they are.
 */
export async function insertHoldings(
  tx: Tx,
  owner: string,
  created: readonly { facts: TransactionFacts; holding: CreatedHolding }[],
): Promise<void> {
  if (created.length === 0) return;
  const rows = created.map(({ facts: f, holding: h }) => ({
    contract_id: h.contractId,
    instrument_admin: h.instrument.admin,
    instrument_id: h.instrument.id,
    amount: h.amount,
    lock: h.lock,
    template_id: h.templateId,
    meta: h.meta,
    created_offset: f.offset,
    created_update_id: f.updateId,
    created_record_time: f.recordTime,
  }));
  await tx`
    insert into holdings (contract_id, owner, instrument_admin, instrument_id, amount, lock, template_id, meta,
                          created_offset, created_update_id, created_record_time)
    select v.contract_id, ${owner}, v.instrument_admin, v.instrument_id, v.amount, v.lock, v.template_id, v.meta,
           v.created_offset, v.created_update_id, v.created_record_time
    from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
      as v(contract_id text, instrument_admin text, instrument_id text, amount numeric, lock jsonb, template_id text, meta jsonb,
           created_offset bigint, created_update_id text, created_record_time timestamptz)
    on conflict (contract_id) do nothing`.execute();
}

export async function archiveHoldings(tx: Tx, archived: readonly { facts: TransactionFacts; contractId: string }[]): Promise<number> {
  if (archived.length === 0) return 0;
  const rows = archived.map((a) => ({
    contract_id: a.contractId,
    off: a.facts.offset,
    update_id: a.facts.updateId,
    record_time: a.facts.recordTime,
  }));
  const result = await tx`
    update holdings h set archived_offset = v.off, archived_update_id = v.update_id, archived_record_time = v.record_time
    from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as v(contract_id text, off bigint, update_id text, record_time timestamptz)
    where h.contract_id = v.contract_id and h.archived_offset is null`.execute();
  return result.count;
}

export interface ActiveHolding {
  contractId: string;
  instrument: Instrument;
  amount: string;
  lock: unknown;
  createdOffset: number;
}

/** The treasury's active holdings, for reconciliation and tests. */
export async function listActiveHoldings(db: Queryable, owner: string): Promise<ActiveHolding[]> {
  const rows = await db<
    { contract_id: string; instrument_admin: string; instrument_id: string; amount: string; lock: unknown; created_offset: number }[]
  >`
    select contract_id, instrument_admin, instrument_id, amount::text as amount, lock, created_offset
    from holdings where owner = ${owner} and archived_offset is null
    order by created_offset, contract_id`;
  return rows.map((r) => ({
    contractId: r.contract_id,
    instrument: { admin: r.instrument_admin, id: r.instrument_id },
    amount: r.amount,
    lock: r.lock,
    createdOffset: r.created_offset,
  }));
}

import type { Sql } from './db.js';

/**
 * The database side of reconciliation, read in one REPEATABLE READ snapshot so the checkpoint and
 * everything it covers belong together: ingestion writes an update's holdings and its offset in
 * one transaction (invariant 1), so in one snapshot the active holdings are exactly the treasury's
 * holdings at the checkpoint offset, and the ingested facts exactly those up to it.
 *
 * Deliberately no `created_offset <= checkpoint` filter: it would say nothing new inside the
 * snapshot, would hide a row written outside ingestion's batches (which should show up as
 * `extra`), and would misfire after a major upgrade, where offsets restart at 0 while holdings
 * imported again keep their old rows and offsets.
 */

/** A holding of the treasury, as the database and the ledger each report it (src/admin/reconciliation/compare.ts). */
export interface HoldingRecord {
  contractId: string;
  instrument: { admin: string; id: string };
  amount: string;
  locked: boolean;
}

/** Per instrument, from the ingested facts: every holding created and every one archived, once each. */
export interface MovementTotals {
  instrument: { admin: string; id: string };
  created: string;
  archived: string;
}

export interface DbCheckpoint {
  offset: number;
  recordTime: string | null;
  updateId: string | null;
}

export interface DbSnapshot {
  checkpoint: DbCheckpoint | null;
  holdings: HoldingRecord[];
  movements: MovementTotals[];
  /** The onboarded instruments ("admin/id"): only their holdings are the treasury's funds. */
  onboarded: ReadonlySet<string>;
}

export function readReconciliationSnapshot(sql: Sql, treasury: string): Promise<DbSnapshot> {
  return sql.begin('isolation level repeatable read read only', async (tx) => {
    const [cp] = await tx<{ ledger_offset: number; record_time: string | null; update_id: string | null }[]>`
      select ledger_offset, record_time, update_id from ingestion_checkpoint where treasury_party = ${treasury}`;
    if (!cp) return { checkpoint: null, holdings: [], movements: [], onboarded: new Set<string>() };

    const holdings = await tx<{ contract_id: string; instrument_admin: string; instrument_id: string; amount: string; locked: boolean }[]>`
      select contract_id, instrument_admin, instrument_id, amount::text as amount, lock is not null as locked
      from holdings
      where owner = ${treasury} and archived_offset is null`;

    // Every holding ingestion recorded, once per contract id: an import transaction of a major
    // upgrade re-creates holdings already known, and ingestion keeps the first row for them.
    const movements = await tx<{ admin: string; id: string; created: string; archived: string }[]>`
      with created as (
        select distinct on (contract_id) admin, id, amount from (
          select c->>'contractId' as contract_id, c->'instrument'->>'admin' as admin, c->'instrument'->>'id' as id, (c->>'amount')::numeric as amount, u.ledger_offset as at
          from ingested_updates u cross join lateral jsonb_array_elements(u.facts->'holdingsCreated') c
          union all
          -- holdings adopted when their token was onboarded (they were created before it was)
          select contract_id, instrument_admin, instrument_id, trim_scale(amount), adopted_offset from holding_adoptions
        ) all_created
        order by contract_id, at
      ),
      archived as (
        select distinct on (a->>'contractId') a->'instrument'->>'admin' as admin, a->'instrument'->>'id' as id, (a->>'amount')::numeric as amount
        from ingested_updates u cross join lateral jsonb_array_elements(u.facts->'holdingsArchived') a
        order by a->>'contractId', u.ledger_offset
      ),
      totals as (
        select admin, id, amount as created, 0::numeric as archived from created
        union all
        select admin, id, 0::numeric, amount from archived
      )
      select admin, id, sum(created)::text as created, sum(archived)::text as archived from totals group by admin, id`;

    const instruments = await tx<{ admin_party: string; instrument_id: string }[]>`select admin_party, instrument_id from instruments`;
    return {
      onboarded: new Set(instruments.map((i) => `${i.admin_party}/${i.instrument_id}`)),
      checkpoint: { offset: cp.ledger_offset, recordTime: cp.record_time, updateId: cp.update_id },
      holdings: holdings.map((h) => ({
        contractId: h.contract_id,
        instrument: { admin: h.instrument_admin, id: h.instrument_id },
        amount: h.amount,
        locked: h.locked,
      })),
      movements: movements.map((m) => ({ instrument: { admin: m.admin, id: m.id }, created: m.created, archived: m.archived })),
    };
  });
}

import type { HoldingRecord, MovementTotals } from '../admin/reconciliation/compare.js';
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

export interface DbCheckpoint {
  offset: number;
  recordTime: string | null;
  updateId: string | null;
}

export interface DbSnapshot {
  checkpoint: DbCheckpoint | null;
  holdings: HoldingRecord[];
  movements: MovementTotals[];
}

export function readReconciliationSnapshot(sql: Sql, treasury: string): Promise<DbSnapshot> {
  return sql.begin('isolation level repeatable read read only', async (tx) => {
    const [cp] = await tx<{ ledger_offset: number; record_time: string | null; update_id: string | null }[]>`
      select ledger_offset, record_time, update_id from ingestion_checkpoint where treasury_party = ${treasury}`;
    if (!cp) return { checkpoint: null, holdings: [], movements: [] };

    const holdings = await tx<{ contract_id: string; instrument_admin: string; instrument_id: string; amount: string; locked: boolean }[]>`
      select contract_id, instrument_admin, instrument_id, amount::text as amount, lock is not null as locked
      from holdings
      where owner = ${treasury} and archived_offset is null`;

    // Every holding ingestion recorded, once per contract id: an import transaction of a major
    // upgrade re-creates holdings already known, and ingestion keeps the first row for them.
    const movements = await tx<{ admin: string; id: string; created: string; archived: string }[]>`
      with created as (
        select distinct on (c->>'contractId') c->'instrument'->>'admin' as admin, c->'instrument'->>'id' as id, (c->>'amount')::numeric as amount
        from ingested_updates u cross join lateral jsonb_array_elements(u.facts->'holdingsCreated') c
        order by c->>'contractId', u.ledger_offset
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

    return {
      checkpoint: { offset: cp.ledger_offset, recordTime: cp.record_time, updateId: cp.update_id },
      holdings: holdings.map((h) => ({ contractId: h.contract_id, instrument: { admin: h.instrument_admin, id: h.instrument_id }, amount: h.amount, locked: h.locked })),
      movements: movements.map((m) => ({ instrument: { admin: m.admin, id: m.id }, created: m.created, archived: m.archived })),
    };
  });
}

import { normalizeAmount } from '../lib/decimal.js';
import type { Sql, Tx } from './db.js';

/**
 * GET /v1/holdings: the treasury's active holdings per owner and instrument, each in exactly one
 * category — locked (by the ledger: a pending 2-step offer), reserved (a live withdrawal
 * reservation), planned (an input of a live planned self-transfer not yet reserved), or free (what
 * the next payout may take) — so the categories add up to the count and the total.
 */

export interface Bucket {
  count: number;
  amount: string;
}

export interface HoldingsSummaryItem {
  owner: string;
  instrument: { admin: string; id: string };
  /** Null when nobody onboarded the instrument (its holdings are still recorded). */
  config: { enabled: boolean; displayDecimals: number } | null;
  count: number;
  total: string;
  locked: Bucket;
  reserved: Bucket;
  plannedForSelfTransfer: Bucket;
  free: Bucket;
  /** Planned self-transfers (merges/splits) not yet finished. */
  selfTransfersInFlight: number;
}

export interface HoldingsSummary {
  checkpoint: { offset: number; recordTime: string | null } | null;
  items: HoldingsSummaryItem[];
}

interface Row {
  owner: string;
  instrument_admin: string;
  instrument_id: string;
  enabled: boolean | null;
  display_decimals: number | null;
  n: number;
  total: string;
  locked_n: number;
  locked: string;
  reserved_n: number;
  reserved: string;
  planned_n: number;
  planned: string;
  free_n: number;
  free: string;
  in_flight: number;
}

/** One consistent snapshot: the checkpoint and the holdings it covers. */
export function holdingsSummary(sql: Sql): Promise<HoldingsSummary> {
  return sql.begin('isolation level repeatable read read only', (tx) => readSummary(tx));
}

async function readSummary(db: Tx): Promise<HoldingsSummary> {
  const rows = await db<Row[]>`
    with planned as (
      select distinct unnest(input_holding_cids) as contract_id from withdrawals
      where input_holding_cids is not null and status not in ('completed', 'failed', 'cancelled', 'recovered', 'stalled')
    ),
    categorised as (
      select h.owner, h.instrument_admin, h.instrument_id, h.amount,
        case when h.lock is not null then 'locked'
             when h.reserved then 'reserved'
             when exists (select 1 from planned p where p.contract_id = h.contract_id) then 'planned'
             else 'free' end as category
      from holdings h where h.archived_offset is null
    ),
    in_flight as (
      select instrument_admin, instrument_id, count(*)::int as n from withdrawals
      where input_holding_cids is not null and status not in ('completed', 'failed', 'cancelled', 'recovered')
      group by 1, 2
    )
    select c.owner, c.instrument_admin, c.instrument_id, i.enabled, i.display_decimals,
      count(*)::int as n, sum(c.amount)::text as total,
      count(*) filter (where category = 'locked')::int as locked_n, coalesce(sum(c.amount) filter (where category = 'locked'), 0)::text as locked,
      count(*) filter (where category = 'reserved')::int as reserved_n, coalesce(sum(c.amount) filter (where category = 'reserved'), 0)::text as reserved,
      count(*) filter (where category = 'planned')::int as planned_n, coalesce(sum(c.amount) filter (where category = 'planned'), 0)::text as planned,
      count(*) filter (where category = 'free')::int as free_n, coalesce(sum(c.amount) filter (where category = 'free'), 0)::text as free,
      coalesce(max(f.n), 0)::int as in_flight
    from categorised c
    left join instruments i on i.admin_party = c.instrument_admin and i.instrument_id = c.instrument_id
    left join in_flight f on f.instrument_admin = c.instrument_admin and f.instrument_id = c.instrument_id
    group by c.owner, c.instrument_admin, c.instrument_id, i.enabled, i.display_decimals
    order by c.owner, c.instrument_admin, c.instrument_id collate "C"`;
  const [cp] = await db<{ ledger_offset: number; record_time: string | null }[]>`
    select ledger_offset, record_time from ingestion_checkpoint order by updated_at desc limit 1`;
  const bucket = (count: number, amount: string): Bucket => ({ count, amount: normalizeAmount(amount) });
  return {
    checkpoint: cp ? { offset: cp.ledger_offset, recordTime: cp.record_time } : null,
    items: rows.map((r) => ({
      owner: r.owner,
      instrument: { admin: r.instrument_admin, id: r.instrument_id },
      config: r.enabled === null ? null : { enabled: r.enabled, displayDecimals: r.display_decimals ?? 10 },
      count: r.n,
      total: normalizeAmount(r.total),
      locked: bucket(r.locked_n, r.locked),
      reserved: bucket(r.reserved_n, r.reserved),
      plannedForSelfTransfer: bucket(r.planned_n, r.planned),
      free: bucket(r.free_n, r.free),
      selfTransfersInFlight: r.in_flight,
    })),
  };
}

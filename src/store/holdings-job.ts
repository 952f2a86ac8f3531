import type postgres from 'postgres';
import type { Queryable, Tx } from './db.js';
import { appendOutboxEvents } from './outbox.js';

/**
 * The holdings job's SQL (src/admin/holdings-job.ts). Its self-transfers are withdrawal rows with
 * `purpose = self_transfer`, receiver = treasury and `input_holding_cids` = the planned inputs,
 * written with their `withdrawal.requested` event in one transaction: from there the withdrawal
 * runtime runs them like any withdrawal, and reserveHoldings takes exactly the planned inputs.
 */

export interface InstrumentKey {
  admin: string;
  id: string;
}

/** Account of the job's rows: they debit no customer (withdrawal.failed says recredit: false). */
export const HOLDINGS_JOB_ACCOUNT = '(holdings-job)';

/** Transaction-scoped advisory lock namespace: one planner per instrument across instances. */
const HOLDINGS_JOB_LOCK_KEY = 72_450_194;

/** Unfinished = not final; stalled ones count (an operator must look at them), recovered rows are final. */
const FINISHED = ['completed', 'failed', 'cancelled', 'recovered'];

/** Whether this transaction may plan for the instrument; false while another instance does. */
export async function tryLockInstrumentPlanning(tx: Tx, i: InstrumentKey): Promise<boolean> {
  const [row] = await tx<{ locked: boolean }[]>`
    select pg_try_advisory_xact_lock(${HOLDINGS_JOB_LOCK_KEY}, hashtext(${`${i.admin}/${i.id}`})) as locked`;
  return row!.locked;
}

/**
 * Free for the job as for a payout (src/store/reservations.ts): active, unlocked, no live
 * reservation, and not an input of a live planned self-transfer. `reservedToo` keeps holdings
 * reserved by a withdrawal (the pool count).
 */
function freeHoldings(db: Queryable, owner: string, i: InstrumentKey, reservedToo = false) {
  return db`
    h.owner = ${owner} and h.instrument_admin = ${i.admin} and h.instrument_id = ${i.id}
    and h.archived_offset is null and h.lock is null
    ${reservedToo ? db`` : db`and not h.reserved`}
    and not exists (
      select 1 from withdrawals p
      where p.instrument_admin = h.instrument_admin and p.instrument_id = h.instrument_id
        and p.input_holding_cids is not null and p.status not in ('completed', 'failed', 'cancelled', 'recovered', 'stalled')
        and h.contract_id = any(p.input_holding_cids))`;
}

export interface FreeHolding {
  contractId: string;
  amount: string;
}

/**
 * The bounded part of the free holdings planning needs, so a treasury with a million dust
 * holdings is planned from a few thousand rows (readFreeHoldingsView below reads it with SQL,
 * src/admin/utxo-plan.ts `viewOf` builds the same from a full list). Orders are by amount, then contract id in byte order.
 */
export interface FreeHoldingsView {
  /** Free holdings below smallAmount (every free holding when smallAmount is null). */
  smallCount: number;
  /** The smallest of those, ascending, at most `limits.inputs`. */
  smallest: FreeHolding[];
  /**
   * Holdings of at least poolTargetAmount that are free or serving a withdrawal right now (0
   * without a pool). A pool holding reserved by a running withdrawal is the pool doing its job:
   * counting only free ones would make the job split (and so take away) the very holdings the
   * next withdrawals of a burst need.
   */
  poolCount: number;
  /** The largest free holdings of at least 2 × poolTargetAmount, descending, at most `limits.splits`. */
  splittable: FreeHolding[];
  /** The largest free holdings below poolTargetAmount, descending, at most `limits.inputs`. */
  belowTarget: FreeHolding[];
}

export interface ViewLimits {
  inputs: number;
  splits: number;
}

export interface ViewBounds {
  /** null: every free holding is small. */
  smallAmount: string | null;
  /** null: no pool is kept. */
  poolTargetAmount: string | null;
  limits: ViewLimits;
}

/** The planner's view of the free holdings (mirrors `viewOf` in src/admin/utxo-plan.ts). */
export async function readFreeHoldingsView(db: Queryable, owner: string, i: InstrumentKey, b: ViewBounds): Promise<FreeHoldingsView> {
  const free = freeHoldings(db, owner, i);
  const small = b.smallAmount === null ? db`` : db`and h.amount < ${b.smallAmount}::numeric`;
  // Both keys in one direction: the index is read forwards or backwards and nothing is sorted (with
  // the contract id ascending under a descending amount, every holding tied at the top was sorted).
  const list = (where: postgres.Fragment, order: 'asc' | 'desc', limit: number) => {
    const direction = order === 'asc' ? db`asc` : db`desc`;
    return db<{ contract_id: string; amount: string }[]>`
      select h.contract_id, h.amount::text as amount from holdings h
      where ${free} ${where}
      order by h.amount ${direction}, h.contract_id ${direction}
      limit ${limit}`;
  };
  const toHoldings = (rows: { contract_id: string; amount: string }[]): FreeHolding[] =>
    rows.map((r) => ({ contractId: r.contract_id, amount: r.amount }));

  const [counts] = await db<{ small: number }[]>`select count(*)::int as small from holdings h where ${free} ${small}`;
  const smallest = toHoldings(await list(small, 'asc', b.limits.inputs));
  if (b.poolTargetAmount === null) return { smallCount: counts!.small, smallest, poolCount: 0, splittable: [], belowTarget: [] };
  const target = b.poolTargetAmount;
  const [pool] = await db<{ n: number }[]>`
    select count(*)::int as n from holdings h where ${freeHoldings(db, owner, i, true)} and h.amount >= ${target}::numeric`;
  return {
    smallCount: counts!.small,
    smallest,
    poolCount: pool!.n,
    splittable: toHoldings(await list(db`and h.amount >= 2 * ${target}::numeric`, 'desc', b.limits.splits)),
    belowTarget: toHoldings(await list(db`and h.amount < ${target}::numeric`, 'desc', b.limits.inputs)),
  };
}

/**
 * Locks the planned inputs that are still free (FOR UPDATE SKIP LOCKED, like a reservation): a
 * payout reserving one right now keeps it, and once this transaction commits payouts see the
 * plan. Returns the contract ids locked.
 */
export async function lockFreeInputs(tx: Tx, owner: string, i: InstrumentKey, contractIds: readonly string[]): Promise<Set<string>> {
  if (contractIds.length === 0) return new Set();
  const rows = await tx<{ contract_id: string }[]>`
    select h.contract_id from holdings h
    where h.contract_id = any(${contractIds as string[]}::text[]) and ${freeHoldings(tx, owner, i)}
    for update of h skip locked`;
  return new Set(rows.map((r) => r.contract_id));
}

export interface UnfinishedSelfTransfer {
  withdrawalId: string;
  status: string;
  statusReason: string | null;
  /** Waiting for funds because a planned input is spent or reserved by another withdrawal: it can never run. */
  inputsGone: boolean;
}

/** The instrument's planned self-transfers that have not finished, oldest first. */
export async function unfinishedSelfTransfers(db: Queryable, i: InstrumentKey): Promise<UnfinishedSelfTransfer[]> {
  const rows = await db<{ withdrawal_id: string; status: string; status_reason: string | null; inputs_gone: boolean }[]>`
    select w.withdrawal_id, w.status, w.status_reason,
      (w.status = 'waiting_for_funds' and exists (
        select 1 from holdings h
        where h.contract_id = any(w.input_holding_cids)
          and (h.archived_offset is not null
               or exists (select 1 from holding_reservations r
                          where r.contract_id = h.contract_id and r.released_at is null and r.withdrawal_id <> w.withdrawal_id)))) as inputs_gone
    from withdrawals w
    where w.instrument_admin = ${i.admin} and w.instrument_id = ${i.id}
      and w.input_holding_cids is not null and w.status not in ${db(FINISHED)}
    order by w.requested_at, w.withdrawal_id`;
  return rows.map((r) => ({ withdrawalId: r.withdrawal_id, status: r.status, statusReason: r.status_reason, inputsGone: r.inputs_gone }));
}

/** The latest finished planned self-transfer of the instrument: a recent failure pauses planning. */
export async function lastFinishedSelfTransfer(
  db: Queryable,
  i: InstrumentKey,
): Promise<{ withdrawalId: string; status: string; statusReason: string | null; updatedAt: string } | undefined> {
  const [r] = await db<{ withdrawal_id: string; status: string; status_reason: string | null; updated_at: string }[]>`
    select withdrawal_id, status, status_reason, updated_at from withdrawals
    where instrument_admin = ${i.admin} and instrument_id = ${i.id} and input_holding_cids is not null and status in ${db(FINISHED)}
    order by updated_at desc limit 1`;
  return r ? { withdrawalId: r.withdrawal_id, status: r.status, statusReason: r.status_reason, updatedAt: r.updated_at } : undefined;
}

export interface NewSelfTransfer {
  withdrawalId: string;
  kind: 'merge' | 'split';
  amount: string;
  inputHoldingCids: string[];
  reason: string;
}

/** The rows and their `withdrawal.requested` events, in the caller's transaction. */
export async function insertSelfTransfers(
  tx: Tx,
  treasury: string,
  i: InstrumentKey,
  transfers: readonly NewSelfTransfer[],
): Promise<void> {
  if (transfers.length === 0) return;
  await tx`
    insert into withdrawals ${tx(
      transfers.map((t) => ({
        withdrawal_id: t.withdrawalId,
        purpose: 'self_transfer',
        account: HOLDINGS_JOB_ACCOUNT,
        instrument_admin: i.admin,
        instrument_id: i.id,
        amount: t.amount,
        receiver: treasury,
        input_holding_cids: t.inputHoldingCids,
      })),
    )}`;
  await appendOutboxEvents(
    tx,
    transfers.map((t) => ({
      topic: 'withdrawal.requested',
      aggregateType: 'withdrawal',
      aggregateId: t.withdrawalId,
      payload: {
        withdrawalId: t.withdrawalId,
        account: HOLDINGS_JOB_ACCOUNT,
        instrument: i,
        amount: t.amount,
        receiver: treasury,
        purpose: 'self_transfer',
        utxo: { kind: t.kind, inputCount: t.inputHoldingCids.length, reason: t.reason },
      },
    })),
  );
}

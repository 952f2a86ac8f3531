import { AppError } from '../errors.js';
import { WithdrawalReasonCode } from '../failures.js';
import { normalizeAmount } from '../lib/decimal.js';
import type { Queryable, Sql } from './db.js';
import { appendOutboxEvents } from './outbox.js';
import { decodeCursor, encodeCursor } from './paging.js';
import type { WithdrawalsTableRow } from './table-rows.js';

export interface WithdrawalRequest {
  withdrawalId: string;
  account: string;
  instrument: { admin: string; id: string };
  amount: string;
  receiver: string;
}

export interface WithdrawalRow extends WithdrawalRequest {
  purpose: 'payout' | 'self_transfer';
  status: string;
  statusReason: string | null;
  /** Closed set (src/failures.ts); null while nothing holds or ended it. */
  statusCode: WithdrawalReasonCode | null;
  attempt: number;
  deadline: string | null;
  recovered: boolean;
  transfer: { updateId: string; offset: number | null; recordTime: string | null; transferInstructionCid: string | null } | null;
  outcomeUpdateId: string | null;
  /** What the participant estimated the signed transfer costs in traffic (bytes); null when it gave none. */
  trafficCostEstimate: number | null;
  /** What the ledger charged the treasury beyond the amount (ingested updates); null before the transfer. */
  networkFee: string | null;
  requestedAt: string;
  updatedAt: string;
}

type Row = WithdrawalsTableRow;

function toWithdrawal(r: Row): WithdrawalRow {
  return {
    withdrawalId: r.withdrawal_id,
    purpose: r.purpose,
    account: r.account,
    instrument: { admin: r.instrument_admin, id: r.instrument_id },
    amount: r.amount,
    receiver: r.receiver,
    status: r.status,
    statusReason: r.status_reason,
    // Only the status mirror writes it, from the same closed set: anything else is a defect, said loudly.
    statusCode: WithdrawalReasonCode.nullable().parse(r.status_code),
    attempt: r.attempt,
    deadline: r.deadline,
    recovered: r.recovered,
    transfer:
      r.transfer_update_id === null
        ? null
        : {
            updateId: r.transfer_update_id,
            offset: r.transfer_offset,
            recordTime: r.transfer_record_time,
            transferInstructionCid: r.transfer_instruction_cid,
          },
    outcomeUpdateId: r.outcome_update_id,
    trafficCostEstimate: r.traffic_cost_estimate ?? null,
    networkFee: r.network_fee === null ? null : normalizeAmount(r.network_fee),
    requestedAt: r.requested_at,
    updatedAt: r.updated_at,
  };
}

/** Which request fields differ: the body of a 409 so the exchange sees what it sent twice. */
function differences(existing: WithdrawalRow, req: WithdrawalRequest): string[] {
  const diffs: string[] = [];
  if (existing.purpose !== 'payout') diffs.push('purpose');
  if (existing.account !== req.account) diffs.push('account');
  if (existing.instrument.admin !== req.instrument.admin || existing.instrument.id !== req.instrument.id) diffs.push('instrument');
  if (normalizeAmount(existing.amount) !== normalizeAmount(req.amount)) diffs.push('amount');
  if (existing.receiver !== req.receiver) diffs.push('receiver');
  return diffs;
}

/**
 * Records a withdrawal request once. The withdrawal id is the exchange's idempotency key: the same
 * id with the same body returns the existing withdrawal (`created: false`); with a different body
 * it is a conflict. The request row and its `withdrawal.requested` event commit together.
 */
export async function createWithdrawalRequest(sql: Sql, req: WithdrawalRequest): Promise<{ created: boolean; withdrawal: WithdrawalRow }> {
  return sql.begin(async (tx) => {
    const inserted = await tx<Row[]>`
      insert into withdrawals (withdrawal_id, purpose, account, instrument_admin, instrument_id, amount, receiver)
      values (${req.withdrawalId}, 'payout', ${req.account}, ${req.instrument.admin}, ${req.instrument.id}, ${req.amount}, ${req.receiver})
      on conflict (withdrawal_id) do nothing
      returning *`;
    if (inserted[0]) {
      const w = toWithdrawal(inserted[0]);
      await appendOutboxEvents(tx, [
        {
          topic: 'withdrawal.requested',
          aggregateType: 'withdrawal',
          aggregateId: w.withdrawalId,
          payload: {
            withdrawalId: w.withdrawalId,
            account: w.account,
            instrument: w.instrument,
            amount: w.amount,
            receiver: w.receiver,
            purpose: w.purpose,
            utxo: null,
          },
        },
      ]);
      return { created: true, withdrawal: w };
    }
    const [row] = await tx<Row[]>`select * from withdrawals where withdrawal_id = ${req.withdrawalId}`;
    const existing = toWithdrawal(row!);
    const diffs = differences(existing, req);
    if (diffs.length > 0) {
      throw new AppError('IDEMPOTENCY_CONFLICT', `Withdrawal ${req.withdrawalId} already exists with a different ${diffs.join(', ')}.`, {
        withdrawalId: req.withdrawalId,
        differingFields: diffs,
      });
    }
    return { created: false, withdrawal: existing };
  });
}

export async function findWithdrawal(db: Queryable, withdrawalId: string): Promise<WithdrawalRow | undefined> {
  const [row] = await db<Row[]>`select * from withdrawals where withdrawal_id = ${withdrawalId}`;
  return row ? toWithdrawal(row) : undefined;
}

export interface ReservationRow {
  contractId: string;
  attempt: number;
  amount: string | null;
  reservedAt: string;
  releasedAt: string | null;
}

export async function listWithdrawalReservations(db: Queryable, withdrawalId: string): Promise<ReservationRow[]> {
  const rows = await db<{ contract_id: string; attempt: number; amount: string | null; reserved_at: string; released_at: string | null }[]>`
    select r.contract_id, r.attempt, h.amount::text as amount, r.reserved_at, r.released_at
    from holding_reservations r left join holdings h using (contract_id)
    where r.withdrawal_id = ${withdrawalId} order by r.attempt, r.reservation_id`;
  return rows.map((r) => ({
    contractId: r.contract_id,
    attempt: r.attempt,
    amount: r.amount,
    reservedAt: r.reserved_at,
    releasedAt: r.released_at,
  }));
}

export interface WithdrawalFilter {
  status?: string | undefined;
  account?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** Newest first, keyset-paged on (requested_at, withdrawal_id). */
export async function listWithdrawals(db: Queryable, f: WithdrawalFilter): Promise<{ items: WithdrawalRow[]; nextCursor: string | null }> {
  const c = f.cursor === undefined ? undefined : decodeCursor(f.cursor);
  const rows = await db<Row[]>`
    select * from withdrawals
    where true
      ${f.status === undefined ? db`` : db`and status = ${f.status}`}
      ${f.account === undefined ? db`` : db`and account = ${f.account}`}
      ${f.from === undefined ? db`` : db`and requested_at >= ${f.from}`}
      ${f.to === undefined ? db`` : db`and requested_at < ${f.to}`}
      ${c === undefined ? db`` : db`and (requested_at, withdrawal_id) < (${c.t}::timestamptz, ${c.id})`}
    order by requested_at desc, withdrawal_id desc
    limit ${f.limit + 1}`;
  const items = rows.slice(0, f.limit).map(toWithdrawal);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > f.limit && last ? encodeCursor({ t: last.requestedAt, id: last.withdrawalId }) : null };
}

import type { Queryable } from './db.js';
import { decodeCursor, encodeCursor } from './paging.js';
import type { DepositsTableRow } from './table-rows.js';

/** Deposits as exchange systems query them (rows are written by ingestion and the deposit runtime). */
export interface DepositRow {
  depositId: string;
  kind: 'one_step' | 'two_step';
  status: string;
  statusReason: string | null;
  instrument: { admin: string; id: string };
  sender: string | null;
  memo: string | null;
  accountId: string | null;
  transferAmount: string;
  creditedAmount: string | null;
  fee: string | null;
  transferInstructionCid: string | null;
  executeBefore: string | null;
  offerUpdateId: string | null;
  creditUpdateId: string | null;
  creditRecordTime: string | null;
  closedUpdateId: string | null;
  createdAt: string;
  updatedAt: string;
}

type Row = Omit<DepositsTableRow, 'offer_offset' | 'credit_offset'>;

const toDeposit = (r: Row): DepositRow => ({
  depositId: r.deposit_id,
  kind: r.kind,
  status: r.status,
  statusReason: r.status_reason,
  instrument: { admin: r.instrument_admin, id: r.instrument_id },
  sender: r.sender,
  memo: r.memo,
  accountId: r.account_id,
  transferAmount: r.transfer_amount,
  creditedAmount: r.credited_amount,
  fee: r.fee,
  transferInstructionCid: r.transfer_instruction_cid,
  executeBefore: r.execute_before,
  offerUpdateId: r.offer_update_id,
  creditUpdateId: r.credit_update_id,
  creditRecordTime: r.credit_record_time,
  closedUpdateId: r.closed_update_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const COLUMNS =
  'deposit_id, kind, status, status_reason, instrument_admin, instrument_id, sender, memo, account_id, transfer_amount::text as transfer_amount, credited_amount::text as credited_amount, fee::text as fee, transfer_instruction_cid, execute_before, offer_update_id, credit_update_id, credit_record_time, closed_update_id, created_at, updated_at';

export async function findDeposit(db: Queryable, depositId: string): Promise<DepositRow | undefined> {
  const [row] = await db<Row[]>`select ${db.unsafe(COLUMNS)} from deposits where deposit_id = ${depositId}`;
  return row ? toDeposit(row) : undefined;
}

export interface DepositFilter {
  status?: string | undefined;
  accountId?: string | undefined;
  memo?: string | undefined;
  kind?: 'one_step' | 'two_step' | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/**
 * Deposits that need an operator's ASSIGN: funds that arrived for no known account (status
 * `unattributed`) and live 2-step offers with an unknown or missing memo — those keep ingestion's
 * `offered` (so ingestion keeps closing them) and are never accepted until assigned.
 */
const unattributed = (db: Queryable) => db`(status = 'unattributed' or (status = 'offered' and kind = 'two_step' and account_id is null))`;

/** Newest first, keyset-paged on (created_at, deposit_id). `status=unattributed` means "needs assigning" (above). */
export async function listDeposits(db: Queryable, f: DepositFilter): Promise<{ items: DepositRow[]; nextCursor: string | null }> {
  const c = f.cursor === undefined ? undefined : decodeCursor(f.cursor);
  const rows = await db<Row[]>`
    select ${db.unsafe(COLUMNS)} from deposits
    where true
      ${f.status === undefined ? db`` : f.status === 'unattributed' ? db`and ${unattributed(db)}` : db`and status = ${f.status}`}
      ${f.accountId === undefined ? db`` : db`and account_id = ${f.accountId}`}
      ${f.memo === undefined ? db`` : db`and memo = ${f.memo}`}
      ${f.kind === undefined ? db`` : db`and kind = ${f.kind}`}
      ${f.from === undefined ? db`` : db`and created_at >= ${f.from}`}
      ${f.to === undefined ? db`` : db`and created_at < ${f.to}`}
      ${c === undefined ? db`` : db`and (created_at, deposit_id) < (${c.t}::timestamptz, ${c.id})`}
    order by created_at desc, deposit_id desc
    limit ${f.limit + 1}`;
  const items = rows.slice(0, f.limit).map(toDeposit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > f.limit && last ? encodeCursor({ t: last.createdAt, id: last.depositId }) : null };
}

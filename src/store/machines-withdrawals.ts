import { normalizeAmount } from '../lib/decimal.js';
import type { Queryable, Tx } from './db.js';
import type { WithdrawalsTableRow } from './table-rows.js';
import type { TransferPolicy } from './instruments.js';

/** The withdrawal runtime's SQL: reading request rows and mirroring machine state onto them. */

export interface WithdrawalRequestRow {
  withdrawalId: string;
  purpose: 'payout' | 'self_transfer';
  account: string;
  instrument: { admin: string; id: string };
  amount: string;
  receiver: string;
  status: string;
  recovered: boolean;
  transferUpdateId: string | null;
  /** The offer of a 2-step transfer; null for a 1-step one or none. */
  transferInstructionCid: string | null;
  /** null when the instrument is not onboarded or is disabled. */
  transferPolicy: 'direct-only' | 'direct-or-offer' | 'offer-only' | null;
}

export async function loadWithdrawalRequest(db: Queryable, withdrawalId: string): Promise<WithdrawalRequestRow | undefined> {
  const [r] = await db<
    (Pick<
      WithdrawalsTableRow,
      | 'withdrawal_id'
      | 'purpose'
      | 'account'
      | 'instrument_admin'
      | 'instrument_id'
      | 'amount'
      | 'receiver'
      | 'status'
      | 'recovered'
      | 'transfer_update_id'
      | 'transfer_instruction_cid'
    > & {
      transfer_policy: TransferPolicy | null;
    })[]
  >`
    select w.withdrawal_id, w.purpose, w.account, w.instrument_admin, w.instrument_id, w.amount::text as amount, w.receiver,
           w.status, w.recovered, w.transfer_update_id, w.transfer_instruction_cid, case when i.enabled then i.transfer_policy end as transfer_policy
    from withdrawals w
    left join instruments i on i.admin_party = w.instrument_admin and i.instrument_id = w.instrument_id
    where w.withdrawal_id = ${withdrawalId}`;
  if (!r) return undefined;
  return {
    withdrawalId: r.withdrawal_id,
    purpose: r.purpose,
    account: r.account,
    instrument: { admin: r.instrument_admin, id: r.instrument_id },
    amount: r.amount,
    receiver: r.receiver,
    status: r.status,
    recovered: r.recovered,
    transferUpdateId: r.transfer_update_id,
    transferInstructionCid: r.transfer_instruction_cid,
    transferPolicy: r.transfer_policy,
  };
}

/**
 * Request rows with no machine yet (inserted directly with SQL by exchange systems). Rows
 * recovered from the ledger or already transferred are never given a machine: paying them would
 * pay twice. Rows whose `withdrawal.requested` event the runtime has not consumed yet (after
 * `afterEventId`, its cursor) are left to that event: under load, discovery would otherwise race
 * the outbox for every new request.
 */
export async function findUnmanagedWithdrawals(db: Queryable, limit: number, afterEventId: number): Promise<string[]> {
  const rows = await db<{ withdrawal_id: string }[]>`
    select w.withdrawal_id from withdrawals w
    where w.status = 'requested' and not w.recovered and w.transfer_update_id is null
      and not exists (select 1 from machine_snapshots s where s.machine_type = 'withdrawal' and s.machine_id = w.withdrawal_id)
      and not exists (
        select 1 from outbox_events e
        where e.aggregate_type = 'withdrawal' and e.aggregate_id = w.withdrawal_id and e.topic = 'withdrawal.requested' and e.event_id > ${afterEventId})
    order by w.requested_at, w.withdrawal_id
    limit ${limit}`;
  return rows.map((r) => r.withdrawal_id);
}

export interface WithdrawalStatusMirror {
  withdrawalId: string;
  status: string;
  reason: string | null;
  /** A closed set (src/failures.ts `WithdrawalReasonCode`). */
  code: string | null;
}

/** The machines' statuses onto their rows (one statement for a commit group); unchanged rows are left alone. */
export async function mirrorWithdrawalStatuses(tx: Tx, rows: readonly WithdrawalStatusMirror[]): Promise<void> {
  if (rows.length === 0) return;
  const doc = JSON.stringify(rows.map((r) => ({ id: r.withdrawalId, s: r.status, r: r.reason, c: r.code })));
  await tx`
    update withdrawals w set status = v.s, status_reason = v.r, status_code = v.c, updated_at = now()
    from jsonb_to_recordset(${doc}::text::jsonb) as v(id text, s text, r text, c text)
    where w.withdrawal_id = v.id and (w.status is distinct from v.s or w.status_reason is distinct from v.r or w.status_code is distinct from v.c)`;
}

/** The network fee ingestion recorded for a withdrawal (withdrawals.network_fee), for its outcome event. */
export async function readNetworkFee(db: Queryable, withdrawalId: string): Promise<string | null> {
  const [r] = await db<
    { network_fee: string | null }[]
  >`select network_fee::text as network_fee from withdrawals where withdrawal_id = ${withdrawalId}`;
  return r === undefined || r.network_fee === null ? null : normalizeAmount(r.network_fee);
}

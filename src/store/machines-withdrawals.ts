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
  /** null when the instrument is not onboarded or is disabled. */
  transferPolicy: 'direct-only' | 'direct-or-offer' | 'offer-only' | null;
}

export async function loadWithdrawalRequest(db: Queryable, withdrawalId: string): Promise<WithdrawalRequestRow | undefined> {
  const [r] = await db<
    (Pick<WithdrawalsTableRow, 'withdrawal_id' | 'purpose' | 'account' | 'instrument_admin' | 'instrument_id' | 'amount' | 'receiver' | 'status' | 'recovered' | 'transfer_update_id'> & {
      transfer_policy: TransferPolicy | null;
    })[]
  >`
    select w.withdrawal_id, w.purpose, w.account, w.instrument_admin, w.instrument_id, w.amount::text as amount, w.receiver,
           w.status, w.recovered, w.transfer_update_id, case when i.enabled then i.transfer_policy end as transfer_policy
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
    transferPolicy: r.transfer_policy,
  };
}

/**
 * Request rows with no machine yet (inserted directly with SQL by exchange systems). Rows
 * recovered from the ledger or already transferred are never given a machine: paying them would
 * pay twice.
 */
export async function findUnmanagedWithdrawals(db: Queryable, limit: number): Promise<string[]> {
  const rows = await db<{ withdrawal_id: string }[]>`
    select w.withdrawal_id from withdrawals w
    where w.status = 'requested' and not w.recovered and w.transfer_update_id is null
      and not exists (select 1 from machine_snapshots s where s.machine_type = 'withdrawal' and s.machine_id = w.withdrawal_id)
    order by w.requested_at, w.withdrawal_id
    limit ${limit}`;
  return rows.map((r) => r.withdrawal_id);
}

export async function mirrorWithdrawalStatus(tx: Tx, withdrawalId: string, status: string, reason: string | null): Promise<void> {
  await tx`
    update withdrawals set status = ${status}, status_reason = ${reason}, updated_at = now()
    where withdrawal_id = ${withdrawalId} and (status is distinct from ${status} or status_reason is distinct from ${reason})`;
}

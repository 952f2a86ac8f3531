import type { Queryable, Tx } from './db.js';
import { appendOutboxEvents } from './outbox.js';

/** The deposit runtime's SQL: reading deposit rows, mirroring machine state, admin assignment. */

/**
 * Statuses ingestion writes for ledger facts and treats as final (it stops closing such a row);
 * the runtime's mirror never overwrites them, nor writes them except 'credited' on assignment.
 */
const LEDGER_FINAL = ['credited', 'unattributed', 'rejected', 'withdrawn', 'expired', 'failed', 'ignored'];

export interface DepositRow {
  depositId: string;
  kind: 'one_step' | 'two_step';
  status: string;
  instrument: { admin: string; id: string };
  transferAmount: string;
  memo: string | null;
  accountId: string | null;
  transferInstructionCid: string | null;
  executeBefore: string | null;
}

export async function loadDeposit(db: Queryable, depositId: string): Promise<DepositRow | undefined> {
  const [r] = await db<
    {
      deposit_id: string;
      kind: 'one_step' | 'two_step';
      status: string;
      instrument_admin: string;
      instrument_id: string;
      transfer_amount: string;
      memo: string | null;
      account_id: string | null;
      transfer_instruction_cid: string | null;
      execute_before: string | null;
    }[]
  >`
    select deposit_id, kind, status, instrument_admin, instrument_id, transfer_amount::text as transfer_amount, memo, account_id,
           transfer_instruction_cid, execute_before
    from deposits where deposit_id = ${depositId}`;
  if (!r) return undefined;
  return {
    depositId: r.deposit_id,
    kind: r.kind,
    status: r.status,
    instrument: { admin: r.instrument_admin, id: r.instrument_id },
    transferAmount: r.transfer_amount,
    memo: r.memo,
    accountId: r.account_id,
    transferInstructionCid: r.transfer_instruction_cid,
    executeBefore: r.execute_before,
  };
}

export async function depositAccountExists(db: Queryable, accountId: string): Promise<boolean> {
  const [r] = await db<{ ok: boolean }[]>`select exists (select 1 from deposit_accounts where account_id = ${accountId}) as ok`;
  return r?.ok === true;
}

/** Mirrors the machine's view (accepting, accept_failed…) without ever overwriting a ledger fact. */
export async function mirrorDepositStatus(tx: Tx, depositId: string, status: string, reason: string | null): Promise<void> {
  await tx`
    update deposits set status = ${status}, status_reason = ${reason}, updated_at = now()
    where deposit_id = ${depositId} and status <> all(${LEDGER_FINAL})
      and (status is distinct from ${status} or status_reason is distinct from ${reason})`;
}

/** Only the explanation, when the status itself belongs to ingestion (e.g. an unattributed offer stays 'offered'). */
export async function mirrorDepositReason(tx: Tx, depositId: string, reason: string): Promise<void> {
  await tx`
    update deposits set status_reason = ${reason}, updated_at = now()
    where deposit_id = ${depositId} and status_reason is distinct from ${reason}`;
}

export class AssignConflictError extends Error {
  override readonly name = 'AssignConflictError';
}

/**
 * Admin assignment of a 2-step offer to an account: ingestion credits that account when it sees
 * the accept. Only an unattributed row can be assigned.
 */
export async function assignDepositAccount(tx: Tx, depositId: string, accountId: string): Promise<void> {
  const rows = await tx`
    update deposits set account_id = ${accountId}, updated_at = now()
    where deposit_id = ${depositId} and account_id is null
    returning deposit_id`;
  if (rows.length === 0) throw new AssignConflictError(`deposit ${depositId} is already attributed`);
}

/**
 * Admin assignment of funds already in the treasury (a 1-step deposit, or an offer accepted while
 * unattributed — ingestion marks both 'unattributed'): the credit and its `deposit.credited`
 * event, in the caller's transaction. The guarded update makes it exactly once even if called twice.
 */
export async function creditAssignedDeposit(tx: Tx, depositId: string, accountId: string, by: string): Promise<void> {
  const [r] = await tx<CreditedRow[]>`
    update deposits set account_id = ${accountId}, status = 'credited', status_reason = ${`assigned by ${by}`}, updated_at = now()
    where deposit_id = ${depositId} and account_id is null and status = 'unattributed'
    returning kind, instrument_admin, instrument_id, sender, memo, transfer_amount::text as transfer_amount, credited_amount::text as credited_amount,
      fee::text as fee, transfer_instruction_cid, credit_update_id, credit_offset, credit_record_time`;
  if (!r) throw new AssignConflictError(`deposit ${depositId} is already attributed or closed`);
  // Unattributed funds were credited to nobody by a ledger update: the update is always known.
  if (r.credit_update_id === null || r.credit_offset === null || r.credit_record_time === null) {
    throw new AssignConflictError(`deposit ${depositId} has no credited ledger update to assign`);
  }
  await appendOutboxEvents(tx, [
    {
      topic: 'deposit.credited',
      aggregateType: 'deposit',
      aggregateId: depositId,
      payload: {
        depositId,
        kind: r.kind,
        instrument: { admin: r.instrument_admin, id: r.instrument_id },
        sender: r.sender,
        memo: r.memo,
        transferAmount: r.transfer_amount,
        creditedAmount: r.credited_amount ?? r.transfer_amount,
        fee: r.fee,
        transferInstructionCid: r.transfer_instruction_cid,
        updateId: r.credit_update_id,
        offset: Number(r.credit_offset),
        recordTime: r.credit_record_time,
        accountId,
        assignedBy: by,
      },
    },
  ]);
}

interface CreditedRow {
  kind: 'one_step' | 'two_step';
  instrument_admin: string;
  instrument_id: string;
  sender: string | null;
  memo: string | null;
  transfer_amount: string;
  credited_amount: string | null;
  fee: string | null;
  transfer_instruction_cid: string | null;
  credit_update_id: string | null;
  credit_offset: string | number | null;
  credit_record_time: string | null;
}

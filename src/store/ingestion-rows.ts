import type { Tx } from './db.js';
import type { DepositsTableRow, WithdrawalsTableRow } from './table-rows.js';
import type { BatchChanges, BatchRows, DepositRow, InstructionRow, RowKeys, WithdrawalRow } from '../ingestion/batch-model.js';
import { settleAll } from '../lib/settle-all.js';

/**
 * Loading and writing the deposit, withdrawal and transfer-instruction rows a batch touches. Each
 * statement handles the whole batch (its rows as one JSON document), so a batch costs a fixed
 * number of round trips whatever its size.
 */

type DepositDbRow = Omit<DepositsTableRow, 'status_reason' | 'created_at' | 'updated_at'>;

type WithdrawalDbRow = Omit<WithdrawalsTableRow, 'status_reason' | 'attempt' | 'deadline' | 'requested_at' | 'updated_at'>;

interface InstructionDbRow {
  contract_id: string;
  direction: 'incoming' | 'outgoing' | 'self';
  original_instruction_cid: string | null;
  root_instruction_cid: string;
  sender: string;
  receiver: string;
  instrument_admin: string;
  instrument_id: string;
  amount: string;
  memo: string | null;
  requested_at: string;
  execute_before: string;
  locked_holding_cids: string[];
  status: string;
  created_update_id: string;
  created_offset: number;
  created_record_time: string;
  closed_update_id: string | null;
  closed_offset: number | null;
  closed_record_time: string | null;
}

export function toInstructionRow(r: InstructionDbRow): InstructionRow {
  return {
    contractId: r.contract_id,
    direction: r.direction,
    originalInstructionCid: r.original_instruction_cid,
    rootInstructionCid: r.root_instruction_cid,
    sender: r.sender,
    receiver: r.receiver,
    instrument: { admin: r.instrument_admin, id: r.instrument_id },
    amount: r.amount,
    memo: r.memo,
    requestedAt: r.requested_at,
    executeBefore: r.execute_before,
    lockedHoldingCids: r.locked_holding_cids,
    status: r.status,
    createdUpdateId: r.created_update_id,
    createdOffset: r.created_offset,
    createdRecordTime: r.created_record_time,
    closedUpdateId: r.closed_update_id,
    closedOffset: r.closed_offset,
    closedRecordTime: r.closed_record_time,
  };
}

/**
 * Transfer instructions by contract id (the parser's lookup and the batch model share them).
 * Every query in this file is started where it is built (execute()): ingestion pipelines several
 * in one round trip, and their order on the wire must be the order of the calls.
 */
export async function fetchInstructions(tx: Tx, cids: readonly string[]): Promise<InstructionRow[]> {
  if (cids.length === 0) return [];
  const rows = await tx<InstructionDbRow[]>`
    select contract_id, direction, original_instruction_cid, root_instruction_cid, sender, receiver, instrument_admin,
           instrument_id, amount::text as amount, memo, requested_at, execute_before, locked_holding_cids, status,
           created_update_id, created_offset, created_record_time, closed_update_id, closed_offset, closed_record_time
    from transfer_instructions where contract_id = any(${cids as string[]}::text[])`.execute();
  return rows.map(toInstructionRow);
}

export async function fetchBatchRows(tx: Tx, keys: RowKeys, instructions: readonly InstructionRow[]): Promise<BatchRows> {
  const instructionCids = [...new Set([...keys.instructionCids, ...instructions.map((i) => i.rootInstructionCid)])];
  // The three lookups pipelined: one round trip.
  const [deposits, withdrawals, accounts] = await settleAll([
    keys.depositIds.length + instructionCids.length === 0
      ? []
      : tx<DepositDbRow[]>`
          select deposit_id, kind, status, instrument_admin, instrument_id, sender, memo, account_id,
                 transfer_amount::text as transfer_amount, credited_amount::text as credited_amount, fee::text as fee,
                 transfer_instruction_cid, execute_before, offer_update_id, offer_offset, credit_update_id, credit_offset,
                 credit_record_time, closed_update_id
          from deposits
          where deposit_id = any(${keys.depositIds}::text[]) or transfer_instruction_cid = any(${instructionCids}::text[])`.execute(),
    keys.withdrawalIds.length + instructionCids.length === 0
      ? []
      : tx<WithdrawalDbRow[]>`
          select withdrawal_id, purpose, account, instrument_admin, instrument_id, amount::text as amount, receiver, status,
                 recovered, transfer_update_id, transfer_offset, transfer_record_time, transfer_instruction_cid, outcome_update_id,
                 network_fee::text as network_fee
          from withdrawals
          where withdrawal_id = any(${keys.withdrawalIds}::text[]) or transfer_instruction_cid = any(${instructionCids}::text[])`.execute(),
    keys.memos.length === 0
      ? []
      : tx<
          { account_id: string; memo: string }[]
        >`select account_id, memo from deposit_accounts where memo = any(${keys.memos}::text[])`.execute(),
  ]);
  const rows: BatchRows = {
    deposits: new Map(),
    depositByInstruction: new Map(),
    withdrawals: new Map(),
    withdrawalByInstruction: new Map(),
    instructions: new Map(instructions.map((i) => [i.contractId, i])),
    accounts: new Map(accounts.map((a) => [a.memo, a.account_id])),
  };
  for (const r of deposits) {
    const d: DepositRow = {
      depositId: r.deposit_id,
      kind: r.kind,
      status: r.status,
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
      offerOffset: r.offer_offset,
      creditUpdateId: r.credit_update_id,
      creditOffset: r.credit_offset,
      creditRecordTime: r.credit_record_time,
      closedUpdateId: r.closed_update_id,
    };
    rows.deposits.set(d.depositId, d);
    if (d.transferInstructionCid !== null) rows.depositByInstruction.set(d.transferInstructionCid, d.depositId);
  }
  for (const r of withdrawals) {
    const w: WithdrawalRow = {
      withdrawalId: r.withdrawal_id,
      purpose: r.purpose,
      account: r.account,
      instrument: { admin: r.instrument_admin, id: r.instrument_id },
      amount: r.amount,
      receiver: r.receiver,
      status: r.status,
      recovered: r.recovered,
      transferUpdateId: r.transfer_update_id,
      transferOffset: r.transfer_offset,
      transferRecordTime: r.transfer_record_time,
      transferInstructionCid: r.transfer_instruction_cid,
      outcomeUpdateId: r.outcome_update_id,
      networkFee: r.network_fee,
    };
    rows.withdrawals.set(w.withdrawalId, w);
    if (w.transferInstructionCid !== null) rows.withdrawalByInstruction.set(w.transferInstructionCid, w.withdrawalId);
  }
  return rows;
}

/** One JSON document for a batch's rows: jsonb_to_recordset types the columns on the way in. */
const doc = (rows: readonly object[]) => JSON.stringify(rows);

/** Writes what the batch model decided: inserts of new rows, updates of ingestion-owned columns. */
export async function flushChanges(tx: Tx, c: BatchChanges): Promise<void> {
  // Independent statements, pipelined with the caller's (one round trip); each is started as it
  // is built, so what the caller sends after this call reaches the server after them.
  const statements: PromiseLike<unknown>[] = [];
  const newI = [...c.newInstructions.values()];
  if (newI.length > 0) {
    const rows = newI.map((i) => ({
      contract_id: i.contractId,
      direction: i.direction,
      original_instruction_cid: i.originalInstructionCid,
      root_instruction_cid: i.rootInstructionCid,
      sender: i.sender,
      receiver: i.receiver,
      instrument_admin: i.instrument.admin,
      instrument_id: i.instrument.id,
      amount: i.amount,
      memo: i.memo,
      requested_at: i.requestedAt,
      execute_before: i.executeBefore,
      locked_holding_cids: i.lockedHoldingCids,
      status: i.status,
      created_update_id: i.createdUpdateId,
      created_offset: i.createdOffset,
      created_record_time: i.createdRecordTime,
      closed_update_id: i.closedUpdateId,
      closed_offset: i.closedOffset,
      closed_record_time: i.closedRecordTime,
    }));
    statements.push(
      tx`
      insert into transfer_instructions (contract_id, direction, original_instruction_cid, root_instruction_cid, sender, receiver,
        instrument_admin, instrument_id, amount, memo, requested_at, execute_before, locked_holding_cids, status,
        created_update_id, created_offset, created_record_time, closed_update_id, closed_offset, closed_record_time)
      select * from jsonb_to_recordset(${doc(rows)}::text::jsonb) as v(contract_id text, direction text, original_instruction_cid text,
        root_instruction_cid text, sender text, receiver text, instrument_admin text, instrument_id text, amount numeric, memo text,
        requested_at timestamptz, execute_before timestamptz, locked_holding_cids text[], status text, created_update_id text,
        created_offset bigint, created_record_time timestamptz, closed_update_id text, closed_offset bigint, closed_record_time timestamptz)
      on conflict (contract_id) do nothing`.execute(),
    );
  }
  const chI = [...c.changedInstructions.values()];
  if (chI.length > 0) {
    const rows = chI.map((i) => ({
      contract_id: i.contractId,
      status: i.status,
      closed_update_id: i.closedUpdateId,
      closed_offset: i.closedOffset,
      closed_record_time: i.closedRecordTime,
    }));
    statements.push(
      tx`
      update transfer_instructions t set status = v.status, closed_update_id = v.closed_update_id, closed_offset = v.closed_offset,
             closed_record_time = v.closed_record_time
      from jsonb_to_recordset(${doc(rows)}::text::jsonb)
        as v(contract_id text, status text, closed_update_id text, closed_offset bigint, closed_record_time timestamptz)
      where t.contract_id = v.contract_id`.execute(),
    );
  }

  const newD = [...c.newDeposits.values()];
  if (newD.length > 0) {
    const rows = newD.map((d) => ({
      deposit_id: d.depositId,
      kind: d.kind,
      status: d.status,
      status_reason: d.statusReason ?? null,
      instrument_admin: d.instrument.admin,
      instrument_id: d.instrument.id,
      sender: d.sender,
      memo: d.memo,
      account_id: d.accountId,
      transfer_amount: d.transferAmount,
      credited_amount: d.creditedAmount,
      fee: d.fee,
      transfer_instruction_cid: d.transferInstructionCid,
      execute_before: d.executeBefore,
      offer_update_id: d.offerUpdateId,
      offer_offset: d.offerOffset,
      credit_update_id: d.creditUpdateId,
      credit_offset: d.creditOffset,
      credit_record_time: d.creditRecordTime,
      closed_update_id: d.closedUpdateId,
    }));
    statements.push(
      tx`
      insert into deposits (deposit_id, kind, status, status_reason, instrument_admin, instrument_id, sender, memo, account_id, transfer_amount,
        credited_amount, fee, transfer_instruction_cid, execute_before, offer_update_id, offer_offset, credit_update_id,
        credit_offset, credit_record_time, closed_update_id)
      select * from jsonb_to_recordset(${doc(rows)}::text::jsonb) as v(deposit_id text, kind text, status text, status_reason text, instrument_admin text,
        instrument_id text, sender text, memo text, account_id text, transfer_amount numeric, credited_amount numeric, fee numeric,
        transfer_instruction_cid text, execute_before timestamptz, offer_update_id text, offer_offset bigint, credit_update_id text,
        credit_offset bigint, credit_record_time timestamptz, closed_update_id text)`.execute(),
    );
  }
  const chD = [...c.changedDeposits.values()];
  if (chD.length > 0) {
    const rows = chD.map((d) => ({
      deposit_id: d.depositId,
      status: d.status,
      credited_amount: d.creditedAmount,
      fee: d.fee,
      credit_update_id: d.creditUpdateId,
      credit_offset: d.creditOffset,
      credit_record_time: d.creditRecordTime,
      closed_update_id: d.closedUpdateId,
    }));
    statements.push(
      tx`
      update deposits d set status = v.status, credited_amount = v.credited_amount, fee = v.fee, credit_update_id = v.credit_update_id,
             credit_offset = v.credit_offset, credit_record_time = v.credit_record_time, closed_update_id = v.closed_update_id, updated_at = now()
      from jsonb_to_recordset(${doc(rows)}::text::jsonb) as v(deposit_id text, status text, credited_amount numeric, fee numeric,
        credit_update_id text, credit_offset bigint, credit_record_time timestamptz, closed_update_id text)
      where d.deposit_id = v.deposit_id`.execute(),
    );
  }

  const newW = [...c.newWithdrawals.values()];
  if (newW.length > 0) {
    const rows = newW.map((w) => ({
      withdrawal_id: w.withdrawalId,
      purpose: w.purpose,
      account: w.account,
      instrument_admin: w.instrument.admin,
      instrument_id: w.instrument.id,
      amount: w.amount,
      receiver: w.receiver,
      status: w.status,
      recovered: w.recovered,
      transfer_update_id: w.transferUpdateId,
      transfer_offset: w.transferOffset,
      transfer_record_time: w.transferRecordTime,
      transfer_instruction_cid: w.transferInstructionCid,
      outcome_update_id: w.outcomeUpdateId,
      network_fee: w.networkFee,
    }));
    statements.push(
      tx`
      insert into withdrawals (withdrawal_id, purpose, account, instrument_admin, instrument_id, amount, receiver, status, recovered,
        transfer_update_id, transfer_offset, transfer_record_time, transfer_instruction_cid, outcome_update_id, network_fee)
      select * from jsonb_to_recordset(${doc(rows)}::text::jsonb) as v(withdrawal_id text, purpose text, account text, instrument_admin text,
        instrument_id text, amount numeric, receiver text, status text, recovered boolean, transfer_update_id text, transfer_offset bigint,
        transfer_record_time timestamptz, transfer_instruction_cid text, outcome_update_id text, network_fee numeric)`.execute(),
    );
  }
  const chW = [...c.changedWithdrawals.values()];
  if (chW.length > 0) {
    const rows = chW.map((w) => ({
      withdrawal_id: w.withdrawalId,
      transfer_update_id: w.transferUpdateId,
      transfer_offset: w.transferOffset,
      transfer_record_time: w.transferRecordTime,
      transfer_instruction_cid: w.transferInstructionCid,
      outcome_update_id: w.outcomeUpdateId,
      network_fee: w.networkFee,
    }));
    statements.push(
      tx`
      update withdrawals w set transfer_update_id = v.transfer_update_id, transfer_offset = v.transfer_offset,
             transfer_record_time = v.transfer_record_time, transfer_instruction_cid = v.transfer_instruction_cid,
             outcome_update_id = v.outcome_update_id, network_fee = v.network_fee, updated_at = now()
      from jsonb_to_recordset(${doc(rows)}::text::jsonb) as v(withdrawal_id text, transfer_update_id text, transfer_offset bigint,
        transfer_record_time timestamptz, transfer_instruction_cid text, outcome_update_id text, network_fee numeric)
      where w.withdrawal_id = v.withdrawal_id`.execute(),
    );
  }
  await settleAll(statements);
}

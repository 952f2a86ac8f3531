/**
 * The `withdrawals` and `deposits` tables as postgres.js returns them (numerics selected as text,
 * timestamps as ISO strings). Modules that read them pick the columns they select, so a column's
 * type is declared once.
 */

export interface WithdrawalsTableRow {
  withdrawal_id: string;
  purpose: 'payout' | 'self_transfer';
  account: string;
  instrument_admin: string;
  instrument_id: string;
  amount: string;
  receiver: string;
  status: string;
  status_reason: string | null;
  status_code: string | null;
  attempt: number;
  deadline: string | null;
  recovered: boolean;
  transfer_update_id: string | null;
  transfer_offset: number | null;
  transfer_record_time: string | null;
  transfer_instruction_cid: string | null;
  outcome_update_id: string | null;
  /** sql/021: bytes; null before a signed transaction or without an estimate. */
  traffic_cost_estimate: number | null;
  network_fee: string | null;
  requested_at: string;
  updated_at: string;
}

export interface DepositsTableRow {
  deposit_id: string;
  kind: 'one_step' | 'two_step';
  status: string;
  status_reason: string | null;
  instrument_admin: string;
  instrument_id: string;
  sender: string | null;
  memo: string | null;
  account_id: string | null;
  transfer_amount: string;
  credited_amount: string | null;
  fee: string | null;
  transfer_instruction_cid: string | null;
  execute_before: string | null;
  offer_update_id: string | null;
  offer_offset: number | null;
  credit_update_id: string | null;
  credit_offset: number | null;
  credit_record_time: string | null;
  closed_update_id: string | null;
  created_at: string;
  updated_at: string;
}

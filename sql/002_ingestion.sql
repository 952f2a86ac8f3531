-- Ingestion: transfer instructions, once-per-attempt expiry, and the indexes the batch writer needs.

-- Transfer instructions (2-step offers) the treasury is party to, in both directions, as ingestion
-- saw them. An accept names only the instruction, so its amount, memo and direction come from here.
create table transfer_instructions (
  contract_id              text primary key,
  direction                text not null check (direction in ('incoming', 'outgoing', 'self')),
  -- A registry-internal step may replace an instruction by a new one; root = the first of the chain,
  -- which names the deposit (deposit_id = transfer_instruction_cid of the root).
  original_instruction_cid text,
  root_instruction_cid     text not null,
  sender                   text not null,
  receiver                 text not null,
  instrument_admin         text not null,
  instrument_id            text not null,
  amount                   numeric(38,10) not null check (amount >= 0),
  memo                     text,
  requested_at             timestamptz not null,
  execute_before           timestamptz not null,
  locked_holding_cids      text[] not null default '{}',
  status                   text not null default 'pending'
                           check (status in ('pending', 'accepted', 'rejected', 'withdrawn', 'failed', 'expired', 'continued')),
  created_update_id        text not null,
  created_offset           bigint not null,
  created_record_time      timestamptz not null,
  closed_update_id         text,
  closed_offset            bigint,
  closed_record_time       timestamptz
);
-- Expiry scan: pending instructions by deadline.
create index transfer_instructions_pending on transfer_instructions (execute_before) where status = 'pending';

-- withdrawal.attempt_expired is emitted once per attempt: the attempt it was emitted for.
alter table withdrawals add column expiry_emitted_attempt integer;
-- Definite-failure scan, run by every batch that advances the record time: attempts with a
-- deadline, no transfer seen, not yet reported.
create index withdrawals_awaiting_deadline on withdrawals (deadline)
  where deadline is not null and transfer_update_id is null
    and (expiry_emitted_attempt is null or expiry_emitted_attempt < attempt);
create index withdrawals_transfer_instruction on withdrawals (transfer_instruction_cid) where transfer_instruction_cid is not null;

-- Canton Integration DB, first schema.
--
-- Conventions:
--   * amounts are numeric(38,10): Daml Numeric 10 scale, never floats;
--   * ledger offsets are bigint (int64 on the wire), record times timestamptz (microseconds, like Canton);
--   * ledger facts (holdings, deposits, withdrawal outcomes, checkpoint) are written only by ingestion,
--     in the same transaction as the checkpoint that covers them.

-- Where ingestion stands: the last fully processed offset for the treasury party, and what it knew then.
create table ingestion_checkpoint (
  treasury_party  text primary key,
  ledger_offset   bigint not null check (ledger_offset >= 0),
  update_id       text,            -- last ingested transaction (null while only checkpoints were seen)
  record_time     timestamptz,     -- latest record time seen (transactions or OffsetCheckpoints)
  synchronizer_id text,
  updated_at      timestamptz not null default now()
);

-- Every ingested update once: the unique update id makes re-ingestion a no-op.
create table ingested_updates (
  update_id       text primary key,
  ledger_offset   bigint not null,
  record_time     timestamptz not null,
  synchronizer_id text not null,
  facts           jsonb not null,  -- what the parser derived, for audit and byte-for-byte comparison
  ingested_at     timestamptz not null default now()
);
create index ingested_updates_offset on ingested_updates (ledger_offset);

-- Tokens the exchange handles: configuration, not code.
create table instruments (
  admin_party      text not null,
  instrument_id    text not null,
  registry_url     text not null,
  display_decimals smallint not null default 10 check (display_decimals between 0 and 10),
  transfer_policy  text not null default 'direct-or-offer'
                   check (transfer_policy in ('direct-only', 'direct-or-offer', 'offer-only')),
  utxo_policy      jsonb not null default '{}'::jsonb,
  enabled          boolean not null default true,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  primary key (admin_party, instrument_id)
);

-- The treasury's UTXOs. No foreign key to instruments: a token nobody onboarded is still recorded.
create table holdings (
  contract_id          text primary key,
  owner                text not null,
  instrument_admin     text not null,
  instrument_id        text not null,
  amount               numeric(38,10) not null check (amount >= 0),
  lock                 jsonb,         -- the Holding view's lock; null when unlocked
  template_id          text not null,
  meta                 jsonb not null default '{}'::jsonb,
  created_offset       bigint not null,
  created_update_id    text not null,
  created_record_time  timestamptz not null,
  archived_offset      bigint,
  archived_update_id   text,
  archived_record_time timestamptz
);
-- Coin selection scans free holdings of one instrument, smallest first.
create index holdings_active on holdings (owner, instrument_admin, instrument_id, amount)
  where archived_offset is null;

-- Customer deposit accounts: the memo customers put in the transfer's reason names the account.
create table deposit_accounts (
  account_id   text primary key,
  memo         text not null unique,
  customer_ref text not null,
  created_at   timestamptz not null default now()
);

-- Deposits seen on the ledger. One row per deposit: the id is derived from the ledger (the update id
-- and node of a 1-step transfer, the transfer instruction of a 2-step offer), so it is credited once.
create table deposits (
  deposit_id               text primary key,
  kind                     text not null check (kind in ('one_step', 'two_step')),
  status                   text not null,
  status_reason            text,
  instrument_admin         text not null,
  instrument_id            text not null,
  sender                   text,
  memo                     text,
  account_id               text references deposit_accounts (account_id),
  transfer_amount          numeric(38,10) not null check (transfer_amount >= 0),
  credited_amount          numeric(38,10),   -- the treasury's holdings delta: what actually arrived
  fee                      numeric(38,10),   -- transfer amount minus credited amount, where they differ
  transfer_instruction_cid text unique,
  execute_before           timestamptz,
  offer_update_id          text,
  offer_offset             bigint,
  credit_update_id         text,
  credit_offset            bigint,
  credit_record_time       timestamptz,
  closed_update_id         text,
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now()
);
create index deposits_account on deposits (account_id);
create index deposits_status on deposits (status);

-- Withdrawal requests from the exchange (HTTP or a direct SQL insert) and what the ledger said of them.
-- The withdrawal id is the exchange's idempotency key and the memo of every transfer made for it.
create table withdrawals (
  withdrawal_id            text primary key,
  purpose                  text not null default 'payout' check (purpose in ('payout', 'self_transfer')),
  account                  text not null,
  instrument_admin         text not null,
  instrument_id            text not null,
  amount                   numeric(38,10) not null check (amount > 0),
  receiver                 text not null,
  status                   text not null default 'requested',
  status_reason            text,
  attempt                  integer not null default 0,
  deadline                 timestamptz,      -- maxRecordTime of the current attempt
  recovered                boolean not null default false, -- seen on the ledger but unknown here (DB restore)
  transfer_update_id       text,
  transfer_offset          bigint,
  transfer_record_time     timestamptz,
  transfer_instruction_cid text,
  outcome_update_id        text,
  requested_at             timestamptz not null default now(),
  updated_at               timestamptz not null default now()
);
create index withdrawals_status on withdrawals (status);
create index withdrawals_account on withdrawals (account, requested_at);

-- Which holdings a withdrawal attempt has claimed. A holding is claimed by at most one live attempt.
create table holding_reservations (
  reservation_id bigint generated always as identity primary key,
  contract_id    text not null references holdings (contract_id),
  withdrawal_id  text not null references withdrawals (withdrawal_id),
  attempt        integer not null,
  reserved_at    timestamptz not null default now(),
  released_at    timestamptz
);
create unique index holding_reservations_live on holding_reservations (contract_id) where released_at is null;
create index holding_reservations_withdrawal on holding_reservations (withdrawal_id, attempt);

-- Persisted XState machines: the latest snapshot, and every transition that led to it.
create table machine_snapshots (
  machine_type    text not null,
  machine_id      text not null,
  machine_version integer not null,
  state_value     jsonb not null,
  snapshot        jsonb not null,
  is_final        boolean not null default false,
  seq             bigint not null default 0,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  primary key (machine_type, machine_id)
);
create index machine_snapshots_live on machine_snapshots (machine_type) where not is_final;

create table machine_transitions (
  machine_type text not null,
  machine_id   text not null,
  seq          bigint not null,
  event_type   text not null,
  event        jsonb not null,
  from_state   jsonb,
  to_state     jsonb not null,
  at           timestamptz not null default now(),
  primary key (machine_type, machine_id, seq),
  foreign key (machine_type, machine_id) references machine_snapshots (machine_type, machine_id)
);

-- Domain events for exchange systems and for the machines. Writers take the outbox advisory lock
-- (transaction scoped) before inserting, so event ids become visible in increasing order and a
-- reader paging by "id > last seen" never skips one committed late.
create table outbox_events (
  event_id       bigint generated always as identity primary key,
  topic          text not null,
  aggregate_type text not null,
  aggregate_id   text not null,
  payload        jsonb not null,
  created_at     timestamptz not null default now()
);
create index outbox_events_aggregate on outbox_events (aggregate_type, aggregate_id);

-- How far each internal consumer of the outbox has processed, advanced in the consumer's transaction.
create table outbox_cursors (
  consumer      text primary key,
  last_event_id bigint not null default 0,
  updated_at    timestamptz not null default now()
);

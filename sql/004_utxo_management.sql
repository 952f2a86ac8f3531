-- UTXO management (the holdings job): self-transfers that spend exactly the holdings they were planned with.

-- The holdings job plans a merge or split from specific free holdings. Storing them on the row lets
-- every attempt's reservation take exactly those (src/store/reservations.ts), and lets payouts keep
-- away from them while the self-transfer is live. Null for every other withdrawal.
alter table withdrawals add column input_holding_cids text[];
alter table withdrawals add constraint withdrawals_input_holdings_self_only
  check (input_holding_cids is null or (purpose = 'self_transfer' and cardinality(input_holding_cids) between 1 and 100));

-- Unfinished planned self-transfers per instrument: what the holdings job checks before planning
-- again, and (minus stalled ones, which hold nothing) what a payout's reservation keeps away from.
-- Few rows at any time, so both checks stay cheap however many self-transfers have finished.
create index withdrawals_unfinished_planned on withdrawals (instrument_admin, instrument_id)
  where input_holding_cids is not null and status not in ('completed', 'failed', 'cancelled', 'recovered');

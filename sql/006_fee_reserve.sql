-- Per-instrument fee reserve (src/lib/fee-reserve.ts): what a transfer's sender pays on top of the
-- amount out of the same inputs (Canton Coin: a flat fee plus a rate of the amount). Coin selection
-- covers amount + flat + amount × rate, so a withdrawal never reserves inputs the ledger then
-- refuses for insufficient funds. 0/0 (the default) reserves nothing beyond the amount.
alter table instruments
  add column fee_reserve_rate numeric(38,10) not null default 0 check (fee_reserve_rate between 0 and 1),
  add column fee_reserve_flat numeric(38,10) not null default 0 check (fee_reserve_flat >= 0);

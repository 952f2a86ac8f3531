-- Holdings adopted when their instrument is onboarded. Ingestion counts a holding only if its
-- instrument is onboarded and signed by the instrument's admin (docs/internals.md, "Money-safety
-- rules"); holdings of a token received before the token was onboarded were recorded as ignored
-- deposits, never as the treasury's funds. Onboarding adopts the treasury's genuine active holdings
-- of the instrument, read from the ledger at the checkpoint offset: they join `holdings`, and this
-- table is their movement record (reconciliation adds them to what ingestion created).
create table holding_adoptions (
  contract_id      text collate "C" primary key references holdings (contract_id),
  instrument_admin text collate "C" not null,
  instrument_id    text collate "C" not null,
  amount           numeric(38,10) not null check (amount >= 0),
  adopted_offset   bigint not null,
  adopted_by       text collate "C" not null,
  adopted_at       timestamptz not null default now()
);

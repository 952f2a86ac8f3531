-- How each instrument's registry client authenticates (src/ledger/registry-auth.ts): 'none' (no
-- Authorization header, as before), 'ledger' (the daemon's Ledger API token, what a validator's
-- Scan proxy wants) or 'credential' (the credential REGISTRY_CREDENTIALS defines under
-- registry_credential). Only the mode and the credential's name are stored: secrets live in
-- settings, never in the database.
alter table instruments
  add column registry_auth text collate "C" not null default 'none' check (registry_auth in ('none', 'ledger', 'credential')),
  add column registry_credential text collate "C",
  add constraint instruments_registry_credential check ((registry_auth = 'credential') = (registry_credential is not null));

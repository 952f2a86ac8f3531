-- Ledger identity and continuity (issue 20; docs/internals.md, money-safety rules). What identifies
-- the ledger ingestion read, checked at every start and reconnect of ingestion against the ledger:
-- the participant it read from, the synchronizer it follows (synchronizer_id, already here), and
-- the offset of its last ingested transaction (update_id, already here). A ledger end below the
-- checkpoint, another update at update_offset, another participant or synchronizer stops ingestion
-- and every ledger effect until an operator runs `cxi ingestion resync` or `cxi ingestion migrate`.
alter table ingestion_checkpoint add column participant_id text collate "C";
alter table ingestion_checkpoint add column update_offset bigint;

-- Why continuity failed (null: intact). Sticky: only resync or migrate clears it, since a ledger
-- that went back and then grew past the checkpoint again would otherwise look intact. Every
-- instance reads it (src/admin/switches.ts) to hold withdrawals and accepts.
alter table ingestion_checkpoint add column continuity_reason text collate "C"
  check (continuity_reason in ('ledger_end_behind', 'update_differs', 'participant_differs', 'synchronizer_differs'));
alter table ingestion_checkpoint add column continuity_detail text collate "C";
alter table ingestion_checkpoint add column continuity_failed_at timestamptz;

-- The offset of the last ingested transaction, as it was ingested.
update ingestion_checkpoint c set update_offset = u.ledger_offset
from ingested_updates u where u.update_id = c.update_id;

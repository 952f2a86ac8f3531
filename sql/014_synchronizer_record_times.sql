-- Record time per synchronizer (docs/internals.md, "Definite failure is decided by ingestion, never
-- by a clock"). Record time is ordered only within one synchronizer: a deadline (an attempt's
-- maxRecordTime) is decided against the record time of the synchronizer its transaction was
-- prepared for, never against another synchronizer's, which may run ahead.
--
-- ingestion_checkpoint.synchronizer_id becomes the synchronizer ingestion follows (the only one
-- whose updates it accepts) and record_time that synchronizer's latest record time. Before, they
-- were the latest record time over every synchronizer and where it was seen. synchronizer_times
-- holds the latest record time of every synchronizer the stream reported (transactions and
-- OffsetCheckpoints), {"<synchronizer id>": "<ISO timestamp>"}.
alter table ingestion_checkpoint add column synchronizer_times jsonb not null default '{}'::jsonb;

-- What the checkpoint knew is true of the synchronizer it was seen on.
update ingestion_checkpoint
set synchronizer_times = jsonb_build_object(synchronizer_id, to_char(record_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
where synchronizer_id is not null and record_time is not null;

-- The synchronizer followed is the one the last ingested transaction came from. If the latest
-- record time was another synchronizer's, that transaction's own record time is what is known of
-- the followed one (a lower bound: later decisions, never earlier ones).
update ingestion_checkpoint c
set synchronizer_id = u.synchronizer_id,
    record_time = u.record_time,
    synchronizer_times = c.synchronizer_times || jsonb_build_object(u.synchronizer_id, to_char(u.record_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
from ingested_updates u
where u.update_id = c.update_id and c.synchronizer_id is distinct from u.synchronizer_id;

-- The synchronizer a submitted attempt was prepared for (the prepared transaction's metadata),
-- written with submitted_at, before the first execute leaves the process. Its deadline is decided
-- against that synchronizer's record time only.
alter table holding_reservations add column synchronizer_id text collate "C";

-- Attempts submitted before this migration ran on the one synchronizer ingestion followed.
update holding_reservations r
set synchronizer_id = c.synchronizer_id
from holdings h, ingestion_checkpoint c
where h.contract_id = r.contract_id and c.treasury_party = h.owner
  and r.submitted_at is not null and r.released_at is null and c.synchronizer_id is not null;

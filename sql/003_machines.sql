-- What the withdrawal and deposit machine runtimes need beyond 001 (src/machines/README.md).

-- Per-attempt facts on a reservation. `deadline` is the attempt's maxRecordTime (also mirrored on
-- withdrawals.deadline for ingestion). `submitted_at` is set, in the transaction that persists the
-- machine entering `executing`, before the first /execute of the attempt leaves the process: from then
-- on the attempt may have committed, and releaseReservations refuses to free its holdings until they
-- are archived (spent) or the ingested record time is past the deadline (definitely failed).
alter table holding_reservations
  add column deadline       timestamptz,
  add column submitted_at   timestamptz,
  add column release_reason text;

-- Exactly-once application of outbox events: an event is applied by at most one transition of a
-- machine type. The runtime advances its cursor in the same transaction; this index makes a second
-- application fail loudly instead of silently applying twice.
alter table machine_transitions add column outbox_event_id bigint;
create unique index machine_transitions_outbox_event on machine_transitions (machine_type, outbox_event_id)
  where outbox_event_id is not null;

-- Database restore (issue 20).
--
-- 1. Outbox event ids never repeat across a restore. The identity sequence came back with the
--    backup, so events written after a restore took ids that a consumer of GET /v1/events may already
--    have passed (it reads "after=<last id>"): it would have skipped them for good. An id is now at
--    least the writing statement's time in microseconds since 1970 (and above every earlier id, as
--    before): a restore rolls the sequence back, but not the clock, so the first id written after it
--    is above every id written before it. Ids stay increasing in commit order (the outbox lock) and
--    JSON-safe integers (below 2^53 until the year 2255); they are no longer dense.
alter table outbox_events alter column event_id drop identity;
create sequence outbox_event_id_seq as bigint;
select setval('outbox_event_id_seq', max(event_id)) from outbox_events having max(event_id) is not null;
alter sequence outbox_event_id_seq owned by outbox_events.event_id;

create function outbox_next_event_id() returns bigint language plpgsql volatile as $$
declare
  id bigint := nextval('outbox_event_id_seq');
  -- The statement's time, not each row's: one jump per insert, the rest of its rows follow on.
  floor_id bigint := (extract(epoch from statement_timestamp()) * 1000000)::bigint;
begin
  if id < floor_id then
    id := setval('outbox_event_id_seq', floor_id);
  end if;
  return id;
end $$;

alter table outbox_events alter column event_id set default outbox_next_event_id();

-- 2. `cxi recovery after-db-restore` (src/admin/db-restore-recovery.ts): withdrawals and accepts
--    paused until the ingested record time has passed every deadline an attempt lost by the restore
--    may have had. One row per run; at most one run is waiting. `paused_switches` are the switches
--    the run paused itself (an operator's earlier pause is not the run's to resume).
create table db_restore_recoveries (
  recovery_id       bigint generated always as identity primary key,
  state             text collate "C" not null check (state in ('waiting', 'done')),
  -- tSafe: the run ends once the ingested record time is past it.
  safe_record_time  timestamptz not null,
  -- Latest deadline of an attempt the restored database knows (null: none), and the attempt
  -- lifetime assumed for those it cannot know (written after the backup).
  known_deadline    timestamptz,
  assumed_ttl_ms    bigint not null,
  paused_switches   text[] collate "C" not null,
  started_by        text collate "C" not null,
  started_at        timestamptz not null default now(),
  finished_at       timestamptz,
  -- Ingested record time when it ended.
  finished_record_time timestamptz,
  check ((state = 'done') = (finished_at is not null))
);
create unique index db_restore_recoveries_one_waiting on db_restore_recoveries ((true)) where state = 'waiting';

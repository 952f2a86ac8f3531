-- The runtimes commit a batch of outbox events as many transition transactions (grouped across
-- machines) and then move their cursor once. A crash in between replays events that machines have
-- already applied: each machine remembers the last outbox event it applied, and a replayed event
-- at or below it is skipped (src/machines/README.md, "Outbox").
alter table machine_snapshots add column last_event_id bigint;

update machine_snapshots m
set last_event_id = t.last_event_id
from (
  select machine_type, machine_id, max(outbox_event_id) as last_event_id
  from machine_transitions
  where outbox_event_id is not null
  group by machine_type, machine_id
) t
where m.machine_type = t.machine_type and m.machine_id = t.machine_id;

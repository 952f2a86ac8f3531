-- Operator pause switches (src/admin/switches.ts): ingestion, withdrawals, acceptance. One row per
-- switch, seeded open. Every instance re-reads the table (about once a second), so a pause applies to
-- all instances and survives restarts. Who changed a switch, when and why is kept on the row; the
-- history is in the outbox (`operator.switch_changed`).
create table operator_switches (
  name        text primary key check (name in ('ingestion', 'withdrawals', 'acceptance')),
  paused      boolean not null default false,
  reason      text,
  changed_by  text,
  changed_at  timestamptz not null default now(),
  check (not paused or reason is not null)
);

insert into operator_switches (name) values ('ingestion'), ('withdrawals'), ('acceptance');

-- Every text column compares bytewise (collation "C"). Its values are identifiers (contract ids,
-- update ids, party ids, memos, account ids) and codes (statuses, kinds): none is ordered for
-- people. Under the database's default collation (often a libc one such as C.UTF-8 or en_US) each
-- btree comparison goes through strcoll, and key lookups on these columns were about a sixth of
-- Postgres' time in ingestion (bench:ingest). "C" orders UTF-8 by code point, as C.UTF-8 does, so
-- no ordering the service relies on changes. All columns at once, so that no join pairs two
-- different non-default collations; test/store/migrate.test.ts checks that later migrations keep
-- it so. Changing a column's collation rebuilds its indexes, not its table. schema_migrations is
-- left as it is: migrate() reads it around this file, with statements prepared before it ran.

-- A column named in a trigger's UPDATE OF list cannot change type: the trigger is re-created.
drop trigger holding_reservations_mirror on holding_reservations;

do $$
declare
  c record;
begin
  for c in
    select a.attrelid::regclass as tbl, a.attname as col, format_type(a.atttypid, a.atttypmod) as typ
    from pg_attribute a
    join pg_class r on r.oid = a.attrelid
    where r.relnamespace = current_schema()::regnamespace
      and r.relkind = 'r'
      and r.relname <> 'schema_migrations'
      and a.attnum > 0 and not a.attisdropped
      and a.atttypid in ('text'::regtype, 'text[]'::regtype)
  loop
    execute format('alter table %s alter column %I type %s collate "C"', c.tbl, c.col, c.typ);
  end loop;
end
$$;

create trigger holding_reservations_mirror
  after insert or delete or update of released_at, contract_id on holding_reservations
  for each row execute function holdings_mirror_reservations();

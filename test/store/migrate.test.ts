import { cp, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/store/db.js';
import { MIGRATIONS_DIR, MigrationError, migrate, readMigrations } from '../../src/store/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

describe('migrations', () => {
  let db: TestDatabase;
  let sql: Sql;
  let dir: string;

  beforeEach(async () => {
    db = await createTestDatabase();
    sql = connect({ url: db.url, max: 4 });
    dir = await mkdtemp(join(tmpdir(), 'cxi-migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
  });
  afterEach(async () => {
    await sql.end({ timeout: 5 });
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies every migration to an empty database and records its checksum', async () => {
    const files = await readMigrations(dir);
    const result = await migrate(sql, { dir });
    expect(result.applied).toEqual(files.map((f) => f.name));
    const rows = await sql<{ name: string; checksum: string }[]>`select name, checksum from schema_migrations order by version`;
    expect(rows).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
    const tables = await sql<{ table_name: string }[]>`
      select table_name from information_schema.tables where table_schema = 'public' order by table_name`;
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining([
        'ingestion_checkpoint',
        'ingested_updates',
        'holdings',
        'instruments',
        'deposit_accounts',
        'deposits',
        'withdrawals',
        'holding_reservations',
        'machine_snapshots',
        'machine_transitions',
        'outbox_events',
        'outbox_cursors',
      ]),
    );
  });

  it('leaves no text column on the database default collation: every one compares bytewise', async () => {
    await migrate(sql, { dir });
    // A later migration adding a text column must declare it collate "C" (sql/011_bytewise_text.sql).
    const columns = await sql<{ column: string; collation: string | null }[]>`
      select c.relname || '.' || a.attname as column, co.collname as collation
      from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      left join pg_collation co on co.oid = a.attcollation
      where c.relnamespace = current_schema()::regnamespace and c.relkind = 'r' and c.relname <> 'schema_migrations'
        and a.attnum > 0 and not a.attisdropped and a.atttypid in ('text'::regtype, 'text[]'::regtype)
      order by 1`;
    expect(columns.length).toBeGreaterThan(50);
    expect(columns.filter((c) => c.collation !== 'C')).toEqual([]);
  });

  it('moves an existing database to bytewise text with its rows, indexes and reservation trigger intact', async () => {
    const upTo010 = await mkdtemp(join(tmpdir(), 'cxi-migrations-010-'));
    try {
      for (const m of await readMigrations(dir)) if (m.version <= 10) await writeFile(join(upTo010, m.name), m.sql);
      await migrate(sql, { dir: upTo010 });
      await sql`
        insert into holdings (contract_id, owner, instrument_admin, instrument_id, amount, template_id, created_update_id, created_offset, created_record_time)
        values ('00ab', 'treasury::1220', 'admin::1220', 'Amulet', '5.0000000001', 'pkg:Holding', 'u1', 1, now())`;
      await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status)
        values ('w-1', 'acct', 'admin::1220', 'Amulet', '1', 'bob::1220', 'requested')`;
      const result = await migrate(sql, { dir });
      const later = (await readMigrations(dir)).filter((m) => m.version > 10).map((m) => m.name);
      expect(later[0]).toBe('011_bytewise_text.sql');
      expect(result.applied).toEqual(later);
      const [h] = await sql<
        { amount: string; reserved: boolean }[]
      >`select amount::text as amount, reserved from holdings where contract_id = '00ab'`;
      expect(h).toEqual({ amount: '5.0000000001', reserved: false });
      await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values ('00ab', 'w-1', 1)`;
      const [after] = await sql<{ reserved: boolean }[]>`select reserved from holdings where contract_id = '00ab'`;
      expect(after!.reserved).toBe(true);
      const [broken] = await sql<{ n: number }[]>`select count(*)::int as n from pg_index where not indisvalid`;
      expect(broken!.n).toBe(0);
    } finally {
      await rm(upTo010, { recursive: true, force: true });
    }
  });

  it('re-applying is a no-op', async () => {
    await migrate(sql, { dir });
    const again = await migrate(sql, { dir });
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toBe((await readMigrations(dir)).length);
  });

  it('applies only the new migration when one is added', async () => {
    await migrate(sql, { dir });
    await writeFile(join(dir, '999_extra.sql'), 'create table extra (id int primary key);');
    const result = await migrate(sql, { dir });
    expect(result.applied).toEqual(['999_extra.sql']);
    expect(await sql`select * from extra`).toEqual([]);
  });

  it('refuses an applied migration whose content changed', async () => {
    await migrate(sql, { dir });
    const [first] = await readMigrations(dir);
    await appendFile(join(dir, first!.name), '\n-- edited after release\n');
    await expect(migrate(sql, { dir })).rejects.toThrow(MigrationError);
    await expect(migrate(sql, { dir })).rejects.toThrow(/was changed after it was applied/);
  });

  it('refuses a database that has a migration this release does not know', async () => {
    await writeFile(join(dir, '999_future.sql'), 'select 1;');
    await migrate(sql, { dir });
    await rm(join(dir, '999_future.sql'));
    await expect(migrate(sql, { dir })).rejects.toThrow(/not in this release/);
  });

  it('leaves the schema unchanged when a migration fails', async () => {
    await writeFile(join(dir, '998_ok.sql'), 'create table ok_table (id int);');
    await writeFile(join(dir, '999_broken.sql'), 'create table broken (id int; -- syntax error');
    await expect(migrate(sql, { dir })).rejects.toThrow();
    const [row] = await sql<
      { n: number }[]
    >`select count(*)::int as n from information_schema.tables where table_name in ('ok_table', 'holdings')`;
    expect(row!.n).toBe(0);
  });

  it('serialises concurrent instances under the advisory lock: each migration applies once', async () => {
    const others = [connect({ url: db.url, max: 1 }), connect({ url: db.url, max: 1 })];
    try {
      const results = await Promise.all([migrate(sql, { dir }), ...others.map((o) => migrate(o, { dir }))]);
      const appliedCounts = results.map((r) => r.applied.length).sort();
      expect(appliedCounts).toEqual([0, 0, (await readMigrations(dir)).length]);
    } finally {
      await Promise.all(others.map((o) => o.end()));
    }
  });
});

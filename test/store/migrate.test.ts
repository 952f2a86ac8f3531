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
        'ingestion_checkpoint', 'ingested_updates', 'holdings', 'instruments', 'deposit_accounts', 'deposits',
        'withdrawals', 'holding_reservations', 'machine_snapshots', 'machine_transitions', 'outbox_events', 'outbox_cursors',
      ]),
    );
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
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from information_schema.tables where table_name in ('ok_table', 'holdings')`;
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

import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll } from 'vitest';
import { connect, type Sql } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { TEST_ADMIN_URL, TEST_DB_PREFIX, urlForDatabase } from './pg-admin.js';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A brand-new, empty database on the test server; each test file gets its own. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `${TEST_DB_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(TEST_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: urlForDatabase(name),
    async drop() {
      const a = postgres(TEST_ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * A fresh database with the schema applied and a pool onto it, dropped after the file's tests.
 * Call at the top level of a test file: `const db = await useMigratedDatabase();`.
 */
export async function useMigratedDatabase(opts: { max?: number } = {}): Promise<{ sql: Sql; url: string }> {
  const db = await createTestDatabase();
  const sql = connect({ url: db.url, max: opts.max ?? 5 });
  await migrate(sql);
  afterAll(async () => {
    await sql.end({ timeout: 5 });
    await db.drop();
  });
  return { sql, url: db.url };
}

/**
 * Until a session of this database waits for a lock of that type (test files run alongside in
 * other databases, so only this database's sessions count).
 */
export async function untilLockAwaited(sql: Sql, locktype: 'advisory' | 'transactionid', timeoutMs = 10_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 10))) {
    const [w] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_locks
      where locktype = ${locktype} and not granted
        and pid in (select pid from pg_stat_activity where datname = current_database())`;
    if (w!.n > 0) return;
    if (Date.now() > end) throw new Error(`no session of this database waited for a ${locktype} lock`);
  }
}

import postgres from 'postgres';
import { TEST_ADMIN_URL, TEST_DB_PREFIX } from './pg-admin.js';

/**
 * Fails fast with a useful message when PostgreSQL is not reachable, and drops databases left
 * behind by earlier runs that were killed before their files' afterAll hooks ran.
 */
export default async function setup(): Promise<void> {
  const admin = postgres(TEST_ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin`select 1`;
  } catch (e) {
    await admin.end({ timeout: 1 });
    throw new Error(`tests need PostgreSQL at ${TEST_ADMIN_URL} (set TEST_DATABASE_URL): ${(e as Error).message}`, { cause: e });
  }
  const stale = await admin<{ datname: string }[]>`
    select datname from pg_database
    where datname like ${TEST_DB_PREFIX + '%'}
      and (pg_stat_file('base/' || oid || '/PG_VERSION', true)).modification < now() - interval '2 hours'`.catch(() => []);
  for (const { datname } of stale) await admin.unsafe(`drop database if exists "${datname}" with (force)`).catch(() => {});
  await admin.end();
}

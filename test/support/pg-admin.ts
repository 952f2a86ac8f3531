/** Where the tests' real PostgreSQL server is; CI and developers use the local one with trust auth. */
export const TEST_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The same server, another database. */
export function urlForDatabase(name: string): string {
  const u = new URL(TEST_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export const TEST_DB_PREFIX = 'cxi_test_';

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Sql } from '../../../src/store/db.js';

const run = promisify(execFile);

/**
 * A database backup and its restore, as an operator does them: `pg_dump` of the data while the
 * daemon runs, later `pg_restore` of it into the same database with the daemon down. Only the data
 * is dumped (the schema is the migrated one either way); the restore empties every table first and
 * loads the dump with triggers off, so the rows (and sequences) are exactly those of the backup.
 */
export interface Backup {
  restore(): Promise<void>;
  remove(): Promise<void>;
}

export async function backupDatabase(sql: Sql, dbUrl: string): Promise<Backup> {
  const dir = await mkdtemp(join(tmpdir(), 'cxi-backup-'));
  const file = join(dir, 'db.dump');
  await run('pg_dump', ['--data-only', '--format=custom', `--file=${file}`, dbUrl]);
  return {
    async restore() {
      const tables = await sql<{ name: string }[]>`select quote_ident(tablename) as name from pg_tables where schemaname = 'public'`;
      await sql.unsafe(`truncate table ${tables.map((t) => t.name).join(', ')} restart identity cascade`);
      await run('pg_restore', ['--data-only', '--disable-triggers', '--single-transaction', `--dbname=${dbUrl}`, file]);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

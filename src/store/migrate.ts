import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import type { Sql } from './db.js';

/** The repository's sql/ folder. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));

/** Arbitrary but fixed: every instance migrating this database contends on the same key. */
const MIGRATION_LOCK_KEY = 7_245_019_311;

const FILE_PATTERN = /^(\d{3,})_[a-z0-9_-]+\.sql$/;

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  sql: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const name of files) {
    const m = FILE_PATTERN.exec(name);
    if (!m) throw new MigrationError(`migration file ${name} does not match NNN_name.sql`);
    const sql = await readFile(join(dir, name), 'utf8');
    const version = Number(m[1]);
    if (migrations.some((x) => x.version === version)) throw new MigrationError(`two migrations share version ${version}`);
    migrations.push({ version, name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return migrations;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Forward-only migrations. All pending files apply in one transaction under a transaction-scoped
 * advisory lock, so concurrent instances serialise and a failure leaves the schema unchanged.
 * An applied file whose checksum changed, or an applied version missing from disk, is refused:
 * the code and the database disagree about the schema and nothing should run.
 */
export async function migrate(sql: Sql, opts: { dir?: string; logger?: Logger } = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(opts.dir);
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`
      create table if not exists schema_migrations (
        version    integer primary key,
        name       text not null,
        checksum   text not null,
        applied_at timestamptz not null default now()
      )`;
    const applied = await tx<{ version: number; name: string; checksum: string }[]>`
      select version, name, checksum from schema_migrations order by version`;
    const onDisk = new Map(migrations.map((m) => [m.version, m]));
    for (const row of applied) {
      const m = onDisk.get(row.version);
      if (!m)
        throw new MigrationError(`database has migration ${row.name} which is not in this release: refusing to run against a newer schema`);
      if (m.checksum !== row.checksum) {
        throw new MigrationError(
          `migration ${m.name} was changed after it was applied (checksum ${row.checksum.slice(0, 12)}… in the database, ${m.checksum.slice(0, 12)}… on disk); add a new migration instead`,
        );
      }
    }
    const done = new Set(applied.map((r) => r.version));
    const pending = migrations.filter((m) => !done.has(m.version));
    for (const m of pending) {
      opts.logger?.info({ migration: m.name }, 'applying migration');
      await tx.unsafe(m.sql);
      await tx`insert into schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
    }
    return { applied: pending.map((m) => m.name), alreadyApplied: applied.length };
  });
}

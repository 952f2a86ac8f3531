import type { Queryable, Sql } from './db.js';

/**
 * Leader election for ingestion: one writer per treasury party, by a session-scoped Postgres
 * advisory lock held on a reserved connection for as long as this instance ingests. Released on
 * stop; lost with the session (a crash, a network cut). Whether it is still held is asked through
 * the pool, by the backend pid that took it: a query on the reserved connection fails once its
 * socket closed (patches/postgres+3.4.9.patch), but waits for ever on a session cut off without a
 * close. The batch writer's checkpoint compare-and-set is the second line of defence.
 */
export interface IngestionLease {
  /** Throws if the session holding the lock is gone (the lock with it). */
  check(): Promise<void>;
  release(): Promise<void>;
}

function lockKey(party: string): string {
  return `cxi.ingestion:${party}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Does backend `pid` hold the ingestion lock of `party`? (A bigint advisory key is classid:objid.) */
async function heldBy(db: Queryable, party: string, pid: number): Promise<boolean> {
  const [row] = await db<{ held: boolean }[]>`
    select exists (
      select 1 from pg_locks
      where locktype = 'advisory' and pid = ${pid} and granted and objsubid = 1
        and ((classid::int8 << 32) | objid::int8) = hashtextextended(${lockKey(party)}, 0)
    ) as held`;
  return row?.held === true;
}

export async function tryAcquireIngestionLease(
  sql: Sql,
  party: string,
  opts: { timeoutMs?: number } = {},
): Promise<IngestionLease | undefined> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const conn = await sql.reserve();
  let pid: number;
  try {
    const [row] = await withTimeout(
      conn<
        { ok: boolean; pid: number }[]
      >`select pg_try_advisory_lock(hashtextextended(${lockKey(party)}, 0)) as ok, pg_backend_pid() as pid`,
      timeoutMs,
      'taking the ingestion lock',
    );
    if (!row?.ok) {
      conn.release();
      return undefined;
    }
    pid = row.pid;
  } catch (e) {
    conn.release();
    throw e;
  }
  let released = false;
  return {
    async check() {
      if (!(await withTimeout(heldBy(sql, party, pid), timeoutMs, 'checking the ingestion lock'))) {
        throw new Error('the database session holding the ingestion lock was lost');
      }
    },
    async release() {
      if (released) return;
      released = true;
      // A dead session's lock went with it, and its connection is the pool's again: nothing to do.
      const alive = await withTimeout(heldBy(sql, party, pid), timeoutMs, 'checking the ingestion lock').catch(() => false);
      if (!alive) return;
      await withTimeout(
        conn`select pg_advisory_unlock(hashtextextended(${lockKey(party)}, 0))`,
        timeoutMs,
        'releasing the ingestion lock',
      ).then(
        () => conn.release(),
        () => undefined,
      );
    },
  };
}

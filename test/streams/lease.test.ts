import { describe, expect, it } from 'vitest';
import { tryAcquireIngestionLease } from '../../src/store/ingestion-lease.js';
import { useMigratedDatabase } from '../support/db.js';

const { sql } = await useMigratedDatabase({ max: 6 });
const PARTY = `treasury::1220${'a'.repeat(64)}`;

describe('ingestion lease (one writer per treasury party)', () => {
  it('is exclusive per party, checkable, and free again after release', async () => {
    const a = await tryAcquireIngestionLease(sql, PARTY);
    expect(a).toBeDefined();
    expect(await tryAcquireIngestionLease(sql, PARTY)).toBeUndefined();
    const other = await tryAcquireIngestionLease(sql, `other::1220${'b'.repeat(64)}`);
    expect(other).toBeDefined();
    await a!.check();
    await a!.release();
    const b = await tryAcquireIngestionLease(sql, PARTY);
    expect(b).toBeDefined();
    await b!.release();
    await other!.release();
  });

  it('a session killed under it is noticed by check, and the lock is free for another instance', async () => {
    const a = (await tryAcquireIngestionLease(sql, PARTY))!;
    const [row] = await sql<{ pid: number }[]>`
      select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 1
        and database = (select oid from pg_database where datname = current_database())
        and ((classid::int8 << 32) | objid::int8) = hashtextextended(${`cxi.ingestion:${PARTY}`}, 0)`;
    // With a timeout the call returns once the backend is gone (its locks with it), not when the
    // signal is sent: a check right after must see the session dead, however loaded the machine.
    const [killed] = await sql<{ done: boolean }[]>`select pg_terminate_backend(${row!.pid}, 5000) as done`;
    expect(killed!.done).toBe(true);
    await expect(a.check()).rejects.toThrow(/lost/);
    const b = await tryAcquireIngestionLease(sql, PARTY);
    expect(b).toBeDefined();
    await a.release(); // must not hand the dead connection back to the pool
    for (let i = 0; i < 8; i++) await sql`select 1`; // every pooled connection still works
    await b!.release();
  });
});

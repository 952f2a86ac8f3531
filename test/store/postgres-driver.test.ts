import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { useMigratedDatabase } from '../support/db.js';

/**
 * The driver's transaction bookkeeping (patches/postgres+3.4.9.patch). postgres.js 3.4.9 can send
 * a transaction's BEGIN on a busy connection without reserving it (porsager/postgres#1189, #823):
 * the server is then in a transaction the driver does not know of, and the next ordinary query
 * runs inside it — for us, a write acknowledged and never committed. And when a transaction's or
 * a reserved connection's session dies, the statements its holder sends afterwards go to the
 * connection object whatever became of it (#1154, #1208): written to no socket (an uncaught
 * TypeError ends the process) or, once the pool has reconnected it, run on the new session
 * outside any transaction.
 */

const { url } = await useMigratedDatabase({ max: 1 });
type Options = postgres.Options<Record<string, postgres.PostgresType>>;
/** An option the driver reads (src/index.js parseOptions) and its type declarations omit. */
const PIPELINE_OF_ONE = { max_pipeline: 1 } as Options;
const opened: postgres.Sql[] = [];
function pool(options: Options): postgres.Sql {
  const sql = postgres(url, { onnotice: () => {}, ...options });
  opened.push(sql);
  return sql;
}
afterAll(async () => {
  for (const sql of opened) await sql.end({ timeout: 5 });
});

/** Ends the session of backend `pid` and waits until it is gone. */
async function terminate(pid: number): Promise<void> {
  const killer = pool({ max: 1 });
  await killer`select pg_terminate_backend(${pid}, 5000)`;
}

describe('postgres.js transactions on a saturated pool', () => {
  it('a BEGIN that fills a busy connection’s pipeline still reserves it: the transaction commits alone, the next query outside it', async () => {
    const setup = pool({ max: 1 });
    await setup`create table driver_probe (v text not null)`;
    // One connection, one query in flight, room for one more: BEGIN is what fills the pipeline.
    const sql = pool({ max: 1, ...PIPELINE_OF_ONE });
    await sql`select 1`;
    const slow = sql`select pg_sleep(0.2)`.execute();
    const tx = sql.begin(async (t) => {
      await t`insert into driver_probe values ('in the transaction')`;
    });
    const plain = slow.then(() => sql`insert into driver_probe values ('after it')`);
    await Promise.all([slow, tx, plain]);
    await sql.end({ timeout: 5 });
    // Seen from another connection once that one is closed: both committed.
    const rows = await setup<{ v: string }[]>`select v from driver_probe order by v`;
    expect(rows.map((r) => r.v)).toEqual(['after it', 'in the transaction']);
  });
});

describe('postgres.js after a session dies', () => {
  it('a transaction whose backend dies mid-query fails, and the process lives on (its ROLLBACK is not written to the dead socket)', async () => {
    // In a process of its own: the unpatched driver throws from a setImmediate callback.
    const script = `
      import postgres from 'postgres';
      const sql = postgres(process.env.PROBE_URL, { max: 2, onnotice() {} });
      const killer = postgres(process.env.PROBE_URL, { max: 1, onnotice() {} });
      let pid;
      const tx = sql.begin(async (t) => {
        [{ pid }] = await t\`select pg_backend_pid() as pid\`;
        await t\`select pg_sleep(10)\`;
      }).then(() => 'committed', (e) => e.code);
      while (pid === undefined) await new Promise((r) => setTimeout(r, 10));
      await killer\`select pg_terminate_backend(\${pid}, 5000)\`;
      const outcome = await tx;
      await new Promise((r) => setTimeout(r, 300));
      const after = await sql\`select 1 as one\`.then((r) => r[0].one, (e) => e.code);
      console.log(JSON.stringify({ outcome, after }));
      await sql.end({ timeout: 1 });
      await killer.end({ timeout: 1 });
    `;
    const run = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, PROBE_URL: url },
      timeout: 30_000,
    }).catch((e: { code?: number; stdout?: string; stderr?: string }) => e);
    expect(run.stderr).not.toContain('TypeError');
    const result = JSON.parse(String(run.stdout).trim()) as { outcome: string; after: number };
    expect(['CONNECTION_CLOSED', '57P01']).toContain(result.outcome);
    expect(result.after).toBe(1);
  });

  it('a statement a dead transaction sends after the pool reconnected its connection fails: it never runs outside the transaction', async () => {
    const setup = pool({ max: 1 });
    await setup`create table driver_stale (v text not null)`;
    const sql = pool({ max: 1 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let pid: number | undefined;
    let stale: Promise<unknown> | undefined;
    const tx = sql.begin(async (t) => {
      pid = (await t<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
      await gate; // idle in the transaction while its session is ended
      stale = t`insert into driver_stale values ('stale')`.then(
        () => 'written',
        (e: { code?: string }) => e.code,
      );
      await stale;
    });
    const txOutcome = tx.then(
      () => 'committed',
      (e: { code?: string }) => e.code,
    );
    while (pid === undefined) await new Promise((r) => setTimeout(r, 10));
    await terminate(pid);
    expect(await txOutcome).toBe('CONNECTION_CLOSED');
    // The pool's only connection object is reconnected for the next query: a new session.
    const [fresh] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    expect(fresh!.pid).not.toBe(pid);
    release();
    while (stale === undefined) await new Promise((r) => setTimeout(r, 10));
    expect(await stale).toBe('CONNECTION_CLOSED');
    expect(await setup`select v from driver_stale`).toHaveLength(0);
    expect((await sql<{ one: number }[]>`select 1 as one`)[0]!.one).toBe(1);
  });

  it('statements queued behind a dead transaction’s full pipeline fail too: nothing waits for ever', async () => {
    const sql = pool({ max: 1, ...PIPELINE_OF_ONE });
    let pid: number | undefined;
    let outcomes: Promise<string[]> | undefined;
    const tx = sql.begin(async (t) => {
      pid = (await t<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
      // In flight, pipelined behind it, and queued in the transaction (the pipeline is full).
      const sent = [t`select pg_sleep(10)`, t`select 1`, t`select 2`];
      outcomes = Promise.allSettled(sent).then((r) =>
        r.map((x) => (x.status === 'fulfilled' ? 'ran' : String((x.reason as { code?: string }).code))),
      );
      await outcomes;
    });
    const txOutcome = tx.then(
      () => 'committed',
      (e: { code?: string }) => e.code,
    );
    while (pid === undefined || outcomes === undefined) await new Promise((r) => setTimeout(r, 10));
    await terminate(pid);
    expect(['CONNECTION_CLOSED', '57P01']).toContain(await txOutcome);
    const settled = await Promise.race([outcomes, new Promise((r) => setTimeout(() => r('still waiting'), 5_000))]);
    expect(settled).toEqual([expect.stringMatching(/^(CONNECTION_CLOSED|57P01)$/), 'CONNECTION_CLOSED', 'CONNECTION_CLOSED']);
  });

  it('a reserved connection whose session died refuses further queries, and releasing it leaves the pool working', async () => {
    const closed: number[] = [];
    const sql = pool({ max: 1, onclose: (id) => closed.push(id) });
    const reserved = await sql.reserve();
    const [{ pid } = { pid: 0 }] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await terminate(pid);
    while (closed.length === 0) await new Promise((r) => setTimeout(r, 10));
    const [fresh] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    expect(fresh!.pid).not.toBe(pid);
    const late = await reserved`select pg_backend_pid() as pid`.then(
      () => 'ran',
      (e: { code?: string }) => e.code,
    );
    expect(late).toBe('CONNECTION_CLOSED');
    reserved.release();
    for (let i = 0; i < 3; i++) expect((await sql<{ one: number }[]>`select 1 as one`)[0]!.one).toBe(1);
  });
});

import { firstValueFrom, filter } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { connect, type Sql } from '../../src/store/db.js';
import { ingestBatch } from '../../src/store/ingestion.js';
import {
  createIngestionComponent,
  type IngestionComponent,
  type IngestionOptions,
  type IngestionRestart,
} from '../../src/streams/index.js';
import { parseElements } from '../../src/ingestion/elements.js';
import { useMigratedDatabase } from '../support/db.js';
import { healthOf } from '../../src/lifecycle.js';
import { ingestionSnapshot, onboardInstruments, resetIngestionTables, type IngestionSnapshot } from './support/db-state.js';
import { CC, customer, ScriptedLedger, TREASURY } from './support/scripted-ledger.js';
import { elementOffset, startUpdatesStub, type UpdatesStub, type UpdatesStubFaults } from './support/updates-stub.js';
import { startPgProxy } from './support/pg-proxy.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * The ingestion component end to end over the wire, against a stub that serves scripted
 * elements (websocket and HTTP) with faults. Every run must leave the same database as one
 * uninterrupted ingestion of the same elements.
 */

const { sql, url: dbUrl } = await useMigratedDatabase({ max: 10 });
// Failures are the point of several tests here: log them only when asked (LOG_LEVEL=warn).
const logger = testLogger();

function scenario(): ScriptedLedger {
  const l = new ScriptedLedger();
  const offers: string[] = [];
  for (let i = 0; i < 60; i++) {
    l.deposit1Step({
      sender: customer(i % 5),
      amount: String(10 + i),
      memo: i % 7 === 0 ? null : i % 5 === 0 ? 'unknown' : `memo-${1 + (i % 2)}`,
    });
    if (i % 4 === 0) offers.push(l.offerDeposit({ sender: customer(i % 3), amount: String(5 + i), memo: `memo-${1 + (i % 2)}` }));
    if (i % 6 === 5 && offers.length > 0) l.acceptOffer(offers.shift()!, { fee: '0.1' });
    if (i % 9 === 8)
      l.treasuryTransfer({ withdrawalId: `wd-${i}`, receiver: customer(9), amount: '3', kind: i % 2 === 0 ? '1-step' : 'offer' });
    if (i % 10 === 0) l.checkpoint();
  }
  l.checkpoint();
  return l;
}

const SCENARIO = scenario();
const LAST = elementOffset(SCENARIO.elements.at(-1));
let reference: IngestionSnapshot;

async function prepare(): Promise<void> {
  await resetIngestionTables(sql);
  await onboardInstruments(sql, [CC]);
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a'), ('acct-2', 'memo-2', 'b')`;
  for (const id of ['wd-8', 'wd-17', 'wd-26']) {
    await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status, attempt, deadline)
              values (${id}, 'acct-1', ${CC.admin}, ${CC.id}, 3, ${customer(9)}, 'awaitingLedger', 1, '2099-01-01T00:00:00Z')`;
  }
}

let stub: UpdatesStub | undefined;
const components: IngestionComponent[] = [];

function component(url: string, options: IngestionOptions = {}, db: Sql = sql): IngestionComponent {
  const c = createIngestionComponent({
    sql: db,
    logger,
    ledger: { apiUrl: url, auth: { kind: 'static', token: 'test-token' }, treasuryParty: TREASURY },
    options: {
      retry: { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 20 },
      dbRetryDelayMs: 10,
      leaderPollMs: 50,
      batchMaxWaitMs: 10,
      httpPollIntervalMs: 20,
      httpIdleTimeoutMs: 20,
      ...options,
    },
  });
  components.push(c);
  return c;
}

async function untilCommitted(c: IngestionComponent, offset: number, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while ((c.progress().committedOffset ?? -1) < offset) {
    if (c.status().state === 'failed') throw new Error(`ingestion failed: ${c.status().detail}`);
    if (Date.now() - started > timeoutMs) throw new Error(`timed out at ${c.progress().committedOffset} waiting for ${offset}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function untilState(c: IngestionComponent, state: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (c.status().state !== state) {
    if (Date.now() - started > timeoutMs) throw new Error(`state ${c.status().state} (${c.status().detail}), expected ${state}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function serve(faults: UpdatesStubFaults = {}, elements = SCENARIO.elements): Promise<UpdatesStub> {
  stub = await startUpdatesStub(elements as Record<string, unknown>[], faults);
  return stub;
}

beforeEach(async () => {
  if (!reference) {
    await prepare();
    await ingestBatch(sql, parseElements(SCENARIO.elements), { treasuryParty: TREASURY });
    reference = await ingestionSnapshot(sql);
  }
  await prepare();
});

afterEach(async () => {
  for (const c of components.splice(0)) await c.stop();
  await stub?.close();
  stub = undefined;
});

describe('ingestion component over the wire', () => {
  it('websocket: ingests everything, same database as one uninterrupted batch, status running then stopped', async () => {
    const s = await serve();
    const c = component(s.url, { transport: 'websocket' });
    await c.start();
    expect(c.status().state).toBe('running');
    await untilCommitted(c, LAST);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
    expect(s.begins).toEqual([0]); // no checkpoint: from the beginning of history
    await c.stop();
    expect(c.status()).toEqual({ state: 'stopped' });
  });

  it('websocket drops and duplicate delivery: reconnects from the last offset received, same database', async () => {
    const s = await serve({ dropAfterFrames: 23, duplicateEvery: 4 });
    const c = component(s.url, { transport: 'websocket' });
    await c.start();
    await untilCommitted(c, LAST);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
    expect(s.connections).toBeGreaterThanOrEqual(Math.floor(SCENARIO.elements.length / 23));
    expect(s.begins).toEqual([...s.begins].sort((a, b) => a - b)); // always resumes forward
  });

  it('restart between batches: a new instance resumes from the stored checkpoint, same database', async () => {
    const s = await serve();
    const mid = elementOffset(SCENARIO.elements[Math.floor(SCENARIO.elements.length / 2)]);
    const a = component(s.url, { batchMaxSize: 7, faults: () => new Promise((r) => setTimeout(r, 5)) });
    await a.start();
    await untilCommitted(a, mid);
    await a.stop();
    const stoppedAt = (await readCheckpoint(sql, TREASURY))!.offset;
    expect(stoppedAt).toBeLessThan(LAST);
    const b = component(s.url, { batchMaxSize: 7 });
    await b.start();
    await untilCommitted(b, LAST);
    expect(s.begins.at(-1)).toBe(stoppedAt);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('killed inside a batch transaction: nothing of that batch is kept; the next instance completes it, same database', async () => {
    const s = await serve();
    let batches = 0;
    const a = component(s.url, {
      batchMaxSize: 9,
      faults: (p) => {
        if (p === 'written' && ++batches === 3) throw new Error('process killed mid-transaction');
      },
    });
    await a.start();
    await untilState(a, 'failed');
    expect(a.status().detail).toContain('process killed mid-transaction');
    const after = (await readCheckpoint(sql, TREASURY))!.offset;
    expect(after).toBeLessThan(LAST);
    const b = component(s.url, { batchMaxSize: 9 });
    await b.start();
    await untilCommitted(b, LAST);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('a transient database error (serialization failure, dropped connection) retries the batch instead of failing', async () => {
    const s = await serve();
    let thrown = 0;
    const c = component(s.url, {
      batchMaxSize: 10,
      faults: (p) => {
        if (p === 'written' && thrown < 2) {
          thrown++;
          throw Object.assign(new Error(thrown === 1 ? 'could not serialize access' : 'connection closed'), {
            code: thrown === 1 ? '40001' : 'CONNECTION_CLOSED',
          });
        }
      },
    });
    await c.start();
    await untilCommitted(c, LAST);
    expect(thrown).toBe(2);
    expect(c.status().state).toBe('running');
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('the batch transaction’s session dies mid-batch and its connection is reconnected: nothing of the batch is kept, the retry completes it, same database', async () => {
    const s = await serve();
    // Two connections: the lease's and the batch's, so the next query reconnects the batch's.
    const small = connect({ url: dbUrl, max: 2 });
    try {
      let batches = 0;
      let killed = 0;
      // What kept the harness from killing (reported if no kill happens): the kill is then tried
      // again in the next batch.
      const missed: string[] = [];
      const c = component(
        s.url,
        {
          batchMaxSize: 9,
          faults: async (p) => {
            if (p !== 'parsed' || ++batches < 3 || killed > 0) return;
            try {
              // The batch's backend: the one client session of this database inside a transaction.
              const victims = await sql<{ pid: number }[]>`
                select pid from pg_stat_activity
                where datname = current_database() and backend_type = 'client backend'
                  and xact_start is not null and pid <> pg_backend_pid()`;
              if (victims.length !== 1) {
                missed.push(`batch ${batches}: ${victims.length} sessions in a transaction`);
                return;
              }
              // Counted before the call returns: it waits for the exit in 100 ms steps, and the
              // retried batches may all commit meanwhile (the dead batch's own remaining statements
              // then come after them, on the reconnected session).
              killed++;
              const [terminated] = await sql<{ done: boolean }[]>`select pg_terminate_backend(${victims[0]!.pid}, 5000) as done`;
              if (!terminated?.done) {
                killed--;
                missed.push(`batch ${batches}: the session did not end within 5 s`);
                return;
              }
            } catch (e) {
              killed = 0;
              missed.push(`batch ${batches}: ${String(e)} (${String((e as { code?: unknown }).code)})`);
              return;
            }
            await small`select 1`;
            // The batch goes on writing on its dead transaction's connection, now a new session.
          },
        },
        small,
      );
      await c.start();
      await untilCommitted(c, LAST);
      expect(killed, missed.join('; ')).toBe(1);
      expect(c.status().state).toBe('running');
      expect(await ingestionSnapshot(sql)).toEqual(reference);
    } finally {
      for (const c of components.splice(0)) await c.stop();
      await small.end({ timeout: 5 });
    }
  });

  it('a batch whose COMMIT landed but whose answer was lost with its connection: the retry recognises it and goes on, same database, each update once', async () => {
    const s = await serve();
    const proxy = await startPgProxy(dbUrl);
    const viaProxy = connect({ url: proxy.url, max: 3 });
    try {
      let batches = 0;
      const c = component(
        s.url,
        {
          batchMaxSize: 9,
          faults: async (p) => {
            if (p !== 'after-outbox' || ++batches !== 3) return;
            // The batch's session: the one that has written (a transaction id) in this database.
            const writers = await sql<{ pid: number }[]>`
              select pid from pg_stat_activity where datname = current_database() and backend_xid is not null and pid <> pg_backend_pid()`;
            expect(writers).toHaveLength(1);
            proxy.loseCommitAnswer(writers[0]!.pid);
          },
        },
        viaProxy,
      );
      const states: string[] = [];
      const watch = setInterval(() => states.push(c.status().state), 2);
      const lost: number[] = [];
      c.committed$.subscribe((b) => {
        if (b.answerLost) lost.push(b.checkpoint.offset);
      });
      await c.start();
      await untilCommitted(c, LAST);
      clearInterval(watch);
      expect(proxy.answersLost).toBe(1);
      expect(lost).toHaveLength(1);
      expect(states).not.toContain('failed');
      expect(await ingestionSnapshot(sql)).toEqual(reference);
    } finally {
      for (const c of components.splice(0)) await c.stop();
      await viaProxy.end({ timeout: 5 });
      await proxy.close();
    }
  });

  it('a failed run restarts itself after a pause, failed (red) meanwhile, each restart announced; the database is as if it never stopped', async () => {
    const s = await serve();
    let batches = 0;
    const c = component(s.url, {
      batchMaxSize: 9,
      restart: { baseDelayMs: 200, maxDelayMs: 1000, maxRestarts: 3 },
      faults: (p) => {
        if (p === 'written' && ++batches === 3) throw new Error('the database went away mid-batch');
      },
    });
    const restarts: IngestionRestart[] = [];
    c.restarts$.subscribe((r) => restarts.push(r));
    await c.start();
    await untilState(c, 'failed');
    expect(c.status().detail).toMatch(/the database went away mid-batch \(restart 1 of 3 in 200 ms\)$/);
    expect(healthOf([c]).healthy).toBe(false);
    expect(restarts).toEqual([]);
    await untilState(c, 'running');
    expect(restarts).toEqual([{ attempt: 1, delayMs: 200, reason: 'Error: the database went away mid-batch' }]);
    await untilCommitted(c, LAST);
    expect(c.status().state).toBe('running');
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('restarts are bounded: after the last one fails too it stays failed and says so; an operator start gets a fresh budget', async () => {
    const s = await serve();
    let failing = true;
    const c = component(s.url, {
      batchMaxSize: 9,
      restart: { baseDelayMs: 20, maxDelayMs: 40, maxRestarts: 3 },
      faults: (p) => {
        if (p === 'written' && failing) throw new Error('disk full');
      },
    });
    const restarts: IngestionRestart[] = [];
    c.restarts$.subscribe((r) => restarts.push(r));
    await c.start();
    const started = Date.now();
    while (!/not restarted again/.test(c.status().detail ?? '')) {
      if (Date.now() - started > 10_000) throw new Error(`still ${c.status().state}: ${c.status().detail}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(restarts.map((r) => [r.attempt, r.delayMs])).toEqual([
      [1, 20],
      [2, 40],
      [3, 40],
    ]);
    expect(c.status()).toEqual({
      state: 'failed',
      detail: 'Error: disk full (not restarted again: 3 restarts in a row committed nothing)',
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(restarts).toHaveLength(3);
    failing = false;
    await c.start();
    await untilCommitted(c, LAST);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('bad data is not restarted: it needs an operator', async () => {
    const els = structuredClone(SCENARIO.elements.slice(0, 12)) as {
      update: {
        Transaction?: { value: { events: { CreatedEvent?: { interfaceViews: { viewValue: { owner: string; amount: unknown } }[] } }[] } };
      };
    }[];
    const bad = els.find(
      (e, i) => i > 5 && e.update.Transaction?.value.events.some((x) => x.CreatedEvent?.interfaceViews[0]?.viewValue.owner === TREASURY),
    )!;
    bad.update.Transaction!.value.events.find(
      (x) => x.CreatedEvent?.interfaceViews[0]?.viewValue.owner === TREASURY,
    )!.CreatedEvent!.interfaceViews[0]!.viewValue.amount = 'NaN';
    const s = await serve({}, els as never);
    const c = component(s.url, { restart: { baseDelayMs: 10, maxDelayMs: 10, maxRestarts: 5 } });
    const restarts: IngestionRestart[] = [];
    c.restarts$.subscribe((r) => restarts.push(r));
    await c.start();
    await untilState(c, 'failed');
    await new Promise((r) => setTimeout(r, 200));
    expect(restarts).toEqual([]);
    expect(c.status().state).toBe('failed');
    expect(c.status().detail).not.toMatch(/restart/);
  });

  it('HTTP transport (polling pages of ≤ 200) ingests the same', async () => {
    const s = await serve();
    const c = component(s.url, { transport: 'http' });
    await c.start();
    await untilCommitted(c, LAST);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
    expect(s.connections).toBe(0);
    expect(s.httpPages).toBeGreaterThan(1);
  });

  it('auto: a websocket that cannot be opened is replaced by HTTP polling', async () => {
    const s = await serve({ noWebsocket: true });
    const c = component(s.url, { transport: 'auto', httpFallbackWindowMs: 100_000 });
    await c.start();
    await untilCommitted(c, LAST);
    expect(c.progress().transport).toBe('http');
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('new updates published while tailing are ingested; committed$ announces each batch', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '1', memo: 'memo-1' });
    const s = await serve({}, l.elements);
    const c = component(s.url);
    await c.start();
    await untilCommitted(c, elementOffset(l.elements[0]));
    const next = firstValueFrom(c.committed$.pipe(filter((b) => b.transactions > 0)));
    l.deposit1Step({ sender: customer(1), amount: '2', memo: 'memo-1' });
    s.publish(l.elements[1] as Record<string, unknown>);
    const b = await next;
    expect(b.checkpoint.offset).toBe(elementOffset(l.elements[1]));
    expect(b.eventIds).toHaveLength(1);
  });

  it('an update that does not parse stops ingestion loudly, naming update id and offset; nothing of its batch is written', async () => {
    const els = structuredClone(SCENARIO.elements.slice(0, 12)) as {
      update: {
        Transaction?: {
          value: {
            updateId: string;
            offset: number;
            events: { CreatedEvent?: { interfaceViews: { viewValue: { owner: string; amount: unknown } }[] } }[];
          };
        };
      };
    }[];
    const bad = els.find(
      (e, i) => i > 5 && e.update.Transaction?.value.events.some((x) => x.CreatedEvent?.interfaceViews[0]?.viewValue.owner === TREASURY),
    )!;
    bad.update.Transaction!.value.events.find(
      (x) => x.CreatedEvent?.interfaceViews[0]?.viewValue.owner === TREASURY,
    )!.CreatedEvent!.interfaceViews[0]!.viewValue.amount = 'NaN';
    const s = await serve({}, els as never);
    const c = component(s.url, { batchMaxSize: 1000, batchMaxWaitMs: 300 });
    await c.start();
    await untilState(c, 'failed');
    const { updateId, offset } = bad.update.Transaction!.value;
    expect(c.status().detail).toContain(`update ${updateId} at offset ${offset}`);
    expect(await sql`select 1 from ingested_updates`).toHaveLength(0); // same batch as the good ones before it
    expect(await readCheckpoint(sql, TREASURY)).toBeUndefined();
  });

  it('a pruned offset stops with what the operator must do', async () => {
    const s = await serve({ prunedUpTo: 5 });
    const c = component(s.url);
    await c.start();
    await untilState(c, 'failed');
    expect(c.status().detail).toMatch(/pruned .* re-bootstrap the treasury from an ACS snapshot .* or choose a new start offset/);
  });

  it('the stream reports pruning itself (no pre-check endpoint): same stop', async () => {
    const s = await serve({ prunedUpTo: 5 });
    s.server.routes.delete('GET /v2/state/latest-pruned-offsets');
    const c = component(s.url, { transport: 'websocket' });
    await c.start();
    await untilState(c, 'failed');
    expect(c.status().detail).toMatch(/re-bootstrap the treasury/);
  });

  it('401 is not retried: one attempt, then failed with a credentials message', async () => {
    const s = await serve({ unauthorized: true });
    const c = component(s.url, { transport: 'websocket' });
    await c.start();
    await untilState(c, 'failed');
    expect(c.status().detail).toMatch(/refused our credentials .*401/);
    expect(s.connections).toBe(0);
  });

  it('when retries run out the component fails instead of spinning', async () => {
    const c = component('http://127.0.0.1:1', { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 10 } });
    await c.start();
    await untilState(c, 'failed');
    expect(c.status().detail).toMatch(/^ledger unreachable: .*gave up after 4 attempts/);
  });

  it('one writer per treasury party: a second instance stands by and takes over when the first stops', async () => {
    const s = await serve();
    const a = component(s.url, { batchMaxSize: 5 });
    const b = component(s.url, { batchMaxSize: 5 });
    await a.start();
    await b.start();
    expect(b.status()).toMatchObject({ state: 'paused', detail: expect.stringContaining('standby') });
    await untilCommitted(a, elementOffset(SCENARIO.elements[20]));
    await a.stop();
    await untilCommitted(b, LAST);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('backpressure: a slow database pauses the websocket; memory stays bounded', async () => {
    const s = await serve();
    let maxQueued = 0;
    const c = component(s.url, {
      transport: 'websocket',
      maxQueue: 20,
      batchMaxSize: 5,
      faults: async (p) => {
        if (p === 'parsed') await new Promise((r) => setTimeout(r, 15));
      },
    });
    const sub = c.committed$.subscribe(() => (maxQueued = Math.max(maxQueued, c.progress().queued)));
    await c.start();
    await untilCommitted(c, LAST, 60_000);
    sub.unsubscribe();
    expect(maxQueued).toBeGreaterThan(5);
    expect(maxQueued).toBeLessThanOrEqual(40); // high water + what the socket had already buffered
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });
});

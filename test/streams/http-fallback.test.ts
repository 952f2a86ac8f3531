import { afterEach, describe, expect, it } from 'vitest';
import { staticToken } from '../../src/ledger/auth.js';
import { LedgerHttp } from '../../src/ledger/http.js';
import { LedgerReadClient, treasuryUpdateFormat } from '../../src/ledger/read-client.js';
import { nodeHttpTransport } from '../../src/ledger/transport.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import type { SandboxOptionsInput } from '../../src/sandbox/options.js';
import { createIngestionComponent, type IngestionComponent, type IngestionOptions } from '../../src/streams/index.js';
import { useMigratedDatabase } from '../support/db.js';
import { ingestionSnapshot, onboardInstruments, resetIngestionTables } from './support/db-state.js';
import { customerActivity } from './support/customer-activity.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * Ingestion over the HTTP list form of /v2/updates against the ledger double, which answers as
 * Canton 3.4 does (src/sandbox/wire/list.ts): 413 when `limit` is above the node's
 * http-list-max-elements-limit and more is there, and [] when no element arrives within the idle
 * timeout, which also runs before the first element (a slow filtered read).
 */

const { sql } = await useMigratedDatabase({ max: 10 });
const logger = testLogger();

let sb: Sandbox | undefined;
const running: IngestionComponent[] = [];

afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
  await sb?.stop();
  sb = undefined;
});

async function sandbox(o: SandboxOptionsInput = {}): Promise<Sandbox> {
  await resetTables();
  sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' }, checkpointIntervalMs: 50, ...o });
  await onboardInstruments(sql, sb.instruments);
  return sb;
}

async function resetTables(): Promise<void> {
  await resetIngestionTables(sql);
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a'), ('acct-2', 'memo-2', 'b')`;
}

interface Exchange {
  at: number;
  path: string;
  limit: number | undefined;
  idleTimeoutMs: number | undefined;
  status: number;
}

/**
 * A fetch that records every /v2/updates exchange of the HTTP client. It goes through the
 * client's own node:http transport: the global fetch's connection pool can keep a socket to a
 * stopped double whose port the next test's double gets again.
 */
function recordingFetch(): { fetch: typeof fetch; updates: Exchange[] } {
  const updates: Exchange[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const call = {
      method: (init?.method ?? 'GET') as 'GET' | 'POST',
      headers: (init?.headers ?? {}) as Record<string, string>,
      signal: init?.signal ?? new AbortController().signal,
      maxResponseBytes: 64 << 20,
    };
    const ex = await nodeHttpTransport(String(input), typeof init?.body === 'string' ? { ...call, body: init.body } : call);
    const res = new Response(ex.text, { status: ex.status });
    const url = new URL(String(input));
    if (url.pathname === '/v2/updates') {
      const q = url.searchParams;
      const num = (v: string | null) => (v === null ? undefined : Number(v));
      updates.push({
        at: Date.now(),
        path: url.pathname,
        limit: num(q.get('limit')),
        idleTimeoutMs: num(q.get('stream_idle_timeout_ms')),
        status: res.status,
      });
    }
    return res;
  }) as typeof fetch;
  return { fetch: f, updates };
}

async function ingestion(s: Sandbox, options: IngestionOptions = {}, httpPageSize?: number): Promise<IngestionComponent> {
  const c = createIngestionComponent({
    sql,
    logger,
    ledger: {
      apiUrl: s.jsonApiUrl,
      auth: { kind: 'static', token: await s.tokenFor(s.treasury!.userId) },
      treasuryParty: s.treasury!.party,
      ...(httpPageSize !== undefined ? { httpPageSize } : {}),
    },
    options: { retry: { baseDelayMs: 10, maxDelayMs: 100, maxAttempts: 30 }, batchMaxWaitMs: 10, leaderPollMs: 50, ...options },
  });
  running.push(c);
  await c.start();
  return c;
}

async function caughtUp(s: Sandbox, c: IngestionComponent, timeoutMs = 20_000): Promise<void> {
  const end = s.control.books.ledgerEnd().offset;
  const started = Date.now();
  while ((c.progress().committedOffset ?? -1) < end) {
    if (c.status().state === 'failed') throw new Error(`ingestion failed: ${c.status().detail}`);
    if (Date.now() - started > timeoutMs) throw new Error(`ingestion at ${c.progress().committedOffset}, ledger end ${end}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('page size of HTTP list reads', () => {
  it('a 413 halves the page size until the node accepts it, and the client keeps it', async () => {
    const s = await sandbox({ maxListElements: 3 });
    for (let i = 0; i < 6; i++) s.control.mint(s.treasury!.party, 'UTK', String(i + 1));
    const rec = recordingFetch();
    const lowered: [number, number][] = [];
    const client = new LedgerReadClient(
      new LedgerHttp({ baseUrl: s.jsonApiUrl, auth: staticToken(await s.tokenFor('exchange')), fetch: rec.fetch }),
      {
        pageSize: 20,
        onPageSizeLowered: ({ from, to, error }) => {
          expect(error.code).toBe('JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED');
          lowered.push([from, to]);
        },
      },
    );
    const request = { beginExclusive: 0, updateFormat: treasuryUpdateFormat(s.treasury!.party) };
    expect(await client.updates(request, { streamIdleTimeoutMs: 50 })).toHaveLength(2);
    expect(lowered).toEqual([
      [20, 10],
      [10, 5],
      [5, 2],
    ]);
    expect(rec.updates.map((x) => [x.limit, x.status])).toEqual([
      [20, 413],
      [10, 413],
      [5, 413],
      [2, 200],
    ]);
    expect(client.listPageSize).toBe(2);
    // Remembered: the next page asks for 2 at once.
    expect(await client.updates({ ...request, beginExclusive: 3 }, { streamIdleTimeoutMs: 50 })).toHaveLength(2);
    expect(rec.updates.slice(4).map((x) => [x.limit, x.status])).toEqual([[2, 200]]);
  });

  it('ingestion over HTTP from a node whose limit is below our page size: everything, exactly once, as over the websocket', async () => {
    const s = await sandbox({ maxListElements: 7 });
    customerActivity(s, 24);
    const ref = await ingestion(s, { transport: 'websocket' });
    await caughtUp(s, ref);
    await ref.stop();
    const reference = await ingestionSnapshot(sql);
    expect(reference.updates.length).toBeGreaterThan(30);

    await resetTables();
    const rec = recordingFetch();
    const c = await ingestion(s, { transport: 'http', fetch: rec.fetch, httpIdleTimeoutMs: 50, httpPollIntervalMs: 20 }, 20);
    await caughtUp(s, c);
    await c.stop();
    const got = await ingestionSnapshot(sql);
    // The checkpoint row may carry a later OffsetCheckpoint's record time; everything else is identical.
    expect({ ...got, checkpoint: [] }).toEqual({ ...reference, checkpoint: [] });
    const [dupes] = await sql<{ n: number }[]>`select count(*)::int - count(distinct update_id)::int as n from ingested_updates`;
    expect(dupes!.n).toBe(0);
    // 20 → 413 → 10 → 413 → 5, then 5 for every page: no 413 after the first adaptation.
    const statuses = rec.updates.map((x) => [x.limit, x.status]);
    expect(statuses.slice(0, 3)).toEqual([
      [20, 413],
      [10, 413],
      [5, 200],
    ]);
    expect(new Set(rec.updates.slice(3).map((x) => `${x.limit} ${x.status}`))).toEqual(new Set(['5 200']));
    expect(rec.updates.length).toBeGreaterThan(reference.updates.length / 5);
  });
});

describe('empty HTTP pages', () => {
  it('a read slower than the longest idle timeout: the client backs off instead of looping, and keeps running', async () => {
    const s = await sandbox({ listFirstElementDelayMs: 5_000 });
    customerActivity(s, 3);
    const rec = recordingFetch();
    const c = await ingestion(s, {
      transport: 'http',
      fetch: rec.fetch,
      httpIdleTimeoutMs: 50,
      httpMaxIdleTimeoutMs: 200,
      httpPollIntervalMs: 50,
      httpMaxPollIntervalMs: 400,
    });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(c.status().state).toBe('running');
    expect(c.progress().committedOffset).toBeUndefined();
    const pages = rec.updates;
    expect(pages.every((p) => p.status === 200)).toBe(true);
    // Without back-off: a page every ~100 ms (50 ms idle + 50 ms pause), about 30 in 3 s.
    expect(pages.length).toBeGreaterThanOrEqual(5);
    expect(pages.length).toBeLessThanOrEqual(10);
    // The idle timeout asked for doubles up to its cap, as the ledger end is ahead.
    expect(pages.slice(0, 4).map((p) => p.idleTimeoutMs)).toEqual([50, 100, 200, 200]);
    // Pauses grow to the cap: the last gaps are at least the cap plus the idle timeout.
    const gaps = pages.slice(1).map((p, i) => p.at - pages[i]!.at);
    expect(gaps.at(-1)!).toBeGreaterThanOrEqual(400 + 200 - 20);
    expect(gaps[0]!).toBeLessThan(gaps.at(-1)!);
  });

  it('a read slower than the idle timeout still progresses: the idle timeout grows past it, and everything is ingested', async () => {
    const s = await sandbox({ listFirstElementDelayMs: 300 });
    customerActivity(s, 6);
    const rec = recordingFetch();
    const c = await ingestion(s, {
      transport: 'http',
      fetch: rec.fetch,
      httpIdleTimeoutMs: 50,
      httpMaxIdleTimeoutMs: 1_000,
      httpPollIntervalMs: 20,
      httpMaxPollIntervalMs: 200,
    });
    await caughtUp(s, c);
    expect(rec.updates.slice(0, 4).map((p) => p.idleTimeoutMs)).toEqual([50, 100, 200, 400]);

    // A deposit later is picked up too, and without relearning the node's pace.
    const bob = s.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '100' }] }).party;
    s.control.transfer({ from: bob, to: s.treasury!.party, instrument: 'Amulet', amount: '7', memo: 'memo-1' });
    await caughtUp(s, c);
    expect(rec.updates.length).toBeGreaterThan(4);
    expect(new Set(rec.updates.slice(4).map((p) => p.idleTimeoutMs))).toEqual(new Set([400]));
  });

  it('at the ledger end: polls back off while nothing arrives and return to their pace once something does', async () => {
    const s = await sandbox();
    customerActivity(s, 2);
    const rec = recordingFetch();
    const c = await ingestion(s, {
      transport: 'http',
      fetch: rec.fetch,
      httpIdleTimeoutMs: 20,
      httpPollIntervalMs: 20,
      httpMaxPollIntervalMs: 320,
    });
    await caughtUp(s, c);
    const quietFrom = rec.updates.length;
    await new Promise((r) => setTimeout(r, 2_000));
    const quiet = rec.updates.slice(quietFrom);
    // A page every ~40 ms without back-off (50 in 2 s); with it: 20, 40, 80, 160, 320, 320 … ms pauses.
    expect(quiet.length).toBeLessThanOrEqual(12);
    expect(quiet.every((p) => p.idleTimeoutMs === 20)).toBe(true); // not behind: the read is not slow
    const bob = s.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '100' }] }).party;
    s.control.transfer({ from: bob, to: s.treasury!.party, instrument: 'Amulet', amount: '7', memo: 'memo-1' });
    const published = Date.now();
    await caughtUp(s, c);
    expect(Date.now() - published).toBeLessThan(1_000);
  });
});

describe('auto: HTTP stands in for a websocket that cannot be opened', () => {
  it('for a window only, then the websocket is tried again, even in the middle of catching up; everything ingested once', async () => {
    const s = await sandbox({ listFirstElementDelayMs: 100 });
    customerActivity(s, 24);
    const ref = await ingestion(s, { transport: 'websocket' });
    await caughtUp(s, ref);
    await ref.stop();
    const reference = await ingestionSnapshot(sql);

    await resetTables();
    s.control.addFault({ match: { path: '/v2/updates', method: 'GET' }, action: { kind: 'http503' }, once: true });
    const rec = recordingFetch();
    const transports: string[] = [];
    const c = await ingestion(
      s,
      { transport: 'auto', fetch: rec.fetch, httpFallbackWindowMs: 300, httpIdleTimeoutMs: 50, httpPollIntervalMs: 20 },
      5,
    );
    const watch = setInterval(() => {
      const t = c.progress().transport;
      if (t !== undefined && transports.at(-1) !== t) transports.push(t);
    }, 5);
    try {
      await caughtUp(s, c);
    } finally {
      clearInterval(watch);
    }
    expect(transports).toEqual(['websocket', 'http', 'websocket']);
    // HTTP read some pages of 5, the websocket the rest.
    const httpPages = rec.updates.filter((p) => p.status === 200).length;
    expect(httpPages).toBeGreaterThan(0);
    expect(httpPages * 5).toBeLessThan(reference.updates.length);
    expect({ ...(await ingestionSnapshot(sql)), checkpoint: [] }).toEqual({ ...reference, checkpoint: [] });
  });
});

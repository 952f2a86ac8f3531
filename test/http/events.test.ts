import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/server.js';
import { appendOutboxEvents } from '../../src/store/outbox.js';
import { auth, buildApiApp, TEST_TOKENS } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { sampleEvent, samplePayload } from '../support/outbox-events.js';
import { OUTBOX_TOPICS } from '../../src/events/outbox-events.js';

const { sql } = await useMigratedDatabase();

const publish = (n: number, from = 0) =>
  sql.begin((tx) =>
    appendOutboxEvents(
      tx,
      Array.from({ length: n }, (_, i) =>
        i % 2 ? sampleEvent('deposit.credited', `a${from + i}`) : sampleEvent('withdrawal.completed', `a${from + i}`),
      ),
    ),
  );

/** Reads SSE frames from a live stream until `count` events arrived. */
async function readSse(
  url: string,
  headers: Record<string, string>,
  count: number,
): Promise<{ id: number; event: string; data: { aggregateId: string } }[]> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const out: { id: number; event: string; data: { aggregateId: string } }[] = [];
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let idx;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      const fields = Object.fromEntries(
        frame
          .split('\n')
          .filter((l) => !l.startsWith(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
      );
      if (fields.id) out.push({ id: Number(fields.id), event: fields.event!, data: JSON.parse(fields.data!) });
    }
  }
  ac.abort();
  return out;
}

describe('events', () => {
  let app: App;
  let base: string;
  beforeAll(async () => {
    app = await buildApiApp(sql);
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => app.close());

  it('documents every topic with its payload in /openapi.json (issue 21 item 3)', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const items = doc.paths['/v1/events'].get.responses['200'].content['application/json'].schema.properties.events.items;
    const members: {
      properties: { topic: { const?: string; enum?: string[] }; payload: { properties: Record<string, unknown>; required: string[] } };
    }[] = items.oneOf ?? items.anyOf;
    const byTopic = new Map(members.map((m) => [m.properties.topic.const ?? m.properties.topic.enum?.[0], m.properties.payload]));
    expect([...byTopic.keys()].sort()).toEqual([...OUTBOX_TOPICS].sort());
    for (const topic of OUTBOX_TOPICS) {
      const payload = byTopic.get(topic)!;
      // Every field a producer writes is declared and required (null when unknown, never absent).
      expect(Object.keys(payload.properties).sort()).toEqual(Object.keys(samplePayload(topic, 'x')).sort());
      expect([...payload.required].sort()).toEqual(Object.keys(payload.properties).sort());
    }
  });

  it('pages events after an id without gaps or repeats, optionally by topic', async () => {
    await publish(25);
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = (await app.inject({ method: 'GET', url: `/v1/events?after=${after}&limit=10`, headers: auth('read') })).json();
      if (page.events.length === 0) break;
      seen.push(...page.events.map((e: { aggregateId: string }) => Number(e.aggregateId.slice(1))));
      after = page.lastEventId;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i));
    const credited = (
      await app.inject({ method: 'GET', url: '/v1/events?topics=deposit.credited&limit=100', headers: auth('read') })
    ).json();
    expect(credited.events.every((e: { topic: string }) => e.topic === 'deposit.credited')).toBe(true);
    expect(credited.events).toHaveLength(12);
  });

  it('streams live events and resumes from Last-Event-ID with nothing missed or repeated', async () => {
    const headers = { authorization: `Bearer ${TEST_TOKENS.read.token}` };
    const [{ max }] = (await sql`select max(event_id)::bigint as max from outbox_events`) as unknown as [{ max: number }];
    const first = readSse(`${base}/v1/events/stream?after=${max}`, headers, 5);
    await publish(5, 100);
    const got = await first;
    expect(got.map((e) => Number(e.data.aggregateId.slice(1)))).toEqual([100, 101, 102, 103, 104]);
    // The client disconnected after event 102's id; events keep coming meanwhile.
    await publish(3, 105);
    const resumed = await readSse(`${base}/v1/events/stream`, { ...headers, 'last-event-id': String(got[2]!.id) }, 5);
    expect(resumed.map((e) => Number(e.data.aggregateId.slice(1)))).toEqual([103, 104, 105, 106, 107]);
    expect(resumed[0]!.id).toBe(got[3]!.id);
  });

  it('needs a read token for the stream', async () => {
    const res = await fetch(`${base}/v1/events/stream`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
  });

  it('caps the event streams one token may hold open; a closed one frees its place', async () => {
    const headers = { authorization: `Bearer ${TEST_TOKENS.read.token}` };
    const open: AbortController[] = [];
    for (let i = 0; i < 8; i++) {
      const ac = new AbortController();
      const res = await fetch(`${base}/v1/events/stream`, { headers, signal: ac.signal });
      expect(res.status).toBe(200);
      open.push(ac);
    }
    const ninth = await fetch(`${base}/v1/events/stream`, { headers });
    expect(ninth.status).toBe(429);
    expect(((await ninth.json()) as { code: string }).code).toBe('RATE_LIMITED');
    // another token is not affected
    const other = new AbortController();
    expect(
      (await fetch(`${base}/v1/events/stream`, { headers: { authorization: `Bearer ${TEST_TOKENS.admin.token}` }, signal: other.signal }))
        .status,
    ).toBe(200);
    other.abort();
    open.pop()!.abort();
    let again: Response | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await fetch(`${base}/v1/events/stream`, { headers, signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      if (again?.status === 200) void again.body?.cancel();
    }
    expect(again?.status).toBe(200);
    for (const ac of open) ac.abort();
  });
});

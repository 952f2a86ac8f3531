import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { oauth2ClientCredentials, staticToken } from '../../src/ledger/auth.js';
import { LedgerApiError, LedgerHttp } from '../../src/ledger/http.js';
import { LedgerReadClient, treasuryUpdateFormat } from '../../src/ledger/read-client.js';
import { RegistryClient } from '../../src/ledger/registry-client.js';
import { LedgerDecodeError, type JsGetUpdatesResponse } from '../../src/ledger/schema/index.js';
import { openUpdatesSocket, type UpdatesSocket } from '../../src/ledger/updates-socket.js';
import { customer, ScriptedLedger, TREASURY } from '../streams/support/scripted-ledger.js';
import { cantonError, json, startStubServer, type StubConnection, type StubServer } from '../streams/support/stub-server.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

let stub: StubServer;
beforeAll(async () => {
  stub = await startStubServer();
});
afterAll(async () => {
  await stub.close();
});
afterEach(() => {
  stub.routes.clear();
  stub.onConnection = undefined;
  stub.rejectUpgrade = undefined;
  stub.requests.length = 0;
});

function client(token = 'tok-1') {
  return new LedgerReadClient(new LedgerHttp({ baseUrl: stub.url, auth: staticToken(token), timeoutMs: 2000 }));
}

async function errorOf(p: Promise<unknown>): Promise<LedgerApiError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(LedgerApiError);
  return e as LedgerApiError;
}

describe('ledger HTTP client', () => {
  it('sends the bearer token and decodes the response', async () => {
    stub.routes.set('GET /v2/state/ledger-end', (_req, _b, res) => json(res, 200, { offset: 4711 }));
    expect(await client().ledgerEnd()).toBe(4711);
    expect(stub.requests[0]!.headers.authorization).toBe('Bearer tok-1');
  });

  it('JsCantonError bodies become typed errors; retryable by category, never for 401/403/500/501', async () => {
    const cases: [number, unknown, string, boolean][] = [
      [409, cantonError('SUBMISSION_ALREADY_IN_FLIGHT', 2, 10), 'SUBMISSION_ALREADY_IN_FLIGHT', true],
      [400, cantonError('OFFSET_AFTER_LEDGER_END', 12, 11), 'OFFSET_AFTER_LEDGER_END', true],
      [400, cantonError('PARTICIPANT_PRUNED_DATA_ACCESSED', 9, 9), 'PARTICIPANT_PRUNED_DATA_ACCESSED', false],
      [401, cantonError('UNAUTHENTICATED', 6, 16), 'UNAUTHENTICATED', false],
      [403, cantonError('PERMISSION_DENIED', 7, 7), 'PERMISSION_DENIED', false],
      [500, cantonError('SOMETHING', 1, 13), 'SOMETHING', false], // category 1 but HTTP 500: never
      [501, cantonError('UNIMPLEMENTED', 14, 12), 'UNIMPLEMENTED', false],
      [503, cantonError('SERVICE_NOT_RUNNING', 1, 14), 'SERVICE_NOT_RUNNING', true],
      [429, 'slow down', 'HTTP_429', true],
      [503, 'upstream down', 'HTTP_503', true],
      [400, 'Invalid value for: body', 'HTTP_400', false],
    ];
    for (const [status, body, code, retryable] of cases) {
      stub.routes.set('GET /v2/state/ledger-end', (_req, _b, res) => {
        if (typeof body !== 'string') return json(res, status, body);
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(body);
      });
      const e = await errorOf(client().ledgerEnd());
      expect([e.status, e.code, e.retryable], `${status} ${code}`).toEqual([status, code, retryable]);
    }
  });

  it('network errors and timeouts are retryable', async () => {
    const dead = new LedgerReadClient(new LedgerHttp({ baseUrl: 'http://127.0.0.1:1', auth: staticToken('t') }));
    const e1 = await errorOf(dead.ledgerEnd());
    expect([e1.status, e1.code, e1.retryable]).toEqual([0, 'NETWORK_ERROR', true]);
    stub.routes.set('GET /v2/state/ledger-end', () => {}); // never answers
    const slow = new LedgerReadClient(new LedgerHttp({ baseUrl: stub.url, auth: staticToken('t'), timeoutMs: 100 }));
    const e2 = await errorOf(slow.ledgerEnd());
    expect([e2.code, e2.retryable]).toEqual(['TIMEOUT', true]);
  });

  it('an OAuth token the ledger rejects is refreshed once', async () => {
    let n = 0;
    const auth = oauth2ClientCredentials({
      tokenUrl: 'https://auth.example/token',
      clientId: 'c',
      clientSecret: 's',
      fetch: (async () => Response.json({ access_token: `oauth-${++n}`, expires_in: 3600 })) as typeof fetch,
    });
    stub.routes.set('GET /v2/state/ledger-end', (req, _b, res) =>
      req.headers.authorization === 'Bearer oauth-2'
        ? json(res, 200, { offset: 7 })
        : json(res, 401, cantonError('UNAUTHENTICATED', 6, 16)),
    );
    const c = new LedgerReadClient(new LedgerHttp({ baseUrl: stub.url, auth }));
    expect(await c.ledgerEnd()).toBe(7);
    expect(stub.requests.map((r) => r.headers.authorization)).toEqual(['Bearer oauth-1', 'Bearer oauth-2']);
  });

  it('HTTP /v2/updates: limit capped at 200, elements decoded; a bad element names its update id', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '1', memo: 'm' });
    l.checkpoint();
    stub.routes.set('POST /v2/updates', (_req, _b, res) => json(res, 200, l.elements));
    const els = await client().updates(
      { beginExclusive: 0, updateFormat: treasuryUpdateFormat(TREASURY) },
      { limit: 500, streamIdleTimeoutMs: 300 },
    );
    expect(els.map((e) => Object.keys(e.update)[0])).toEqual(['Transaction', 'OffsetCheckpoint']);
    const q = new URL(stub.requests[0]!.url, 'http://x').searchParams;
    expect([q.get('limit'), q.get('stream_idle_timeout_ms')]).toEqual(['200', '300']);
    expect(JSON.parse(stub.requests[0]!.body)).toMatchObject({
      beginExclusive: 0,
      updateFormat: { includeTransactions: { transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' } },
    });

    const bad = structuredClone(l.elements[0]) as { update: { Transaction: { value: Record<string, unknown> } } };
    delete bad.update.Transaction.value['recordTime'];
    stub.routes.set('POST /v2/updates', (_req, _b, res) => json(res, 200, [bad]));
    const e = await client()
      .updates({ beginExclusive: 0, updateFormat: treasuryUpdateFormat(TREASURY) })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LedgerDecodeError);
    expect((e as Error).message).toMatch(/updateId=1220\w+ offset=\d+: update\.Transaction\.value\.recordTime/);
  });

  it("an answer over its size limit fails that call (RESPONSE_TOO_LARGE, not retried); a registry's limit is a few MB", async () => {
    stub.routes.set('GET /v2/state/ledger-end', (_req, _b, res) => json(res, 200, { offset: 1, padding: 'x'.repeat(2 << 20) }));
    const small = new LedgerReadClient(new LedgerHttp({ baseUrl: stub.url, auth: staticToken('t'), maxResponseBytes: 1 << 20 }));
    expect(await errorOf(small.ledgerEnd())).toMatchObject({ code: 'RESPONSE_TOO_LARGE', retryable: false, status: 200 });
    expect(await client().ledgerEnd()).toBe(1); // 2 MB is within the default

    stub.routes.set('POST /registry/transfer-instruction/v1/transfer-factory', (_req, _b, res) =>
      json(res, 200, { factoryId: '00ab', padding: 'x'.repeat(5 << 20) }),
    );
    const registry = new RegistryClient({ baseUrl: stub.url, policy: TEST_REGISTRY_POLICY });
    const e = await errorOf(registry.transferFactory({}));
    expect(e).toMatchObject({ code: 'RESPONSE_TOO_LARGE', retryable: false });
    expect(e.message).toMatch(/^registry POST .*transfer-factory: HTTP 200 with a response larger than 4194304 bytes; refused$/);
  });

  it('an HTTP /v2/updates page over the byte limit halves the page size, like a 413', async () => {
    const l = new ScriptedLedger();
    for (let i = 0; i < 8; i++) l.deposit1Step({ sender: customer(1), amount: '1', memo: `m${i}` });
    const one = JSON.stringify(l.elements[0]).length;
    stub.routes.set('POST /v2/updates', (req, _b, res) => {
      const limit = Number(new URL(req.url ?? '', 'http://x').searchParams.get('limit'));
      json(res, 200, l.elements.slice(0, limit));
    });
    const lowered: number[] = [];
    const c = new LedgerReadClient(new LedgerHttp({ baseUrl: stub.url, auth: staticToken('t') }), {
      pageSize: 8,
      maxPageBytes: one * 3,
      onPageSizeLowered: ({ to }) => lowered.push(to),
    });
    const els = await c.updates({ beginExclusive: 0, updateFormat: treasuryUpdateFormat(TREASURY) });
    expect(els).toHaveLength(2);
    expect(lowered).toEqual([4, 2]);
  });

  it('events-by-contract-id: 404 means not visible to us', async () => {
    stub.routes.set('POST /v2/events/events-by-contract-id', (_req, _b, res) =>
      json(res, 404, cantonError('CONTRACT_EVENTS_NOT_FOUND', 11, 5)),
    );
    expect(await client().eventsByContractId('00ab', { filtersByParty: { [TREASURY]: {} } })).toBeUndefined();
  });
});

describe('updates websocket', () => {
  function open(o: { request?: object; token?: string; ping?: number; liveness?: number } = {}) {
    const elements: JsGetUpdatesResponse[] = [];
    let resolveDone!: (v: { error?: Error; ended?: boolean }) => void;
    const done = new Promise<{ error?: Error; ended?: boolean }>((r) => (resolveDone = r));
    const socket: UpdatesSocket = openUpdatesSocket({
      baseUrl: stub.url,
      token: o.token ?? 'jwt-abc.def',
      request: (o.request ?? { beginExclusive: 5, updateFormat: treasuryUpdateFormat(TREASURY) }) as never,
      onElement: (e) => elements.push(e),
      onError: (error) => resolveDone({ error }),
      onEnd: () => resolveDone({ ended: true }),
      ...(o.ping !== undefined ? { pingIntervalMs: o.ping } : {}),
      ...(o.liveness !== undefined ? { livenessTimeoutMs: o.liveness } : {}),
    });
    return { socket, elements, done };
  }

  function nextConnection(): Promise<StubConnection> {
    return new Promise((r) => (stub.onConnection = r));
  }

  it('authenticates with the jwt.token subprotocol, sends one request frame, receives elements and error frames', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '1', memo: 'm' });
    l.checkpoint();
    const conn = nextConnection();
    const { elements, done } = open();
    const c = await conn;
    expect(c.protocols).toEqual(['jwt.token.jwt-abc.def', 'daml.ws.auth']);
    expect(await c.request).toMatchObject({ beginExclusive: 5 });
    for (const e of l.elements) c.ws.send(JSON.stringify(e));
    c.ws.send(JSON.stringify(cantonError('PARTICIPANT_PRUNED_DATA_ACCESSED', 9, 9, 'pruned up to 100')));
    const r = await done;
    expect(elements).toHaveLength(2);
    expect(r.error).toBeInstanceOf(LedgerApiError);
    expect(r.error).toMatchObject({ code: 'PARTICIPANT_PRUNED_DATA_ACCESSED', retryable: false, status: 400 });
  });

  it('a rejected upgrade (401) is not retryable; a dropped connection is', async () => {
    stub.rejectUpgrade = { status: 401, body: JSON.stringify(cantonError('UNAUTHENTICATED', 6, 16, 'token expired')) };
    const r1 = await open().done;
    expect(r1.error).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', retryable: false });
    stub.rejectUpgrade = undefined;
    const conn = nextConnection();
    const { done } = open();
    (await conn).ws.terminate();
    const r2 = await done;
    expect(r2.error).toMatchObject({ code: 'WS_CLOSED', retryable: true });
  });

  it('a bounded request ends normally; a frame that does not decode stops with the update named', async () => {
    const conn = nextConnection();
    const { done } = open({ request: { beginExclusive: 0, endInclusive: 10, updateFormat: treasuryUpdateFormat(TREASURY) } });
    (await conn).ws.close(1000);
    expect(await done).toEqual({ ended: true });

    const conn2 = nextConnection();
    const o2 = open();
    const c2 = await conn2;
    c2.ws.send(JSON.stringify({ update: { Transaction: { value: { updateId: 'u-1', offset: 9 } } } }));
    const r = await o2.done;
    expect(r.error).toBeInstanceOf(LedgerDecodeError);
    expect(r.error!.message).toContain('updateId=u-1 offset=9');
  });

  it('pause stops reading (the server is pushed back), resume delivers the rest in order', async () => {
    const l = new ScriptedLedger();
    for (let i = 0; i < 2000; i++) l.checkpoint();
    const conn = nextConnection();
    const { socket, elements } = open();
    const c = await conn;
    await c.request;
    socket.pause();
    for (const e of l.elements) c.ws.send(JSON.stringify(e));
    await new Promise((r) => setTimeout(r, 200));
    const whilePaused = elements.length;
    expect(whilePaused).toBe(0); // paused before the first frame arrived: nothing was read
    socket.resume();
    await expect.poll(() => elements.length, { timeout: 5000 }).toBe(l.elements.length);
    const offsets = elements.map((e) => ('OffsetCheckpoint' in e.update ? e.update.OffsetCheckpoint.value.offset : -1));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    socket.close();
  });

  it('a server that stops answering pings is cut as stale (retryable)', async () => {
    const silent = await startStubServer({ autoPong: false });
    try {
      silent.onConnection = () => {};
      let resolveDone!: (e: Error) => void;
      const done = new Promise<Error>((r) => (resolveDone = r));
      openUpdatesSocket({
        baseUrl: silent.url,
        token: 't',
        request: { beginExclusive: 0, updateFormat: treasuryUpdateFormat(TREASURY) } as never,
        onElement: () => {},
        onError: resolveDone,
        onEnd: () => {},
        pingIntervalMs: 50,
        livenessTimeoutMs: 200,
      });
      const e = await done;
      expect(e).toMatchObject({ code: 'WS_STALE', retryable: true });
    } finally {
      await silent.close();
    }
  });
});

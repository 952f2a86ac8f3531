import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstrumentRegistryCheck, InstrumentToCheck } from '../../src/admin/registry-check.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { createRegistryUrlPolicy, type HostResolver } from '../../src/ledger/registry-url-policy.js';
import { upsertInstrument } from '../../src/store/instruments.js';
import { readOutboxEvents } from '../../src/store/outbox.js';
import { auth, TEST_TOKENS } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';

const { sql } = await useMigratedDatabase();

const ACME = `acme::1220${'a'.repeat(64)}`;
const PUBLIC_URL = 'https://registry.acme.com/api';

/** A name that is public, one on the internal network; nothing else resolves (no DNS server is asked). */
const resolve: HostResolver = async (host) => {
  if (host === 'registry.acme.com') return [{ address: '93.184.216.34', family: 4 }];
  if (host === 'internal.acme.com') return [{ address: '10.0.0.5', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

const path = (id: string) => `/v1/instruments/${encodeURIComponent(ACME)}/${encodeURIComponent(id)}`;
const configuredEvents = async () => (await readOutboxEvents(sql, { afterId: 0, limit: 1000, topics: ['instrument.configured'] })).length;

describe('registry URLs under the policy (admin API, production settings)', () => {
  let app: App;
  const asked: InstrumentToCheck[] = [];
  const registry: InstrumentRegistryCheck = {
    async check(i) {
      asked.push(i);
      return { adminId: ACME, name: i.id, symbol: i.id, decimals: 6, supportedApis: { 'splice-api-token-transfer-instruction-v1': 1 } };
    },
  };
  beforeAll(async () => {
    app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
    // What the daemon builds from the default settings: https only, public addresses only.
    registerApiRoutes(app, {
      sql,
      instrumentRegistry: registry,
      registryPolicy: createRegistryUrlPolicy({ config: { allowHttp: false, allowHosts: [] }, resolve }),
    });
    await app.ready();
  });
  afterAll(() => app.close());

  const add = (id: string, registryUrl: string) =>
    app.inject({ method: 'POST', url: '/v1/instruments', headers: auth('admin'), payload: { admin: ACME, id, registryUrl } });
  const put = (id: string, payload: Record<string, unknown>) =>
    app.inject({ method: 'PUT', url: path(id), headers: auth('admin'), payload });
  const stored = async (id: string) =>
    (await app.inject({ method: 'GET', url: path(id), headers: auth('read') })).json<{
      registryUrl: string;
      enabled: boolean;
      transferPolicy: string;
    }>();

  it('refuses http, credentials, a query or fragment, and non-public destinations in any form, before the registry is asked', async () => {
    const eventsBefore = await configuredEvents();
    const refused: [string, RegExp][] = [
      ['http://registry.acme.com/api', /must use https/],
      ['https://exchange:hunter2-password@registry.acme.com/api', /must not carry credentials/],
      ['https://registry.acme.com/api#', /fragment/],
      ['https://registry.acme.com/api?', /query/],
      ['https://registry.acme.com/api?path=/admin', /query/],
      ['https://127.0.0.1:5432/', /loopback/],
      ['https://2130706433/', /127\.0\.0\.1 is a loopback/],
      ['https://0x7f.0.0.1/', /127\.0\.0\.1 is a loopback/],
      ['https://0/', /unspecified/],
      ['https://[::1]:8080/', /loopback/],
      ['https://[::ffff:a9fe:a9fe]/', /cloud metadata/],
      ['https://169.254.169.254/latest/meta-data/', /cloud metadata/],
      ['https://192.168.0.10/', /private/],
      ['https://localhost:8080/', /loopback host name/],
      ['https://internal.acme.com/api', /internal\.acme\.com resolves to 10\.0\.0\.5 is a private address/],
      ['https://typo.acme.com/api', /cannot resolve typo\.acme\.com/],
    ];
    for (const [url, reason] of refused) {
      const res = await add('ACME', url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { issues: [{ field: 'registryUrl', reason: expect.stringMatching(reason) }] },
      });
      expect(res.body, url).not.toContain('hunter2-password');
    }
    expect(asked).toEqual([]);
    expect((await sql`select count(*)::int as n from instruments`)[0]!.n).toBe(0);
    expect(await configuredEvents()).toBe(eventsBefore);
    expect((await add('ACME', PUBLIC_URL)).statusCode).toBe(201);
  });

  it('a PUT that disables must not store an unchecked URL', async () => {
    await upsertInstrument(sql, {
      admin: ACME,
      id: 'D',
      registryUrl: PUBLIC_URL,
      displayDecimals: 6,
      transferPolicy: 'direct-or-offer',
      enabled: true,
    });
    const res = await put('D', { enabled: false, registryUrl: 'https://169.254.169.254/latest' });
    expect(res.statusCode).toBe(400);
    expect(res.json().details.issues[0]).toMatchObject({ field: 'registryUrl', reason: expect.stringMatching(/cloud metadata/) });
    expect(await stored('D')).toMatchObject({ registryUrl: PUBLIC_URL, enabled: true });
  });

  it('a stored URL that breaks the policy blocks every other change until it is fixed; disabling alone still works', async () => {
    // Stored before the policy existed (or written around the API).
    await upsertInstrument(sql, {
      admin: ACME,
      id: 'OLD',
      registryUrl: 'http://10.1.2.3:8080/registry',
      displayDecimals: 6,
      transferPolicy: 'direct-or-offer',
      enabled: true,
    });
    const other = await put('OLD', { transferPolicy: 'offer-only' });
    expect(other.statusCode).toBe(400);
    expect(other.json().details.issues[0]).toMatchObject({ field: 'registryUrl', reason: expect.stringMatching(/must use https/) });
    expect(await stored('OLD')).toMatchObject({ transferPolicy: 'direct-or-offer' });
    // Disabling stores nothing new and stops the calls.
    expect((await app.inject({ method: 'POST', url: `${path('OLD')}/disable`, headers: auth('admin') })).statusCode).toBe(200);
    // Re-enabling is another change: refused until the URL is fixed.
    expect((await app.inject({ method: 'POST', url: `${path('OLD')}/enable`, headers: auth('admin') })).statusCode).toBe(400);
    const fixed = await put('OLD', { registryUrl: PUBLIC_URL, transferPolicy: 'offer-only', enabled: true });
    expect(fixed.statusCode).toBe(200);
    expect(await stored('OLD')).toMatchObject({ registryUrl: PUBLIC_URL, transferPolicy: 'offer-only', enabled: true });
  });

  it('a URL stored with user:password before the policy is shown without them, in answers, refusals and events', async () => {
    await upsertInstrument(sql, {
      admin: ACME,
      id: 'CREDS',
      registryUrl: 'https://exchange:stored-hunter2@registry.acme.com/api',
      displayDecimals: 6,
      transferPolicy: 'direct-or-offer',
      enabled: true,
    });
    const read = await app.inject({ method: 'GET', url: '/v1/instruments', headers: auth('read') });
    expect(read.body).toContain('https://***@registry.acme.com/api');
    const refused = await put('CREDS', { transferPolicy: 'offer-only' });
    expect(refused.statusCode).toBe(400);
    const disabled = await app.inject({ method: 'POST', url: `${path('CREDS')}/disable`, headers: auth('admin') });
    expect(disabled.statusCode).toBe(200);
    const events = JSON.stringify(await readOutboxEvents(sql, { afterId: 0, limit: 1000, topics: ['instrument.configured'] }));
    expect(events).toContain('https://***@registry.acme.com/api');
    for (const text of [read.body, refused.body, disabled.body, events]) expect(text).not.toContain('stored-hunter2');
  });
});

describe("a registry's error body never reaches the API caller", () => {
  const PLANTED = 'planted-secret-4f1c9e';
  let app: App;
  let registry: http.Server;
  let status = 400;
  let registryUrl = '';
  beforeAll(async () => {
    registry = http.createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no such thing; by the way ${PLANTED}` }));
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}/api`;
    app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
    // The real metadata check over node:http; this registry on loopback is allowed as a test's.
    registerApiRoutes(app, { sql, registryPolicy: createRegistryUrlPolicy({ config: { allowHttp: true, allowHosts: ['127.0.0.1'] } }) });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await new Promise<void>((r) => registry.close(() => r()));
  });

  it.each([400, 401, 403, 404, 500, 503])('HTTP %i: the refusal names the call and the status only', async (s) => {
    status = s;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/instruments',
      headers: auth('admin'),
      payload: { admin: ACME, id: `E${s}`, registryUrl },
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain(`registry GET ${registryUrl}/registry/metadata/v1/info: HTTP ${s}`);
    expect(res.body).not.toContain(PLANTED);
    expect(res.body).not.toContain('no such thing');
  });
});

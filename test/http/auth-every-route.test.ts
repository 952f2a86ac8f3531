import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig, type ApiScope, type ApiToken } from '../../src/config.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import type { RouteAccess } from '../../src/http/auth.js';
import { registerHealthRoutes } from '../../src/http/routes/health.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { registerMetricsRoute } from '../../src/http/routes/metrics.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { embeddedSandboxLedger } from '../../src/sandbox/embedded-default.js';
import { createTestDatabase, useMigratedDatabase, type TestDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * Every /v1 route, found automatically (routes added later are covered without touching this
 * file): no token → 401, a token without the route's scope → 403, the route's scope → neither,
 * always with the catalogue's {code, message, details} body. Routes are enumerated twice: from
 * fastify's onRoute hook over registerApiRoutes (in process), and from the OpenAPI document of a
 * running daemon (whatever it registers, wherever) — and the first proves none is hidden from the second.
 */

const SCOPES = ['read', 'write', 'admin'] as const satisfies readonly ApiScope[];
/** One token per scope, holding only that scope: "lacking the route's scope" is every other token. */
const TOKENS = Object.fromEntries(
  SCOPES.map((s) => [s, { name: `only-${s}`, token: `only-${s}-token-0123456789abcdef`, scopes: [s] }]),
) as Record<ApiScope, ApiToken>;
const bearer = (scope: ApiScope) => ({ authorization: `Bearer ${TOKENS[scope].token}` });

const ErrorBody = z.object({ code: z.string().min(1), message: z.string().min(1), details: z.record(z.string(), z.unknown()) }).strict();
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const OpenApiDoc = z.object({
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
});
const Operation = z.object({ security: z.array(z.record(z.string(), z.array(z.string()))).optional() });

interface RouteCase {
  method: string;
  /** fastify form: /v1/withdrawals/:withdrawalId */
  url: string;
  access: RouteAccess | undefined;
}

/** OpenAPI path form of a fastify url: /v1/a/:b → /v1/a/{b}. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
/** A concrete path: every parameter filled with a harmless value. */
const concrete = (url: string) => url.replace(/[:{]([A-Za-z0-9_]+)\}?/g, 'x1').replace(/\*/g, 'x1');

interface Sent {
  status: number;
  body: unknown;
}
type Send = (method: string, path: string, headers: Record<string, string>) => Promise<Sent>;

/**
 * The three checks for one route, through whichever transport `send` uses. `withoutDeps`: the
 * app has no ledger-facing parts, so a route that needs them may answer 503 NOT_READY.
 */
async function checkRoute(send: Send, r: { method: string; url: string; access: ApiScope }, withoutDeps = false): Promise<void> {
  const label = `${r.method} ${r.url}`;
  const path = concrete(r.url);

  const none = await send(r.method, path, {});
  expect(none.status, `${label} without a token`).toBe(401);
  expect(ErrorBody.parse(none.body).code, label).toBe('UNAUTHENTICATED');

  const bad = await send(r.method, path, { authorization: 'Bearer not-a-configured-token-at-all' });
  expect(bad.status, `${label} with an unknown token`).toBe(401);

  for (const other of SCOPES.filter((s) => s !== r.access)) {
    const res = await send(r.method, path, bearer(other));
    expect(res.status, `${label} with a "${other}" token`).toBe(403);
    const body = ErrorBody.parse(res.body);
    expect(body.code, label).toBe('FORBIDDEN');
    expect(body.details, label).toEqual({ requiredScope: r.access });
  }

  const ok = await send(r.method, path, bearer(r.access));
  expect([401, 403], `${label} with its "${r.access}" scope answered ${ok.status}: ${JSON.stringify(ok.body)}`).not.toContain(ok.status);
  if (withoutDeps && ok.status === 503) expect(ErrorBody.parse(ok.body).code, label).toBe('NOT_READY');
  else expect(ok.status, `${label} with its scope: ${JSON.stringify(ok.body)}`).toBeLessThan(500);
  if (ok.status >= 400) ErrorBody.parse(ok.body);
}

/**
 * Over a real socket: a streaming route (server-sent events) answers its status and headers and
 * then never ends, so only JSON bodies are read; any other body is cancelled after the headers.
 */
function fetchSender(baseUrl: string): Send {
  return async (method, path, headers) => {
    const withBody = method !== 'GET' && method !== 'DELETE';
    const res = await fetch(baseUrl + path, {
      method,
      headers: { ...headers, ...(withBody ? { 'content-type': 'application/json' } : {}) },
      ...(withBody ? { body: '{}' } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) {
      await res.body?.cancel();
      return { status: res.status, body: undefined };
    }
    return { status: res.status, body: (await res.json()) as unknown };
  };
}

async function listen(app: App): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${addr.port}`;
}

/** /v1 operations of an OpenAPI document with the scope their security names. */
function operationsOf(doc: unknown): { method: string; url: string; access: string | undefined }[] {
  const parsed = OpenApiDoc.parse(doc);
  const out: { method: string; url: string; access: string | undefined }[] = [];
  for (const [path, item] of Object.entries(parsed.paths)) {
    if (!path.startsWith('/v1')) continue;
    for (const m of HTTP_METHODS) {
      if (item[m] === undefined) continue;
      const op = Operation.parse(item[m]);
      out.push({ method: m.toUpperCase(), url: path, access: op.security?.[0]?.bearerAuth?.[0] });
    }
  }
  return out;
}

const isScope = (a: string | undefined): a is ApiScope => (SCOPES as readonly string[]).includes(a ?? '');

// ---------------------------------------------------------------- in process: the onRoute hook

const { sql } = await useMigratedDatabase();

async function buildApp(protectOpsEndpoints: boolean, routes: RouteCase[] = []): Promise<App> {
  // Every route is tried without and with an unknown token, from one address: the failed-login
  // throttle (tested on its own in server.test.ts) must not turn those 401s into 429s here.
  const app = await createHttpServer({
    logger: testLogger(),
    apiTokens: Object.values(TOKENS),
    protectOpsEndpoints,
    authFailures: { limit: 100_000 },
  });
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue; // fastify's automatic HEAD twins of GET routes
      routes.push({ method, url: route.url, access: route.config?.access });
    }
  });
  registerApiRoutes(app, { sql });
  registerHealthRoutes(app, { health: () => ({ healthy: true, components: {} }), checkReady: async () => ({ database: 'ok' }) });
  registerMetricsRoute(app, new Registry());
  await app.ready();
  return app;
}

describe('every /v1 route (registerApiRoutes, in process)', () => {
  let app: App;
  let send: Send;
  const routes: RouteCase[] = [];
  beforeAll(async () => {
    app = await buildApp(false, routes);
    send = fetchSender(await listen(app));
  });
  afterAll(() => app.close());

  const v1 = () => routes.filter((r) => r.url.startsWith('/v1'));

  it('finds the routes and each declares a scope', () => {
    expect(v1().length).toBeGreaterThanOrEqual(15);
    for (const r of v1()) expect(isScope(r.access), `${r.method} ${r.url} access ${String(r.access)}`).toBe(true);
  });

  it('answers 401 without a token, 403 with a token lacking the scope, and neither with it', async () => {
    for (const r of v1()) {
      if (!isScope(r.access)) throw new Error(`${r.method} ${r.url} has no scope`);
      await checkRoute(send, { method: r.method, url: r.url, access: r.access }, true);
    }
  });

  it('publishes a valid OpenAPI document in which every /v1 route appears with its scope', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc: unknown = res.json();
    await expect(SwaggerParser.validate(structuredClone(doc) as Parameters<typeof SwaggerParser.validate>[0])).resolves.toBeDefined();
    const ops = operationsOf(doc);
    for (const r of v1()) {
      expect(ops, `${r.method} ${r.url} is missing from the OpenAPI document (hidden?)`).toContainEqual({
        method: r.method,
        url: openApiPath(r.url),
        access: r.access,
      });
    }
    expect(ops.length).toBe(v1().length);
  });

  it('leaves /health, /ready and /metrics open by default', async () => {
    for (const url of ['/health', '/ready', '/metrics']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
  });
});

describe('ops endpoints with PROTECT_OPS_ENDPOINTS', () => {
  it('need a read-scoped token on /health, /ready and /metrics', async () => {
    const app = await buildApp(true);
    try {
      const send = fetchSender(await listen(app));
      for (const url of ['/health', '/ready', '/metrics']) {
        const none = await send('GET', url, {});
        expect(none.status, url).toBe(401);
        expect(ErrorBody.parse(none.body).code).toBe('UNAUTHENTICATED');
        const write = await send('GET', url, bearer('write'));
        expect(write.status, url).toBe(403);
        expect(ErrorBody.parse(write.body).details).toEqual({ requiredScope: 'read' });
        expect((await app.inject({ method: 'GET', url, headers: bearer('read') })).statusCode, url).toBe(200);
      }
    } finally {
      await app.close();
    }
  });
});

// ---------------------------------------------------------------- the daemon: its OpenAPI document

describe('every /v1 operation of a running daemon (embedded ledger double)', () => {
  let daemon: Daemon;
  let db: TestDatabase;
  let dataDir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'cxi-auth-'));
    const config = loadConfig({
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      API_TOKENS: JSON.stringify(Object.values(TOKENS)),
      HTTP_AUTH_FAILURE_LIMIT: '100000',
    });
    daemon = await startDaemon({ config, logger: testLogger(), embeddedLedger: embeddedSandboxLedger, service: { holdingsJob: false } });
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('protects each with its scope, and the in-process routes are all among them', async () => {
    const doc: unknown = await (await fetch(`${daemon.url}/openapi.json`)).json();
    const ops = operationsOf(doc);
    expect(ops.length).toBeGreaterThanOrEqual(15);
    const send = fetchSender(daemon.url);
    for (const op of ops) {
      if (!isScope(op.access)) throw new Error(`${op.method} ${op.url} has no bearer scope in the OpenAPI document`);
      await checkRoute(send, { method: op.method, url: op.url, access: op.access });
    }

    const inProcess: RouteCase[] = [];
    const app = await buildApp(false, inProcess);
    await app.close();
    for (const r of inProcess.filter((x) => x.url.startsWith('/v1'))) {
      expect(ops, `${r.method} ${r.url} not served by the daemon`).toContainEqual({
        method: r.method,
        url: openApiPath(r.url),
        access: r.access,
      });
    }
  });

  it('leaves /health, /ready and /metrics open by default', async () => {
    for (const url of ['/health', '/ready', '/metrics']) expect((await fetch(daemon.url + url)).status, url).toBe(200);
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    for (const name of [
      'cxi_updates_ingested_total',
      'cxi_ingestion_lag_offsets',
      'cxi_withdrawal_attempts_total',
      'cxi_machine_failures_total',
    ]) {
      expect(metrics, name).toContain(`# TYPE ${name} `);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ApiToken } from '../../src/config.js';
import { registerHealthRoutes } from '../../src/http/routes/health.js';
import { registerMetricsRoute } from '../../src/http/routes/metrics.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import type { HealthReport } from '../../src/lifecycle.js';
import { createMetrics } from '../../src/metrics.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * Issue 22 item 3: the ops endpoints leak nothing and cost little. Probes answer anyone, but only
 * which component is unhealthy; what it says (URLs, error text, ids) only a read token shows.
 * /metrics labels come from closed sets, its database reads are shared over a few seconds, and it
 * needs a token unless the server listens on loopback.
 */

const { sql } = await useMigratedDatabase();

const tokens: ApiToken[] = [
  { name: 'reader', token: 'r'.repeat(32), scopes: ['read'] },
  { name: 'ops', token: 'a'.repeat(32), scopes: ['admin'] },
];
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

const SECRET_DETAIL = 'ledger http://validator.internal:7575/v2/updates refused: connect ECONNREFUSED 10.0.0.5';
const failing: HealthReport = {
  healthy: false,
  components: { ingestion: { state: 'failed', detail: SECRET_DETAIL }, withdrawals: { state: 'running' } },
};

async function buildApp(o: { protectMetrics?: boolean; dbError?: string; cacheMs?: number }): Promise<App> {
  const app = await createHttpServer({
    logger: testLogger(),
    apiTokens: tokens,
    protectOpsEndpoints: false,
    ...(o.protectMetrics !== undefined ? { protectMetrics: o.protectMetrics } : {}),
  });
  registerHealthRoutes(app, {
    health: () => failing,
    checkReady: async () => {
      if (o.dbError) throw new Error(o.dbError);
      return { database: 'ok' };
    },
  });
  registerMetricsRoute(app, createMetrics(sql, { cacheMs: o.cacheMs ?? 0 }).registry);
  await app.ready();
  return app;
}

describe('health probes', () => {
  let app: App;
  let down: App;
  beforeAll(async () => {
    app = await buildApp({});
    down = await buildApp({ dbError: 'password authentication failed for user "cxi" at db.internal:5432' });
  });
  afterAll(async () => {
    await app.close();
    await down.close();
  });

  it('tell anyone which component is unhealthy, without what it says', async () => {
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ status: 'failing', components: { ingestion: { state: 'failed' }, withdrawals: { state: 'running' } } });
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'not_ready', checks: { database: 'ok', components: 'ingestion failed' } });
    const db = await down.inject({ method: 'GET', url: '/ready' });
    expect(db.statusCode).toBe(503);
    expect(db.json().checks.database).toBe('failing');
    for (const body of [health.body, ready.body, db.body]) expect(body).not.toMatch(/internal|ECONNREFUSED|password/);
  });

  it('show the details to a read token', async () => {
    const health = await app.inject({ method: 'GET', url: '/health', headers: bearer(tokens[0]!.token) });
    expect(health.json().components.ingestion).toEqual({ state: 'failed', detail: SECRET_DETAIL });
    const ready = await app.inject({ method: 'GET', url: '/ready', headers: bearer(tokens[0]!.token) });
    expect(ready.json().checks.components).toBe(`ingestion failed: ${SECRET_DETAIL}`);
    const db = await down.inject({ method: 'GET', url: '/ready', headers: bearer(tokens[0]!.token) });
    expect(db.json().checks.database).toMatch(/password authentication failed/);
  });

  it('refuse a presented token that is unknown or lacks read, counted as a failed authentication', async () => {
    expect((await app.inject({ method: 'GET', url: '/health', headers: bearer('x'.repeat(32)) })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/health', headers: bearer(tokens[1]!.token) })).statusCode).toBe(403);
    // The throttle sees probes too: guessing tokens through /health is as slow as through /v1.
    const throttled = await createHttpServer({
      logger: testLogger(),
      apiTokens: tokens,
      protectOpsEndpoints: false,
      authFailures: { limit: 2 },
    });
    registerHealthRoutes(throttled, { health: () => failing, checkReady: async () => ({ database: 'ok' }) });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push((await throttled.inject({ method: 'GET', url: '/health', headers: bearer(`guess-${i}`.padEnd(32, 'g')) })).statusCode);
      expect(codes).toEqual([401, 401, 429, 429]);
      // A probe without a token is never throttled.
      expect((await throttled.inject({ method: 'GET', url: '/health' })).statusCode).toBe(503);
    } finally {
      await throttled.close();
    }
  });
});

describe('/metrics', () => {
  beforeAll(async () => {
    // A stalled withdrawal whose words carry ids, a party and ledger error text.
    await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status, status_reason, status_code)
      values ('w-secret-1', 'acct-9', 'DSO::1220aa', 'Amulet', 12.5, 'bob::1220bb', 'stalled',
              'sign failed: PREPARED_TX_MISMATCH: refusing to sign 00abcdef for bob::1220bb', 'PREPARED_TX_MISMATCH')`;
    await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status, status_reason, status_code)
      values ('w-secret-2', 'acct-9', 'DSO::1220aa', 'Amulet', 3, 'carol::1220cc', 'stalled',
              'sign failed: PREPARED_TX_MISMATCH: refusing to sign 00fedcba for carol::1220cc', 'PREPARED_TX_MISMATCH')`;
  });

  it('labels withdrawals by status and reason code only: one series for any number of reasons', async () => {
    const app = await buildApp({});
    try {
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(body).toMatch(/^cxi_withdrawals\{status="stalled",reason="PREPARED_TX_MISMATCH"\} 2$/m);
      expect(body).not.toMatch(/w-secret|bob::|carol::|00abcdef|refusing/);
    } finally {
      await app.close();
    }
  });

  it('reads the database at most once per cache period, whatever the scrape rate', async () => {
    const app = await buildApp({ cacheMs: 60_000 });
    const count = async () => {
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/^cxi_withdrawals\{status="requested",reason=""\} (\d+)$/m.exec(body)?.[1] ?? 0);
    };
    try {
      const before = await count();
      await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver)
        values ('w-cache-1', 'acct-1', 'DSO::1220aa', 'Amulet', 1, 'bob::1220bb')`;
      const scrapes = await Promise.all(Array.from({ length: 20 }, () => count()));
      expect(new Set(scrapes)).toEqual(new Set([before]));
    } finally {
      await app.close();
    }
    const fresh = await buildApp({ cacheMs: 0 });
    try {
      const body = (await fresh.inject({ method: 'GET', url: '/metrics' })).body;
      expect(body).toMatch(/^cxi_withdrawals\{status="requested",reason=""\} [1-9]/m);
    } finally {
      await fresh.close();
    }
  });

  it('needs a read token when protected, and is protected by default unless HTTP_HOST is loopback', async () => {
    const app = await buildApp({ protectMetrics: true });
    try {
      expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: '/metrics', headers: bearer(tokens[0]!.token) })).statusCode).toBe(200);
      // The probes stay open to orchestrators.
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(503);
    } finally {
      await app.close();
    }
    // The embedded default's settings: nothing else is needed to parse.
    const protectedFor = (env: Record<string, string>) => loadConfig(env).protectMetrics;
    expect(protectedFor({ HTTP_HOST: '127.0.0.1' })).toBe(false);
    expect(protectedFor({ HTTP_HOST: 'localhost' })).toBe(false);
    expect(protectedFor({ HTTP_HOST: '::1' })).toBe(false);
    expect(protectedFor({ HTTP_HOST: '0.0.0.0' })).toBe(true);
    expect(protectedFor({ HTTP_HOST: '10.1.2.3' })).toBe(true);
    expect(protectedFor({ HTTP_HOST: '0.0.0.0', METRICS_PUBLIC: 'true' })).toBe(false);
    expect(protectedFor({ HTTP_HOST: '127.0.0.1', METRICS_PUBLIC: 'false' })).toBe(true);
    expect(protectedFor({ HTTP_HOST: '127.0.0.1', PROTECT_OPS_ENDPOINTS: 'true', METRICS_PUBLIC: 'true' })).toBe(true);
  });
});

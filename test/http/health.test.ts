import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpMetrics } from '../../src/http/metrics.js';
import { registerHealthRoutes } from '../../src/http/routes/health.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { healthOf, type Component, type ComponentStatus } from '../../src/lifecycle.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * /health and /ready with the daemon's components behind them (issue 19, item 4): a failed
 * component (ingestion stopped, restarting or not) turns both red; paused or standby is not a fault.
 */

const statuses: Record<string, ComponentStatus> = {};
const component = (name: string): Component => ({
  name,
  start: async () => {},
  stop: async () => {},
  status: () => statuses[name] ?? { state: 'running' },
});
const components = [component('switches'), component('ingestion'), component('withdrawals')];
let databaseUp = true;
const reader = { name: 'probe-reader', token: 'r'.repeat(32), scopes: ['read' as const] };
let app: App;

beforeAll(async () => {
  // The database check fails on purpose below: its warning is logged only when asked (LOG_LEVEL).
  app = await createHttpServer({
    logger: testLogger(),
    apiTokens: [reader],
    protectOpsEndpoints: false,
    metrics: createHttpMetrics(new Registry()),
  });
  registerHealthRoutes(app, {
    health: () => healthOf(components),
    checkReady: async () => {
      if (!databaseUp) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return { database: 'ok' };
    },
  });
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

// The details are for a reader (issue 22 item 3); the probe without a token sees states only.
const get = async (url: string, token: string | null = reader.token) => {
  const res = await app.inject({ method: 'GET', url, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() as unknown };
};

describe('/health and /ready', () => {
  it('green while every component runs or is paused', async () => {
    statuses['switches'] = { state: 'running', detail: 'ingestion paused by operator' };
    statuses['ingestion'] = { state: 'paused', detail: 'standby: another instance holds the ingestion lock' };
    expect(await get('/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await get('/ready')).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', components: 'ok' } } });
  });

  it('a failed component turns both red, naming it and why, also while it waits to restart', async () => {
    const detail = 'ECONNRESET: read ECONNRESET (restart 1 of 10 in 1000 ms)';
    statuses['ingestion'] = { state: 'failed', detail };
    expect(await get('/health')).toEqual({
      status: 503,
      body: {
        status: 'failing',
        components: { switches: statuses['switches'], ingestion: { state: 'failed', detail }, withdrawals: { state: 'running' } },
      },
    });
    expect(await get('/ready')).toEqual({
      status: 503,
      body: { status: 'not_ready', checks: { database: 'ok', components: `ingestion failed: ${detail}` } },
    });
    expect(await get('/health', null)).toEqual({
      status: 503,
      body: {
        status: 'failing',
        components: { switches: { state: 'running' }, ingestion: { state: 'failed' }, withdrawals: { state: 'running' } },
      },
    });
    expect(await get('/ready', null)).toEqual({
      status: 503,
      body: { status: 'not_ready', checks: { database: 'ok', components: 'ingestion failed' } },
    });
    databaseUp = false;
    expect(await get('/ready', null)).toEqual({
      status: 503,
      body: { status: 'not_ready', checks: { database: 'failing', components: 'ingestion failed' } },
    });
    expect(await get('/ready')).toEqual({
      status: 503,
      body: { status: 'not_ready', checks: { database: 'connect ECONNREFUSED 127.0.0.1:5432', components: `ingestion failed: ${detail}` } },
    });
    databaseUp = true;
    statuses['ingestion'] = { state: 'running' };
    expect((await get('/health')).status).toBe(200);
    expect((await get('/ready')).status).toBe(200);
  });
});

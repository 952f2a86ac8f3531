import SwaggerParser from '@apidevtools/swagger-parser';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ApiToken } from '../../src/config.js';
import { createHttpMetrics } from '../../src/http/metrics.js';
import { registerMetricsRoute } from '../../src/http/routes/metrics.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { testLogger } from '../support/silent-logger.js';

const tokens: ApiToken[] = [
  { name: 'reader', token: 'r'.repeat(32), scopes: ['read'] },
  { name: 'writer', token: 'w'.repeat(32), scopes: ['read', 'write'] },
  { name: 'ops', token: 'a'.repeat(32), scopes: ['admin'] },
];
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function buildApp(protectOpsEndpoints = false): Promise<App> {
  const registry = new Registry();
  const app = await createHttpServer({
    logger: testLogger(),
    apiTokens: tokens,
    protectOpsEndpoints,
    metrics: createHttpMetrics(registry),
  });
  app.get('/health', async () => ({ status: 'ok' }));
  registerMetricsRoute(app, registry);
  app.get(
    '/v1/things',
    { config: { access: 'read' }, schema: { response: { 200: z.object({ items: z.array(z.string()) }) } } },
    async () => ({ items: ['a'] }),
  );
  app.post(
    '/v1/things',
    {
      config: { access: 'write' },
      schema: {
        body: z.object({ name: z.string().min(1), amount: z.string().regex(/^\d+(\.\d{1,10})?$/, 'must be a decimal string') }),
        response: { 201: z.object({ name: z.string() }) },
      },
    },
    async (req, reply) => reply.status(201).send({ name: req.body.name }),
  );
  app.post(
    '/v1/admin/pause',
    { config: { access: 'admin' }, schema: { response: { 200: z.object({ paused: z.boolean() }) } } },
    async () => ({ paused: true }),
  );
  await app.ready();
  return app;
}

describe('HTTP surface', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildApp();
  });
  afterAll(async () => {
    await app.close();
  });

  it('refuses /v1 without a token with 401 and the standard error body', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/things' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ code: 'UNAUTHENTICATED', message: expect.any(String), details: {} });
    const bad = await app.inject({ method: 'GET', url: '/v1/things', headers: bearer('x'.repeat(32)) });
    expect(bad.statusCode).toBe(401);
    const malformed = await app.inject({ method: 'GET', url: '/v1/things', headers: { authorization: 'Basic abc' } });
    expect(malformed.statusCode).toBe(401);
  });

  it('refuses the wrong scope with 403 and allows the right one', async () => {
    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers: bearer(tokens[0]!.token),
      payload: { name: 'x', amount: '1' },
    });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json()).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'write' } });
    // It names the missing scope only, not what else the token may do.
    expect(wrong.json().message).not.toMatch(/"read"/);
    const right = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers: bearer(tokens[1]!.token),
      payload: { name: 'x', amount: '1' },
    });
    expect(right.statusCode).toBe(201);
    expect((await app.inject({ method: 'POST', url: '/v1/admin/pause', headers: bearer(tokens[1]!.token) })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/v1/admin/pause', headers: bearer(tokens[2]!.token) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/things', headers: bearer(tokens[2]!.token) })).statusCode).toBe(403);
  });

  it('reports invalid bodies field by field with 400', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers: bearer(tokens[1]!.token),
      payload: { name: '', amount: '1.5e3' },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.details.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'name' }),
        expect.objectContaining({ field: 'amount', reason: 'must be a decimal string' }),
      ]),
    );
  });

  it('answers malformed, oversized and non-JSON bodies with 400, 413 and 415', async () => {
    const h = { ...bearer(tokens[1]!.token), 'content-type': 'application/json' };
    expect((await app.inject({ method: 'POST', url: '/v1/things', headers: h, payload: '{"name":' })).json()).toMatchObject({
      code: 'MALFORMED_BODY',
    });
    const big = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers: h,
      payload: JSON.stringify({ name: 'x'.repeat(100_000), amount: '1' }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const text = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers: { ...bearer(tokens[1]!.token), 'content-type': 'text/plain' },
      payload: 'hi',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
  });

  it('echoes a request id on every response, generating one when absent', async () => {
    const given = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const generated = await app.inject({ method: 'GET', url: '/v1/things' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('publishes a valid OpenAPI document with bearer security on protected routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
    expect(doc.paths['/v1/things'].post.security).toEqual([{ bearerAuth: ['write'] }]);
    expect(doc.paths['/v1/things'].post.requestBody.content['application/json'].schema.required).toEqual(['name', 'amount']);
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
  });

  it('records request latency by route template', async () => {
    await app.inject({ method: 'GET', url: '/v1/things', headers: bearer(tokens[0]!.token) });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(/cxi_http_request_duration_seconds_count\{method="GET",route="\/v1\/things",status="200"\} [1-9]/);
  });

  it('refuses to register a /v1 route that does not declare its access', async () => {
    const other = await createHttpServer({ logger: testLogger(), apiTokens: tokens, protectOpsEndpoints: false });
    expect(() => other.get('/v1/oops', async () => ({}))).toThrow(/does not declare its access/);
    await other.close();
  });
});

describe('protected ops endpoints', () => {
  it('requires a read token on /health and /metrics when configured', async () => {
    const app = await buildApp(true);
    try {
      expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: '/health', headers: bearer(tokens[0]!.token) })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

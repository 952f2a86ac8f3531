import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiToken } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { testLogger } from '../support/silent-logger.js';

const tokens: ApiToken[] = [{ name: 'reader', token: 'reader-token-0123456789abcdefXYZ', scopes: ['read'] }];
const apps: App[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function app(o: Partial<Parameters<typeof createHttpServer>[0]> = {}): Promise<App> {
  const a = await createHttpServer({ logger: testLogger(), apiTokens: tokens, protectOpsEndpoints: false, ...o });
  a.get('/v1/things', { config: { access: 'read' } }, async () => ({ ok: true }));
  a.post('/v1/things', { config: { access: 'read' } }, async () => ({ ok: true }));
  apps.push(a);
  return a;
}

/** A logger that keeps the lines it is given (pino's shape: obj, msg). */
function recordingLogger(lines: { level: string; msg: string; obj: unknown }[]): Logger {
  const base = testLogger();
  const wrap = (level: string) => (obj: unknown, msg?: string) => lines.push({ level, msg: msg ?? String(obj), obj });
  const make = (): Logger =>
    new Proxy(base, {
      get: (t, k) => (k === 'child' ? () => make() : ['info', 'warn', 'error'].includes(String(k)) ? wrap(String(k)) : Reflect.get(t, k)),
    }) as Logger;
  return make();
}

describe('HTTP limits', () => {
  it('an address that keeps failing to authenticate gets 429 with retry-after, without its token being tried', async () => {
    const a = await app({ authFailures: { limit: 3, windowMs: 60_000 } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await a.inject({ method: 'GET', url: '/v1/things', headers: { authorization: `Bearer guess-${i}` } })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const blocked = await a.inject({ method: 'GET', url: '/v1/things', headers: { authorization: `Bearer ${tokens[0]!.token}` } });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // another address is not held back
    const other = await a.inject({
      method: 'GET',
      url: '/v1/things',
      remoteAddress: '10.1.2.3',
      headers: { authorization: `Bearer ${tokens[0]!.token}` },
    });
    expect(other.statusCode).toBe(200);
  });

  it('failed logins are summarised in one line per period, not logged one by one', async () => {
    const lines: { level: string; msg: string; obj: unknown }[] = [];
    const a = await app({ logger: recordingLogger(lines), authFailures: { limit: 1000, summaryMs: 100_000 } });
    for (let i = 0; i < 50; i++) await a.inject({ method: 'GET', url: '/v1/things', headers: { authorization: `Bearer guess-${i}` } });
    expect(
      lines.filter((l) => /401|UNAUTHENTICATED|incoming request|request completed|rejected/.test(`${l.msg} ${JSON.stringify(l.obj)}`)),
    ).toEqual([]);
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const summary = lines.filter((l) => l.msg.includes('failed API authentication'));
    expect(summary).toHaveLength(1);
    expect(summary[0]!.msg).toBe('50 failed API authentication(s) from 1 address(es)');
  });

  it('cuts a request whose body trickles in for longer than the request timeout', async () => {
    const a = await app({ requestTimeoutMs: 300 });
    await a.listen({ port: 0, host: '127.0.0.1' });
    const { port } = a.server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.write(
        `POST /v1/things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens[0]!.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
      );
      const trickle = setInterval(() => (s.writable ? s.write(' ') : clearInterval(trickle)), 50);
      s.on('close', () => clearInterval(trickle));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('refuses connections beyond the cap', async () => {
    const a = await app({ maxConnections: 2 });
    await a.listen({ port: 0, host: '127.0.0.1' });
    const { port } = a.server.address() as AddressInfo;
    const open = () =>
      new Promise<{ socket: ReturnType<typeof connect>; answered: Promise<string> }>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          let got = '';
          const answered = new Promise<string>((done) => {
            socket.on('data', (d) => (got += d.toString()));
            socket.on('close', () => done(got));
            setTimeout(() => done(got), 500);
          });
          socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
          resolve({ socket, answered });
        });
      });
    const first = await open();
    const second = await open();
    const third = await open();
    expect(await first.answered).toMatch(/^HTTP\/1\.1 /);
    expect(await second.answered).toMatch(/^HTTP\/1\.1 /);
    expect(await third.answered).toBe(''); // closed by the server without an answer
    for (const c of [first, second, third]) c.socket.destroy();
  });
});

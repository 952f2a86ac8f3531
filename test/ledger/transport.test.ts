import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTransport, nodeHttpTransport, ResponseTooLargeError } from '../../src/ledger/transport.js';

/** The clients' node:http transport against a real server: what is sent, what comes back, what fails. */

let server: http.Server;
let base: string;
const seen: { method: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
/** Bytes the endless route managed to write before the client hung up. */
let endlessWritten = 0;

/** An answer that never ends (chunked, no length): what a hostile or broken server can send. */
function endless(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const pump = () => {
    while (!res.destroyed && endlessWritten < 128 * 1024 * 1024) {
      endlessWritten += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  res.on('close', () => res.destroy());
  pump();
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', headers: req.headers, body });
      if (req.url === '/json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ echo: body, text: 'zürich €' }));
      } else if (req.url === '/error') {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"code":"UNAVAILABLE"}');
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"partial":');
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (req.url === '/endless') endless(res);
      else if (req.url === '/declared-huge') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(700 * 1024 * 1024) });
        res.write('[');
      }
      // '/silent': never answers
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const signal = () => AbortSignal.timeout(5_000);

describe('node:http transport', () => {
  it('sends method, headers and the JSON body with its length; returns the status and the whole body as UTF-8 text', async () => {
    const body = JSON.stringify({ memo: 'é'.repeat(3) });
    const r = await nodeHttpTransport(`${base}/json`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body,
      signal: signal(),
      maxResponseBytes: 1 << 20,
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ echo: body, text: 'zürich €' });
    const req = seen.at(-1)!;
    expect(req).toMatchObject({
      method: 'POST',
      body,
      headers: { authorization: 'Bearer t', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    });
  });

  it('a non-2xx status is an answer, not a failure', async () => {
    expect(await nodeHttpTransport(`${base}/error`, { method: 'GET', headers: {}, signal: signal(), maxResponseBytes: 1 << 20 })).toEqual({
      status: 503,
      text: '{"code":"UNAVAILABLE"}',
    });
  });

  it('a connection cut mid-body fails; so does a refused connection', async () => {
    await expect(
      nodeHttpTransport(`${base}/cut`, { method: 'GET', headers: {}, signal: signal(), maxResponseBytes: 1 << 20 }),
    ).rejects.toThrow();
    const refused = http.createServer();
    await new Promise<void>((r) => refused.listen(0, '127.0.0.1', r));
    const port = (refused.address() as AddressInfo).port;
    await new Promise((r) => refused.close(r));
    await expect(
      nodeHttpTransport(`http://127.0.0.1:${port}/`, { method: 'GET', headers: {}, signal: signal(), maxResponseBytes: 1 << 20 }),
    ).rejects.toThrow(/ECONNREFUSED/);
  });

  it('the signal ends a call that gets no answer', async () => {
    const timeout = AbortSignal.timeout(100);
    await expect(
      nodeHttpTransport(`${base}/silent`, { method: 'GET', headers: {}, signal: timeout, maxResponseBytes: 1 << 20 }),
    ).rejects.toThrow();
    expect(timeout.aborted).toBe(true);
  });

  it("stops reading at the call's size limit: an endless or declared-huge answer fails the call, not the process", async () => {
    for (const transport of [nodeHttpTransport, fetchTransport(fetch)]) {
      endlessWritten = 0;
      const err = await transport(`${base}/endless`, { method: 'GET', headers: {}, signal: signal(), maxResponseBytes: 1 << 20 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ResponseTooLargeError);
      expect(err).toMatchObject({ status: 200, limit: 1 << 20 });
      // the server stopped well short of what it would have sent: the connection was cut at the limit
      await new Promise((r) => setTimeout(r, 50));
      expect(endlessWritten).toBeLessThan(32 << 20);
      await expect(
        transport(`${base}/declared-huge`, { method: 'GET', headers: {}, signal: signal(), maxResponseBytes: 1 << 20 }),
      ).rejects.toBeInstanceOf(ResponseTooLargeError);
    }
  });

  it('refuses a scheme other than http and https', async () => {
    await expect(
      nodeHttpTransport('ftp://127.0.0.1/x', { method: 'GET', headers: {}, signal: signal(), maxResponseBytes: 1 << 20 }),
    ).rejects.toThrow('unsupported URL scheme ftp:');
  });
});

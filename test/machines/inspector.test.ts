import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiToken } from '../../src/config.js';
import { createMachineInspector, type MachineInspector } from '../../src/http/inspector.js';
import { createWithdrawalRuntime } from '../../src/machines/runtime/withdrawal.js';
import { createReservationActors } from '../../src/machines/effects/reservations.js';
import { testLogger } from '../support/silent-logger.js';
import { FakeLedger } from './support/fake-ledger.js';
import { insertHolding, TREASURY } from './support/fixtures.js';
import { freshDatabase, requestWithdrawal, TIMINGS, waitFor, waitForState } from './support/runtime.js';

const READER: ApiToken = { name: 'reader', token: 'inspect-reader-0123456789abcdefXYZ', scopes: ['read'] };
const WRITER: ApiToken = { name: 'writer', token: 'inspect-writer-0123456789abcdefXYZ', scopes: ['write'] };

let inspector: MachineInspector | undefined;
afterEach(async () => {
  await inspector?.stop();
  inspector = undefined;
});

// The refused attempts are logged as a warning summary: expected here, so kept out of the output.
const start = (host = '127.0.0.1') => createMachineInspector({ host, port: 0, tokens: [READER, WRITER], logger: testLogger() });
const wsUrl = (i: MachineInspector, token?: string) =>
  `ws://127.0.0.1:${i.address.port}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`;

/** The HTTP status a websocket handshake gets (101 when it opens) and what it receives from the start. */
function handshake(url: string, headers: Record<string, string> = {}): Promise<{ status: number; ws?: WebSocket; messages: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    // Listening before the handshake completes: the replay may arrive with the 101.
    const messages: string[] = [];
    ws.on('message', (m: Buffer) => messages.push(m.toString()));
    ws.once('open', () => resolve({ status: 101, ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, messages });
      res.resume();
    });
    ws.once('error', reject);
  });
}

describe('inspector bridge', () => {
  it('refuses a viewer without a token, with an unknown one or one without the read scope, and a page elsewhere', async () => {
    inspector = await start();
    expect((await handshake(wsUrl(inspector))).status).toBe(401);
    expect((await handshake(wsUrl(inspector, 'not-a-configured-token-0123456789'))).status).toBe(401);
    expect((await handshake(wsUrl(inspector, WRITER.token))).status).toBe(403);
    // A page on another site: the browser names it in Origin, and the token does not help it.
    expect((await handshake(wsUrl(inspector, READER.token), { origin: 'https://evil.example' })).status).toBe(403);
    // The bridge's own page may.
    const own = await handshake(wsUrl(inspector, READER.token), { origin: `http://127.0.0.1:${inspector.address.port}` });
    expect(own.status).toBe(101);
    own.ws?.close();
    // The page too needs the token.
    expect((await fetch(inspector.url)).status).toBe(401);
    const page = await fetch(`${inspector.url}?token=${encodeURIComponent(READER.token)}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await page.text()).not.toContain(READER.token);
  });

  it('listens where it is told', async () => {
    inspector = await start('127.0.0.1');
    expect(inspector.address.address).toBe('127.0.0.1');
    expect(inspector.url).toBe(`http://127.0.0.1:${inspector.address.port}/`);
    // Not on the machine's other addresses: only loopback.
    await inspector.stop();
    inspector = await start('127.0.0.2');
    expect(inspector.address.address).toBe('127.0.0.2');
    await expect(handshake(wsUrl(inspector, READER.token))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('streams live machines to a read-token viewer, replays the recent ones to a late one, and relays nothing viewers send', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    inspector = await start();
    const first = await handshake(wsUrl(inspector), { authorization: `Bearer ${READER.token}` });
    expect(first.status).toBe(101);
    const live = first.messages;
    const rt = createWithdrawalRuntime({
      sql,
      logger: testLogger(),
      actors: { ...ledger.withdrawalActors(), ...createReservationActors(sql) },
      config: { treasuryParty: TREASURY },
      runtime: TIMINGS,
      inspect: inspector.inspect,
    });
    try {
      await rt.start();
      await requestWithdrawal(sql, 'w1', '10');
      await waitForState(sql, 'withdrawal', 'w1', 'awaitingLedger.waiting');
      const snapshots = await waitFor(
        'inspection events',
        async () =>
          live
            .map((m) => JSON.parse(m) as { type: string; snapshot?: { value?: unknown; context?: Record<string, unknown> } })
            .filter((e) => e.type === '@xstate.snapshot' && e.snapshot?.context?.withdrawalId === 'w1'),
        (s) => s.some((e) => JSON.stringify(e.snapshot?.value) === JSON.stringify({ awaitingLedger: 'waiting' })),
      );
      expect(snapshots[snapshots.length - 1]!.snapshot?.context?.signed).toBe('[signed]');

      const sent = live.length;
      const late = await handshake(wsUrl(inspector, READER.token));
      const replayed = late.messages;
      // What was sent before it connected, then whatever came after (the runtime keeps going).
      await waitFor(
        'the replay',
        async () => replayed.length,
        (n) => n >= Math.min(sent, 200),
      );
      expect(replayed.slice(0, Math.min(sent, 200))).toEqual(live.slice(0, sent).slice(-200));
      // A viewer cannot inject events for the others.
      late.ws!.send(JSON.stringify({ type: '@xstate.snapshot', planted: true }));
      await new Promise((r) => setTimeout(r, 100));
      expect(live.some((m) => m.includes('planted'))).toBe(false);
      late.ws!.close();
    } finally {
      await rt.abort();
      first.ws?.close();
    }
  });
});

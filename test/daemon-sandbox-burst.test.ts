import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { embeddedSandboxLedger, HOUSE_MEMO, SANDBOX_POOL } from '../src/sandbox/embedded-default.js';
import { testLogger } from './support/silent-logger.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A fresh sandbox serves a burst of withdrawals side by side (issue 23): before, its treasury held
 * one large holding per instrument, so each withdrawal waited for the change of the one before.
 */
describe('a fresh sandbox', () => {
  it('is funded as a pool from its house wallet (no unattributed funding), onboarded with a pool policy, and no withdrawal of a burst waits for funds', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cxi-sandbox-burst-'));
    dirs.push(dataDir);
    const config = loadConfig({ DATA_DIR: dataDir, HTTP_PORT: '0', LOG_LEVEL: 'silent' });
    const daemon = await startDaemon({ config, logger: testLogger(), embeddedLedger: embeddedSandboxLedger });
    try {
      const token = (await readFile(join(dataDir, 'sandbox', 'api-token'), 'utf8')).trim();
      const api = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
        const res = await fetch(daemon.url + path, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return (await res.json()) as Record<string, unknown>;
      };
      type Summary = { items: { instrument: { id: string; admin: string }; free: { count: number } }[] };
      const holdings = await until(
        'the pool to be ingested',
        async () => (await api('GET', '/v1/holdings')) as unknown as Summary,
        (s) => (s.items.find((i) => i.instrument.id === 'Amulet')?.free.count ?? 0) >= SANDBOX_POOL.Amulet.poolSize,
      );
      const amulet = holdings.items.find((i) => i.instrument.id === 'Amulet')!.instrument;
      expect((await api('GET', `/v1/instruments/${encodeURIComponent(amulet.admin)}/Amulet`))['utxoPolicy']).toMatchObject({
        poolSize: SANDBOX_POOL.Amulet.poolSize,
      });

      const details = JSON.parse(await readFile(join(dataDir, 'sandbox', 'sandbox.json'), 'utf8')) as { controlToken: string };
      const created = await fetch(`${daemon.ledger!.apiUrl}/sandbox/control/customers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${details.controlToken}` },
        body: JSON.stringify({ hint: 'burst-receiver', preapproval: true }),
      });
      const receiver = ((await created.json()) as { party: string }).party;

      // The sandbox's own funding is the exchange's money, credited to its house account: never
      // among the deposits waiting for an operator to assign them.
      type Deposits = { items: { memo: string | null; status: string; accountId: string | null; sender: string | null }[] };
      const funding = await until(
        'the funding to be credited (UTK offers accepted)',
        async () => ((await api('GET', `/v1/deposits?memo=${HOUSE_MEMO}&limit=500`)) as unknown as Deposits).items,
        (items) =>
          items.length === SANDBOX_POOL.Amulet.poolSize + 1 + SANDBOX_POOL.UTK.poolSize && items.every((d) => d.status === 'credited'),
      );
      expect(new Set(funding.map((d) => d.accountId)).size).toBe(1);
      const waiting = ((await api('GET', '/v1/deposits?status=unattributed&limit=500')) as unknown as Deposits).items;
      expect(waiting.filter((d) => d.sender === null || d.memo === HOUSE_MEMO)).toEqual([]);

      const ids = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
      await Promise.all(
        ids.map((withdrawalId) =>
          api('POST', '/v1/withdrawals', { withdrawalId, account: 'acct-burst', instrument: amulet, amount: '25', receiver }),
        ),
      );
      for (const id of ids) {
        const w = await until(
          `${id} to finish`,
          () => api('GET', `/v1/withdrawals/${id}`),
          (x) => ['completed', 'failed', 'stalled'].includes(String(x['status'])),
        );
        expect(w['status']).toBe('completed');
        // It never waited: a state it passed through would be in its history.
        const states = (w['history'] as { to: unknown }[]).map((h) => JSON.stringify(h.to));
        expect(
          states.filter((s) => s.includes('waitingForFunds')),
          id,
        ).toEqual([]);
      }
    } finally {
      await daemon.stop();
    }
  }, 120_000);
});

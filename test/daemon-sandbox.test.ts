import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { embeddedSandboxLedger } from '../src/sandbox/embedded-default.js';
import { testLogger } from './support/silent-logger.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The double's control API token, from the details file the sandbox writes for operators. */
async function controlHeaders(dataDir: string): Promise<Record<string, string>> {
  const details = JSON.parse(await readFile(join(dataDir, 'sandbox', 'sandbox.json'), 'utf8')) as { controlToken: string };
  return { authorization: `Bearer ${details.controlToken}` };
}

/** Every path under `dir` with its permission bits. */
async function modesUnder(dir: string): Promise<[string, number][]> {
  const out: [string, number][] = [[dir, (await stat(dir)).mode & 0o777]];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await modesUnder(p)));
    else if (e.isFile()) out.push([p, (await stat(p)).mode & 0o777]);
  }
  return out;
}

/**
 * `npm start` on a fresh machine: embedded PGlite + the embedded ledger double, and every
 * ledger-facing part wired in — ingestion, withdrawal and deposit automation, the holdings job.
 */
describe('daemon on the embedded default with the embedded ledger double', () => {
  it('ingests the treasury, pays a withdrawal once, and picks up where it left off after a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cxi-daemon-sandbox-'));
    dirs.push(dataDir);
    const config = loadConfig({ DATA_DIR: dataDir, HTTP_PORT: '0', LOG_LEVEL: 'silent' });
    const start = () => startDaemon({ config, logger: testLogger(), embeddedLedger: embeddedSandboxLedger });

    let daemon: Daemon = await start();
    let token = '';
    let request: Record<string, unknown> | undefined;
    const api = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await fetch(daemon.url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      token = (await readFile(join(dataDir, 'sandbox', 'api-token'), 'utf8')).trim();
      // Only the daemon's user can read DATA_DIR: the database files, the sandbox's key and token.
      const loose = (await modesUnder(dataDir)).filter(([, mode]) => (mode & 0o077) !== 0);
      expect(loose).toEqual([]);
      expect(daemon.service).toBeDefined();
      const names = Object.keys(daemon.health().components);
      expect(names).toEqual(expect.arrayContaining(['sandbox', 'ingestion', 'withdrawal-runtime', 'deposit-runtime', 'holdings-job']));

      // The treasury's funding arrives through ingestion, like any ledger fact.
      type Summary = { items: { instrument: { id: string; admin: string }; count: number; total: string }[] };
      const holdings = await until(
        'the treasury holdings to be ingested',
        async () => (await api('GET', '/v1/holdings')).body as unknown as Summary,
        (s) => s.items.some((i) => i.instrument.id === 'Amulet' && i.count >= 2),
      );
      const amulet = holdings.items.find((i) => i.instrument.id === 'Amulet')!;
      // Onboarded with the double's sender fee (0.5 + 0.1 %) as the reserve coin selection covers.
      const onboarded = (await api('GET', `/v1/instruments/${encodeURIComponent(amulet.instrument.admin)}/Amulet`)).body;
      expect(onboarded['feeReserve']).toEqual({ rate: '0.0010000000', flat: '0.5000000000' });

      const ledger = daemon.ledger!;
      const control = await controlHeaders(dataDir);
      const created = await fetch(`${ledger.apiUrl}/sandbox/control/customers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...control },
        body: JSON.stringify({ hint: 'daemon-test-receiver', preapproval: true }),
      });
      const receiver = ((await created.json()) as { party: string }).party;

      request = { withdrawalId: 'sandbox-w-1', account: 'acct-7', instrument: amulet.instrument, amount: '12.5', receiver };
      const posted = await api('POST', '/v1/withdrawals', request);
      expect(posted.status, JSON.stringify(posted.body)).toBe(201);
      const done = await until(
        'the withdrawal to complete',
        async () => (await api('GET', '/v1/withdrawals/sandbox-w-1')).body,
        (w) => w['status'] === 'completed' || w['status'] === 'failed' || w['status'] === 'stalled',
      );
      expect(done['status']).toBe('completed');

      const paid = await fetch(`${ledger.apiUrl}/sandbox/control/books/transfers?memo=sandbox-w-1`, { headers: control });
      const transfers = ((await paid.json()) as { transfers: unknown[] }).transfers;
      expect(transfers).toHaveLength(1);
      // As a data dir from before fee reserves: the next start raises the reserve to the fee.
      await daemon.sql`update instruments set fee_reserve_rate = 0, fee_reserve_flat = 0 where instrument_id = 'Amulet'`;
    } finally {
      await daemon.stop();
    }

    // A restart continues the same ledger and database: nothing is paid or ingested twice.
    daemon = await start();
    try {
      const offsetBefore = (await daemon.sql<{ offset: number }[]>`select ledger_offset as "offset" from ingestion_checkpoint`)[0]?.offset;
      expect(offsetBefore).toBeGreaterThan(0);
      expect((await api('POST', '/v1/withdrawals', request)).status).toBe(200);
      expect((await api('POST', '/v1/withdrawals', { ...request, amount: '13' })).status).toBe(409);
      const w = (await api('GET', '/v1/withdrawals/sandbox-w-1')).body;
      expect(w['status']).toBe('completed');
      const paid = await fetch(`${daemon.ledger!.apiUrl}/sandbox/control/books/transfers?memo=sandbox-w-1`, {
        headers: await controlHeaders(dataDir),
      });
      expect(((await paid.json()) as { transfers: unknown[] }).transfers).toHaveLength(1);
      const [reserve] = await daemon.sql<{ rate: string; flat: string }[]>`
        select fee_reserve_rate::text as rate, fee_reserve_flat::text as flat from instruments where instrument_id = 'Amulet'`;
      expect(reserve).toEqual({ rate: '0.0010000000', flat: '0.5000000000' });
    } finally {
      await daemon.stop();
    }
    // Files written while running (database pages, the double's saved ledger) stay private too.
    expect((await modesUnder(dataDir)).filter(([, mode]) => (mode & 0o077) !== 0)).toEqual([]);
  }, 90_000); // two daemon start-ups with the embedded database and ledger
});

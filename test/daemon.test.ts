import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { HttpBindError } from '../src/http/server.js';
import { acquireDataDirLock, DataDirLockedError } from '../src/store/data-dir-lock.js';
import { createTestDatabase } from './support/db.js';
import { testLogger } from './support/silent-logger.js';

const tmpDirs: string[] = [];
async function tempDataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cxi-daemon-'));
  tmpDirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('daemon on the embedded default', () => {
  it('starts with no external services, answers /health and /ready, stops cleanly and restarts on its data', async () => {
    const dataDir = await tempDataDir();
    const config = loadConfig({ DATA_DIR: dataDir, HTTP_PORT: '0' });
    const daemon = await startDaemon({ config, logger: testLogger() });
    try {
      const health = await fetch(`${daemon.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const ready = await fetch(`${daemon.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', components: 'ok' } });
      await expect(startDaemon({ config, logger: testLogger() })).rejects.toThrow(DataDirLockedError);
      await daemon.sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('a1', 'memo-1', 'cust-1')`;
    } finally {
      await daemon.stop();
    }
    await expect(fetch(`${daemon.url}/health`)).rejects.toThrow();

    const again = await startDaemon({ config, logger: testLogger() });
    try {
      const rows = await again.sql`select memo from deposit_accounts`;
      expect(rows).toEqual([{ memo: 'memo-1' }]);
    } finally {
      await again.stop();
    }
  });
});

/** A port another process holds, for real: a listening socket. */
async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe('an HTTP port in use', () => {
  it('stops start-up before anything started: no database, no embedded ledger, the data dir lock released', async () => {
    const dataDir = await tempDataDir();
    const { port, server } = await occupiedPort();
    try {
      let ledgerStarted = false;
      const config = loadConfig({ DATA_DIR: dataDir, HTTP_PORT: String(port) });
      const start = startDaemon({
        config,
        logger: testLogger(),
        embeddedLedger: async () => {
          ledgerStarted = true;
          throw new Error('the embedded ledger must not be started');
        },
      });
      await expect(start).rejects.toThrow(HttpBindError);
      await expect(start).rejects.toThrow(`HTTP_HOST/HTTP_PORT 127.0.0.1:${port} is already in use by another process`);
      expect(ledgerStarted).toBe(false);
      expect(existsSync(join(dataDir, 'pg'))).toBe(false);
      const release = await acquireDataDirLock(dataDir);
      await release();
    } finally {
      server.close();
    }
  });

  it('ends the process with exit code 1 and one message naming the port', async () => {
    const dataDir = await tempDataDir();
    const { port, server } = await occupiedPort();
    try {
      const proc = runMain({ DATA_DIR: dataDir, HTTP_PORT: String(port), LOG_PRETTY: 'false' });
      expect(await proc.exit).toBe(1);
      const lines = proc
        .output()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string; err?: unknown });
      const errors = lines.filter((l) => l.level >= 50);
      expect(errors).toEqual([
        expect.objectContaining({
          msg: 'start-up failed',
          reason: expect.stringContaining(`127.0.0.1:${port} is already in use by another process`),
        }),
      ]);
      expect(errors[0]!.err).toBeUndefined();
      expect(lines.map((l) => l.msg)).not.toContain('component started');
      expect(existsSync(join(dataDir, 'pg'))).toBe(false);
    } finally {
      server.close();
    }
  }, 30_000);
});

describe('daemon on real Postgres', () => {
  it('migrates the configured database and reports readiness from it', async () => {
    const db = await createTestDatabase();
    try {
      const config = loadConfig({ DATABASE_URL: db.url, HTTP_PORT: '0' });
      const daemon = await startDaemon({ config, logger: testLogger() });
      try {
        const [row] = await daemon.sql<{ n: number }[]>`select count(*)::int as n from schema_migrations`;
        expect(row!.n).toBeGreaterThan(0);
        expect((await fetch(`${daemon.url}/ready`)).status).toBe(200);

        const res = await fetch(`${daemon.url}/no-such-route`, { headers: { 'x-request-id': 'req-abc' } });
        expect(res.status).toBe(404);
        expect(res.headers.get('x-request-id')).toBe('req-abc');
        expect(await res.json()).toEqual({ code: 'NOT_FOUND', message: 'No route GET /no-such-route', details: {} });
      } finally {
        await daemon.stop();
      }
    } finally {
      await db.drop();
    }
  });

  it('turns /ready red when the database goes away', async () => {
    const db = await createTestDatabase();
    const config = loadConfig({ DATABASE_URL: db.url, HTTP_PORT: '0' });
    const daemon = await startDaemon({ config, logger: testLogger() });
    try {
      await db.drop();
      const res = await fetch(`${daemon.url}/ready`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: 'not_ready' });
    } finally {
      await daemon.stop();
    }
  });
});

function runMain(env: Record<string, string>): { child: ReturnType<typeof spawn>; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

describe('the daemon process', () => {
  it('stops with exit code 0 on SIGTERM after starting', async () => {
    const dataDir = await tempDataDir();
    const proc = runMain({ DATA_DIR: dataDir, HTTP_PORT: '0', LOG_PRETTY: 'false' });
    await expect.poll(() => proc.output(), { timeout: 45_000, interval: 200 }).toContain('HTTP server listening');
    proc.child.kill('SIGTERM');
    expect(await proc.exit).toBe(0);
    expect(proc.output()).toContain('"msg":"stopped"');
  }, 60_000);

  it('refuses to start with one clear message naming the bad setting', async () => {
    const proc = runMain({ HTTP_PORT: 'not-a-port' });
    expect(await proc.exit).toBe(2);
    const out = proc.output().trim();
    expect(out.split('\n')).toHaveLength(1);
    expect(out).toBe('Invalid configuration: HTTP_PORT: must be a port number (0-65535)');
  }, 30_000);
});

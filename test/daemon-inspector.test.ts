import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { embeddedSandboxLedger } from '../src/sandbox/embedded-default.js';
import { createTestDatabase } from './support/db.js';

const READ_TOKEN = 'inspect-daemon-reader-0123456789abcdefXYZ';
const WRITE_TOKEN = 'inspect-daemon-writer-0123456789abcdefXYZ';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function settings(apiTokens: unknown[]): Promise<Record<string, string>> {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'cxi-daemon-inspect-'));
  cleanups.push(
    () => db.drop(),
    () => rm(dataDir, { recursive: true, force: true }),
  );
  return {
    DATABASE_URL: db.url,
    DATA_DIR: dataDir,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    INSPECT: 'true',
    INSPECT_PORT: '0',
    API_TOKENS: JSON.stringify(apiTokens),
  };
}

function wsStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });
}

describe('daemon with INSPECT=true', () => {
  it('serves the inspector bridge on HTTP_HOST to read-scoped API tokens only', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }));
    const config = loadConfig(
      await settings([
        { name: 'reader', token: READ_TOKEN, scopes: ['read'] },
        { name: 'writer', token: WRITE_TOKEN, scopes: ['write'] },
      ]),
    );
    const daemon = await startDaemon({ config, logger, embeddedLedger: embeddedSandboxLedger });
    try {
      const listening = lines
        .map((l) => JSON.parse(l) as { msg: string; url?: string; online?: string; offline?: string })
        .find((l) => l.msg.startsWith('Stately inspector bridge listening'));
      const url = new URL(listening!.url!);
      // The hosted inspector needs the internet; the log names the console as the view that does not.
      expect(listening).toMatchObject({ online: 'https://stately.ai/inspect', offline: `${daemon.url}/ui/` });
      expect(listening!.msg).toContain(`offline, the console at ${daemon.url}/ui/`);
      expect((await fetch(listening!.offline!)).status).toBe(200);
      expect(url.hostname).toBe('127.0.0.1');
      expect(lines.join('')).not.toContain(READ_TOKEN);
      expect((await fetch(url)).status).toBe(401);
      expect((await fetch(`${url.href}?token=${WRITE_TOKEN}`)).status).toBe(403);
      expect((await fetch(`${url.href}?token=${READ_TOKEN}`)).status).toBe(200);
      const ws = `ws://${url.host}/`;
      expect(await wsStatus(ws)).toBe(401);
      expect(await wsStatus(`${ws}?token=${READ_TOKEN}`)).toBe(101);
    } finally {
      await daemon.stop();
    }
  });

  it('refuses to start the bridge when no API token has the read scope', async () => {
    const config = loadConfig({ ...(await settings([{ name: 'writer', token: WRITE_TOKEN, scopes: ['write'] }])), LOG_LEVEL: 'silent' });
    await expect(startDaemon({ config, logger: pino({ level: 'silent' }), embeddedLedger: embeddedSandboxLedger })).rejects.toThrow(
      /INSPECT: the inspector bridge admits only API tokens with the read scope/,
    );
  });
});

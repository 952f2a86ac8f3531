import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, buildApiApp } from './support/api-app.js';
import { STACK_API_TOKEN, startStack, type Stack } from './support/stack.js';

/** GET /v1/ingestion and `cxi ingestion [--follow]`: a catch-up an operator can watch. */

const run = promisify(execFile);
let s: Stack;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  s = await startStack();
  await s.fundTreasury('Amulet', '100', 2);
  env = { ...process.env, CXI_URL: s.daemon.apiUrl, CXI_TOKEN: STACK_API_TOKEN.token };
});
afterAll(() => s?.close());

const cxi = (...args: string[]) => run(process.execPath, ['bin/cxi.js', ...args], { env });

describe('ingestion progress', () => {
  it('reports checkpoint, ledger end and lag; --follow prints progress until caught up', async () => {
    await s.caughtUp();
    const end = s.sandbox.control.books.ledgerEnd().offset;
    const now = await s.api('GET', '/v1/ingestion');
    expect(now).toMatchObject({ status: 200, body: { state: 'running', checkpointOffset: end, ledgerEnd: end, lag: 0 } });

    // Paused, the ledger moves on and the lag shows it.
    expect((await s.api('POST', '/v1/admin/switches/ingestion/pause', { reason: 'catch-up test' })).status).toBe(200);
    await expect.poll(() => s.daemon.ingestion.status().state).toBe('paused');
    const customer = s.customer({ fund: [{ instrument: 'Amulet', amount: '50' }] });
    for (let i = 0; i < 3; i++)
      s.sandbox.control.transfer({ from: customer, to: s.treasury, instrument: 'Amulet', amount: '1', memo: `lag-${i}` });
    const behind = (await s.api('GET', '/v1/ingestion')).body;
    expect(behind['state']).toBe('paused');
    expect(behind['lag']).toBeGreaterThan(0);
    expect(behind['ledgerEnd']).toBe(s.sandbox.control.books.ledgerEnd().offset);

    const shown = JSON.parse((await cxi('--json', 'ingestion')).stdout) as { lag: number };
    expect(shown.lag).toBe(behind['lag']);

    expect((await s.api('POST', '/v1/admin/switches/ingestion/resume', {})).status).toBe(200);
    const { stdout } = await cxi('ingestion', '--follow', '--interval', '0.2');
    const lines = stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/lag 0/);
    expect((await s.api('GET', '/v1/ingestion')).body).toMatchObject({ lag: 0, state: 'running' });
  });

  it('needs a token; a process without a ledger answers 503', async () => {
    const res = await fetch(`${s.daemon.apiUrl}/v1/ingestion`);
    expect(res.status).toBe(401);
    const app = await buildApiApp(s.sql);
    try {
      const noLedger = await app.inject({ method: 'GET', url: '/v1/ingestion', headers: auth('read') });
      expect(noLedger.statusCode).toBe(503);
      expect(noLedger.json()).toMatchObject({ code: 'NOT_READY' });
    } finally {
      await app.close();
    }
  });
});

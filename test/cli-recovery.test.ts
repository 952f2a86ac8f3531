import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { readRecoveryProgress } from '../src/store/recovery.js';
import { STACK_API_TOKEN, startStack, type Stack } from './support/stack.js';

/** `cxi recovery after-db-restore` and `cxi recovery status` (issue 20): what an operator sees. */

const run = promisify(execFile);
let s: Stack;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  // The run's pauses and resumes are logged as warnings: quiet unless asked for.
  s = await startStack({ logger: createLogger({ level: process.env.LOG_LEVEL ?? 'error', pretty: false }) });
  await s.fundTreasury('Amulet', '100', 1);
  env = { ...process.env, CXI_URL: s.daemon.apiUrl, CXI_TOKEN: STACK_API_TOKEN.token };
});
afterAll(() => s?.close());

const cxi = (...args: string[]) => run(process.execPath, ['bin/cxi.js', ...args], { env });

describe('cxi recovery', () => {
  it('after-db-restore prints what it paused and waits for, its progress, and when it resumed', async () => {
    expect((await cxi('recovery', 'status')).stdout).toMatch(/none: the database was never marked restored/);
    const following = cxi('recovery', 'after-db-restore', '--interval', '0.2');
    const until = Date.now() + 20_000;
    let remaining: number | null = null;
    while (remaining === null) {
      if (Date.now() > until) throw new Error('the run did not start');
      remaining = (await readRecoveryProgress(s.sql, s.treasury)).remainingMs;
      await new Promise((r) => setTimeout(r, 50));
    }
    const status = (await cxi('recovery', 'status')).stdout;
    expect(status).toMatch(/waiting/);
    expect(status).toMatch(/withdrawals, acceptance/);
    await s.advanceClock(remaining + 1_000);
    const out = (await following).stdout;
    expect(out).toMatch(/^after-db-restore #\d+ started: paused withdrawals, acceptance$/m);
    expect(out).toMatch(
      /^waiting until the ingested record time passes \S+ \(latest known deadline none; attempts after the backup: at most 900 s\)$/m,
    );
    expect(out).toMatch(/^ {2}ingested record time \S+ {2}\d+ s to go$/m);
    expect(out).toMatch(/^done at \S+ \(ingested record time \S+\): withdrawals and accepts resumed/m);
    expect(JSON.parse((await cxi('--json', 'recovery', 'status')).stdout)).toMatchObject({
      recovery: { state: 'done', pausedSwitches: ['withdrawals', 'acceptance'] },
    });
  });
});

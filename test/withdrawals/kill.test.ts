import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_API_TOKEN, startStack, type Stack } from '../support/stack.js';
import { checkPaidAtMostOnce } from './support/money.js';

/**
 * The real thing: the daemon runs in its own process and is SIGKILLed — no drain, no cleanup, its
 * database sessions die with it — at chosen points of a withdrawal. The next process (itself
 * killed at the next point) picks everything up; each withdrawal is paid exactly once.
 */

const CHILD = fileURLToPath(new URL('./support/daemon-child.ts', import.meta.url));
let stack: Stack;
let token: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ daemon: false });
  await stack.fundTreasury('Amulet', '1000', 10);
  token = await stack.sandbox.tokenFor(stack.sandbox.treasury!.userId, { expiresInSeconds: 3600 });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await stack.close();
});

interface Daemon {
  apiUrl: string;
  exited: Promise<NodeJS.Signals | number | null>;
  child: ChildProcess;
}

async function daemon(killAt?: string): Promise<Daemon> {
  const s = stack.sandbox;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      CHILD,
      '--db',
      stack.dbUrl,
      '--ledger',
      s.jsonApiUrl,
      '--token',
      token,
      '--party',
      stack.treasury,
      '--user',
      s.treasury!.userId,
      '--key-file',
      stack.keyFile,
      ...(killAt ? ['--kill-at', killAt] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const apiUrl = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (line.startsWith('ready ')) resolve(line.slice('ready '.length));
    });
    void exited.then((how) => reject(new Error(`daemon exited before it was ready (${String(how)})`)));
  });
  return { apiUrl, exited, child };
}

async function request(d: Daemon, withdrawalId: string, receiver: string): Promise<void> {
  const res = await fetch(`${d.apiUrl}/v1/withdrawals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${STACK_API_TOKEN.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      withdrawalId,
      account: 'acct-1',
      instrument: { admin: stack.cc.admin, id: stack.cc.id },
      amount: '10',
      receiver,
    }),
  });
  expect(res.status).toBe(201);
}

describe('the daemon process is killed (SIGKILL) and restarted', () => {
  it('at several points of several withdrawals: every withdrawal is paid exactly once', async () => {
    const bob = stack.customer({ preapproval: true });
    const points = ['reserveHoldings:after', 'verifyAndSign:after', 'executeSubmission:before', 'executeSubmission:after'];
    const ids: string[] = [];
    for (const [i, p] of points.entries()) {
      const id = `w-kill-${i}-${p.replace(':', '-')}`;
      ids.push(id);
      const d = await daemon(`${p}:${id}`);
      await request(d, id, bob);
      expect(await d.exited).toBe('SIGKILL');
    }
    // Killed with its execute in flight, and the ledger committing after the process is gone.
    stack.sandbox.control.holdCommits();
    const inflight = await daemon();
    ids.push('w-kill-inflight');
    await request(inflight, 'w-kill-inflight', bob);
    await stack.waitForWithdrawal('w-kill-inflight', 'executing');
    await new Promise((r) => setTimeout(r, 50));
    inflight.child.kill('SIGKILL');
    expect(await inflight.exited).toBe('SIGKILL');
    await stack.sandbox.control.releaseCommits();

    const last = await daemon();
    for (const id of ids)
      expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'], 30_000)).toMatchObject({
        status: 'completed',
        attempt: 1,
      });
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);
    const report = await checkPaidAtMostOnce(stack, ids);
    expect(report.rows.map((r) => report.transfers.get(r.withdrawalId)?.length)).toEqual(ids.map(() => 1));
  });
});

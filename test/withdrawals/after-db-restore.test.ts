import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { addAmounts, compareAmounts } from '../../src/lib/decimal.js';
import { readRecoveryProgress } from '../../src/store/recovery.js';
import { listSwitches, setSwitch } from '../../src/store/switches.js';
import { startStack, type Stack } from '../support/stack.js';
import { checkPaidAtMostOnce } from './support/money.js';
import { backupDatabase, type Backup } from './support/restore.js';

/**
 * Issue 20: the database-restore runbook, end to end against the double. A backup is taken while
 * a withdrawal is in flight; after it, withdrawals and a deposit commit on the ledger; the
 * database is restored and the daemon restarted; `after-db-restore` holds withdrawals and accepts
 * until the ingested record time has passed tSafe, then resumes. Nothing is paid twice, nothing is
 * lost, and the treasury's funds and credits equal the double's books.
 */

let stack: Stack;
let bob: string;
let carol: string;
const backups: Backup[] = [];

beforeAll(async () => {
  // Pauses and resumes are logged as warnings: quiet unless asked for.
  stack = await startStack({ logger: createLogger({ level: process.env.LOG_LEVEL ?? 'error', pretty: false }) });
  bob = stack.customer({ preapproval: true });
  carol = stack.customer({ preapproval: true, fund: [{ instrument: 'Amulet', amount: '500' }] });
});
afterAll(async () => {
  for (const b of backups) await b.remove();
  await stack.close();
});

const recovery = () => readRecoveryProgress(stack.sql, stack.treasury);
const switchState = async (name: 'withdrawals' | 'acceptance') => (await listSwitches(stack.sql)).find((s) => s.name === name)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(ok: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('database restored from a backup: cxi recovery after-db-restore (issue 20)', () => {
  it('rehearses the runbook: held until tSafe, resumable, nothing paid twice, funds and credits equal the books', async () => {
    const memo = 'acct-restore';
    await stack.depositAccount(memo);
    await stack.fundTreasury('Amulet', '1000', 3);
    await stack.requestWithdrawal({ withdrawalId: 'r-before', receiver: bob, instrument: 'Amulet', amount: '10' });
    await stack.waitForWithdrawal('r-before', 'completed');

    const backup = await backupDatabase(stack.sql, stack.dbUrl);
    backups.push(backup);

    // After the backup: two payouts and a deposit commit; the restore takes their rows away.
    await stack.requestWithdrawal({ withdrawalId: 'r-after-1', receiver: carol, instrument: 'Amulet', amount: '11' });
    await stack.requestWithdrawal({ withdrawalId: 'r-after-2', receiver: carol, instrument: 'Amulet', amount: '12' });
    await stack.waitForWithdrawal('r-after-1', 'completed');
    await stack.waitForWithdrawal('r-after-2', 'completed');
    stack.sandbox.control.transfer({ from: carol, to: stack.treasury, instrument: 'Amulet', amount: '25', memo });
    await stack.caughtUp();
    const credited = await stack.sql<
      { deposit_id: string; credited_amount: string }[]
    >`select deposit_id, credited_amount::text from deposits where account_id is not null and status = 'credited'`;
    expect(credited).toHaveLength(1);

    await stack.crash();
    await backup.restore();
    await stack.restart();

    // An operator had paused acceptance before: the run must leave it to them.
    await setSwitch(stack.sql, 'acceptance', { paused: true, reason: 'operator: looking at offers', by: 'ops' });
    const started = await stack.api('POST', '/v1/admin/recovery/after-db-restore', {});
    expect(started.status).toBe(200);
    const run = started.body['recovery'] as {
      recoveryId: number;
      state: string;
      pausedSwitches: string[];
      safeRecordTime: string;
      assumedTtlMs: number;
    };
    expect(started.body['started']).toBe(true);
    expect(run).toMatchObject({ state: 'waiting', pausedSwitches: ['withdrawals'], assumedTtlMs: 15 * 60_000 });
    expect(Date.parse(run.safeRecordTime)).toBeGreaterThanOrEqual(Date.now() + 15 * 60_000 - 60_000);
    expect(await switchState('withdrawals')).toMatchObject({ paused: true });
    expect(started.body['detail']).toMatch(/withdrawals held until the ingested record time passes/);
    // What /health shows of the component.
    expect(stack.daemon.recovery.status()).toMatchObject({
      state: 'running',
      detail: expect.stringMatching(/^after-db-restore #\d+: withdrawals held until/),
    });

    // Ingestion reads what the lost rows did meanwhile: the payouts come back as recovered, the deposit is credited again.
    await stack.caughtUp();
    for (const id of ['r-after-1', 'r-after-2']) expect((await stack.waitForWithdrawal(id, () => true)).status).toBe('recovered');
    // A request made while the run waits is held: nothing reserved, nothing submitted.
    await stack.requestWithdrawal({ withdrawalId: 'r-during', receiver: bob, instrument: 'Amulet', amount: '13' });
    await sleep(300);
    expect(stack.sandbox.control.books.transfers('r-during')).toHaveLength(0);

    // Running the command again (or after a crash) continues the same run: nothing paused twice.
    await stack.restart();
    const again = await stack.api('POST', '/v1/admin/recovery/after-db-restore', {});
    expect(again.body).toMatchObject({
      started: false,
      recovery: { recoveryId: run.recoveryId, state: 'waiting', pausedSwitches: ['withdrawals'] },
    });
    expect((await recovery()).run?.state).toBe('waiting');

    // The ledger's record time passes tSafe: the run ends and resumes what it paused, only that.
    const remaining = (await recovery()).remainingMs!;
    expect(remaining).toBeGreaterThan(0);
    await stack.advanceClock(remaining + 1_000);
    await waitUntil(async () => (await recovery()).run?.state === 'done', 'the recovery run to end');
    expect(await switchState('withdrawals')).toMatchObject({ paused: false });
    expect(await switchState('acceptance')).toMatchObject({ paused: true, reason: 'operator: looking at offers' });
    const status = await stack.api('GET', '/v1/admin/recovery');
    expect(status.body).toMatchObject({ recovery: { recoveryId: run.recoveryId, state: 'done' }, remainingMs: null, detail: null });
    await stack.daemon.switches.resume('acceptance', 'ops');

    await stack.waitForWithdrawal('r-during', 'completed');
    // Nothing paid twice; the recovered ones paid exactly once.
    await checkPaidAtMostOnce(stack, ['r-before', 'r-during', 'r-after-1', 'r-after-2']);
    for (const id of ['r-after-1', 'r-after-2']) expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    // Credits equal the ledger: the deposit made after the backup credited once, same id and amount.
    const after = await stack.sql<
      { deposit_id: string; credited_amount: string }[]
    >`select deposit_id, credited_amount::text from deposits where account_id is not null and status = 'credited'`;
    expect(after).toEqual(credited);
    const onLedger = stack.sandbox.control.books.transfers(memo).reduce((sum, t) => addAmounts(sum, t.amount), '0');
    expect(compareAmounts(onLedger, '25')).toBe(0);
    // Funds: the treasury's holdings in the database are the ledger's.
    await stack.caughtUp();
    const rec = await stack.api('GET', '/v1/reconciliation');
    expect(rec.body).toMatchObject({ clean: true });
  });
});

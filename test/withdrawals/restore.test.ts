import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WithdrawalActors } from '../../src/machines/withdrawal.actors.js';
import { setSwitch } from '../../src/store/switches.js';
import { releaseRuntimeLock, tryRuntimeLock } from '../../src/store/machines.js';
import { findWithdrawal } from '../../src/store/withdrawals.js';
import { WITHDRAWAL_LOCK_KEY } from '../../src/machines/runtime/withdrawal.js';
import { startStack, type Stack } from '../support/stack.js';
import { checkPaidAtMostOnce, withdrawalEvents } from './support/money.js';
import { backupDatabase, type Backup } from './support/restore.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * Issue 19, item 1: a database restore must never pay a withdrawal again. The backup is taken
 * while withdrawal w is `preparing` with holding h1 reserved and nothing submitted; w then commits
 * and spends h1; the database is restored and the daemon restarts before ingestion has read that
 * update again (here: ingestion is paused by its operator switch, so "before" lasts as long as the
 * test wants). The restored machine must learn from ingestion that the ledger already paid it —
 * never take the ledger's "input unavailable" as a reason to reserve other holdings.
 */

let stack: Stack;
let bob: string;
const ids: string[] = [];
const backups: Backup[] = [];

beforeAll(async () => {
  // Pausing and resuming ingestion is logged as a warning: quiet unless asked for.
  stack = await startStack({ logger: testLogger() });
  bob = stack.customer({ preapproval: true });
});
afterAll(async () => {
  await checkPaidAtMostOnce(stack, ids);
  for (const b of backups) await b.remove();
  await stack.close();
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Holds the first prepare of one withdrawal until released; `reached` once it is called. */
function holdFirst(withdrawalId: string) {
  const reached = deferred();
  const release = deferred();
  let fired = false;
  const wait = async (id: string) => {
    if (fired || id !== withdrawalId) return;
    fired = true;
    reached.resolve();
    await release.promise;
  };
  const intercept = (a: WithdrawalActors): WithdrawalActors => ({
    ...a,
    prepareTransfer: async (input, signal) => (await wait(input.withdrawalId), a.prepareTransfer(input, signal)),
  });
  return { intercept, reached: reached.promise, release: release.resolve };
}

async function backup(): Promise<Backup> {
  const b = await backupDatabase(stack.sql, stack.dbUrl);
  backups.push(b);
  return b;
}

/** Crash, restore, and restart with ingestion paused: the daemon starts before ingestion re-reads anything. */
async function restoreAndRestart(b: Backup): Promise<void> {
  await stack.crash();
  await b.restore();
  await setSwitch(stack.sql, 'ingestion', { paused: true, reason: 'test: ingestion lags the restored database', by: 'test' });
  await stack.restart({ intercept: {} });
}

async function resumeIngestion(): Promise<void> {
  await stack.daemon.switches.resume('ingestion', 'test');
}

const freeAmulet = () => stack.sandbox.control.books.holdings(stack.treasury).filter((h) => h.instrumentId === stack.cc.id && !h.locked);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a database restore never pays a withdrawal again (issue 19, item 1)', () => {
  it('h1 was the only holding: the restored withdrawal ends completed, not failed with a re-credit', async () => {
    const id = 'w-restore-only';
    ids.push(id);
    await stack.fundTreasury('Amulet', '1000', 1);
    const hold = holdFirst(id);
    await stack.restart({ intercept: { withdrawal: hold.intercept } });
    await stack.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' });
    await hold.reached;
    expect(await stack.waitForWithdrawal(id, 'preparing')).toMatchObject({ attempt: 1 });
    const b = await backup();
    hold.release();
    await stack.waitForWithdrawal(id, 'completed');
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);

    await restoreAndRestart(b);
    expect(await stack.waitForWithdrawal(id, () => true)).toMatchObject({ status: 'preparing', attempt: 1 });
    // Long enough for a machine that trusts its snapshot to prepare, fail on the spent input, and
    // run through its attempts.
    await sleep(1_500);
    expect((await stack.waitForWithdrawal(id, () => true)).status).not.toMatch(/^(failed|completed)$/);
    await resumeIngestion();
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    expect((await withdrawalEvents(stack, id)).map((e) => e.topic)).not.toContain('withdrawal.failed');
  });

  it('another free holding is present: the restored withdrawal pays exactly once', async () => {
    const id = 'w-restore-other';
    ids.push(id);
    await stack.fundTreasury('Amulet', '1000', 1);
    const hold = holdFirst(id);
    await stack.restart({ intercept: { withdrawal: hold.intercept } });
    await stack.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' });
    await hold.reached;
    // A holding smaller than any other arrives after the reservation: a second attempt would take it first.
    const minted = stack.sandbox.control.mint(stack.treasury, stack.cc.id, '20');
    await stack.caughtUp();
    const other = freeAmulet().find((h) => h.createdOffset === minted.offset)!;
    const b = await backup();
    hold.release();
    await stack.waitForWithdrawal(id, 'completed');

    await restoreAndRestart(b);
    await sleep(1_500);
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    await resumeIngestion();
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    expect(freeAmulet().map((h) => h.contractId)).toContain(other.contractId);
  });

  it('the first execute commits only after the restored daemon started: the dead input waits for ingestion, never other holdings', async () => {
    const id = 'w-restore-late';
    ids.push(id);
    await stack.fundTreasury('Amulet', '1000', 1);
    const first = holdFirst(id);
    await stack.restart({ intercept: { withdrawal: first.intercept } });
    await stack.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' });
    await first.reached;
    stack.sandbox.control.mint(stack.treasury, stack.cc.id, '20');
    await stack.caughtUp();
    const b = await backup();
    // The execute reaches the participant, which commits it only later; the daemon dies meanwhile.
    stack.sandbox.control.holdCommits();
    first.release();
    await stack.waitForWithdrawal(id, 'executing');
    await sleep(50);
    await stack.crash();
    await b.restore();

    // The restored daemon catches up with the ledger (nothing of this withdrawal committed yet),
    // and its machine prepares again ...
    const second = holdFirst(id);
    await stack.restart({ intercept: { withdrawal: second.intercept } });
    await second.reached;
    // ... then ingestion lags, and the held commit lands: attempt 1 spent its input.
    await stack.daemon.switches.pause('ingestion', 'test: ingestion lags', 'test');
    await waitUntil(() => stack.daemon.ingestion.status().state === 'paused');
    await stack.sandbox.control.releaseCommits();
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    second.release();
    // Long enough to fail on the spent input, release it and pay from another holding.
    await sleep(1_500);
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    expect((await stack.waitForWithdrawal(id, () => true)).status).toBe('checking_ledger');
    await resumeIngestion();
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
  });
});

describe('a request the exchange re-sends after a restore whose transfer ingestion reads again first', () => {
  it('is followed to its outcome (completed), never paid again nor left requested', async () => {
    const id = 'w-restore-resent';
    ids.push(id);
    await stack.fundTreasury('Amulet', '1000', 1);
    const b = await backup();
    const request = { withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' } as const;
    await stack.requestWithdrawal(request);
    await stack.waitForWithdrawal(id, 'completed');
    await stack.crash();
    await b.restore();

    // Another instance leads the withdrawal runtime for a while: the re-sent request's event waits
    // while ingestion reads the transfer again and attaches it to the re-sent row.
    const lock = await stack.sql.reserve();
    try {
      expect((await tryRuntimeLock(lock, WITHDRAWAL_LOCK_KEY)).ok).toBe(true);
      await stack.restart({ intercept: {} });
      await stack.requestWithdrawal(request);
      await stack.caughtUp();
      expect(await findWithdrawal(stack.sql, id)).toMatchObject({ status: 'requested', recovered: false, transfer: expect.anything() });
    } finally {
      await releaseRuntimeLock(lock, WITHDRAWAL_LOCK_KEY);
      lock.release();
    }
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed' });
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    expect((await withdrawalEvents(stack, id)).map((e) => e.topic)).not.toContain('withdrawal.failed');
  });
});

async function waitUntil(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error('timed out');
    await sleep(10);
  }
}

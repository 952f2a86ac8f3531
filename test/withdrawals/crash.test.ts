import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerEffects, createWithdrawalLedgerActors } from '../../src/machines/effects/index.js';
import { type ActorError } from '../../src/machines/failure.js';
import { Failure } from '../../src/failures.js';
import { SignedSubmission } from '../../src/machines/submission.js';
import type { WithdrawalActors } from '../../src/machines/withdrawal.actors.js';
import { startStack, type Stack } from '../support/stack.js';
import { CRASH_POINTS, crashAt, effectTarget, type CrashPoint } from './support/crash.js';
import { checkPaidAtMostOnce, committedInputsByMemo } from './support/money.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

/**
 * Crashes: the daemon dies (runtimes abort without draining, ingestion and HTTP stop) at every
 * point a withdrawal can be in, the ledger carries on, a new daemon starts on the same database.
 * Each withdrawal must be paid exactly once. Also the two ledger-side ambiguities: a commit whose
 * answer is lost, and a second submission of the same withdrawal.
 */

let stack: Stack;
let bob: string;
const ids: string[] = [];

beforeAll(async () => {
  stack = await startStack();
  await stack.fundTreasury('Amulet', '1000', 30);
  await stack.fundTreasury('UTK', '1000', 5);
  bob = stack.customer({ preapproval: true });
});
afterAll(async () => {
  await checkPaidAtMostOnce(stack, ids);
  await stack.close();
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Restarts the daemon with `intercept`, requests the withdrawal, waits until the crash point fired and the daemon is down. */
async function crashDuring(
  id: string,
  intercept: (onCrash: () => void) => (a: WithdrawalActors) => WithdrawalActors,
  request: { instrument?: string; receiver?: string } = {},
): Promise<void> {
  const crashed = deferred();
  await stack.restart({ intercept: { withdrawal: intercept(() => void stack.crash().then(crashed.resolve)) } });
  ids.push(id);
  expect(
    (
      await stack.requestWithdrawal({
        withdrawalId: id,
        receiver: request.receiver ?? bob,
        instrument: request.instrument ?? 'Amulet',
        amount: '10',
      })
    ).status,
  ).toBe(201);
  await crashed.promise;
}

describe('the daemon crashes at every point of a withdrawal and restarts: paid exactly once', () => {
  it.each(CRASH_POINTS.map((p) => [`${p.when} ${p.step}`, p] as const))('crash %s', async (_name, p) => {
    const id = `w-${p.step}-${p.when}`;
    const point: CrashPoint = { ...p, withdrawalId: id };
    await crashDuring(id, (onCrash) => crashAt(point, onCrash));
    const whileDown = stack.sandbox.control.books.transfers(id).length;
    // `after executeSubmission` is the one point where the ledger already has it.
    expect(whileDown).toBe(p.step === 'executeSubmission' && p.when === 'after' ? 1 : 0);
    if (p.step === 'verifyAndSign' || p.step === 'executeSubmission') {
      // The stored snapshot holds the prepared transaction by reference (machine_blobs): the
      // restart below restores through it.
      const [stored] = await stack.sql<{ size: number; blobs: number }[]>`
        select length(snapshot::text)::int as size,
               (select count(*)::int from machine_blobs b where b.machine_type = 'withdrawal' and b.machine_id = ${id}) as blobs
        from machine_snapshots where machine_type = 'withdrawal' and machine_id = ${id}`;
      expect(stored).toMatchObject({ blobs: 1, size: expect.any(Number) });
      expect(stored!.size).toBeLessThan(16_000);
    }
    await stack.restart({ intercept: {} });
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
  });

  it('crash while the execute is in flight, the ledger commits while the daemon is down', async () => {
    const id = 'w-execute-inflight';
    stack.sandbox.control.holdCommits();
    await stack.restart({ intercept: {} });
    ids.push(id);
    await stack.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' });
    await stack.waitForWithdrawal(id, 'executing');
    await new Promise((r) => setTimeout(r, 50));
    await stack.crash();
    await stack.sandbox.control.releaseCommits();
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
    await stack.restart();
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('crash while awaiting the ledger (execute accepted, not yet committed), commit while down', async () => {
    const id = 'w-awaiting';
    stack.sandbox.control.holdCommits();
    await stack.restart({ effects: { execute: 'async' } });
    ids.push(id);
    await stack.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' });
    await stack.waitForWithdrawal(id, 'awaiting_ledger');
    await stack.crash();
    await stack.sandbox.control.releaseCommits();
    await stack.restart({ effects: {} });
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('crash while a 2-step offer awaits acceptance; the receiver accepts while the daemon is down', async () => {
    const id = 'w-pending';
    const carol = stack.customer();
    await stack.restart({ intercept: {} });
    ids.push(id);
    await stack.requestWithdrawal({ withdrawalId: id, receiver: carol, instrument: 'UTK', amount: '10' });
    const pending = await stack.waitForWithdrawal(id, 'pending_acceptance');
    await stack.crash();
    stack.sandbox.control.accept(pending.transfer!.transferInstructionCid!);
    await stack.restart();
    expect(await stack.waitForWithdrawal(id, ['completed', 'failed'])).toMatchObject({ status: 'completed' });
  });
});

describe('ledger ambiguity', () => {
  it.each(['reset', 'timeout'] as const)(
    'committed but the answer was lost (%s): resubmitted, found already done, paid once',
    async (mode) => {
      const id = `w-lost-${mode}`;
      await stack.restart({ intercept: {}, effects: {} });
      stack.sandbox.control.addFault({
        match: { path: '/v2/interactive-submission/execute*' },
        action: { kind: 'commitLoseResponse', mode },
        once: true,
      });
      ids.push(id);
      await stack.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' });
      expect(await stack.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
      expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
      const history = await stack.sql<
        { event_type: string }[]
      >`select event_type from machine_transitions where machine_id = ${id} order by seq`;
      expect(history.map((h) => h.event_type)).toContain('xstate.error.actor.executeSubmission');
    },
  );

  it('a duplicate submission of a paid withdrawal is refused by the ledger: the same signed transaction, a new one over the same inputs, after the dedup window', async () => {
    const id = 'w-duplicate';
    // The signed transaction is stored nowhere once the withdrawal is final: keep what was executed.
    let executed: SignedSubmission | undefined;
    await stack.restart({
      intercept: {
        withdrawal: (a) => ({
          ...a,
          executeSubmission: (input, signal) => {
            if (input.signed.commandId.includes(id)) executed = input.signed;
            return a.executeSubmission(input, signal);
          },
        }),
      },
      effects: { deduplicationSeconds: 60 },
    });
    ids.push(id);
    await stack.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' });
    await stack.waitForWithdrawal(id, 'completed');
    const signed = SignedSubmission.parse(executed);
    const effects = createLedgerEffects({
      sql: stack.sql,
      ledger: stack.ledger,
      registryPolicy: TEST_REGISTRY_POLICY,
      logger: stack.logger,
      options: { deduplicationSeconds: 60 },
    });
    const wd = createWithdrawalLedgerActors({ effects });
    const signal = new AbortController().signal;
    expect(await wd.executeSubmission({ submissionId: 'again-1', signed }, signal)).toEqual({ duplicate: true });
    // A new transaction of the same withdrawal over the same (now spent) inputs cannot even be prepared.
    const inputs = committedInputsByMemo(stack).get(id)!;
    const now = Date.parse(stack.sandbox.control.clockNow().time);
    const intent = {
      withdrawalId: id,
      attempt: 1,
      sender: stack.treasury,
      receiver: bob,
      amount: '10.0000000000',
      instrument: { admin: stack.cc.admin, id: stack.cc.id },
      inputHoldingCids: inputs,
      requestedAt: new Date(now - 1000).toISOString(),
      executeBefore: new Date(now + 3_600_000).toISOString(),
      memo: id,
    };
    const factory = await wd.fetchTransferFactory(intent, signal);
    const again = await wd
      .prepareTransfer({ ...intent, factory, commandId: `withdrawal-${id}-9`, maxRecordTime: new Date(now + 60_000).toISOString() }, signal)
      .then(
        () => undefined,
        (e: unknown) => (e as ActorError).failure,
      );
    expect(again).toMatchObject({ code: Failure.INPUT_UNAVAILABLE });
    // Once the ledger's dedup window is over, the spent inputs still refuse it.
    stack.sandbox.control.advanceClock(120_000);
    const refused = await wd.executeSubmission({ submissionId: 'again-2', signed }, signal).then(
      () => undefined,
      (e: unknown) => (e as ActorError).failure,
    );
    expect(refused).toMatchObject({ code: Failure.INPUT_UNAVAILABLE, definiteAnswer: true });
    expect(stack.sandbox.control.books.transfers(id)).toHaveLength(1);
  });
});

/**
 * Expiry needs the ledger's record time to pass a deadline the database set with the wall clock,
 * and the next attempt a deadline still ahead of it: a manual clock moved past one deadline stays
 * past the next. So this runs on the real clock with 3-second attempts.
 */
describe('the daemon crashes while retrying an expired attempt', () => {
  let real: Stack;
  const realIds: string[] = [];
  beforeAll(async () => {
    real = await startStack({ clock: 'real', withdrawalPolicy: { attemptTtlMs: 3_000 } });
    await real.fundTreasury('Amulet', '1000', 6);
  });
  afterAll(async () => {
    await checkPaidAtMostOnce(real, realIds);
    await real.close();
  });

  /** The first attempt's execute is "accepted" but never reaches the ledger: only its expiry lets the withdrawal move on. */
  const dropFirstAttempt = (a: WithdrawalActors): WithdrawalActors => ({
    ...a,
    executeSubmission: async (input, signal) =>
      effectTarget('executeSubmission', input)?.attempt === 1 ? {} : a.executeSubmission(input, signal),
  });

  it.each(['before', 'after'] as const)('crash %s releasing the expired attempt: the next attempt pays, once', async (when) => {
    const id = `w-release-${when}`;
    const receiver = real.customer({ preapproval: true });
    const crashed = deferred();
    const point: CrashPoint = { step: 'releaseReservation', when, withdrawalId: id };
    await real.restart({
      intercept: { withdrawal: (a) => crashAt(point, () => void real.crash().then(crashed.resolve))(dropFirstAttempt(a)) },
    });
    realIds.push(id);
    await real.requestWithdrawal({ withdrawalId: id, receiver, instrument: 'Amulet', amount: '10' });
    await real.waitForWithdrawal(id, 'awaiting_ledger');
    // Ingestion sees the record time pass the deadline, reports the attempt expired, the machine releases.
    await crashed.promise;
    expect(real.sandbox.control.books.transfers(id)).toHaveLength(0);
    await real.restart({ intercept: { withdrawal: dropFirstAttempt } });
    expect(await real.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 2 });
    expect(real.sandbox.control.books.transfers(id)).toHaveLength(1);
    // The expired attempt's holdings were released only after ingestion saw the deadline pass.
    const attempts = await real.sql<
      { attempt: number; released: boolean }[]
    >`select attempt, released_at is not null as released from holding_reservations where withdrawal_id = ${id} order by attempt`;
    expect(attempts.filter((a) => a.attempt === 1).every((a) => a.released)).toBe(true);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDeposit } from '../../src/store/deposits.js';
import { startStack, type Stack } from '../support/stack.js';
import {
  acceptsOnLedger,
  amt,
  checkCreditedOnce,
  deferred,
  depositEvents,
  hang,
  waitForMachine,
  wrapDepositActors,
  type DepositStep,
} from './support.js';

/**
 * Crashes: the daemon dies (runtimes abort without draining, ingestion and HTTP stop) in every
 * state a deposit's accept can be in; the ledger carries on; a new daemon starts on the same
 * database. Each deposit must end credited exactly once: one accept on the ledger, one credited
 * row, one `deposit.credited` event, and the account's totals say so.
 */

let stack: Stack;
let sender: string;
const ids: string[] = [];
let n = 0;

beforeAll(async () => {
  stack = await startStack();
  sender = stack.customer({ fund: [{ instrument: 'UTK', amount: '10000' }] });
});
afterAll(async () => {
  await checkCreditedOnce(stack, ids);
  await stack.close();
});

/** A fresh deposit account for each test, so its totals are that deposit's alone. */
async function freshAccount(): Promise<{ accountId: string; memo: string }> {
  const memo = `memo-crash-${++n}`;
  return { accountId: await stack.depositAccount(memo), memo };
}

/** The customer offers `amount` UTK to the treasury (the offer commits directly, not through /execute). */
function offer(memo: string, amount: string): string {
  const cid = stack.sandbox.control.transfer({ from: sender, to: stack.treasury, instrument: 'UTK', amount, memo }).transferInstructionCid!;
  ids.push(cid);
  return cid;
}

async function expectCreditedOnce(cid: string, accountId: string, amount: string): Promise<void> {
  const row = await stack.waitForDeposit(cid, ['credited', 'accept_failed', 'withdrawn', 'expired', 'failed', 'rejected'], 20_000);
  expect(row).toMatchObject({ status: 'credited', accountId, creditedAmount: amt(amount) });
  await waitForMachine(stack, cid, 'credited');
  expect(acceptsOnLedger(stack, cid)).toHaveLength(1);
  const credits = (await depositEvents(stack, cid)).filter((e) => e.topic === 'deposit.credited');
  expect(credits).toHaveLength(1);
  const account = await stack.api('GET', `/v1/accounts/${accountId}`);
  expect(account.body['credited']).toEqual([
    { instrument: { admin: stack.utk.admin, id: stack.utk.id }, credited: amt(amount), deposits: 1 },
  ]);
  await checkCreditedOnce(stack, [cid]);
}

const STEPS: readonly DepositStep[] = ['fetchAcceptContext', 'prepareAccept', 'verifyAndSign', 'executeSubmission'];
const POINTS = STEPS.flatMap((step) => (['before', 'after'] as const).map((when) => ({ step, when })));

describe('the daemon crashes at every point of an accept and restarts: credited exactly once', () => {
  it.each(POINTS.map((p) => [`${p.when} ${p.step}`, p] as const))('crash %s', async (_name, p) => {
    const { accountId, memo } = await freshAccount();
    const crashed = deferred();
    let fired = false;
    const crashAt = wrapDepositActors(async (step, _id, input, real, signal) => {
      if (fired || step !== p.step) return real(input, signal);
      fired = true;
      if (p.when === 'after') await real(input, signal);
      void stack.crash().then(() => crashed.resolve());
      return hang(signal);
    });
    await stack.restart({ intercept: { deposit: crashAt } });
    const cid = offer(memo, '17');
    await crashed.promise;
    // `after executeSubmission` is the one point where the ledger already has the accept.
    expect(acceptsOnLedger(stack, cid)).toHaveLength(p.step === 'executeSubmission' && p.when === 'after' ? 1 : 0);
    const [snap] = await stack.sql<
      { state_value: unknown }[]
    >`select state_value from machine_snapshots where machine_type = 'deposit' and machine_id = ${cid}`;
    const stateOf: Record<DepositStep, string> = {
      fetchAcceptContext: 'fetchingContext',
      prepareAccept: 'preparing',
      verifyAndSign: 'signing',
      executeSubmission: 'executing',
    };
    expect(snap?.state_value).toEqual({ accepting: stateOf[p.step] });
    await stack.restart({ intercept: {} });
    await expectCreditedOnce(cid, accountId, '17');
  });

  it('crash while awaiting the ledger (accept submitted, not committed); it commits while the daemon is down', async () => {
    const { accountId, memo } = await freshAccount();
    stack.sandbox.control.holdCommits();
    await stack.restart({ intercept: {}, effects: { execute: 'async' } });
    const cid = offer(memo, '18');
    await stack.caughtUp();
    await waitForMachine(stack, cid, 'awaitingLedger');
    await stack.crash();
    await stack.sandbox.control.releaseCommits();
    expect(acceptsOnLedger(stack, cid)).toHaveLength(1);
    await stack.restart({ effects: {} });
    await expectCreditedOnce(cid, accountId, '18');
  });

  it('crash while awaiting the ledger, the accept never committed: accepted again after the restart', async () => {
    const { accountId, memo } = await freshAccount();
    // The first execute is "accepted" but never reaches the ledger.
    let dropped = false;
    const dropFirst = wrapDepositActors(async (step, _id, input, real, signal) => {
      if (step !== 'executeSubmission' || dropped) return real(input, signal);
      dropped = true;
      return {};
    });
    await stack.restart({ intercept: { deposit: dropFirst } });
    const cid = offer(memo, '19');
    await stack.caughtUp();
    await waitForMachine(stack, cid, 'awaitingLedger');
    await stack.crash();
    expect(acceptsOnLedger(stack, cid)).toHaveLength(0);
    // acceptConfirmMs (5 s in the stack's policy) after the submission the machine accepts again.
    await stack.restart({ intercept: {} });
    await expectCreditedOnce(cid, accountId, '19');
  });

  it('crash while backing off after a failed accept: the backoff resumes and the accept succeeds', async () => {
    const { accountId, memo } = await freshAccount();
    await stack.restart({ intercept: {}, depositPolicy: { backoff: { initialMs: 1_500, maxMs: 1_500, factor: 1 } } });
    stack.sandbox.control.addFault({ match: { operation: 'registry.acceptContext' }, action: { kind: 'http503' }, once: true });
    const cid = offer(memo, '20');
    await stack.caughtUp();
    await waitForMachine(stack, cid, 'acceptBackoff');
    await stack.crash();
    await stack.restart({ depositPolicy: {} });
    await expectCreditedOnce(cid, accountId, '20');
  });

  it('crash in acceptFailed: still accept_failed after the restart; RETRY_ACCEPT accepts it once', async () => {
    const { accountId, memo } = await freshAccount();
    await stack.restart({ intercept: {} });
    const fault = stack.sandbox.control.addFault({ match: { operation: 'registry.acceptContext' }, action: { kind: 'http503' } });
    const cid = offer(memo, '21');
    await stack.caughtUp();
    await stack.waitForDeposit(cid, 'accept_failed');
    await waitForMachine(stack, cid, 'acceptFailed');
    await stack.crash();
    stack.sandbox.control.removeFault(fault);
    await stack.restart();
    await new Promise((r) => setTimeout(r, 300));
    expect(await findDeposit(stack.sql, cid)).toMatchObject({ status: 'accept_failed' });
    expect(acceptsOnLedger(stack, cid)).toHaveLength(0);
    expect(await stack.daemon.deposits.sendOperatorCommand(cid, { type: 'RETRY_ACCEPT', by: 'ops' })).toMatchObject({ accepted: true });
    await expectCreditedOnce(cid, accountId, '21');
  });

  it('crash while an offer with an unknown memo waits unattributed: still never accepted; ASSIGN after the restart accepts it once', async () => {
    const { accountId } = await freshAccount();
    await stack.restart({ intercept: {} });
    const cid = offer('memo-that-nobody-has', '23');
    await stack.caughtUp();
    await waitForMachine(stack, cid, 'unattributed');
    await stack.crash();
    await stack.restart();
    await new Promise((r) => setTimeout(r, 300));
    expect(acceptsOnLedger(stack, cid)).toHaveLength(0);
    expect(await stack.daemon.deposits.sendOperatorCommand(cid, { type: 'ASSIGN', accountId, by: 'ops' })).toMatchObject({
      accepted: true,
    });
    await expectCreditedOnce(cid, accountId, '23');
  });

  it('the execute never answers but the accept commits: ingestion moves the machine on (awaitingCredit → credited); a crash and restart credit nothing more', async () => {
    const { accountId, memo } = await freshAccount();
    // The deposit runtime never hears back from the execute; ingestion credits while it waits.
    const slowAnswer = wrapDepositActors(async (step, _id, input, real, signal) => {
      if (step !== 'executeSubmission') return real(input, signal);
      await real(input, signal);
      return hang(signal);
    });
    await stack.restart({ intercept: { deposit: slowAnswer } });
    const cid = offer(memo, '22');
    await stack.caughtUp();
    await stack.waitForDeposit(cid, 'credited');
    await stack.crash();
    await stack.restart({ intercept: {} });
    await expectCreditedOnce(cid, accountId, '22');
    const path = await stack.sql<
      { to_state: unknown }[]
    >`select to_state from machine_transitions where machine_type = 'deposit' and machine_id = ${cid} order by seq`;
    expect(path.map((t) => t.to_state)).toContainEqual('awaitingCredit');
  });
});

/** Needs the ledger on the wall clock: the accept's maxRecordTime is wall-clock time + acceptTtlMs. */
describe('a long outage', () => {
  let real: Stack;
  const realIds: string[] = [];
  beforeAll(async () => {
    real = await startStack({ clock: 'real', depositPolicy: { acceptTtlMs: 2_000 } });
  });
  afterAll(async () => {
    await checkCreditedOnce(real, realIds);
    await real.close();
  });

  it('the persisted signed accept is past its maxRecordTime when the daemon comes back: refused, a fresh accept run accepts once', async () => {
    const accountId = await real.depositAccount('memo-outage');
    const crashed = deferred();
    let fired = false;
    const crashAt = wrapDepositActors(async (step, _id, input, runReal, signal) => {
      if (fired || step !== 'executeSubmission') return runReal(input, signal);
      fired = true;
      void real.crash().then(() => crashed.resolve());
      return hang(signal);
    });
    await real.restart({ intercept: { deposit: crashAt } });
    const customer = real.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    const cid = real.sandbox.control.transfer({
      from: customer,
      to: real.treasury,
      instrument: 'UTK',
      amount: '10',
      memo: 'memo-outage',
    }).transferInstructionCid!;
    realIds.push(cid);
    await crashed.promise;
    await new Promise((r) => setTimeout(r, 2_500));
    await real.restart({ intercept: {} });
    expect(await real.waitForDeposit(cid, ['credited', 'accept_failed', 'expired'], 20_000)).toMatchObject({
      status: 'credited',
      accountId,
      creditedAmount: amt('10'),
    });
    await waitForMachine(real, cid, 'credited');
    const executes = await real.sql<{ event_type: string }[]>`
      select event_type from machine_transitions where machine_type = 'deposit' and machine_id = ${cid} and event_type like 'xstate.%.actor.executeSubmission' order by seq`;
    expect(executes.map((e) => e.event_type)).toEqual(['xstate.error.actor.executeSubmission', 'xstate.done.actor.executeSubmission']);
    expect(acceptsOnLedger(real, cid)).toHaveLength(1);
  });
});

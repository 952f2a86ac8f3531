import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, type Snapshot } from 'xstate';
import type { FetchAcceptContextInput, PrepareAcceptInput } from './deposit.actors.js';
import { DEFAULT_DEPOSIT_POLICY, depositCommandRefusal, depositStatus, type DepositInput } from './deposit.context.js';
import { depositMachine, type DepositEvent } from './deposit.machine.js';
import { ActorError, type ActorFailure } from './failure.js';
import type {
  ChoiceContext,
  ExecuteSubmissionInput,
  ExecuteSubmissionOutput,
  PreparedSubmission,
  SignedSubmission,
  VerifyAndSignInput,
} from './submission.js';
import { driver, scripted } from '../../test/support/machines/driver.js';
import { Script } from '../../test/support/machines/script.js';

const POLICY = {
  ...DEFAULT_DEPOSIT_POLICY,
  maxAcceptAttempts: 3,
  backoff: { initialMs: 1_000, maxMs: 8_000, factor: 2 },
  acceptConfirmMs: 60_000,
};

const OFFER: DepositInput = {
  depositId: 'ti-1',
  kind: 'two_step',
  instrument: { admin: 'acme::1220aa', id: 'ACME' },
  amount: '25.0000000000',
  memo: 'memo-7',
  accountId: 'acct-7',
  transferInstructionCid: 'ti-1',
  executeBefore: '2030-02-01T00:00:00.000Z',
  rowStatus: 'offered',
  treasuryParty: 'treasury::1220cc',
  policy: POLICY,
};

function harness(overrides: Partial<DepositInput> = {}, snapshot?: Snapshot<unknown>) {
  const script = new Script();
  const machine = depositMachine.provide({
    actors: {
      fetchAcceptContext: scripted<ChoiceContext, FetchAcceptContextInput>(script, 'fetchAcceptContext'),
      prepareAccept: scripted<PreparedSubmission, PrepareAcceptInput>(script, 'prepareAccept'),
      verifyAndSign: scripted<SignedSubmission, VerifyAndSignInput>(script, 'verifyAndSign'),
      executeSubmission: scripted<ExecuteSubmissionOutput, ExecuteSubmissionInput>(script, 'executeSubmission'),
    },
  });
  const actor = createActor(machine, { input: { ...OFFER, ...overrides }, ...(snapshot ? { snapshot } : {}) });
  actor.start();
  const h = {
    ...driver(actor, script, flush),
    /** context → prepare → sign: stops with the execute pending. */
    toExecuting: async () => {
      await h.answer('fetchAcceptContext', CONTEXT);
      const prep = script.only('prepareAccept').input as PrepareAcceptInput;
      await h.answer('prepareAccept', {
        commandId: prep.commandId,
        preparedTransaction: 'accept-tx',
        preparedTransactionHash: 'hash',
        hashingSchemeVersion: 'V2',
      });
      const sign = script.only('verifyAndSign').input as VerifyAndSignInput;
      await h.answer('verifyAndSign', { ...sign.prepared, signature: 'sig', signedBy: '1220cc' });
      expect(actor.getSnapshot().value).toEqual({ accepting: 'executing' });
    },
  };
  return h;
}

const flush = () => vi.advanceTimersByTimeAsync(0);
const CONTEXT: ChoiceContext = {
  choiceContextData: { values: {} },
  disclosedContracts: [{ templateId: 't', contractId: 'c', createdEventBlob: 'blob', synchronizerId: 's' }],
};
const err = (f: Partial<ActorFailure> & { code: string }) => new ActorError({ message: f.code, retryable: false, ...f });
const transient = err({ code: 'UNAVAILABLE', retryable: true, status: 503 });
const credited: DepositEvent = { type: 'CREDITED', accountId: 'acct-7', updateId: 'upd-9', creditedAmount: '24.9000000000' };
const closed = (outcome: 'accepted' | 'rejected' | 'withdrawn' | 'expired' | 'failed'): DepositEvent => ({
  type: 'OFFER_CLOSED',
  outcome,
  updateId: outcome === 'expired' ? null : 'upd-8',
});

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2030-01-01T00:00:00.000Z'));
});
afterEach(() => vi.useRealTimers());

describe('deposit machine: 1-step', () => {
  it('an attributed 1-step deposit is credited (final) at creation, with no effects', () => {
    const h = harness({ kind: 'one_step', transferInstructionCid: null, rowStatus: 'credited' });
    expect(h.value()).toBe('credited');
    expect(h.snap().status).toBe('done');
    expect(h.script.calls).toHaveLength(0);
  });

  it('an unattributed 1-step deposit waits for ASSIGN, which credits it once', async () => {
    const h = harness({ kind: 'one_step', transferInstructionCid: null, accountId: null, memo: 'nobody', rowStatus: 'unattributed' });
    expect(h.value()).toBe('unattributed');
    // Ingestion owns 'unattributed' (it treats it as final); the machine only explains.
    expect(depositStatus(h.value(), h.ctx())).toEqual({ status: null, reason: 'unknown memo "nobody"' });
    const assign: DepositEvent = { type: 'ASSIGN', accountId: 'acct-9', by: 'admin' };
    expect(h.snap().can(assign)).toBe(true);
    await h.send(assign);
    expect(h.value()).toBe('credited');
    expect(h.ctx().credit).toEqual({ accountId: 'acct-9', by: 'assign', updateId: null, creditedAmount: null });
    expect(depositStatus(h.value(), h.ctx())).toEqual({ status: 'credited', reason: 'assigned to acct-9 by admin' });
    expect(h.snap().can(assign)).toBe(false);
    expect(depositCommandRefusal(h.value(), h.ctx(), 'ASSIGN')).toBe('deposit ti-1 is already credited to acct-9');
    expect(h.script.calls).toHaveLength(0);
  });
});

describe('deposit machine: 2-step', () => {
  it('offered → accepting (fresh context, prepare with disclosed contracts, sign what we asked, execute) → credited when ingestion sees the accept', async () => {
    const h = harness();
    expect(h.value()).toEqual({ accepting: 'fetchingContext' });
    expect(h.script.only('fetchAcceptContext').input).toEqual({
      depositId: 'ti-1',
      transferInstructionCid: 'ti-1',
      instrument: OFFER.instrument,
    });
    await h.answer('fetchAcceptContext', CONTEXT);
    const prep = h.script.only('prepareAccept').input as PrepareAcceptInput;
    expect(prep).toMatchObject({
      actAs: OFFER.treasuryParty,
      context: CONTEXT,
      commandId: 'deposit-accept-ti-1',
      maxRecordTime: '2030-01-01T00:10:00.000Z',
    });
    await h.answer('prepareAccept', {
      commandId: prep.commandId,
      preparedTransaction: 'accept-tx',
      preparedTransactionHash: 'hash',
      hashingSchemeVersion: 'V2',
    });
    const sign = h.script.only('verifyAndSign').input as VerifyAndSignInput;
    expect(sign.expected).toEqual({
      kind: 'accept',
      commandId: 'deposit-accept-ti-1',
      actAs: OFFER.treasuryParty,
      transferInstructionCid: 'ti-1',
      instrument: OFFER.instrument,
    });
    await h.answer('verifyAndSign', { ...sign.prepared, signature: 'sig', signedBy: '1220cc' });
    await h.answer('executeSubmission', {});
    expect(h.value()).toBe('awaitingLedger');
    expect(depositStatus(h.value(), h.ctx()).status).toBe('accepting');
    await h.send(credited);
    expect(h.value()).toBe('credited');
    expect(h.ctx().credit).toEqual({ accountId: 'acct-7', by: 'ingestion', updateId: 'upd-9', creditedAmount: '24.9000000000' });
    // The credit is ingestion's, not ours: the runtime leaves the row's status alone.
    expect(depositStatus(h.value(), h.ctx()).status).toBeNull();
  });

  it('an offer ingestion ignored (counterfeit, or a token not onboarded) is final as found, even with a known account: no accept, no command', async () => {
    const h = harness({ rowStatus: 'ignored' });
    expect(h.value()).toBe('ignored');
    expect(h.snap().status).toBe('done');
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(h.script.calls).toHaveLength(0);
    for (const c of [
      { type: 'ASSIGN', accountId: 'acct-3', by: 'ops' },
      { type: 'RETRY_ACCEPT', by: 'ops' },
    ] as const)
      expect(h.snap().can(c)).toBe(false);
    expect(depositCommandRefusal(h.value(), h.ctx(), 'ASSIGN')).toMatch(/does not count/);
    expect(depositStatus(h.value(), h.ctx())).toEqual({ status: null, reason: null });
  });

  it('an offer with an unknown memo is never accepted; ASSIGN before it closes accepts it', async () => {
    const h = harness({ accountId: null, memo: 'unknown', rowStatus: 'unattributed' });
    expect(h.value()).toBe('unattributed');
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(h.script.calls).toHaveLength(0);
    expect(h.snap().can({ type: 'RETRY_ACCEPT', by: 'ops' })).toBe(false);
    expect(depositCommandRefusal(h.value(), h.ctx(), 'RETRY_ACCEPT')).toMatch(/assign it to an account first/);
    await h.send({ type: 'ASSIGN', accountId: 'acct-3', by: 'admin' });
    expect(h.value()).toEqual({ accepting: 'fetchingContext' });
    expect(h.ctx().accountId).toBe('acct-3');
    expect(h.ctx().credit).toBeNull();
  });

  it('an unattributed offer that closes is final, and no longer assignable', async () => {
    const h = harness({ accountId: null, rowStatus: 'unattributed' });
    await h.send(closed('expired'));
    expect(h.value()).toBe('expired');
    expect(h.snap().can({ type: 'ASSIGN', accountId: 'a', by: 'x' })).toBe(false);
    expect(depositCommandRefusal(h.value(), h.ctx(), 'ASSIGN')).toBe('deposit ti-1 is closed: the offer was expired');
  });

  it.each([
    ['rejected', 'rejected'],
    ['withdrawn', 'withdrawnBySender'],
    ['expired', 'expired'],
    ['failed', 'failed'],
  ] as const)('offer %s while we were accepting → %s (final), the accept in flight is abandoned', async (outcome, state) => {
    const h = harness();
    await h.toExecuting();
    const execute = h.script.only('executeSubmission');
    await h.send(closed(outcome));
    expect(h.value()).toBe(state);
    expect(h.snap().status).toBe('done');
    expect(execute.signal.aborted).toBe(true);
  });

  it('accepted while the automation was down: the row says credited, the machine starts final and never accepts', () => {
    const h = harness({ rowStatus: 'credited' });
    expect(h.value()).toBe('credited');
    expect(h.script.calls).toHaveLength(0);
  });

  it('OFFER_CLOSED accepted before CREDITED: stops accepting, waits for the credit', async () => {
    const h = harness();
    await h.send(closed('accepted'));
    expect(h.value()).toBe('awaitingCredit');
    expect(h.script.pending()).toHaveLength(0);
    await h.send(credited);
    expect(h.value()).toBe('credited');
  });

  it('a duplicate accept (instruction already archived) waits for ingestion instead of failing', async () => {
    const h = harness();
    await h.toExecuting();
    await h.fail('executeSubmission', err({ code: 'INSTRUCTION_NOT_FOUND', definiteAnswer: true, status: 404 }));
    expect(h.value()).toBe('awaitingLedger');
    await h.send(credited);
    expect(h.value()).toBe('credited');
  });

  it('our own accept still in flight (SUBMISSION_ALREADY_IN_FLIGHT on execute) waits for ingestion; elsewhere it is a transient failure', async () => {
    const inFlight = err({ code: 'SUBMISSION_ALREADY_IN_FLIGHT', retryable: true, status: 409, category: 2 });
    const h = harness();
    await h.toExecuting();
    await h.fail('executeSubmission', inFlight);
    expect(h.value()).toBe('awaitingLedger');
    expect(h.ctx().retryAt).toBe('2030-01-01T00:01:00.000Z');
    const other = harness({ depositId: 'ti-2', transferInstructionCid: 'ti-2' });
    await other.fail('fetchAcceptContext', inFlight);
    expect(other.value()).toBe('acceptBackoff');
  });

  it('a closed offer replaces the accepting reason on the row; an accepted one says where it was credited', async () => {
    for (const [outcome, state, reason] of [
      ['rejected', 'rejected', 'offer rejected'],
      ['withdrawn', 'withdrawnBySender', 'offer withdrawn by the sender'],
      ['expired', 'expired', 'offer expired before it was accepted'],
      ['failed', 'failed', 'offer failed'],
    ] as const) {
      const h = harness();
      await h.toExecuting();
      await h.send(closed(outcome));
      expect(h.value()).toBe(state);
      expect(depositStatus(h.value(), h.ctx())).toEqual({ status: null, reason });
    }
    // Created final from a closed row: the same words.
    const late = harness({ rowStatus: 'withdrawn' });
    expect(depositStatus(late.value(), late.ctx())).toEqual({ status: null, reason: 'offer withdrawn by the sender' });
    const h = harness();
    await h.send(closed('accepted'));
    await h.send(credited);
    expect(depositStatus(h.value(), h.ctx())).toEqual({ status: null, reason: 'accepted; credited to acct-7' });
  });

  it('accept failures back off, then the offer is marked acceptFailed; RETRY_ACCEPT starts over', async () => {
    const h = harness();
    await h.fail('fetchAcceptContext', transient);
    expect(h.value()).toBe('acceptBackoff');
    expect(h.ctx().retryAt).toBe('2030-01-01T00:00:01.000Z');
    await vi.advanceTimersByTimeAsync(1_000);
    await h.fail('fetchAcceptContext', transient);
    expect(h.ctx().retryAt).toBe('2030-01-01T00:00:03.000Z');
    await vi.advanceTimersByTimeAsync(2_000);
    await h.fail('fetchAcceptContext', transient);
    expect(h.value()).toBe('acceptFailed');
    expect(depositStatus(h.value(), h.ctx())).toEqual({
      status: 'accept_failed',
      reason: 'accept failed after 3 attempts; last context failed: UNAVAILABLE (HTTP 503): UNAVAILABLE',
    });
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(h.script.pending()).toHaveLength(0);
    await h.send({ type: 'RETRY_ACCEPT', by: 'ops' });
    expect(h.value()).toEqual({ accepting: 'fetchingContext' });
    expect(h.ctx().acceptAttempts).toBe(1);
  });

  it.each([401, 403, 500, 501])('HTTP %i is not retried: acceptFailed at once', async (status) => {
    const h = harness();
    await h.fail('fetchAcceptContext', err({ code: `HTTP_${status}`, retryable: true, status }));
    expect(h.value()).toBe('acceptFailed');
    expect(h.script.calls).toHaveLength(1);
  });

  it('no sign of the accept on the ledger: accept again after the confirmation time (safe), within the budget', async () => {
    const h = harness();
    await h.toExecuting();
    await h.answer('executeSubmission', {});
    await vi.advanceTimersByTimeAsync(59_999);
    expect(h.value()).toBe('awaitingLedger');
    await vi.advanceTimersByTimeAsync(1);
    expect(h.value()).toEqual({ accepting: 'fetchingContext' });
    expect(h.ctx().acceptAttempts).toBe(2);
  });

  it('accepts that are never seen on the ledger use up the budget: acceptFailed', async () => {
    const h = harness();
    for (let attempt = 1; attempt <= 3; attempt++) {
      await h.toExecuting();
      await h.answer('executeSubmission', {});
      expect(h.value()).toBe('awaitingLedger');
      await vi.advanceTimersByTimeAsync(60_000);
    }
    expect(h.value()).toBe('acceptFailed');
    expect(h.ctx().outcomeReason).toBe('accept not seen on the ledger after 3 attempts');
  });

  it('a restored backoff waits only the remainder', async () => {
    const h = harness();
    await h.fail('fetchAcceptContext', transient);
    await vi.advanceTimersByTimeAsync(700);
    const persisted = JSON.parse(JSON.stringify(h.actor.getPersistedSnapshot())) as Snapshot<unknown>;
    h.actor.stop();
    const r = harness({}, persisted);
    await r.send({ type: 'RESUME' });
    await vi.advanceTimersByTimeAsync(299);
    expect(r.value()).toBe('acceptBackoff');
    await vi.advanceTimersByTimeAsync(1);
    expect(r.value()).toEqual({ accepting: 'fetchingContext' });
  });

  it('RETRY_ACCEPT and ASSIGN are refused with reasons where they do not apply', async () => {
    const h = harness();
    expect(h.snap().can({ type: 'RETRY_ACCEPT', by: 'o' })).toBe(false);
    expect(depositCommandRefusal(h.value(), h.ctx(), 'RETRY_ACCEPT')).toBe(
      'nothing to retry while accepting: RETRY_ACCEPT applies to an offer whose accept failed or is backing off',
    );
    expect(h.snap().can({ type: 'ASSIGN', accountId: 'x', by: 'o' })).toBe(false);
    expect(depositCommandRefusal(h.value(), h.ctx(), 'ASSIGN')).toBe('deposit ti-1 is already attributed to account acct-7');
  });
});

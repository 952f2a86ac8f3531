import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, type Snapshot } from 'xstate';
import { ActorError, type ActorFailure } from './failure.js';
import type {
  ExecuteSubmissionInput,
  ExecuteSubmissionOutput,
  PreparedSubmission,
  SignedSubmission,
  VerifyAndSignInput,
} from './submission.js';
import { driver, scripted } from '../../test/support/machines/driver.js';
import { Script } from '../../test/support/machines/script.js';
import type {
  CheckAttemptInput,
  CheckAttemptOutput,
  FetchTransferFactoryInput,
  PrepareTransferInput,
  ReleaseReservationInput,
  ReleaseReservationOutput,
  ReserveHoldingsInput,
  ReserveHoldingsOutput,
  TransferFactoryOutput,
  WithdrawOfferInput,
  WithdrawOfferOutput,
} from './withdrawal.actors.js';
import { DEFAULT_WITHDRAWAL_POLICY, withdrawalCommandRefusal, withdrawalStatus, type WithdrawalInput } from './withdrawal.context.js';
import { withdrawalMachine, type WithdrawalEvent } from './withdrawal.machine.js';

const POLICY = {
  ...DEFAULT_WITHDRAWAL_POLICY,
  maxAttempts: 3,
  maxTransientRetries: 3,
  backoff: { initialMs: 1_000, maxMs: 8_000, factor: 2 },
  fundsRecheckMs: 5_000,
  fundsTimeoutMs: 60_000,
};

const INPUT: WithdrawalInput = {
  withdrawalId: 'w-1',
  purpose: 'payout',
  account: 'acct-7',
  instrument: { admin: 'dso::1220aa', id: 'Amulet' },
  amount: '10.0000000000',
  receiver: 'alice::1220bb',
  sender: 'treasury::1220cc',
  transferPolicy: 'direct-or-offer',
  policy: POLICY,
};

type Snap = Snapshot<unknown>;

function harness(overrides: Partial<WithdrawalInput> = {}, snapshot?: Snap) {
  const script = new Script();
  const machine = withdrawalMachine.provide({
    actors: {
      reserveHoldings: scripted<ReserveHoldingsOutput, ReserveHoldingsInput>(script, 'reserveHoldings'),
      releaseReservation: scripted<ReleaseReservationOutput, ReleaseReservationInput>(script, 'releaseReservation'),
      checkAttempt: scripted<CheckAttemptOutput, CheckAttemptInput>(script, 'checkAttempt'),
      fetchTransferFactory: scripted<TransferFactoryOutput, FetchTransferFactoryInput>(script, 'fetchTransferFactory'),
      prepareTransfer: scripted<PreparedSubmission, PrepareTransferInput>(script, 'prepareTransfer'),
      verifyAndSign: scripted<SignedSubmission, VerifyAndSignInput>(script, 'verifyAndSign'),
      executeSubmission: scripted<ExecuteSubmissionOutput, ExecuteSubmissionInput>(script, 'executeSubmission'),
      withdrawOffer: scripted<WithdrawOfferOutput, WithdrawOfferInput>(script, 'withdrawOffer'),
    },
  });
  // Input is required by the machine's types but ignored when a snapshot is restored.
  const actor = createActor(machine, { input: { ...INPUT, ...overrides }, ...(snapshot ? { snapshot } : {}) });
  actor.start();
  const h = {
    ...driver(actor, script, flush),
    /** Resolves the pending reservation for the attempt it asked for. */
    reserve: async (holdings = 2) => {
      const call = script.only('reserveHoldings');
      const { attempt } = call.input as ReserveHoldingsInput;
      call.resolve(reservedFor(attempt, holdings));
      await flush();
      return attempt;
    },
    /** reserve → factory → prepare → sign: stops with the execute call pending. */
    toExecuting: async (kind: 'direct' | 'offer' | 'self' = 'direct') => {
      const attempt = await h.reserve();
      await h.answer('fetchTransferFactory', factoryOf(kind));
      await h.answer('prepareTransfer', preparedFor(script.only('prepareTransfer').input as PrepareTransferInput));
      await h.answer('verifyAndSign', signedFor(script.only('verifyAndSign').input as VerifyAndSignInput));
      expect(actor.getSnapshot().value).toBe('executing');
      return attempt;
    },
  };
  return h;
}

const flush = () => vi.advanceTimersByTimeAsync(0);
const deadlineOf = (attempt: number) => `2030-01-01T00:0${attempt}:00.000Z`;
const reservedFor = (attempt: number, n = 2): ReserveHoldingsOutput => ({
  kind: 'reserved',
  attempt,
  holdings: Array.from({ length: n }, (_, i) => ({ contractId: `h${attempt}-${i}`, amount: '5.0000000000' })),
  total: '10.0000000000',
  deadline: deadlineOf(attempt),
});
const insufficient: ReserveHoldingsOutput = {
  kind: 'insufficient',
  needed: '10',
  available: '3',
  reason: 'insufficient free funds: need 10, free 3',
};
const factoryOf = (kind: 'direct' | 'offer' | 'self'): TransferFactoryOutput => ({
  factoryId: 'factory-1',
  transferKind: kind,
  choiceContextData: { k: 'v' },
  disclosedContracts: [],
});
const preparedFor = (i: PrepareTransferInput, tag = ''): PreparedSubmission => ({
  commandId: i.commandId,
  preparedTransaction: `tx:${i.inputHoldingCids.join('+')}${tag}`,
  preparedTransactionHash: 'hash',
  hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
});
const signedFor = (i: VerifyAndSignInput): SignedSubmission => ({ ...i.prepared, signature: 'sig', signedBy: '1220cc' });

const err = (f: Partial<ActorFailure> & { code: string }) => new ActorError({ message: f.code, retryable: false, ...f });
const transient = err({ code: 'UNAVAILABLE', retryable: true, status: 503, category: 1 });
const ambiguous = err({ code: 'DEADLINE_EXCEEDED', retryable: true, definiteAnswer: false, status: 504, category: 3 });
const definiteNotCommitted = err({
  code: 'LOCAL_VERDICT_INACTIVE_CONTRACTS',
  retryable: false,
  definiteAnswer: true,
  status: 409,
  category: 9,
});
const inputGone = err({ code: 'INPUT_UNAVAILABLE', definiteAnswer: true, status: 404 });
const transferred = (outcome: 'completed' | 'pending' | 'failed' = 'completed'): WithdrawalEvent => ({
  type: 'TRANSFERRED',
  updateId: 'upd-1',
  outcome,
  transferInstructionCid: outcome === 'pending' ? 'ti-1' : null,
});
const standing = (s: CheckAttemptOutput['standing']): CheckAttemptOutput => ({ standing: s, ingestedThrough: 42, detail: `test: ${s}` });
const expired = (attempt: number): WithdrawalEvent => ({
  type: 'ATTEMPT_EXPIRED',
  attempt,
  deadline: deadlineOf(attempt),
  recordTime: '2030-01-01T01:00:00.000Z',
});

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2029-12-31T23:00:00.000Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('withdrawal machine: happy paths', () => {
  it('1-step: reserves, prepares with the reserved inputs and deadline, signs what it asked for, executes, completes on TRANSFERRED', async () => {
    const h = harness();
    expect(h.value()).toBe('reserving');
    const reserveInput = h.script.only('reserveHoldings').input as ReserveHoldingsInput;
    expect(reserveInput).toEqual({
      withdrawalId: 'w-1',
      attempt: 1,
      owner: INPUT.sender,
      instrument: INPUT.instrument,
      amount: INPUT.amount,
      maxInputs: 100,
      ttlMs: POLICY.attemptTtlMs,
    });
    await h.reserve();
    expect(h.value()).toEqual({ preparing: 'fetchingFactory' });
    const intent = h.script.only('fetchTransferFactory').input as FetchTransferFactoryInput;
    expect(intent).toMatchObject({
      memo: 'w-1',
      inputHoldingCids: ['h1-0', 'h1-1'],
      sender: INPUT.sender,
      receiver: INPUT.receiver,
      amount: INPUT.amount,
    });
    await h.answer('fetchTransferFactory', factoryOf('direct'));
    const prep = h.script.only('prepareTransfer').input as PrepareTransferInput;
    expect(prep).toMatchObject({
      commandId: 'withdrawal-w-1-1',
      maxRecordTime: deadlineOf(1),
      inputHoldingCids: ['h1-0', 'h1-1'],
      memo: 'w-1',
    });
    await h.answer('prepareTransfer', preparedFor(prep));
    expect(h.value()).toBe('signing');
    const sign = h.script.only('verifyAndSign').input as VerifyAndSignInput;
    expect(sign.expected).toEqual({
      kind: 'transfer',
      commandId: 'withdrawal-w-1-1',
      factoryId: 'factory-1',
      sender: INPUT.sender,
      receiver: INPUT.receiver,
      amount: INPUT.amount,
      instrument: INPUT.instrument,
      inputHoldingCids: ['h1-0', 'h1-1'],
      memo: 'w-1',
      executeBefore: prep.executeBefore,
      maxRecordTime: deadlineOf(1),
    });
    await h.answer('verifyAndSign', signedFor(sign));
    expect(h.value()).toBe('executing');
    expect(h.ctx().executeCount).toBe(1);
    expect((h.script.only('executeSubmission').input as ExecuteSubmissionInput).submissionId).toBe('w-1-1-1');
    await h.answer('executeSubmission', {});
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.ctx().signed).not.toBeNull(); // kept while a resubmission may still be needed
    await h.send(transferred('completed'));
    expect(h.value()).toBe('completed');
    expect(h.snap().status).toBe('done');
    // Never sent again: the submission does not stay in the final snapshot.
    expect(h.ctx()).toMatchObject({ factory: null, prepared: null, signed: null });
    expect(h.ctx().transfer).toEqual({ updateId: 'upd-1', outcome: 'completed', transferInstructionCid: null, attempt: 1 });
    expect(h.script.callsOf('reserveHoldings')).toHaveLength(1);
  });

  it('2-step: TRANSFERRED pending → pendingAcceptance → accepted → completed', async () => {
    const h = harness();
    await h.toExecuting('offer');
    await h.answer('executeSubmission', {});
    await h.send(transferred('pending'));
    expect(h.value()).toBe('pendingAcceptance');
    expect(h.ctx()).toMatchObject({ factory: null, prepared: null, signed: null });
    expect(withdrawalStatus(h.value(), h.ctx())).toEqual({
      status: 'pending_acceptance',
      reason: 'offer ti-1 awaits the receiver',
      code: null,
    });
    await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'upd-2', outcome: 'accepted' });
    expect(h.value()).toBe('completed');
  });

  it.each([
    ['rejected', 'rejected by the receiver'],
    ['withdrawn', 'withdrawn by the sender'],
    ['expired', 'expired before acceptance'],
    ['failed', 'failed on the ledger'],
  ] as const)('2-step: offer %s on the ledger → failed, funds back', async (outcome, words) => {
    const h = harness();
    await h.toExecuting('offer');
    await h.answer('executeSubmission', {});
    await h.send(transferred('pending'));
    // An update closed it (for expired: its registry's own expiry returned the funds).
    await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'upd-2', outcome });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toContain(words);
    expect(h.ctx().outcomeReason).toContain('funds returned');
    expect(h.script.callsOf('withdrawOffer')).toHaveLength(0);
  });

  it('2-step: an offer expired by the ingested record time is withdrawn before the withdrawal fails: its funds never stay locked (issue 19, item 7)', async () => {
    const h = harness();
    await h.toExecuting('offer');
    await h.answer('executeSubmission', {});
    await h.send(transferred('pending'));
    // Decided by record time: no update closed it, the offer and its lock are still on the ledger.
    await h.send({ type: 'INSTRUCTION_CLOSED', updateId: null, outcome: 'expired' });
    expect(h.value()).toBe('withdrawingOffer');
    expect(withdrawalStatus(h.value(), h.ctx())).toMatchObject({ status: 'withdrawing_offer', code: 'OFFER_EXPIRED' });
    expect(h.script.only('withdrawOffer').input).toEqual({
      withdrawalId: 'w-1',
      instrument: INPUT.instrument,
      transferInstructionCid: 'ti-1',
      commandId: 'withdrawal-w-1-withdraw-offer',
    });
    await h.fail('withdrawOffer', transient);
    expect(h.value()).toBe('offerWithdrawWait');
    await vi.advanceTimersByTimeAsync(1_000);
    await h.answer('withdrawOffer', {});
    expect(h.value()).toBe('offerWithdrawWait');
    // No sign of it on the ledger for a while: withdrawn again (harmless: the offer is archived once).
    await vi.advanceTimersByTimeAsync(POLICY.backoff.maxMs);
    await h.fail('withdrawOffer', err({ code: 'INSTRUCTION_NOT_FOUND', status: 404 }));
    expect(h.value()).toBe('offerWithdrawWait');
    await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'upd-w', outcome: 'withdrawn' });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toBe(
      'transfer offer expired before acceptance; the offer closed (withdrawn) in update upd-w; funds returned to the treasury',
    );
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('OFFER_EXPIRED');
  });

  it('2-step: a withdraw that cannot succeed waits for an operator; the receiver may still accept meanwhile', async () => {
    const h = harness();
    await h.toExecuting('offer');
    await h.answer('executeSubmission', {});
    await h.send(transferred('pending'));
    await h.send({ type: 'INSTRUCTION_CLOSED', updateId: null, outcome: 'expired' });
    await h.fail('withdrawOffer', err({ code: 'PERMISSION_DENIED', status: 403 }));
    expect(h.value()).toBe('offerWithdrawHalted');
    expect(withdrawalStatus(h.value(), h.ctx()).reason).toMatch(/stopped; last try failed: PERMISSION_DENIED \(HTTP 403\).*RETRY/);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(h.script.callsOf('withdrawOffer')).toHaveLength(1);
    await h.send({ type: 'RETRY', by: 'ops' });
    await h.answer('withdrawOffer', {});
    await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'upd-w', outcome: 'withdrawn' });
    expect(h.value()).toBe('failed');
  });

  it('2-step: FAIL while the offer awaits the receiver withdraws it; an accept that wins completes the withdrawal', async () => {
    for (const closes of ['withdrawn', 'accepted'] as const) {
      const h = harness();
      await h.toExecuting('offer');
      await h.answer('executeSubmission', {});
      await h.send(transferred('pending'));
      await h.send({ type: 'FAIL', by: 'ops', reason: 'customer closed the account' });
      expect(h.value()).toBe('withdrawingOffer');
      await h.answer('withdrawOffer', closes === 'accepted' ? {} : { duplicate: true });
      await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'upd-x', outcome: closes });
      expect(h.value()).toBe(closes === 'accepted' ? 'completed' : 'failed');
      if (closes === 'withdrawn')
        expect(h.ctx().outcomeReason).toBe(
          'failed by operator ops: customer closed the account; the offer closed (withdrawn) in update upd-x; funds returned to the treasury',
        );
      expect(withdrawalStatus(h.value(), h.ctx()).code).toBe(closes === 'accepted' ? null : 'OPERATOR_FAIL');
    }
  });

  it('a recovered payout still offered starts awaiting the receiver: never reserves, ends as the offer does', async () => {
    for (const closes of ['accepted', 'rejected'] as const) {
      const h = harness({ recoveredOffer: { updateId: 'upd-r', transferInstructionCid: 'ti-r' } });
      expect(h.value()).toBe('pendingAcceptance');
      expect(h.ctx().transfer).toEqual({ updateId: 'upd-r', outcome: 'pending', transferInstructionCid: 'ti-r', attempt: 0 });
      await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'upd-c', outcome: closes });
      expect(h.value()).toBe(closes === 'accepted' ? 'completed' : 'failed');
      expect(withdrawalStatus(h.value(), h.ctx()).code).toBe(closes === 'accepted' ? null : 'OFFER_REJECTED');
      expect(h.script.calls).toHaveLength(0);
    }
  });

  it('a request whose transfer ingestion already read never reserves: it waits for the report, and ends as the transfer does', async () => {
    const ends = [
      { report: transferred('completed'), then: null, final: 'completed', code: null },
      { report: transferred('failed'), then: null, final: 'failed', code: 'TRANSFER_FAILED' },
      { report: transferred('pending'), then: 'accepted', final: 'completed', code: null },
      { report: transferred('pending'), then: 'rejected', final: 'failed', code: 'OFFER_REJECTED' },
    ] as const;
    for (const end of ends) {
      const h = harness({ transferSeen: { updateId: 'upd-seen' } });
      expect(h.value()).toBe('transferSeen');
      expect(withdrawalStatus(h.value(), h.ctx())).toMatchObject({ status: 'awaiting_ledger', code: null });
      expect(withdrawalStatus(h.value(), h.ctx()).reason).toContain('upd-seen');
      for (const command of ['CANCEL', 'FAIL', 'RETRY'] as const) {
        await h.send(command === 'RETRY' ? { type: command, by: 'ops' } : { type: command, by: 'ops', reason: 'test' });
        expect(h.value()).toBe('transferSeen');
      }
      await h.send(end.report);
      if (end.then !== null) {
        expect(h.value()).toBe('pendingAcceptance');
        await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'upd-c', outcome: end.then });
      }
      expect(h.value()).toBe(end.final);
      expect(withdrawalStatus(h.value(), h.ctx()).code).toBe(end.code);
      expect(h.script.calls).toHaveLength(0);
    }
  });

  it('a committed transfer whose result is Failed (funds returned) fails the withdrawal', async () => {
    const h = harness();
    await h.toExecuting();
    await h.answer('executeSubmission', {});
    await h.send({ type: 'TRANSFERRED', updateId: 'upd-f', outcome: 'failed', transferInstructionCid: null });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toBe('the transfer committed with result Failed in update upd-f; funds returned to the treasury');
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('TRANSFER_FAILED');
  });

  it('a duplicate TRANSFERRED while pending acceptance changes nothing', async () => {
    const h = harness();
    await h.toExecuting('offer');
    await h.answer('executeSubmission', {});
    await h.send(transferred('pending'));
    const before = JSON.stringify(h.actor.getPersistedSnapshot());
    await h.send(transferred('pending'));
    await h.send(transferred('completed'));
    expect(JSON.stringify(h.actor.getPersistedSnapshot())).toBe(before);
  });

  it('self-transfer (UTXO merge) needs transferKind self', async () => {
    const ok = harness({ purpose: 'self_transfer', receiver: INPUT.sender });
    await ok.toExecuting('self');
    const bad = harness({ purpose: 'self_transfer', receiver: INPUT.sender });
    await bad.reserve();
    await bad.answer('fetchTransferFactory', factoryOf('direct'));
    expect(bad.value()).toBe('releasing');
    await bad.answer('releaseReservation', { released: 2 });
    expect(bad.value()).toBe('failed');
    expect(bad.ctx().outcomeReason).toContain('transferKind "self"');
  });
});

describe('withdrawal machine: reservation', () => {
  it('insufficient funds: waits visibly, rechecks after the persisted time, proceeds when funds arrive', async () => {
    const h = harness();
    await h.answer('reserveHoldings', insufficient);
    expect(h.value()).toBe('waitingForFunds');
    expect(withdrawalStatus(h.value(), h.ctx())).toEqual({
      status: 'waiting_for_funds',
      reason: insufficient.kind === 'insufficient' ? insufficient.reason : '',
      code: 'WAITING_FOR_FUNDS',
    });
    expect(h.ctx().waitingSince).toBe('2029-12-31T23:00:00.000Z');
    expect(h.ctx().retryAt).toBe('2029-12-31T23:00:05.000Z');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(h.value()).toBe('waitingForFunds');
    await vi.advanceTimersByTimeAsync(1);
    expect(h.value()).toBe('reserving');
    expect((h.script.only('reserveHoldings').input as ReserveHoldingsInput).attempt).toBe(1);
    await h.reserve();
    expect(h.value()).toEqual({ preparing: 'fetchingFactory' });
    expect(h.ctx().waitingSince).toBeNull();
  });

  it('insufficient funds for longer than the configured time fails the withdrawal', async () => {
    const h = harness();
    for (let t = 0; t < 60_000; t += 5_000) {
      await h.answer('reserveHoldings', insufficient);
      expect(h.value()).toBe('waitingForFunds');
      await vi.advanceTimersByTimeAsync(5_000);
    }
    await h.answer('reserveHoldings', insufficient);
    expect(h.value()).toBe('releasing');
    await h.answer('releaseReservation', { released: 0 });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toMatch(/insufficient funds for more than 1 minutes/);
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('INSUFFICIENT_FUNDS');
  });

  it('an instrument that is not onboarded fails at once, without reserving', async () => {
    const h = harness({ transferPolicy: null });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toContain('not onboarded');
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('INSTRUMENT_UNAVAILABLE');
    expect(h.script.calls).toHaveLength(0);
  });

  it('a direct-only instrument whose receiver has no preapproval fails with that reason', async () => {
    const h = harness({ transferPolicy: 'direct-only' });
    await h.reserve();
    await h.answer('fetchTransferFactory', factoryOf('offer'));
    expect(h.value()).toBe('releasing');
    expect((h.script.only('releaseReservation').input as ReleaseReservationInput).reason).toBe('failed');
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toBe(
      'receiver alice::1220bb has no transfer preapproval and instrument Amulet supports only 1-step (direct) transfers',
    );
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('TRANSFER_KIND_REFUSED');
    expect(h.script.callsOf('prepareTransfer')).toHaveLength(0);
  });
});

describe('withdrawal machine: errors', () => {
  it('transient errors back off exponentially from a persisted retryAt, then give up within the budget', async () => {
    const h = harness();
    await h.reserve();
    const delays = [1_000, 2_000, 4_000];
    for (const d of delays) {
      await h.fail('fetchTransferFactory', transient);
      expect(h.value()).toBe('prepareBackoff');
      expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('TRANSIENT_FAILURE');
      expect(Date.parse(h.ctx().retryAt!) - Date.now()).toBe(d);
      await vi.advanceTimersByTimeAsync(d - 1);
      expect(h.value()).toBe('prepareBackoff');
      await vi.advanceTimersByTimeAsync(1);
      expect(h.value()).toEqual({ preparing: 'fetchingFactory' });
    }
    await h.fail('fetchTransferFactory', transient);
    expect(h.value()).toBe('releasing');
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toMatch(/^gave up after 3 transient failures; last factory failed: UNAVAILABLE \(HTTP 503\)/);
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('RETRIES_EXHAUSTED');
    expect(h.ctx().history.filter((e) => e.kind === 'factory_failed')).toHaveLength(4);
  });

  it.each([401, 403, 500, 501])(
    'HTTP %i is never retried (even if flagged retryable): released and stalled for an operator',
    async (status) => {
      const h = harness();
      await h.reserve();
      await h.fail('fetchTransferFactory', err({ code: `HTTP_${status}`, retryable: true, status }));
      expect(h.value()).toBe('releasing');
      await h.answer('releaseReservation', { released: 2 });
      expect(h.value()).toBe('stalled');
      expect(withdrawalStatus(h.value(), h.ctx())).toMatchObject({
        reason: expect.stringContaining(`(HTTP ${status})`),
        code: 'PERMANENT_FAILURE',
      });
      await vi.advanceTimersByTimeAsync(3_600_000);
      expect(h.value()).toBe('stalled');
      expect(h.script.callsOf('fetchTransferFactory')).toHaveLength(1);
      // An operator fixes the cause and retries: a fresh reservation, a fresh budget.
      await h.send({ type: 'RETRY', by: 'ops' });
      await h.answer('releaseReservation', { released: 0 });
      expect(h.value()).toBe('reserving');
      expect((h.script.only('reserveHoldings').input as ReserveHoldingsInput).attempt).toBe(2);
    },
  );

  it('a prepared transaction that does not match what we asked for is never signed twice: stalled', async () => {
    const h = harness();
    await h.reserve();
    await h.answer('fetchTransferFactory', factoryOf('direct'));
    await h.answer('prepareTransfer', preparedFor(h.script.only('prepareTransfer').input as PrepareTransferInput));
    await h.fail('verifyAndSign', err({ code: 'PREPARED_TX_MISMATCH', message: 'receiver differs' }));
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('stalled');
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('PREPARED_TX_MISMATCH');
    expect(h.script.callsOf('executeSubmission')).toHaveLength(0);
  });

  it('reservation DB errors back off too', async () => {
    const h = harness();
    await h.fail('reserveHoldings', transient);
    expect(h.value()).toBe('reserveBackoff');
    await vi.advanceTimersByTimeAsync(1_000);
    expect((h.script.only('reserveHoldings').input as ReserveHoldingsInput).attempt).toBe(1);
  });
});

describe('withdrawal machine: the safety rule', () => {
  /** reserve → factory → prepare fails: the ledger says an input is gone, nothing executed. */
  async function deadInputBeforeExecute(h: ReturnType<typeof harness>) {
    await h.reserve();
    await h.answer('fetchTransferFactory', factoryOf('direct'));
    await h.fail('prepareTransfer', inputGone);
  }

  it('before any execute, a dead input is first checked against ingestion; spent by something else, other holdings are reserved', async () => {
    const h = harness();
    await deadInputBeforeExecute(h);
    expect(h.value()).toBe('checkingLedger');
    expect(withdrawalStatus(h.value(), h.ctx()).status).toBe('checking_ledger');
    expect(h.script.only('checkAttempt').input).toEqual({ withdrawalId: 'w-1', attempt: 1, holdingCids: ['h1-0', 'h1-1'] });
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    await h.answer('checkAttempt', standing('inputsSpent'));
    expect(h.value()).toBe('releasing');
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('reserving');
    expect((h.script.only('reserveHoldings').input as ReserveHoldingsInput).attempt).toBe(2);
  });

  it("a dead input that ingestion shows spent by this withdrawal's own transfer (a restored database) is never re-reserved: it waits for the transfer (issue 19, item 1)", async () => {
    const h = harness();
    await deadInputBeforeExecute(h);
    await h.answer('checkAttempt', standing('transferred'));
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    expect(h.script.callsOf('reserveHoldings')).toHaveLength(1);
    await h.send(transferred());
    expect(h.value()).toBe('completed');
  });

  it('a dead input still active once ingestion caught up re-prepares with the same holdings; a spent budget waits for the attempt to expire', async () => {
    const h = harness();
    await deadInputBeforeExecute(h);
    for (const d of [1_000, 2_000, 4_000]) {
      await h.answer('checkAttempt', standing('open'));
      expect(h.value()).toBe('prepareBackoff');
      await vi.advanceTimersByTimeAsync(d);
      await h.answer('fetchTransferFactory', factoryOf('direct'));
      expect((h.script.only('prepareTransfer').input as PrepareTransferInput).inputHoldingCids).toEqual(['h1-0', 'h1-1']);
      await h.fail('prepareTransfer', inputGone);
    }
    await h.answer('checkAttempt', standing('open'));
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.ctx().haltReason).toMatch(/INPUT_UNAVAILABLE/);
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    await h.send(expired(1));
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('stalled');
  });

  it.each([
    ['transferred', 'completed'],
    ['inputsSpent', 'cancelled'],
    ['open', 'cancelled'],
  ] as const)('CANCEL while the ledger is checked applies once it is: %s → %s', async (found, end) => {
    const h = harness();
    await deadInputBeforeExecute(h);
    const cancel = { type: 'CANCEL', by: 'ops', reason: 'customer asked' } as const;
    expect(h.snap().can(cancel)).toBe(true);
    await h.send(cancel);
    expect(h.value()).toBe('checkingLedger');
    await h.answer('checkAttempt', standing(found));
    if (found === 'transferred') await h.send(transferred());
    else await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe(end);
  });

  it('RETRY while awaiting the ledger with nothing to resubmit asks ingestion: an attempt it reported expired is released', async () => {
    const h = harness();
    await h.toExecuting();
    await h.answer('executeSubmission', {});
    await h.send({ type: 'FAIL', by: 'ops', reason: 'hold' });
    const retry = { type: 'RETRY', by: 'ops' } as const;
    expect(h.snap().can(retry)).toBe(true);
    await h.send(retry);
    expect(h.value()).toBe('checkingLedger');
    // Still undecided: back to waiting, nothing released.
    await h.answer('checkAttempt', standing('open'));
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    await h.send(retry);
    await h.answer('checkAttempt', standing('expired'));
    expect(h.value()).toBe('releasing');
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toBe('failed by operator ops: hold');
  });

  it('an ambiguous execute is retried with the SAME signed transaction, never with other holdings', async () => {
    const h = harness();
    await h.toExecuting();
    const first = h.script.only('executeSubmission').input as ExecuteSubmissionInput;
    await h.fail('executeSubmission', ambiguous);
    expect(h.value()).toEqual({ awaitingLedger: 'resubmitBackoff' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.value()).toEqual({ awaitingLedger: 'resubmitting' });
    const second = h.script.only('executeSubmission').input as ExecuteSubmissionInput;
    expect(second.signed).toEqual(first.signed);
    expect(second.submissionId).not.toBe(first.submissionId);
    // Budget of transient failures spent: no more submissions, but no other holdings either.
    for (const d of [2_000, 4_000]) {
      await h.fail('executeSubmission', ambiguous);
      await vi.advanceTimersByTimeAsync(d);
    }
    await h.fail('executeSubmission', ambiguous);
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.script.callsOf('reserveHoldings')).toHaveLength(1);
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    // Only ingestion ends it: here the attempt expired, so retrying with other holdings is safe.
    await h.send(expired(1));
    expect(h.value()).toBe('releasing');
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toMatch(/gave up after 3 transient failures/);
  });

  it('a definite "not committed" re-prepares with the same reservation; a dead input after an execute waits for the ledger', async () => {
    const h = harness();
    await h.toExecuting();
    await h.fail('executeSubmission', definiteNotCommitted);
    expect(h.value()).toBe('prepareBackoff');
    await vi.advanceTimersByTimeAsync(1_000);
    await h.answer('fetchTransferFactory', factoryOf('direct'));
    const again = h.script.only('prepareTransfer').input as PrepareTransferInput;
    expect(again.inputHoldingCids).toEqual(['h1-0', 'h1-1']);
    expect(again.maxRecordTime).toBe(deadlineOf(1));
    // Our first execute may have committed and spent the inputs: never reserve others now.
    await h.fail('prepareTransfer', inputGone);
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.script.callsOf('reserveHoldings')).toHaveLength(1);
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    await h.send(transferred());
    expect(h.value()).toBe('completed');
  });

  it('ATTEMPT_EXPIRED for the current attempt releases and reserves anew; stale ones are ignored', async () => {
    const h = harness();
    await h.toExecuting();
    await h.answer('executeSubmission', {});
    const before = JSON.stringify(h.actor.getPersistedSnapshot());
    await h.send(expired(0));
    await h.send(expired(2));
    expect(JSON.stringify(h.actor.getPersistedSnapshot())).toBe(before);
    await h.send(expired(1));
    expect(h.value()).toBe('releasing');
    expect(h.script.only('releaseReservation').input).toEqual({ withdrawalId: 'w-1', attempt: null, reason: 'retry' });
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('reserving');
    // While attempt 2 is being reserved, a late duplicate expiry of attempt 1 changes nothing.
    const during = JSON.stringify(h.actor.getPersistedSnapshot());
    await h.send(expired(1));
    expect(JSON.stringify(h.actor.getPersistedSnapshot())).toBe(during);
    expect(await h.reserve()).toBe(2);
    expect(h.ctx().executeCount).toBe(0);
  });

  it.each([
    ['while the reservation is being written', async () => {}],
    [
      'while backing off after a lost answer',
      async (h: ReturnType<typeof harness>) => {
        await h.fail('reserveHoldings', transient);
        expect(h.value()).toBe('reserveBackoff');
      },
    ],
  ] as const)(
    'an expiry of the attempt being reserved is kept, and its reservation released unused (%s: issue 19, item 2)',
    async (_name, reach) => {
      const h = harness();
      await reach(h);
      // The reservation committed; ingestion saw its deadline pass before the machine heard of it.
      await h.send(expired(1));
      expect(h.ctx().expiredUnheld).toBe(1);
      await vi.advanceTimersByTimeAsync(1_000);
      await h.reserve();
      expect(h.value()).toBe('releasing');
      expect(h.script.callsOf('fetchTransferFactory')).toHaveLength(0);
      await h.answer('releaseReservation', { released: 2 });
      expect(h.value()).toBe('reserving');
      expect(await h.reserve()).toBe(2);
      expect(h.value()).toEqual({ preparing: 'fetchingFactory' });
      expect(h.ctx().reservation).toMatchObject({ attempt: 2, deadline: deadlineOf(2) });
    },
  );

  it.each([
    [
      'resubmit backoff',
      async (h: ReturnType<typeof harness>) => h.fail('executeSubmission', ambiguous),
      { awaitingLedger: 'resubmitBackoff' },
    ],
    [
      'prepare backoff after a definite answer',
      async (h: ReturnType<typeof harness>) => h.fail('executeSubmission', definiteNotCommitted),
      'prepareBackoff',
    ],
    ['an execute in flight', async () => {}, 'executing'],
    [
      'releasing after expiry',
      async (h: ReturnType<typeof harness>) => {
        await h.answer('executeSubmission', {});
        await h.send(expired(1));
      },
      'releasing',
    ],
  ] as const)('TRANSFERRED during %s still completes', async (_name, reach, state) => {
    const h = harness();
    await h.toExecuting();
    await reach(h);
    expect(h.value()).toEqual(state);
    await h.send(transferred());
    expect(h.value()).toBe('completed');
  });

  it('a non-retryable execute error stops submissions but keeps the holdings until the attempt expires, then stalls', async () => {
    const h = harness();
    await h.toExecuting();
    await h.fail('executeSubmission', err({ code: 'PERMISSION_DENIED', status: 403, category: 7 }));
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.ctx().haltReason).toContain('HTTP 403');
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(h.script.callsOf('executeSubmission')).toHaveLength(1);
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    await h.send(expired(1));
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('stalled');
  });

  it('if the database refuses a release (submitted attempt not settled), the withdrawal stalls loudly with its holdings kept', async () => {
    const h = harness();
    await h.toExecuting();
    await h.answer('executeSubmission', {});
    await h.send(expired(1));
    await h.fail('releaseReservation', err({ code: 'RELEASE_REFUSED', message: 'holdings h1-0 belong to a submitted attempt' }));
    expect(h.value()).toBe('stalled');
    expect(h.ctx().outcomeReason).toBe('could not release holdings: RELEASE_REFUSED: holdings h1-0 belong to a submitted attempt');
    expect(h.script.callsOf('reserveHoldings')).toHaveLength(1);
  });

  it('a re-prepare after a submission that gets a refused transfer kind stops submitting and waits for the ledger', async () => {
    const h = harness({ transferPolicy: 'direct-only' });
    await h.toExecuting('direct');
    await h.fail('executeSubmission', definiteNotCommitted);
    await vi.advanceTimersByTimeAsync(1_000);
    await h.answer('fetchTransferFactory', factoryOf('offer'));
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.ctx().pendingFailure).toMatch(/no transfer preapproval/);
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    await h.send(expired(1));
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('failed');
  });

  it('the retry budget counts attempts: after maxAttempts expiries it fails', async () => {
    const h = harness();
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await h.toExecuting()).toBe(attempt);
      await h.answer('executeSubmission', {});
      await h.send(expired(attempt));
      await h.answer('releaseReservation', { released: 2 });
    }
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toBe('retry budget exhausted: 3 attempts without a transfer');
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('ATTEMPTS_EXHAUSTED');
    expect(
      h
        .ctx()
        .history.filter((e) => e.kind === 'attempt_expired')
        .map((e) => e.attempt),
    ).toEqual([1, 2, 3]);
  });
});

describe('withdrawal machine: operator commands', () => {
  const CANCEL = { type: 'CANCEL', by: 'ops', reason: 'customer asked' } as const;
  const FAIL = { type: 'FAIL', by: 'ops', reason: 'compliance hold' } as const;
  const RETRY = { type: 'RETRY', by: 'ops' } as const;

  it('CANCEL before submission releases and ends cancelled', async () => {
    const h = harness();
    await h.answer('reserveHoldings', insufficient);
    expect(h.snap().can(CANCEL)).toBe(true);
    await h.send(CANCEL);
    expect(h.script.only('releaseReservation').input).toMatchObject({ reason: 'cancelled' });
    await h.answer('releaseReservation', { released: 0 });
    expect(h.value()).toBe('cancelled');
    expect(h.ctx().outcomeReason).toBe('cancelled by ops: customer asked');
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('OPERATOR_CANCEL');
  });

  it('CANCEL while the reservation is being written waits for it, then releases it', async () => {
    const h = harness();
    expect(h.snap().can(CANCEL)).toBe(true);
    await h.send(CANCEL);
    expect(h.value()).toBe('reserving');
    await h.reserve();
    expect(h.value()).toBe('releasing');
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('cancelled');
    expect(h.script.callsOf('fetchTransferFactory')).toHaveLength(0);
  });

  it('CANCEL after an execute is refused with the reason; FAIL is accepted and takes effect only on expiry', async () => {
    const h = harness();
    await h.toExecuting();
    await h.answer('executeSubmission', {});
    expect(h.snap().can(CANCEL)).toBe(false);
    expect(withdrawalCommandRefusal(h.value(), h.ctx(), 'CANCEL')).toMatch(
      /execute was submitted for the current attempt \(attempt 1, deadline 2030-01-01T00:01:00.000Z\): cancel is only possible before submission/,
    );
    expect(h.snap().can(FAIL)).toBe(true);
    await h.send(FAIL);
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.script.callsOf('releaseReservation')).toHaveLength(0);
    expect(h.snap().can(FAIL)).toBe(false);
    expect(withdrawalCommandRefusal(h.value(), h.ctx(), 'FAIL')).toMatch(/already failing: failed by operator ops: compliance hold/);
    await h.send(expired(1));
    await h.answer('releaseReservation', { released: 2 });
    expect(h.value()).toBe('failed');
    expect(h.ctx().outcomeReason).toBe('failed by operator ops: compliance hold');
    expect(withdrawalStatus(h.value(), h.ctx()).code).toBe('OPERATOR_FAIL');
  });

  it('FAIL accepted while awaiting the ledger still completes if the transfer committed', async () => {
    const h = harness();
    await h.toExecuting();
    await h.send(FAIL);
    await h.answer('executeSubmission', {});
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    await h.send(transferred());
    expect(h.value()).toBe('completed');
  });

  it('RETRY skips the wait for funds or a backoff; refused where there is nothing to retry', async () => {
    const h = harness();
    await h.answer('reserveHoldings', insufficient);
    await h.send(RETRY);
    expect(h.value()).toBe('reserving');
    expect(h.snap().can(RETRY)).toBe(false);
    expect(withdrawalCommandRefusal(h.value(), h.ctx(), 'RETRY')).toMatch(/nothing to retry while reserving/);
    await h.reserve();
    await h.fail('fetchTransferFactory', transient);
    await h.send(RETRY);
    expect(h.value()).toEqual({ preparing: 'fetchingFactory' });
  });

  it('every command is refused in final states, and all but FAIL (which withdraws the offer) while pending acceptance, with a reason', async () => {
    const h = harness();
    await h.toExecuting('offer');
    await h.answer('executeSubmission', {});
    await h.send(transferred('pending'));
    for (const c of [CANCEL, RETRY]) {
      expect(h.snap().can(c)).toBe(false);
      expect(withdrawalCommandRefusal(h.value(), h.ctx(), c.type)).toMatch(
        /committed as an offer awaiting the receiver: FAIL withdraws it/,
      );
    }
    expect(h.snap().can(FAIL)).toBe(true);
    await h.send({ type: 'INSTRUCTION_CLOSED', updateId: 'u', outcome: 'accepted' });
    for (const c of [CANCEL, FAIL, RETRY]) {
      expect(h.snap().can(c)).toBe(false);
      expect(withdrawalCommandRefusal(h.value(), h.ctx(), c.type)).toBe('withdrawal w-1 is completed: it is final');
    }
  });
});

describe('withdrawal machine: restore', () => {
  it('a restored backoff waits only the remainder (after RESUME re-arms the timer)', async () => {
    const h = harness();
    await h.reserve();
    await h.fail('fetchTransferFactory', transient);
    await vi.advanceTimersByTimeAsync(600);
    const persisted = h.actor.getPersistedSnapshot() as Snap;
    h.actor.stop();
    const r = harness({}, JSON.parse(JSON.stringify(persisted)) as Snap);
    expect(r.value()).toBe('prepareBackoff');
    expect(r.snap().can({ type: 'RESUME' })).toBe(true);
    await r.send({ type: 'RESUME' });
    await vi.advanceTimersByTimeAsync(399);
    expect(r.value()).toBe('prepareBackoff');
    await vi.advanceTimersByTimeAsync(1);
    expect(r.value()).toEqual({ preparing: 'fetchingFactory' });
  });

  it('an effect running at the crash is re-run with the same input on restore', async () => {
    const h = harness();
    await h.toExecuting();
    const input = h.script.only('executeSubmission').input;
    const persisted = JSON.parse(JSON.stringify(h.actor.getPersistedSnapshot())) as Snap;
    h.actor.stop();
    const r = harness({}, persisted);
    expect(r.value()).toBe('executing');
    expect(r.snap().can({ type: 'RESUME' })).toBe(false);
    expect(r.script.only('executeSubmission').input).toEqual(input);
    expect(r.ctx().executeCount).toBe(1);
  });
});

/**
 * Property: whatever the effects answer and whatever ingestion reports in whatever order, the
 * machine never lets two attempts commit. A tiny ledger model commits an executed attempt only
 * while that attempt has not been declared expired, and spends its inputs; ingestion reports a
 * commit (TRANSFERRED) or a definite failure (ATTEMPT_EXPIRED) some steps later, never both.
 */
describe('withdrawal machine: property', () => {
  type Step =
    | { kind: 'answer'; outcome: 'ok' | 'transient' | 'ambiguous' | 'definite' | 'inputGone' | 'fatal' | 'insufficient'; commit: boolean }
    | { kind: 'time'; ms: number }
    | { kind: 'expire'; which: 'current' | 'stale' }
    | { kind: 'report' }
    | { kind: 'operator'; command: 'RETRY' | 'CANCEL' | 'FAIL' };

  const outcome = fc.oneof(
    { weight: 10, arbitrary: fc.constant('ok' as const) },
    { weight: 2, arbitrary: fc.constant('transient' as const) },
    { weight: 3, arbitrary: fc.constant('ambiguous' as const) },
    { weight: 3, arbitrary: fc.constant('definite' as const) },
    { weight: 2, arbitrary: fc.constant('inputGone' as const) },
    { weight: 1, arbitrary: fc.constant('fatal' as const) },
    { weight: 1, arbitrary: fc.constant('insufficient' as const) },
  );
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 12, arbitrary: fc.record({ kind: fc.constant('answer' as const), outcome, commit: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 70_000 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('expire' as const), which: fc.constantFrom('current', 'current', 'stale') }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'report' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('operator' as const), command: fc.constantFrom('RETRY', 'CANCEL', 'FAIL') }) },
  );

  it('never commits two attempts; never reserves anew while a submitted attempt is undecided', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 150 }), async (steps) => {
        const h = harness();
        const spent = new Set<string>();
        const committed: number[] = [];
        const expiredAttempts = new Set<number>();
        const executed = new Set<number>();
        let reported = false;
        for (const s of steps) {
          if (h.snap().status === 'done') break;
          if (s.kind === 'answer') {
            const call = h.script.pending()[0];
            if (!call) continue;
            const attempt = h.ctx().attempt;
            if (call.name === 'reserveHoldings') {
              const { attempt: next } = call.input as ReserveHoldingsInput;
              // The safety rule, checked at the moment it matters.
              for (const a of executed)
                if (a < next && !expiredAttempts.has(a))
                  throw new Error(`reserved attempt ${next} although submitted attempt ${a} was never reported expired`);
              if (s.outcome === 'insufficient') call.resolve(insufficient);
              else if (s.outcome === 'transient') call.reject(transient);
              else call.resolve(reservedFor(next));
            } else if (call.name === 'releaseReservation') {
              if (s.outcome === 'transient') call.reject(transient);
              else call.resolve({ released: 1 });
            } else if (call.name === 'executeSubmission') {
              executed.add(attempt);
              const i = call.input as ExecuteSubmissionInput;
              const inputs = i.signed.preparedTransaction.slice(3).split('#')[0]!.split('+');
              const canCommit = s.commit && !expiredAttempts.has(attempt) && inputs.every((c) => !spent.has(c));
              if (canCommit && (s.outcome === 'ok' || s.outcome === 'ambiguous')) {
                inputs.forEach((c) => spent.add(c));
                committed.push(attempt);
              }
              if (s.outcome === 'ok' || s.outcome === 'insufficient' || s.outcome === 'inputGone') call.resolve({});
              else if (s.outcome === 'ambiguous') call.reject(ambiguous);
              else if (s.outcome === 'definite') call.reject(definiteNotCommitted);
              else if (s.outcome === 'transient') call.reject(transient);
              else call.reject(err({ code: 'INTERNAL', status: 500 }));
            } else if (call.name === 'prepareTransfer') {
              const i = call.input as PrepareTransferInput;
              if (s.outcome === 'inputGone' || i.inputHoldingCids.some((c) => spent.has(c))) call.reject(inputGone);
              else if (s.outcome === 'transient') call.reject(transient);
              else if (s.outcome === 'fatal') call.reject(err({ code: 'UNAUTHENTICATED', status: 401 }));
              else call.resolve(preparedFor(i, `#${h.script.callsOf('prepareTransfer').length}`));
            } else if (call.name === 'fetchTransferFactory') {
              if (s.outcome === 'transient') call.reject(transient);
              else call.resolve(factoryOf(s.outcome === 'fatal' ? 'self' : 'direct'));
            } else if (call.name === 'verifyAndSign') {
              if (s.outcome === 'transient') call.reject(transient);
              else call.resolve(signedFor(call.input as VerifyAndSignInput));
            } else if (call.name === 'checkAttempt') {
              // Ingestion caught up with the ledger: it has every commit and every decided expiry.
              const i = call.input as CheckAttemptInput;
              call.resolve(
                standing(
                  committed.length > 0
                    ? 'transferred'
                    : expiredAttempts.has(i.attempt)
                      ? 'expired'
                      : i.holdingCids.some((c) => spent.has(c))
                        ? 'inputsSpent'
                        : 'open',
                ),
              );
            }
            await flush();
          } else if (s.kind === 'time') {
            await vi.advanceTimersByTimeAsync(s.ms);
          } else if (s.kind === 'expire') {
            // Ingestion declares the current attempt failed only if it did not commit.
            const current = h.ctx().reservation?.attempt ?? h.ctx().attempt;
            const a = s.which === 'current' ? current : current - 1;
            if (a >= 1 && !committed.includes(a)) {
              expiredAttempts.add(a);
              await h.send(expired(a));
            }
          } else if (s.kind === 'report') {
            if (committed.length > 0 && !reported) {
              reported = true;
              await h.send(transferred());
            }
          } else {
            const e = s.command === 'RETRY' ? { type: 'RETRY' as const, by: 'p' } : { type: s.command, by: 'p', reason: 'r' };
            if (h.snap().can(e)) await h.send(e);
          }
          expect(new Set(committed).size).toBe(committed.length);
          expect(committed.length).toBeLessThanOrEqual(1);
        }
        // Whatever happened, a committed transfer is never reported as cancelled or failed.
        if (reported) expect(h.value()).toBe('completed');
        h.actor.stop();
      }),
      { numRuns: 800 },
    );
  });
});

describe('withdrawal machine: the validator out of traffic', () => {
  // As effects/errors.ts classifies Canton's refusal: definite, retryable, the machine's own code.
  const noTraffic = err({ code: 'TRAFFIC_EXHAUSTED', retryable: true, definiteAnswer: true, status: 409, category: 2 });

  it('resubmits the same signed transaction however often it is refused for traffic, counting no retry, then completes', async () => {
    const h = harness();
    await h.toExecuting();
    const signed = (h.script.only('executeSubmission').input as ExecuteSubmissionInput).signed;
    for (let i = 0; i < POLICY.maxTransientRetries + 3; i++) {
      await h.fail('executeSubmission', noTraffic);
      expect(h.value()).toEqual({ awaitingLedger: 'resubmitBackoff' });
      expect(h.ctx()).toMatchObject({ transientFailures: 0, pendingFailure: null, haltReason: null });
      expect(withdrawalStatus(h.value(), h.ctx())).toMatchObject({
        status: 'awaiting_ledger',
        code: 'TRAFFIC_EXHAUSTED',
        reason: expect.stringContaining('out of synchronizer traffic'),
      });
      await vi.advanceTimersByTimeAsync(POLICY.backoff.initialMs);
      expect(h.value()).toEqual({ awaitingLedger: 'resubmitting' });
      // Never re-prepared, never other holdings: the very transaction that was refused.
      expect((h.script.only('executeSubmission').input as ExecuteSubmissionInput).signed).toEqual(signed);
    }
    expect(h.script.callsOf('prepareTransfer')).toHaveLength(1);
    await h.answer('executeSubmission', {});
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    await h.send(transferred('completed'));
    expect(h.value()).toBe('completed');
    expect(h.script.callsOf('reserveHoldings')).toHaveLength(1);
  });

  it('an attempt that expires while held for traffic is not counted against the attempt budget', async () => {
    const h = harness({ policy: { ...POLICY, maxAttempts: 1 } });
    await h.toExecuting();
    await h.fail('executeSubmission', noTraffic);
    await h.send(expired(1));
    expect(h.value()).toBe('releasing');
    await h.answer('releaseReservation', { released: 2 });
    // Budget 1 and attempt 1 spent: without the refund this would be failed (ATTEMPTS_EXHAUSTED).
    expect(h.value()).toBe('reserving');
    expect(h.ctx()).toMatchObject({ attempt: 1, retryBase: 1 });
    expect(h.ctx().history.at(-1)?.detail ?? '').not.toContain('budget');
  });

  it('a FAIL while held stops submitting: the attempt is left to the ledger as after any definite refusal', async () => {
    const h = harness();
    await h.toExecuting();
    await h.send({ type: 'FAIL', by: 'ops', reason: 'customer asked' });
    await h.fail('executeSubmission', noTraffic);
    expect(h.value()).toEqual({ awaitingLedger: 'waiting' });
    expect(h.ctx().pendingFailure).toContain('customer asked');
  });
});

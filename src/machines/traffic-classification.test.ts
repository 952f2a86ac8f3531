import { describe, expect, it } from 'vitest';
import { LedgerApiError } from '../ledger/http.js';
import type { JsCantonError } from '../ledger/schema/index.js';
import { DEFAULT_DEPOSIT_POLICY, decideAcceptFailure, type DepositContext } from './deposit.context.js';
import { toActorError, trafficRefusalOf } from './effects/errors.js';
import { failureClass, isTrafficRefusal, type ActorFailure } from './failure.js';
import {
  DEFAULT_WITHDRAWAL_POLICY,
  decideAfterFailure,
  decideAfterWithdrawFailure,
  initialWithdrawalContext,
  type WithdrawalContext,
} from './withdrawal.context.js';
import { failureReasonCode } from './withdrawal.reason-code.js';

/**
 * How a refusal for lack of traffic is recognised (Canton's errors as the JSON Ledger API carries
 * them: src/sandbox/README.md "Traffic") and what the machines decide on it: a condition of the
 * validator, never counted against a withdrawal's or a deposit's budget.
 */

function ledgerError(status: number, e: Omit<JsCantonError, 'context'> & { context?: Record<string, string> }): LedgerApiError {
  const canton: JsCantonError = { context: {}, ...e };
  return new LedgerApiError(
    `POST /v2/interactive-submission/executeAndWait: HTTP ${status} ${e.code} (category ${e.errorCategory}): ${e.cause}`,
    {
      status,
      code: e.code,
      errorCategory: e.errorCategory,
      cantonError: canton,
    },
  );
}

// The participant's refusal of the send (TransactionProcessor.SubmissionErrors.SequencerRequest): the sequencer's error is in its context.
const sendRefused = ledgerError(409, {
  code: 'SEQUENCER_REQUEST_FAILED',
  cause: 'Failed to send command',
  errorCategory: 2,
  grpcCodeValue: 10,
  definiteAnswer: true,
  context: {
    sendError:
      'RequestRefused(SendAsyncErrorGrpc(GrpcRequestRefusedByServer: FAILED_PRECONDITION/SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT(9,0a1b2c3d): Submission was rejected because no traffic is available: AboveTrafficLimit(member = PAR::p::1220, trafficCost = 5120, …)))',
  },
});
// Refused after ordering (TrafficControlValidator): the deliver error's status itself.
const notEnough = ledgerError(400, {
  code: 'SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT',
  cause: 'AboveTrafficLimit(member = PAR::p::1220, trafficCost = 5120, …)',
  errorCategory: 9,
  grpcCodeValue: 9,
});
const outdated = ledgerError(400, {
  code: 'OUTDATED_TRAFFIC_COST',
  cause: 'Submission was refused because traffic cost was outdated.',
  errorCategory: 9,
  grpcCodeValue: 9,
});
// The same participant error for another reason (a sequencer unreachable): not about traffic.
const otherSendFailure = ledgerError(409, {
  code: 'SEQUENCER_REQUEST_FAILED',
  cause: 'Failed to send command',
  errorCategory: 2,
  grpcCodeValue: 10,
  context: { sendError: 'RequestFailed(no connection available)' },
});

describe('recognising a refusal for traffic', () => {
  it.each([
    ['the send refused by the sequencer', sendRefused, 'exhausted'],
    ['refused after ordering', notEnough, 'exhausted'],
    ['an outdated cost', outdated, 'outdated'],
    ['another send failure', otherSendFailure, null],
  ] as const)('%s', (_what, e, expected) => {
    expect(trafficRefusalOf(e)).toBe(expected);
  });

  it("becomes the machines' own codes: definite, worth sending again, the sequencer's words kept", () => {
    const f = toActorError(sendRefused, 'execute withdrawal-w-1-1').failure;
    expect(f).toMatchObject({ code: 'TRAFFIC_EXHAUSTED', retryable: true, definiteAnswer: true, status: 409, category: 2 });
    expect(f.message).toContain('SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT');
    expect(toActorError(notEnough, 'execute').failure).toMatchObject({ code: 'TRAFFIC_EXHAUSTED', retryable: true, definiteAnswer: true });
    expect(toActorError(outdated, 'execute').failure).toMatchObject({
      code: 'TRAFFIC_COST_OUTDATED',
      retryable: true,
      definiteAnswer: true,
    });
    expect(toActorError(otherSendFailure, 'execute').failure.code).toBe('SEQUENCER_REQUEST_FAILED');
    // A closed set for metrics and reason codes.
    expect(failureClass(f)).toBe('TRAFFIC_EXHAUSTED');
    expect(failureReasonCode(f)).toBe('TRAFFIC_EXHAUSTED');
    expect(isTrafficRefusal(f)).toBe(true);
  });
});

const trafficFailure: ActorFailure = {
  code: 'TRAFFIC_EXHAUSTED',
  message: 'no traffic',
  retryable: true,
  definiteAnswer: true,
  status: 409,
  category: 2,
};
const definite: ActorFailure = {
  code: 'LOCAL_VERDICT_LOCKED_CONTRACTS',
  message: 'locked',
  retryable: true,
  definiteAnswer: true,
  status: 409,
  category: 2,
};

function submitted(failure: ActorFailure, over: Partial<WithdrawalContext> = {}): WithdrawalContext {
  const c = initialWithdrawalContext({
    withdrawalId: 'w-1',
    purpose: 'payout',
    account: 'a',
    instrument: { admin: 'dso::1220aa', id: 'Amulet' },
    amount: '1',
    receiver: 'r::1220bb',
    sender: 't::1220cc',
    transferPolicy: 'direct-or-offer',
    policy: DEFAULT_WITHDRAWAL_POLICY,
  });
  return { ...c, attempt: 1, executeCount: 1, lastFailure: { step: 'execute', failure, at: '2030-01-01T00:00:00Z' }, ...over };
}

describe('what the machines decide on it', () => {
  const spent = { transientFailures: DEFAULT_WITHDRAWAL_POLICY.maxTransientRetries };

  it('a withdrawal resubmits whatever its retry budget, where another definite refusal with the budget spent stops', () => {
    expect(decideAfterFailure(submitted(trafficFailure))).toBe('trafficResubmit');
    expect(decideAfterFailure(submitted(trafficFailure, spent))).toBe('trafficResubmit');
    expect(decideAfterFailure(submitted({ ...trafficFailure, code: 'TRAFFIC_COST_OUTDATED' }, spent))).toBe('trafficResubmit');
    expect(decideAfterFailure(submitted(definite, spent))).toBe('stopAfterSubmit');
    // Stopping (an operator's FAIL) wins: nothing more is sent.
    expect(decideAfterFailure(submitted(trafficFailure, { pendingFailure: 'failed by operator' }))).toBe('stopAfterSubmit');
  });

  it('the withdraw of an offer backs off without counting', () => {
    expect(decideAfterWithdrawFailure(submitted(trafficFailure, spent), trafficFailure)).toBe('trafficBackoff');
    expect(decideAfterWithdrawFailure(submitted(trafficFailure, spent), definite)).toBe('halt');
  });

  it('a deposit accept backs off whatever its accept budget', () => {
    const deposit = {
      policy: DEFAULT_DEPOSIT_POLICY,
      acceptAttempts: DEFAULT_DEPOSIT_POLICY.maxAcceptAttempts,
      lastFailure: { step: 'execute', failure: trafficFailure, at: '2030-01-01T00:00:00Z' },
    } as unknown as DepositContext;
    expect(decideAcceptFailure(deposit)).toBe('trafficBackoff');
    expect(
      decideAcceptFailure({
        ...deposit,
        lastFailure: { step: 'execute', failure: definite, at: '2030-01-01T00:00:00Z' },
      } as DepositContext),
    ).toBe('acceptFailed');
  });
});

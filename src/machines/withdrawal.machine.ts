import { and, assertEvent, assign, fromPromise, setup, stateIn } from 'xstate';
import { z } from 'zod';
import { backoffDelayMs, isoAfter, msUntil, nowIso } from './backoff.js';
import { describeFailure, toFailure } from './failure.js';
import { failureReasonCode, offerClosedReasonCode } from './withdrawal.reason-code.js';
import type {
  ExecuteSubmissionInput,
  ExecuteSubmissionOutput,
  PreparedSubmission,
  SignedSubmission,
  VerifyAndSignInput,
} from './submission.js';
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
  TransferIntent,
  WithdrawalActors,
  WithdrawOfferInput,
  WithdrawOfferOutput,
} from './withdrawal.actors.js';
import {
  appendHistory,
  attemptBudgetExhausted,
  decideAfterCheck,
  decideAfterFailure,
  decideAfterWithdrawFailure,
  heldForTraffic,
  expiresUnheldAttempt,
  initialWithdrawalContext,
  isSubmitted,
  reservedAttemptExpired,
  stopReasons,
  transferKindRefusal,
  type FailureStep,
  type WithdrawalContext,
  type WithdrawalInput,
} from './withdrawal.context.js';

/**
 * One withdrawal (or treasury self-transfer) from request to a final outcome. README.md in this
 * folder has the state diagram and the safety rule; in short: a withdrawal moves to other holdings
 * only when nothing was submitted for the current attempt, or after ingestion reported that attempt
 * expired (ATTEMPT_EXPIRED). Outcomes come only from ingestion (TRANSFERRED, INSTRUCTION_CLOSED).
 *
 * Bump the version whenever a persisted snapshot of the previous version could not be restored
 * into this definition (renamed states, changed context): the runtime refuses unknown versions.
 */
export const WITHDRAWAL_MACHINE_VERSION = 1;

/** What an operator may send a withdrawal (src/http/routes/operator.ts). */
export const WithdrawalOperatorCommand = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RETRY'), by: z.string().min(1) }),
  z.object({ type: z.literal('CANCEL'), by: z.string().min(1), reason: z.string().min(1) }),
  z.object({ type: z.literal('FAIL'), by: z.string().min(1), reason: z.string().min(1) }),
]);
export type WithdrawalOperatorCommand = z.infer<typeof WithdrawalOperatorCommand>;

export const WithdrawalEvent = z.discriminatedUnion('type', [
  /** A committed transfer with this memo: completed (1-step), pending (2-step offer), failed (funds returned). */
  z.object({
    type: z.literal('TRANSFERRED'),
    updateId: z.string(),
    outcome: z.enum(['completed', 'pending', 'failed']),
    transferInstructionCid: z.string().nullable(),
  }),
  /** updateId is null when ingestion decided expiry from the record time alone. */
  z.object({
    type: z.literal('INSTRUCTION_CLOSED'),
    updateId: z.string().nullable(),
    outcome: z.enum(['accepted', 'rejected', 'withdrawn', 'expired', 'failed']),
  }),
  z.object({ type: z.literal('ATTEMPT_EXPIRED'), attempt: z.number().int(), deadline: z.string(), recordTime: z.string() }),
  ...WithdrawalOperatorCommand.options,
  /** Sent by the runtime after restoring a snapshot: re-arms the delayed transition of a timer state. */
  z.object({ type: z.literal('RESUME') }),
]);
export type WithdrawalEvent = z.infer<typeof WithdrawalEvent>;

const notProvided = (name: keyof WithdrawalActors) => async (): Promise<never> => {
  throw new Error(`withdrawal actor ${name} was not provided`);
};

function requireValue<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`withdrawal machine invariant: ${what} is missing`);
  return value;
}

function intent(c: WithdrawalContext): TransferIntent {
  const r = requireValue(c.reservation, 'reservation');
  return {
    withdrawalId: c.withdrawalId,
    attempt: r.attempt,
    sender: c.sender,
    receiver: c.receiver,
    amount: c.amount,
    instrument: c.instrument,
    inputHoldingCids: r.holdingCids,
    requestedAt: r.requestedAt,
    executeBefore: r.executeBefore,
    memo: c.withdrawalId,
  };
}

const commandIdOf = (c: WithdrawalContext) => `withdrawal-${c.withdrawalId}-${c.attempt}`;

function executeInput(c: WithdrawalContext): ExecuteSubmissionInput {
  return { submissionId: `${c.withdrawalId}-${c.attempt}-${c.executeCount}`, signed: requireValue(c.signed, 'signed submission') };
}

/** Context changes when an effect fails: remember it for stepFailed's routing. */
function failed(c: WithdrawalContext, step: FailureStep, error: unknown): Partial<WithdrawalContext> {
  const failure = toFailure(error);
  return {
    lastFailure: { step, failure, at: nowIso() },
    history: appendHistory(c, {
      kind: `${step}_failed`,
      detail: describeFailure(failure),
      code: failure.code,
      ...(failure.status === undefined ? {} : { status: failure.status }),
    }),
  };
}

/** checkingLedger's answer in the history. */
function noteChecked(c: WithdrawalContext, out: CheckAttemptOutput): Partial<WithdrawalContext> {
  return {
    history: appendHistory(c, {
      kind: 'ledger_checked',
      detail: `${out.standing} (ingested through offset ${out.ingestedThrough}): ${out.detail}`,
    }),
  };
}

export const withdrawalMachine = setup({
  types: {
    context: {} as WithdrawalContext,
    events: {} as WithdrawalEvent,
    input: {} as WithdrawalInput,
  },
  actors: {
    reserveHoldings: fromPromise<ReserveHoldingsOutput, ReserveHoldingsInput>(notProvided('reserveHoldings')),
    releaseReservation: fromPromise<ReleaseReservationOutput, ReleaseReservationInput>(notProvided('releaseReservation')),
    checkAttempt: fromPromise<CheckAttemptOutput, CheckAttemptInput>(notProvided('checkAttempt')),
    fetchTransferFactory: fromPromise<TransferFactoryOutput, FetchTransferFactoryInput>(notProvided('fetchTransferFactory')),
    prepareTransfer: fromPromise<PreparedSubmission, PrepareTransferInput>(notProvided('prepareTransfer')),
    verifyAndSign: fromPromise<SignedSubmission, VerifyAndSignInput>(notProvided('verifyAndSign')),
    executeSubmission: fromPromise<ExecuteSubmissionOutput, ExecuteSubmissionInput>(notProvided('executeSubmission')),
    withdrawOffer: fromPromise<WithdrawOfferOutput, WithdrawOfferInput>(notProvided('withdrawOffer')),
  },
  delays: {
    untilRetryAt: ({ context }) => msUntil(context.retryAt),
  },
  guards: {
    instrumentUnusable: ({ context }) => context.transferPolicy === null,
    recoveredOffer: ({ context }) => (context.recoveredOffer ?? null) !== null,
    transferSeen: ({ context }) => (context.transferSeen ?? null) !== null,
    notSubmitted: ({ context }) => !isSubmitted(context),
    submitted: ({ context }) => isSubmitted(context),
    canResubmit: ({ context }) => context.signed !== null && context.pendingFailure === null,
    noStopRequested: ({ context }) => context.pendingFailure === null && context.cancelRequested === null,
    stopRequested: ({ context }) => context.pendingFailure !== null || context.cancelRequested !== null,
    noFailPending: ({ context }) => context.pendingFailure === null,
    cancelRequested: ({ context }) => context.cancelRequested !== null,
    failurePending: ({ context }) => context.pendingFailure !== null,
    halted: ({ context }) => context.haltReason !== null,
    attemptBudgetExhausted: ({ context }) => attemptBudgetExhausted(context),
    expiresCurrentAttempt: ({ context, event }) =>
      event.type === 'ATTEMPT_EXPIRED' && context.reservation !== null && event.attempt === context.reservation.attempt,
    expiresUnheldAttempt: ({ context, event }) => event.type === 'ATTEMPT_EXPIRED' && expiresUnheldAttempt(context, event.attempt),
    notTransferredYet: ({ context }) => context.transfer === null,
    pendingOutcome: ({ event }) => event.type === 'TRANSFERRED' && event.outcome === 'pending',
    failedOutcome: ({ event }) => event.type === 'TRANSFERRED' && event.outcome === 'failed',
    instructionAccepted: ({ event }) => event.type === 'INSTRUCTION_CLOSED' && event.outcome === 'accepted',
    // Expired by the ingested record time (no update): the offer is still on the ledger, our funds locked in it.
    expiredOfferStillLocked: ({ context, event }) =>
      event.type === 'INSTRUCTION_CLOSED' && event.updateId === null && (context.transfer?.transferInstructionCid ?? null) !== null,
    decide_checkLedger: ({ context }) => decideAfterFailure(context) === 'checkLedger',
    decide_awaitLedger: ({ context }) => decideAfterFailure(context) === 'awaitLedger',
    decide_reserveBackoff: ({ context }) => decideAfterFailure(context) === 'reserveBackoff',
    decide_releaseBackoff: ({ context }) => decideAfterFailure(context) === 'releaseBackoff',
    decide_reprepareBackoff: ({ context }) => decideAfterFailure(context) === 'reprepareBackoff',
    decide_resubmitBackoff: ({ context }) => decideAfterFailure(context) === 'resubmitBackoff',
    decide_trafficResubmit: ({ context }) => decideAfterFailure(context) === 'trafficResubmit',
    decide_stopAfterSubmit: ({ context }) => decideAfterFailure(context) === 'stopAfterSubmit',
    decide_stallRelease: ({ context }) => decideAfterFailure(context) === 'stallRelease',
  },
  actions: {
    scheduleRetry: assign(({ context }) => {
      const failures = context.transientFailures + 1;
      const delay = backoffDelayMs(context.policy.backoff, failures);
      return {
        transientFailures: failures,
        retryAt: isoAfter(delay),
        history: appendHistory(context, { kind: 'backoff', detail: `retry ${failures} in ${delay} ms` }),
      };
    }),
    // No retry counted: the traffic gate (src/gates/traffic.ts) holds the resubmit until the validator has traffic.
    awaitTraffic: assign(({ context }) => ({
      retryAt: isoAfter(context.policy.backoff.initialMs),
      history: appendHistory(context, {
        kind: 'traffic_held',
        detail: 'the validator is out of traffic: submitted again once it has some (no retry counted)',
      }),
    })),
    stopForFailure: assign(({ context }) => {
      const reasons = stopReasons(context);
      return {
        ...reasons,
        history: appendHistory(context, { kind: 'stopped', detail: reasons.pendingFailure ?? reasons.haltReason ?? 'stopped' }),
      };
    }),
    noteCheckLedger: assign(({ context }) => ({
      history: appendHistory(context, {
        kind: 'inputs_unavailable',
        detail: 'the ledger says a reserved holding is gone: checking with ingestion, caught up to the ledger end, before anything else',
      }),
    })),
    noteWaitForLedger: assign(({ context }) => ({
      history: appendHistory(context, {
        kind: 'waiting_for_ledger',
        detail: 'the attempt was submitted: only the ledger (transfer or expiry) decides what happens next',
      }),
    })),
    stallRelease: assign(({ context }) => {
      const reason = `could not release holdings: ${context.lastFailure ? describeFailure(context.lastFailure.failure) : 'unknown'}`;
      const reasonCode = context.lastFailure ? failureReasonCode(context.lastFailure.failure) : 'RELEASE_REFUSED';
      return {
        haltReason: reason,
        outcomeReason: reason,
        reasonCode,
        history: appendHistory(context, { kind: 'stalled', detail: reason }),
      };
    }),
    countExecute: assign(({ context }) => ({
      executeCount: context.executeCount + 1,
      history: appendHistory(context, { kind: 'execute', detail: `execute #${context.executeCount + 1} of attempt ${context.attempt}` }),
    })),
    // The transfer is on the ledger, or the withdrawal is over: the submission can never be sent
    // again, and its tens of kilobytes (the prepared transaction, the factory's disclosed
    // contracts) would otherwise stay in the snapshot for good.
    dropSubmission: assign(() => ({ factory: null, prepared: null, signed: null })),
    beginRelease: assign(() => ({
      reservation: null,
      executeCount: 0,
      factory: null,
      prepared: null,
      signed: null,
      retryAt: null,
    })),
    recordExpiry: assign(({ context, event }) => {
      assertEvent(event, 'ATTEMPT_EXPIRED');
      const traffic = heldForTraffic(context);
      const detail = `deadline ${event.deadline} passed at ingested record time ${event.recordTime} with no transfer${traffic ? '; held for traffic meanwhile, so the attempt is not counted' : ''}`;
      return {
        ...(traffic ? { retryBase: context.retryBase + 1 } : {}),
        history: appendHistory(context, { kind: 'attempt_expired', detail }),
      };
    }),
    keepExpiry: assign(({ context, event }) => {
      assertEvent(event, 'ATTEMPT_EXPIRED');
      return {
        expiredUnheld: event.attempt,
        history: appendHistory(context, {
          kind: 'attempt_expired',
          attempt: event.attempt,
          detail: `deadline ${event.deadline} passed at ingested record time ${event.recordTime} before its reservation reached the machine: it will be released, never used`,
        }),
      };
    }),
    recordTransfer: assign(({ context, event }) => {
      assertEvent(event, 'TRANSFERRED');
      return {
        transfer: {
          updateId: event.updateId,
          outcome: event.outcome,
          transferInstructionCid: event.transferInstructionCid,
          attempt: context.attempt,
        },
        outcomeReason:
          event.outcome === 'failed'
            ? `the transfer committed with result Failed in update ${event.updateId}; funds returned to the treasury`
            : context.outcomeReason,
        reasonCode: event.outcome === 'failed' ? 'TRANSFER_FAILED' : context.reasonCode,
        reservation: null,
        history: appendHistory(context, { kind: 'transferred', detail: `${event.outcome} in update ${event.updateId}` }),
      };
    }),
    recordClosed: assign(({ context, event }) => {
      assertEvent(event, 'INSTRUCTION_CLOSED');
      const how = {
        rejected: ' by the receiver',
        withdrawn: ' by the sender',
        expired: ' before acceptance',
        failed: ' on the ledger',
        accepted: '',
      }[event.outcome];
      // Expired by record time and then withdrawn by us, or withdrawn because an operator failed it.
      const expiredUnwithdrawn = context.closed?.outcome === 'expired' && context.closed.updateId === null;
      const why = expiredUnwithdrawn ? 'transfer offer expired before acceptance' : context.pendingFailure;
      const failedBecause =
        event.outcome === 'accepted'
          ? null
          : why !== null && event.updateId !== null
            ? `${why}; the offer closed (${event.outcome}) in update ${event.updateId}; funds returned to the treasury`
            : `transfer offer ${event.outcome}${how}; funds returned to the treasury`;
      // Withdrawn by us: the code says why we withdrew it (its expiry, an operator's FAIL).
      const reasonCode =
        event.outcome === 'accepted'
          ? null
          : expiredUnwithdrawn
            ? 'OFFER_EXPIRED'
            : (context.pendingFailure !== null && context.reasonCode) || offerClosedReasonCode(event.outcome);
      return {
        closed: { updateId: event.updateId, outcome: event.outcome },
        outcomeReason: failedBecause,
        reasonCode,
        history: appendHistory(context, {
          kind: 'instruction_closed',
          detail: `${event.outcome}${event.updateId ? ` in update ${event.updateId}` : ' (by ingested record time)'}`,
        }),
      };
    }),
    requestCancel: assign(({ context, event }) => {
      assertEvent(event, 'CANCEL');
      return {
        cancelRequested: { by: event.by, reason: event.reason, at: nowIso() },
        reasonCode: 'OPERATOR_CANCEL',
        history: appendHistory(context, { kind: 'operator_cancel', detail: `${event.by}: ${event.reason}` }),
      };
    }),
    requestFail: assign(({ context, event }) => {
      assertEvent(event, 'FAIL');
      return {
        pendingFailure: `failed by operator ${event.by}: ${event.reason}`,
        reasonCode: 'OPERATOR_FAIL',
        history: appendHistory(context, { kind: 'operator_fail', detail: `${event.by}: ${event.reason}` }),
      };
    }),
    operatorRetry: assign(({ context, event }) => {
      assertEvent(event, 'RETRY');
      return {
        transientFailures: 0,
        haltReason: null,
        outcomeReason: null,
        reasonCode: null,
        retryBase: context.attempt,
        retryAt: null,
        history: appendHistory(context, { kind: 'operator_retry', detail: `retry requested by ${event.by}` }),
      };
    }),
    beginWithdraw: assign(({ context }) => ({
      transientFailures: 0,
      lastFailure: null,
      retryAt: null,
      history: appendHistory(context, {
        kind: 'withdrawing_offer',
        detail: `withdrawing offer ${context.transfer?.transferInstructionCid ?? ''} so its locked funds return to the treasury`,
      }),
    })),
    awaitOfferClose: assign(({ context }) => ({
      retryAt: isoAfter(context.policy.backoff.maxMs),
      history: appendHistory(context, {
        kind: 'offer_withdraw_sent',
        detail: 'waiting for ingestion to show the offer closed; asking again if it does not',
      }),
    })),
    finishCancelled: assign(({ context }) => ({
      outcomeReason: `cancelled by ${context.cancelRequested?.by ?? 'operator'}: ${context.cancelRequested?.reason ?? ''}`,
      reasonCode: 'OPERATOR_CANCEL' as const,
    })),
    finishFailed: assign(({ context }) => ({ outcomeReason: context.pendingFailure })),
    finishBudget: assign(({ context }) => ({
      outcomeReason: `retry budget exhausted: ${context.attempt - context.retryBase} attempts without a transfer`,
      reasonCode: 'ATTEMPTS_EXHAUSTED' as const,
    })),
    finishStalled: assign(({ context }) => ({ outcomeReason: context.haltReason })),
  },
}).createMachine({
  id: 'withdrawal',
  context: ({ input }) => initialWithdrawalContext(input),
  initial: 'requested',
  // Ledger facts apply wherever the machine is: ingestion has seen them committed.
  on: {
    TRANSFERRED: [
      { guard: and(['pendingOutcome', 'notTransferredYet']), target: '.pendingAcceptance', actions: 'recordTransfer' },
      { guard: and(['failedOutcome', 'notTransferredYet']), target: '.failed', actions: 'recordTransfer' },
      { guard: 'notTransferredYet', target: '.completed', actions: 'recordTransfer' },
    ],
    INSTRUCTION_CLOSED: [
      { guard: 'instructionAccepted', target: '.completed', actions: 'recordClosed' },
      // Its registry may never expire it: withdraw it before failing, or the funds stay locked.
      {
        guard: and(['expiredOfferStillLocked', stateIn('pendingAcceptance')]),
        target: '.withdrawingOffer',
        actions: ['recordClosed', 'beginWithdraw'],
      },
      { guard: 'expiredOfferStillLocked', actions: 'recordClosed' },
      { target: '.failed', actions: 'recordClosed' },
    ],
    // Ingestion reports each attempt's expiry once: one for the attempt being reserved is kept.
    ATTEMPT_EXPIRED: [
      { guard: 'expiresCurrentAttempt', target: '.releasing', actions: 'recordExpiry' },
      { guard: 'expiresUnheldAttempt', actions: 'keepExpiry' },
    ],
  },
  states: {
    requested: {
      always: [
        {
          // Already paid as an offer (recovered from the ledger): never reserve, only follow the offer.
          guard: 'recoveredOffer',
          target: 'pendingAcceptance',
          actions: assign(({ context }) => {
            const r = context.recoveredOffer!;
            return {
              transfer: { updateId: r.updateId, outcome: 'pending' as const, transferInstructionCid: r.transferInstructionCid, attempt: 0 },
              history: appendHistory(context, {
                kind: 'recovered',
                detail: `recovered from the ledger: offer ${r.transferInstructionCid} of update ${r.updateId} awaits the receiver`,
              }),
            };
          }),
        },
        {
          // Its transfer is already on the ledger (re-sent after a database restore): never reserve.
          guard: 'transferSeen',
          target: 'transferSeen',
          actions: assign(({ context }) => ({
            history: appendHistory(context, {
              kind: 'transfer_seen',
              detail: `ingestion had already read its transfer in update ${context.transferSeen!.updateId}: waiting for its report, never paying again`,
            }),
          })),
        },
        {
          guard: 'instrumentUnusable',
          target: 'failed',
          actions: assign(({ context }) => ({
            outcomeReason: `instrument ${context.instrument.admin}/${context.instrument.id} is not onboarded or is disabled`,
            reasonCode: 'INSTRUMENT_UNAVAILABLE' as const,
          })),
        },
        { target: 'reserving' },
      ],
    },

    // Nothing to do but wait: TRANSFERRED (handled above, for every state) follows in the outbox.
    transferSeen: {},

    reserving: {
      invoke: {
        id: 'reserveHoldings',
        src: 'reserveHoldings',
        input: ({ context }) => ({
          withdrawalId: context.withdrawalId,
          attempt: context.attempt + 1,
          owner: context.sender,
          instrument: context.instrument,
          amount: context.amount,
          maxInputs: context.policy.maxInputs,
          ttlMs: context.policy.attemptTtlMs,
        }),
        onDone: [
          {
            // Ingestion already reported this attempt expired: its deadline is behind the ledger.
            guard: ({ event, context }) => event.output.kind === 'reserved' && reservedAttemptExpired(context, event.output.attempt),
            target: 'releasing',
            actions: assign(({ context, event }) => ({
              attempt: event.output.kind === 'reserved' ? event.output.attempt : context.attempt,
              history: appendHistory(context, {
                kind: 'reserved',
                detail: 'reserved an attempt ingestion already reported expired: releasing it unused',
              }),
            })),
          },
          {
            // Cancel/fail arrived while the reservation was being written: keep it, then release it.
            guard: ({ event, context }) =>
              event.output.kind === 'reserved' && (context.cancelRequested !== null || context.pendingFailure !== null),
            target: 'releasing',
            actions: assign(({ context, event }) => ({
              attempt: event.output.kind === 'reserved' ? event.output.attempt : context.attempt,
              history: appendHistory(context, { kind: 'reserved', detail: 'reserved while a cancel/fail was pending' }),
            })),
          },
          {
            guard: ({ event }) => event.output.kind === 'reserved',
            target: 'preparing',
            actions: assign(({ context, event }) => {
              if (event.output.kind !== 'reserved') return {};
              const now = Date.now();
              return {
                attempt: event.output.attempt,
                reservation: {
                  attempt: event.output.attempt,
                  holdingCids: event.output.holdings.map((h) => h.contractId),
                  total: event.output.total,
                  deadline: event.output.deadline,
                  requestedAt: new Date(now).toISOString(),
                  executeBefore: isoAfter(context.policy.offerTtlMs, now),
                },
                executeCount: 0,
                transientFailures: 0,
                lastFailure: null,
                waitingSince: null,
                waitingReason: null,
                history: appendHistory(
                  { ...context, attempt: event.output.attempt },
                  {
                    kind: 'reserved',
                    detail: `${event.output.holdings.length} holdings totalling ${event.output.total}, deadline ${event.output.deadline}`,
                  },
                ),
              };
            }),
          },
          { guard: 'stopRequested', target: 'releasing' },
          {
            guard: ({ context }) =>
              context.waitingSince !== null && Date.now() - Date.parse(context.waitingSince) >= context.policy.fundsTimeoutMs,
            target: 'releasing',
            actions: assign(({ context, event }) => ({
              pendingFailure: `insufficient funds for more than ${Math.round(context.policy.fundsTimeoutMs / 60_000)} minutes: ${event.output.kind === 'insufficient' ? event.output.reason : ''}`,
              reasonCode: 'INSUFFICIENT_FUNDS' as const,
            })),
          },
          {
            target: 'waitingForFunds',
            actions: assign(({ context, event }) => {
              const now = Date.now();
              const since = context.waitingSince ?? new Date(now).toISOString();
              const timeoutAt = Date.parse(since) + context.policy.fundsTimeoutMs;
              const reason = event.output.kind === 'insufficient' ? event.output.reason : 'insufficient funds';
              return {
                waitingSince: since,
                waitingReason: reason,
                retryAt: new Date(Math.min(now + context.policy.fundsRecheckMs, timeoutAt)).toISOString(),
                history:
                  context.waitingReason === reason
                    ? context.history
                    : appendHistory(context, { kind: 'insufficient_funds', detail: reason }),
              };
            }),
          },
        ],
        onError: { target: 'stepFailed', actions: assign(({ context, event }) => failed(context, 'reserve', event.error)) },
      },
      on: {
        // Never abandon a reservation being written: record the request, act when it settles.
        CANCEL: { guard: 'noStopRequested', actions: 'requestCancel' },
        FAIL: { guard: 'noStopRequested', actions: 'requestFail' },
      },
    },

    reserveBackoff: {
      after: { untilRetryAt: 'reserving' },
      on: {
        RESUME: { target: 'reserveBackoff', reenter: true },
        RETRY: { target: 'reserving', actions: 'operatorRetry' },
        CANCEL: { guard: 'noStopRequested', target: 'releasing', actions: 'requestCancel' },
        FAIL: { guard: 'noStopRequested', target: 'releasing', actions: 'requestFail' },
      },
    },

    waitingForFunds: {
      after: { untilRetryAt: 'reserving' },
      on: {
        RESUME: { target: 'waitingForFunds', reenter: true },
        RETRY: { target: 'reserving', actions: 'operatorRetry' },
        CANCEL: { guard: 'noStopRequested', target: 'releasing', actions: 'requestCancel' },
        FAIL: { guard: 'noStopRequested', target: 'releasing', actions: 'requestFail' },
      },
    },

    preparing: {
      initial: 'fetchingFactory',
      states: {
        fetchingFactory: {
          invoke: {
            id: 'fetchTransferFactory',
            src: 'fetchTransferFactory',
            input: ({ context }) => intent(context),
            onDone: [
              {
                guard: ({ context, event }) => transferKindRefusal(context, event.output.transferKind) !== null,
                target: '#withdrawal.kindRefused',
                actions: assign(({ context, event }) => {
                  const reason = transferKindRefusal(context, event.output.transferKind) ?? '';
                  const reasonCode = context.pendingFailure !== null ? (context.reasonCode ?? null) : ('TRANSFER_KIND_REFUSED' as const);
                  return {
                    pendingFailure: context.pendingFailure ?? reason,
                    reasonCode,
                    history: appendHistory(context, { kind: 'transfer_kind_refused', detail: reason }),
                  };
                }),
              },
              {
                target: 'preparingTransaction',
                actions: assign(({ context, event }) => ({
                  factory: event.output,
                  history: appendHistory(context, { kind: 'factory', detail: `transferKind ${event.output.transferKind}` }),
                })),
              },
            ],
            onError: { target: '#withdrawal.stepFailed', actions: assign(({ context, event }) => failed(context, 'factory', event.error)) },
          },
        },
        preparingTransaction: {
          invoke: {
            id: 'prepareTransfer',
            src: 'prepareTransfer',
            input: ({ context }) => {
              const r = requireValue(context.reservation, 'reservation');
              return {
                ...intent(context),
                factory: requireValue(context.factory, 'transfer factory'),
                commandId: commandIdOf(context),
                maxRecordTime: r.deadline,
              };
            },
            onDone: {
              target: '#withdrawal.signing',
              actions: assign(({ context, event }) => ({
                prepared: event.output,
                history: appendHistory(context, { kind: 'prepared', detail: `command ${event.output.commandId}` }),
              })),
            },
            onError: { target: '#withdrawal.stepFailed', actions: assign(({ context, event }) => failed(context, 'prepare', event.error)) },
          },
        },
      },
      on: {
        CANCEL: { guard: 'notSubmitted', target: 'releasing', actions: 'requestCancel' },
        FAIL: [
          { guard: 'notSubmitted', target: 'releasing', actions: 'requestFail' },
          { guard: 'noFailPending', target: 'awaitingLedger', actions: 'requestFail' },
        ],
      },
    },

    // The registry answered a transferKind this withdrawal cannot use: fail, safely.
    kindRefused: {
      always: [{ guard: 'notSubmitted', target: 'releasing' }, { target: 'awaitingLedger' }],
    },

    signing: {
      invoke: {
        id: 'verifyAndSign',
        src: 'verifyAndSign',
        input: ({ context }) => {
          const r = requireValue(context.reservation, 'reservation');
          return {
            prepared: requireValue(context.prepared, 'prepared transaction'),
            expected: {
              kind: 'transfer' as const,
              commandId: commandIdOf(context),
              factoryId: requireValue(context.factory, 'transfer factory').factoryId,
              sender: context.sender,
              receiver: context.receiver,
              amount: context.amount,
              instrument: context.instrument,
              inputHoldingCids: r.holdingCids,
              memo: context.withdrawalId,
              executeBefore: r.executeBefore,
              maxRecordTime: r.deadline,
            },
          };
        },
        onDone: {
          target: 'executing',
          actions: assign(({ context, event }) => ({
            signed: event.output,
            prepared: null,
            history: appendHistory(context, { kind: 'signed', detail: `signed by ${event.output.signedBy}` }),
          })),
        },
        onError: { target: 'stepFailed', actions: assign(({ context, event }) => failed(context, 'sign', event.error)) },
      },
      on: {
        CANCEL: { guard: 'notSubmitted', target: 'releasing', actions: 'requestCancel' },
        FAIL: [
          { guard: 'notSubmitted', target: 'releasing', actions: 'requestFail' },
          { guard: 'noFailPending', target: 'awaitingLedger', actions: 'requestFail' },
        ],
      },
    },

    // Entering this state is persisted (executeCount > 0, holding_reservations.submitted_at) before
    // the runtime lets the execute effect start: after a crash the machine knows it may have committed.
    executing: {
      entry: 'countExecute',
      invoke: {
        id: 'executeSubmission',
        src: 'executeSubmission',
        input: ({ context }) => executeInput(context),
        onDone: {
          target: 'awaitingLedger',
          actions: assign(({ context, event }) => ({
            history: appendHistory(context, {
              kind: 'submitted',
              detail: event.output.duplicate ? 'ledger already had this command' : 'accepted for processing',
            }),
          })),
        },
        onError: { target: 'stepFailed', actions: assign(({ context, event }) => failed(context, 'execute', event.error)) },
      },
      on: {
        // The execute is in flight: record the failure request, stop submitting once it returns.
        FAIL: { guard: 'noStopRequested', actions: 'requestFail' },
      },
    },

    awaitingLedger: {
      initial: 'waiting',
      states: {
        waiting: {
          on: {
            RETRY: [
              { guard: 'canResubmit', target: 'resubmitting', actions: 'operatorRetry' },
              // Nothing to resubmit: ask ingestion, caught up with the ledger, where the attempt stands.
              { target: '#withdrawal.checkingLedger', actions: 'operatorRetry' },
            ],
          },
        },
        resubmitBackoff: {
          after: { untilRetryAt: 'resubmitting' },
          on: {
            RESUME: { target: 'resubmitBackoff', reenter: true },
            RETRY: { target: 'resubmitting', actions: 'operatorRetry' },
          },
        },
        // The same signed transaction again: it spends the same inputs, so at most one can commit.
        resubmitting: {
          entry: 'countExecute',
          invoke: {
            id: 'resubmitSubmission',
            src: 'executeSubmission',
            input: ({ context }) => executeInput(context),
            onDone: {
              target: 'waiting',
              actions: assign(({ context }) => ({ history: appendHistory(context, { kind: 'submitted', detail: 'resubmitted' }) })),
            },
            onError: {
              target: '#withdrawal.stepFailed',
              actions: assign(({ context, event }) => failed(context, 'resubmit', event.error)),
            },
          },
        },
      },
      on: {
        FAIL: { guard: 'noStopRequested', target: '.waiting', actions: 'requestFail' },
      },
    },

    // The ledger said an input is gone (before any execute), or an operator asked while awaiting the
    // ledger: wait for ingestion to reach the ledger end, then decide on what it recorded.
    checkingLedger: {
      invoke: {
        id: 'checkAttempt',
        src: 'checkAttempt',
        input: ({ context }) => {
          const r = requireValue(context.reservation, 'reservation');
          return { withdrawalId: context.withdrawalId, attempt: r.attempt, holdingCids: r.holdingCids };
        },
        onDone: [
          {
            guard: ({ context, event }) => decideAfterCheck(context, event.output.standing) === 'awaitTransfer',
            target: 'awaitingLedger',
            actions: assign(({ context, event }) => noteChecked(context, event.output)),
          },
          {
            guard: ({ context, event }) => decideAfterCheck(context, event.output.standing) === 'release',
            target: 'releasing',
            actions: assign(({ context, event }) => noteChecked(context, event.output)),
          },
          {
            guard: ({ context, event }) => decideAfterCheck(context, event.output.standing) === 'reprepareBackoff',
            target: 'prepareBackoff',
            actions: [assign(({ context, event }) => noteChecked(context, event.output)), 'scheduleRetry'],
          },
          {
            guard: ({ context, event }) => decideAfterCheck(context, event.output.standing) === 'stopAndAwaitLedger',
            target: 'awaitingLedger',
            actions: [assign(({ context, event }) => noteChecked(context, event.output)), 'stopForFailure'],
          },
          // awaitLedger: only the ledger (transfer or expiry) decides a submitted attempt.
          { target: 'awaitingLedger', actions: assign(({ context, event }) => noteChecked(context, event.output)) },
        ],
        onError: { target: 'stepFailed', actions: assign(({ context, event }) => failed(context, 'check', event.error)) },
      },
      on: {
        // Whatever was asked meanwhile applies once ingestion has told where the attempt stands.
        CANCEL: { guard: and(['notSubmitted', 'noStopRequested']), actions: 'requestCancel' },
        FAIL: { guard: 'noStopRequested', actions: 'requestFail' },
      },
    },

    prepareBackoff: {
      after: { untilRetryAt: 'preparing' },
      on: {
        RESUME: { target: 'prepareBackoff', reenter: true },
        RETRY: { target: 'preparing', actions: 'operatorRetry' },
        CANCEL: { guard: 'notSubmitted', target: 'releasing', actions: 'requestCancel' },
        FAIL: [
          { guard: 'notSubmitted', target: 'releasing', actions: 'requestFail' },
          { guard: 'noFailPending', target: 'awaitingLedger', actions: 'requestFail' },
        ],
      },
    },

    // Routes a failed effect (context.lastFailure) by decideAfterFailure: the safety rule's one table.
    stepFailed: {
      always: [
        { guard: 'decide_checkLedger', target: 'checkingLedger', actions: 'noteCheckLedger' },
        { guard: 'decide_awaitLedger', target: 'awaitingLedger', actions: 'noteWaitForLedger' },
        { guard: 'decide_reserveBackoff', target: 'reserveBackoff', actions: 'scheduleRetry' },
        { guard: 'decide_releaseBackoff', target: 'releaseBackoff', actions: 'scheduleRetry' },
        { guard: 'decide_reprepareBackoff', target: 'prepareBackoff', actions: 'scheduleRetry' },
        { guard: 'decide_resubmitBackoff', target: 'awaitingLedger.resubmitBackoff', actions: 'scheduleRetry' },
        { guard: 'decide_trafficResubmit', target: 'awaitingLedger.resubmitBackoff', actions: 'awaitTraffic' },
        { guard: 'decide_stallRelease', target: 'stalled', actions: 'stallRelease' },
        { guard: 'decide_stopAfterSubmit', target: 'awaitingLedger', actions: 'stopForFailure' },
        { target: 'releasing', actions: 'stopForFailure' },
      ],
    },

    // Frees every live reservation of this withdrawal, then goes where the context says. Entered only
    // when that is safe: nothing submitted for the live reservation, or its attempt expired.
    releasing: {
      entry: 'beginRelease',
      invoke: {
        id: 'releaseReservation',
        src: 'releaseReservation',
        input: ({ context }) => ({
          withdrawalId: context.withdrawalId,
          attempt: null,
          reason: context.cancelRequested ? 'cancelled' : context.pendingFailure ? 'failed' : context.haltReason ? 'stalled' : 'retry',
        }),
        onDone: [
          { guard: 'cancelRequested', target: 'cancelled', actions: 'finishCancelled' },
          { guard: 'failurePending', target: 'failed', actions: 'finishFailed' },
          { guard: 'halted', target: 'stalled', actions: 'finishStalled' },
          { guard: 'attemptBudgetExhausted', target: 'failed', actions: 'finishBudget' },
          { target: 'reserving' },
        ],
        onError: { target: 'stepFailed', actions: assign(({ context, event }) => failed(context, 'release', event.error)) },
      },
      on: {
        CANCEL: { guard: 'noStopRequested', actions: 'requestCancel' },
        FAIL: { guard: 'noStopRequested', actions: 'requestFail' },
      },
    },

    releaseBackoff: {
      after: { untilRetryAt: 'releasing' },
      on: {
        RESUME: { target: 'releaseBackoff', reenter: true },
        RETRY: { target: 'releasing', actions: 'operatorRetry' },
      },
    },

    // Stopped by a non-retryable error; holdings released. Waits for an operator.
    stalled: {
      on: {
        RETRY: { target: 'releasing', actions: 'operatorRetry' },
        CANCEL: { guard: 'noStopRequested', target: 'releasing', actions: 'requestCancel' },
        FAIL: { guard: 'noStopRequested', target: 'releasing', actions: 'requestFail' },
      },
    },

    // Committed as a 2-step offer: the receiver's accept/reject, our withdraw or expiry ends it.
    pendingAcceptance: {
      entry: 'dropSubmission',
      on: {
        // Take the offer back; should the receiver accept first, the withdrawal completes.
        FAIL: { target: 'withdrawingOffer', actions: ['requestFail', 'beginWithdraw'] },
      },
    },

    // Our offer is withdrawn (expired by record time, or failed by an operator): only the ledger's
    // close of it (INSTRUCTION_CLOSED with an update) ends the withdrawal, so its funds never stay
    // locked in an offer nobody will act on. Repeating a withdraw is harmless: it archives the offer.
    withdrawingOffer: {
      invoke: {
        id: 'withdrawOffer',
        src: 'withdrawOffer',
        input: ({ context }) => ({
          withdrawalId: context.withdrawalId,
          instrument: context.instrument,
          transferInstructionCid: requireValue(context.transfer?.transferInstructionCid ?? null, 'transfer instruction'),
          commandId: `withdrawal-${context.withdrawalId}-withdraw-offer`,
        }),
        onDone: { target: 'offerWithdrawWait', actions: 'awaitOfferClose' },
        onError: [
          {
            guard: ({ context, event }) => decideAfterWithdrawFailure(context, toFailure(event.error)) === 'awaitClose',
            target: 'offerWithdrawWait',
            actions: [assign(({ context, event }) => failed(context, 'withdraw', event.error)), 'awaitOfferClose'],
          },
          {
            guard: ({ context, event }) => decideAfterWithdrawFailure(context, toFailure(event.error)) === 'trafficBackoff',
            target: 'offerWithdrawWait',
            actions: [assign(({ context, event }) => failed(context, 'withdraw', event.error)), 'awaitTraffic'],
          },
          {
            guard: ({ context, event }) => decideAfterWithdrawFailure(context, toFailure(event.error)) === 'backoff',
            target: 'offerWithdrawWait',
            actions: [assign(({ context, event }) => failed(context, 'withdraw', event.error)), 'scheduleRetry'],
          },
          { target: 'offerWithdrawHalted', actions: assign(({ context, event }) => failed(context, 'withdraw', event.error)) },
        ],
      },
    },

    // Waiting for ingestion to show the offer closed; asks again after a while (or a backoff).
    offerWithdrawWait: {
      after: { untilRetryAt: 'withdrawingOffer' },
      on: {
        RESUME: { target: 'offerWithdrawWait', reenter: true },
        RETRY: { target: 'withdrawingOffer', actions: 'operatorRetry' },
      },
    },

    // The withdraw failed in a way retrying will not fix (auth, a refused transaction…): an operator
    // fixes the cause and retries. The offer may still close by itself meanwhile.
    offerWithdrawHalted: {
      on: {
        RETRY: { target: 'withdrawingOffer', actions: 'operatorRetry' },
      },
    },

    completed: { type: 'final', entry: 'dropSubmission' },
    failed: { type: 'final', entry: 'dropSubmission' },
    cancelled: { type: 'final', entry: 'dropSubmission' },
  },
});

export type WithdrawalMachine = typeof withdrawalMachine;

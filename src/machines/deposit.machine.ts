import { assertEvent, assign, fromPromise, setup } from 'xstate';
import { z } from 'zod';
import { backoffDelayMs, isoAfter, msUntil, nowIso } from './backoff.js';
import type { DepositActors, FetchAcceptContextInput, PrepareAcceptInput } from './deposit.actors.js';
import {
  appendDepositHistory,
  assignCreditsAtOnce,
  closedReason,
  decideAcceptFailure,
  initialDepositContext,
  type DepositContext,
  type DepositInput,
} from './deposit.context.js';
import { describeFailure, toFailure } from './failure.js';
import type {
  ChoiceContext,
  ExecuteSubmissionInput,
  ExecuteSubmissionOutput,
  PreparedSubmission,
  SignedSubmission,
  VerifyAndSignInput,
} from './submission.js';

/**
 * One deposit, from the ledger fact that created it to a final outcome. 1-step deposits are
 * credited (final at creation) or unattributed (until an admin assigns them). 2-step offers with a
 * known account are accepted; the credit itself is ingestion's, when it sees the accept commit.
 * A deposit ingestion ignored (it does not count: docs/internals.md) is final as it is found.
 * Offer outcomes (rejected, withdrawn, expired) come only from ingestion, never from our clock.
 */
export const DEPOSIT_MACHINE_VERSION = 1;

/** What an operator may send a deposit (src/http/routes/operator.ts). */
export const DepositOperatorCommand = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RETRY_ACCEPT'), by: z.string().min(1) }),
  z.object({ type: z.literal('ASSIGN'), accountId: z.string().min(1), by: z.string().min(1) }),
]);
export type DepositOperatorCommand = z.infer<typeof DepositOperatorCommand>;

export const DepositEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('CREDITED'), accountId: z.string(), updateId: z.string().nullable(), creditedAmount: z.string().nullable() }),
  /** updateId is null when ingestion decided expiry from the record time alone. */
  z.object({
    type: z.literal('OFFER_CLOSED'),
    outcome: z.enum(['accepted', 'rejected', 'withdrawn', 'expired', 'failed']),
    updateId: z.string().nullable(),
  }),
  ...DepositOperatorCommand.options,
  z.object({ type: z.literal('RESUME') }),
]);
export type DepositEvent = z.infer<typeof DepositEvent>;

const notProvided = (name: keyof DepositActors) => async (): Promise<never> => {
  throw new Error(`deposit actor ${name} was not provided`);
};

function requireValue<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`deposit machine invariant: ${what} is missing`);
  return value;
}

function offerOf(c: DepositContext): FetchAcceptContextInput {
  return {
    depositId: c.depositId,
    transferInstructionCid: requireValue(c.transferInstructionCid, 'transfer instruction'),
    instrument: c.instrument,
  };
}

const commandIdOf = (c: DepositContext) => `deposit-accept-${c.depositId}`;

function failed(c: DepositContext, step: 'context' | 'prepare' | 'sign' | 'execute', error: unknown): Partial<DepositContext> {
  const failure = toFailure(error);
  return {
    lastFailure: { step, failure, at: nowIso() },
    history: appendDepositHistory(c, {
      kind: `${step}_failed`,
      detail: describeFailure(failure),
      code: failure.code,
      ...(failure.status === undefined ? {} : { status: failure.status }),
    }),
  };
}

export const depositMachine = setup({
  types: {
    context: {} as DepositContext,
    events: {} as DepositEvent,
    input: {} as DepositInput,
  },
  actors: {
    fetchAcceptContext: fromPromise<ChoiceContext, FetchAcceptContextInput>(notProvided('fetchAcceptContext')),
    prepareAccept: fromPromise<PreparedSubmission, PrepareAcceptInput>(notProvided('prepareAccept')),
    verifyAndSign: fromPromise<SignedSubmission, VerifyAndSignInput>(notProvided('verifyAndSign')),
    executeSubmission: fromPromise<ExecuteSubmissionOutput, ExecuteSubmissionInput>(notProvided('executeSubmission')),
  },
  delays: {
    untilRetryAt: ({ context }) => msUntil(context.retryAt),
  },
  guards: {
    rowIgnored: ({ context }) => context.rowStatus === 'ignored',
    rowCredited: ({ context }) => context.rowStatus === 'credited',
    rowRejected: ({ context }) => context.rowStatus === 'rejected',
    rowWithdrawn: ({ context }) => context.rowStatus === 'withdrawn',
    rowExpired: ({ context }) => context.rowStatus === 'expired',
    rowFailed: ({ context }) => context.rowStatus === 'failed',
    unattributed: ({ context }) => context.accountId === null,
    oneStep: ({ context }) => context.kind === 'one_step',
    noInstruction: ({ context }) => context.transferInstructionCid === null,
    notCredited: ({ context }) => context.credit === null,
    firstAcceptedClose: ({ context, event }) => event.type === 'OFFER_CLOSED' && event.outcome === 'accepted' && context.closed === null,
    closedAs: ({ event }, outcome: 'accepted' | 'rejected' | 'withdrawn' | 'expired' | 'failed') =>
      event.type === 'OFFER_CLOSED' && event.outcome === outcome,
    creditsAtOnce: ({ context }) => assignCreditsAtOnce(context),
    offerAccepted: ({ context }) => context.closed?.outcome === 'accepted',
    budgetLeft: ({ context }) => context.acceptAttempts < context.policy.maxAcceptAttempts,
    decide_awaitLedger: ({ context }) => decideAcceptFailure(context) === 'awaitLedger',
    decide_backoff: ({ context }) => decideAcceptFailure(context) === 'backoff',
    decide_trafficBackoff: ({ context }) => decideAcceptFailure(context) === 'trafficBackoff',
  },
  actions: {
    recordCredit: assign(({ context, event }) => {
      assertEvent(event, 'CREDITED');
      return {
        credit: { accountId: event.accountId, by: 'ingestion' as const, updateId: event.updateId, creditedAmount: event.creditedAmount },
        history: appendDepositHistory(context, {
          kind: 'credited',
          detail: `credited to ${event.accountId} by ingestion (update ${event.updateId ?? '?'})`,
        }),
      };
    }),
    recordClosed: assign(({ context, event }) => {
      assertEvent(event, 'OFFER_CLOSED');
      return {
        closed: { outcome: event.outcome, updateId: event.updateId },
        outcomeReason: event.outcome === 'accepted' ? null : closedReason(event.outcome),
        history: appendDepositHistory(context, {
          kind: 'offer_closed',
          detail: `${event.outcome}${event.updateId ? ` in update ${event.updateId}` : ' (by ingested record time)'}`,
        }),
      };
    }),
    assignAccount: assign(({ context, event }) => {
      assertEvent(event, 'ASSIGN');
      return {
        accountId: event.accountId,
        assigned: { accountId: event.accountId, by: event.by, at: nowIso() },
        history: appendDepositHistory(context, { kind: 'assigned', detail: `assigned to ${event.accountId} by ${event.by}` }),
      };
    }),
    // The credit row and its deposit.credited event are written by the runtime in this transition's transaction.
    creditByAssign: assign(({ event }) => {
      assertEvent(event, 'ASSIGN');
      return { credit: { accountId: event.accountId, by: 'assign' as const, updateId: null, creditedAmount: null } };
    }),
    operatorRetry: assign(({ context, event }) => {
      assertEvent(event, 'RETRY_ACCEPT');
      return {
        acceptAttempts: 0,
        outcomeReason: null,
        retryAt: null,
        history: appendDepositHistory(context, { kind: 'operator_retry', detail: `accept retry requested by ${event.by}` }),
      };
    }),
    beginAccept: assign(({ context }) => ({
      acceptAttempts: context.acceptAttempts + 1,
      lastFailure: null,
      acceptContext: null,
      prepared: null,
      signed: null,
      history: appendDepositHistory(context, { kind: 'accept', detail: `accept attempt ${context.acceptAttempts + 1}` }),
    })),
    scheduleRetry: assign(({ context }) => {
      const delay = backoffDelayMs(context.policy.backoff, context.acceptAttempts);
      return {
        retryAt: isoAfter(delay),
        history: appendDepositHistory(context, { kind: 'backoff', detail: `next accept in ${delay} ms` }),
      };
    }),
    // The attempt the refusal ended is given back: lack of traffic is the validator's, not the deposit's.
    awaitTraffic: assign(({ context }) => ({
      acceptAttempts: Math.max(0, context.acceptAttempts - 1),
      retryAt: isoAfter(context.policy.backoff.initialMs),
      history: appendDepositHistory(context, {
        kind: 'traffic_held',
        detail: 'the validator is out of traffic: accepting again once it has some (not counted)',
      }),
    })),
    awaitConfirmation: assign(({ context }) => ({ retryAt: isoAfter(context.policy.acceptConfirmMs) })),
    giveUp: assign(({ context }) => {
      const last = context.lastFailure;
      const reason = last
        ? `accept failed after ${context.acceptAttempts} attempts; last ${last.step} failed: ${describeFailure(last.failure)}`
        : `accept not seen on the ledger after ${context.acceptAttempts} attempts`;
      return { outcomeReason: reason, history: appendDepositHistory(context, { kind: 'accept_failed', detail: reason }) };
    }),
    noInstruction: assign(() => ({ outcomeReason: 'a 2-step deposit without a transfer instruction id cannot be accepted' })),
  },
}).createMachine({
  id: 'deposit',
  context: ({ input }) => initialDepositContext(input),
  initial: 'received',
  on: {
    CREDITED: { guard: 'notCredited', target: '.credited', actions: 'recordCredit' },
    OFFER_CLOSED: [
      { guard: 'firstAcceptedClose', target: '.awaitingCredit', actions: 'recordClosed' },
      { guard: { type: 'closedAs', params: 'rejected' }, target: '.rejected', actions: 'recordClosed' },
      { guard: { type: 'closedAs', params: 'withdrawn' }, target: '.withdrawnBySender', actions: 'recordClosed' },
      { guard: { type: 'closedAs', params: 'expired' }, target: '.expired', actions: 'recordClosed' },
      { guard: { type: 'closedAs', params: 'failed' }, target: '.failed', actions: 'recordClosed' },
    ],
  },
  states: {
    // Where the row already is decides where the machine starts: it may have been created late.
    received: {
      always: [
        // Ingestion found it does not count (counterfeit, or an instrument not onboarded): never accepted or credited.
        { guard: 'rowIgnored', target: 'ignored' },
        { guard: 'rowCredited', target: 'credited' },
        { guard: 'rowRejected', target: 'rejected' },
        { guard: 'rowWithdrawn', target: 'withdrawnBySender' },
        { guard: 'rowExpired', target: 'expired' },
        { guard: 'rowFailed', target: 'failed' },
        { guard: 'unattributed', target: 'unattributed' },
        { guard: 'oneStep', target: 'credited' },
        { guard: 'noInstruction', target: 'acceptFailed', actions: 'noInstruction' },
        { target: 'accepting' },
      ],
    },

    accepting: {
      entry: 'beginAccept',
      initial: 'fetchingContext',
      states: {
        fetchingContext: {
          invoke: {
            id: 'fetchAcceptContext',
            src: 'fetchAcceptContext',
            input: ({ context }) => offerOf(context),
            onDone: { target: 'preparing', actions: assign(({ event }) => ({ acceptContext: event.output })) },
            onError: { target: '#deposit.stepFailed', actions: assign(({ context, event }) => failed(context, 'context', event.error)) },
          },
        },
        preparing: {
          invoke: {
            id: 'prepareAccept',
            src: 'prepareAccept',
            input: ({ context }) => ({
              ...offerOf(context),
              actAs: context.treasuryParty,
              context: requireValue(context.acceptContext, 'accept context'),
              commandId: commandIdOf(context),
              maxRecordTime: isoAfter(context.policy.acceptTtlMs),
            }),
            onDone: { target: 'signing', actions: assign(({ event }) => ({ prepared: event.output })) },
            onError: { target: '#deposit.stepFailed', actions: assign(({ context, event }) => failed(context, 'prepare', event.error)) },
          },
        },
        signing: {
          invoke: {
            id: 'verifyAndSign',
            src: 'verifyAndSign',
            input: ({ context }) => ({
              prepared: requireValue(context.prepared, 'prepared accept'),
              expected: {
                kind: 'accept' as const,
                commandId: commandIdOf(context),
                actAs: context.treasuryParty,
                transferInstructionCid: requireValue(context.transferInstructionCid, 'transfer instruction'),
                instrument: context.instrument,
              },
            }),
            onDone: { target: 'executing', actions: assign(({ event }) => ({ signed: event.output, prepared: null })) },
            onError: { target: '#deposit.stepFailed', actions: assign(({ context, event }) => failed(context, 'sign', event.error)) },
          },
        },
        executing: {
          entry: assign(({ context }) => ({ executeCount: context.executeCount + 1 })),
          invoke: {
            id: 'executeSubmission',
            src: 'executeSubmission',
            input: ({ context }) => ({
              submissionId: `${context.depositId}-accept-${context.executeCount}`,
              signed: requireValue(context.signed, 'signed accept'),
            }),
            onDone: {
              target: '#deposit.awaitingLedger',
              actions: assign(({ context }) => ({
                history: appendDepositHistory(context, { kind: 'submitted', detail: 'accept submitted' }),
              })),
            },
            onError: { target: '#deposit.stepFailed', actions: assign(({ context, event }) => failed(context, 'execute', event.error)) },
          },
        },
      },
    },

    stepFailed: {
      always: [
        { guard: 'decide_awaitLedger', target: 'awaitingLedger' },
        { guard: 'decide_trafficBackoff', target: 'acceptBackoff', actions: 'awaitTraffic' },
        { guard: 'decide_backoff', target: 'acceptBackoff', actions: 'scheduleRetry' },
        { target: 'acceptFailed', actions: 'giveUp' },
      ],
    },

    acceptBackoff: {
      after: { untilRetryAt: 'accepting' },
      on: {
        RESUME: { target: 'acceptBackoff', reenter: true },
        RETRY_ACCEPT: { target: 'accepting', actions: 'operatorRetry' },
      },
    },

    // Submitted (or the instruction is already gone): ingestion decides. If it says nothing for a
    // while, accept again — a duplicate accept cannot commit, so this never credits twice.
    awaitingLedger: {
      entry: 'awaitConfirmation',
      after: {
        untilRetryAt: [
          { guard: 'budgetLeft', target: 'accepting' },
          { target: 'acceptFailed', actions: 'giveUp' },
        ],
      },
      on: {
        RESUME: { target: 'awaitingLedger', reenter: true },
      },
    },

    // Visible to operators (deposit.accept_failed); the offer may still be withdrawn or expire.
    acceptFailed: {
      on: {
        RETRY_ACCEPT: { target: 'accepting', actions: 'operatorRetry' },
      },
    },

    // The accept committed (seen by ingestion); the credit follows in the same ingestion batch.
    awaitingCredit: {},

    // Unknown or missing memo: never accepted. An admin assigns it to an account.
    unattributed: {
      on: {
        ASSIGN: [
          { guard: 'creditsAtOnce', target: 'credited', actions: ['assignAccount', 'creditByAssign'] },
          { target: 'accepting', actions: 'assignAccount' },
        ],
        // Recorded, not acted on: an unattributed offer closed as accepted can still be assigned (and credited once).
        OFFER_CLOSED: [
          { guard: { type: 'closedAs', params: 'accepted' }, actions: 'recordClosed' },
          { guard: { type: 'closedAs', params: 'rejected' }, target: 'rejected', actions: 'recordClosed' },
          { guard: { type: 'closedAs', params: 'withdrawn' }, target: 'withdrawnBySender', actions: 'recordClosed' },
          { guard: { type: 'closedAs', params: 'expired' }, target: 'expired', actions: 'recordClosed' },
          { guard: { type: 'closedAs', params: 'failed' }, target: 'failed', actions: 'recordClosed' },
        ],
      },
    },

    credited: { type: 'final' },
    ignored: { type: 'final' },
    rejected: { type: 'final' },
    withdrawnBySender: { type: 'final' },
    expired: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type DepositMachine = typeof depositMachine;

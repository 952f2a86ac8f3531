import { z } from 'zod';
import { BackoffPolicy } from './backoff.js';
import { ActorFailure, describeFailure, isTrafficRefusal, isTransient, NON_RETRYABLE_STATUSES } from './failure.js';
import { Failure, WithdrawalReasonCode } from '../failures.js';
import { statePath } from './state-path.js';
import { failureReasonCode } from './withdrawal.reason-code.js';
import { InstrumentRef, PreparedSubmission, SignedSubmission, ChoiceContext } from './submission.js';
import type { AttemptStanding } from './withdrawal.actors.js';

/**
 * The withdrawal machine's data: its input, its context (plain JSON, validated with zod when a
 * snapshot is restored) and the pure decisions the machine's guards are made of, so they can be
 * tested and read without the machine around them.
 */

/** Limits frozen into each withdrawal at creation: a restored machine keeps the policy it started with. */
export const WithdrawalPolicy = z.object({
  /** Deadline (maxRecordTime) of an attempt = reservation time + attemptTtlMs. */
  attemptTtlMs: z.number().int().positive(),
  /** Reservations (attempts) before giving up; an operator RETRY grants a fresh budget. */
  maxAttempts: z.number().int().positive(),
  /** Transient failures tolerated per attempt before giving up (or, after a submission, before stopping submissions). */
  maxTransientRetries: z.number().int().nonnegative(),
  backoff: BackoffPolicy,
  /** How often a withdrawal waiting for funds tries to reserve again. */
  fundsRecheckMs: z.number().int().positive(),
  /** Waiting for funds longer than this fails the withdrawal (nothing was submitted, so a clock may decide). */
  fundsTimeoutMs: z.number().int().positive(),
  /** executeBefore of the transfer: how long a receiver has to accept a 2-step offer. */
  offerTtlMs: z.number().int().positive(),
  /** Ledger limit on input holdings per transfer. */
  maxInputs: z.number().int().positive().max(100),
});
export type WithdrawalPolicy = z.infer<typeof WithdrawalPolicy>;

export const DEFAULT_WITHDRAWAL_POLICY: WithdrawalPolicy = {
  attemptTtlMs: 10 * 60_000,
  maxAttempts: 5,
  maxTransientRetries: 8,
  backoff: { initialMs: 2_000, maxMs: 120_000, factor: 2 },
  fundsRecheckMs: 30_000,
  fundsTimeoutMs: 6 * 3_600_000,
  offerTtlMs: 30 * 24 * 3_600_000,
  maxInputs: 100,
};

export const TransferPolicy = z.enum(['direct-only', 'direct-or-offer', 'offer-only']);
export type TransferPolicy = z.infer<typeof TransferPolicy>;

export const WithdrawalInput = z.object({
  withdrawalId: z.string().min(1),
  purpose: z.enum(['payout', 'self_transfer']),
  account: z.string(),
  instrument: InstrumentRef,
  amount: z.string(),
  receiver: z.string().min(1),
  /** The treasury party: sender and owner of the holdings. */
  sender: z.string().min(1),
  /** instruments.transfer_policy; null when the instrument is not onboarded or disabled. */
  transferPolicy: TransferPolicy.nullable(),
  policy: WithdrawalPolicy,
  /**
   * A payout lost by a database restore whose 2-step transfer ingestion found committed as an
   * offer (a `recovered` row): the machine starts awaiting the receiver, so the offer's end is
   * reported (completed, or failed with a re-credit) and an expired offer is withdrawn. Absent for
   * every withdrawal the machine pays itself.
   */
  recoveredOffer: z
    .object({ updateId: z.string().min(1), transferInstructionCid: z.string().min(1) })
    .nullable()
    .optional(),
  /**
   * A request whose transfer ingestion had already attached to its row when the machine was
   * created: a request the exchange re-sent after a database restore took its row away, whose
   * transfer ingestion then read again before the request's event was consumed. The machine never
   * reserves or submits; it waits in `transferSeen` for ingestion's report of that transfer, which
   * was written after the request's event and so is always delivered next. Absent otherwise.
   */
  transferSeen: z
    .object({ updateId: z.string().min(1) })
    .nullable()
    .optional(),
});
export type WithdrawalInput = z.infer<typeof WithdrawalInput>;

export const Reservation = z.object({
  attempt: z.number().int().positive(),
  holdingCids: z.array(z.string()).min(1),
  total: z.string(),
  deadline: z.string(),
  requestedAt: z.string(),
  executeBefore: z.string(),
});
export type Reservation = z.infer<typeof Reservation>;

export const FailureStep = z.enum(['reserve', 'release', 'check', 'factory', 'prepare', 'sign', 'execute', 'resubmit', 'withdraw']);
export type FailureStep = z.infer<typeof FailureStep>;

export const HistoryEntry = z.object({
  at: z.string(),
  attempt: z.number().int().nonnegative(),
  kind: z.string(),
  detail: z.string(),
  code: z.string().optional(),
  status: z.number().int().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const WithdrawalContext = WithdrawalInput.extend({
  /** Number of the latest reservation (attempt); 0 before the first. */
  attempt: z.number().int().nonnegative(),
  /**
   * Attempt number at the last operator RETRY: the attempt budget counts from here. Raised by one
   * for an attempt that expired after its submission was refused for lack of traffic (the
   * validator's condition, not the withdrawal's: never counted).
   */
  retryBase: z.number().int().nonnegative(),
  /** The live reservation of the current attempt, null when none is held. */
  reservation: Reservation.nullable(),
  /**
   * Executes tried for the live reservation. > 0 means "submitted": the attempt may have committed,
   * so its holdings may only be released after ATTEMPT_EXPIRED for it (or a transfer). This is the
   * fact the safety rule is decided on after a crash; it is persisted before the execute leaves.
   */
  executeCount: z.number().int().nonnegative(),
  factory: z
    .object({ factoryId: z.string(), transferKind: z.enum(['self', 'direct', 'offer']) })
    .extend(ChoiceContext.shape)
    .nullable(),
  prepared: PreparedSubmission.nullable(),
  /** The signed transaction of the attempt: re-executing it is always safe (same inputs). */
  signed: SignedSubmission.nullable(),
  transientFailures: z.number().int().nonnegative(),
  lastFailure: z.object({ step: FailureStep, failure: ActorFailure, at: z.string() }).nullable(),
  /** When the current backoff or recheck ends; delayed transitions are computed from it. */
  retryAt: z.string().nullable(),
  waitingSince: z.string().nullable(),
  waitingReason: z.string().nullable(),
  /** A non-retryable error stopped the automation: after releasing, the withdrawal is stalled for an operator. */
  haltReason: z.string().nullable(),
  /** The withdrawal fails as soon as that is safe (nothing submitted, or the attempt expired). */
  pendingFailure: z.string().nullable(),
  cancelRequested: z.object({ by: z.string(), reason: z.string(), at: z.string() }).nullable(),
  transfer: z
    .object({
      updateId: z.string(),
      outcome: z.enum(['completed', 'pending', 'failed']),
      transferInstructionCid: z.string().nullable(),
      attempt: z.number().int().nonnegative(),
    })
    .nullable(),
  closed: z
    .object({ updateId: z.string().nullable(), outcome: z.enum(['accepted', 'rejected', 'withdrawn', 'expired', 'failed']) })
    .nullable(),
  /**
   * The highest attempt ingestion reported expired (ATTEMPT_EXPIRED) while the machine held no
   * reservation of it: the attempt being reserved, whose reservation committed but whose answer had
   * not arrived. Ingestion reports each attempt once, so the report is kept and the reservation is
   * released as soon as it settles. Absent in snapshots written before it existed (= none).
   */
  expiredUnheld: z.number().int().positive().nullable().optional(),
  /** Why the withdrawal ended failed/cancelled, or why it is stalled. */
  outcomeReason: z.string().nullable(),
  /**
   * The code of the reason a failure, a policy, an operator or the ledger gave (pendingFailure,
   * haltReason, cancelRequested, outcomeReason): withdrawal.reason-code.ts. Absent in snapshots
   * written before it existed (= none).
   */
  reasonCode: WithdrawalReasonCode.nullable().optional(),
  history: z.array(HistoryEntry),
});
export type WithdrawalContext = z.infer<typeof WithdrawalContext>;

export const MAX_HISTORY = 200;

export function initialWithdrawalContext(input: WithdrawalInput): WithdrawalContext {
  return {
    ...input,
    attempt: 0,
    retryBase: 0,
    reservation: null,
    executeCount: 0,
    factory: null,
    prepared: null,
    signed: null,
    transientFailures: 0,
    lastFailure: null,
    retryAt: null,
    waitingSince: null,
    waitingReason: null,
    haltReason: null,
    pendingFailure: null,
    cancelRequested: null,
    transfer: null,
    closed: null,
    expiredUnheld: null,
    outcomeReason: null,
    reasonCode: null,
    history: [],
  };
}

/** Appends to the history, dropping the oldest entries beyond MAX_HISTORY. */
export function appendHistory(
  context: Pick<WithdrawalContext, 'history' | 'attempt'>,
  entry: Omit<HistoryEntry, 'at' | 'attempt'> & { attempt?: number },
): HistoryEntry[] {
  const full: HistoryEntry = {
    at: new Date().toISOString(),
    attempt: entry.attempt ?? context.attempt,
    kind: entry.kind,
    detail: entry.detail,
    ...(entry.code === undefined ? {} : { code: entry.code }),
    ...(entry.status === undefined ? {} : { status: entry.status }),
  };
  const next = [...context.history, full];
  return next.length > MAX_HISTORY ? next.slice(next.length - MAX_HISTORY) : next;
}

export function isSubmitted(c: WithdrawalContext): boolean {
  return c.executeCount > 0;
}

/** The registry's transferKind against what this withdrawal and instrument allow; null = acceptable. */
export function transferKindRefusal(c: WithdrawalContext, kind: 'self' | 'direct' | 'offer'): string | null {
  if (c.purpose === 'self_transfer') {
    return kind === 'self' ? null : `a self-transfer must have transferKind "self", the registry answered "${kind}"`;
  }
  if (kind === 'self') return `the registry answered transferKind "self" for a payout to ${c.receiver}`;
  if (c.transferPolicy === 'direct-only' && kind !== 'direct') {
    return `receiver ${c.receiver} has no transfer preapproval and instrument ${c.instrument.id} supports only 1-step (direct) transfers`;
  }
  return null;
}

/**
 * What to do after an effect failed (the failure is in context.lastFailure). One table for every
 * step so the safety rule lives in one place:
 * - before any execute of the attempt, a dead input is first checked against ingestion (see
 *   decideAfterCheck): after a database restore "nothing submitted" may be wrong, and the input may
 *   have been spent by this withdrawal's own transfer;
 * - after an execute, never other holdings: retry the same signed transaction (ambiguous answer)
 *   or re-prepare with the same reservation (definite "not committed"), else wait for the ledger.
 */
export type StepDecision =
  | 'checkLedger'
  | 'awaitLedger'
  | 'reserveBackoff'
  | 'releaseBackoff'
  | 'reprepareBackoff'
  | 'resubmitBackoff'
  | 'trafficResubmit'
  | 'stopBeforeSubmit'
  | 'stopAfterSubmit'
  | 'stallRelease';

export function decideAfterFailure(c: WithdrawalContext): StepDecision {
  const last = c.lastFailure;
  if (last === null) return isSubmitted(c) ? 'stopAfterSubmit' : 'stopBeforeSubmit';
  const f = last.failure;
  const budgetLeft = c.transientFailures < c.policy.maxTransientRetries;
  const stopping = c.pendingFailure !== null || c.cancelRequested !== null;
  const submitted = isSubmitted(c);
  switch (last.step) {
    case 'release':
      return isTransient(f) && budgetLeft ? 'releaseBackoff' : 'stallRelease';
    case 'reserve':
      return isTransient(f) && budgetLeft && !stopping ? 'reserveBackoff' : 'stopBeforeSubmit';
    case 'check':
      // The check only fails when something is badly wrong: wait for the ledger's own word.
      return 'awaitLedger';
    case 'withdraw':
      // Not this table's: the offer's states decide with decideAfterWithdrawFailure.
      return 'awaitLedger';
    case 'factory':
    case 'prepare':
    case 'sign':
      if (f.code === Failure.INPUT_UNAVAILABLE) return submitted ? 'awaitLedger' : 'checkLedger';
      if (isTransient(f) && budgetLeft && !stopping) return 'reprepareBackoff';
      return submitted ? 'stopAfterSubmit' : 'stopBeforeSubmit';
    case 'execute':
    case 'resubmit': {
      if (f.code === Failure.DUPLICATE_COMMAND || f.code === Failure.INPUT_UNAVAILABLE) return 'awaitLedger';
      // Refused before sequencing for the validator's traffic: the same signed transaction again once
      // the traffic gate lets it through, whatever the budget (the refusal says nothing of this withdrawal).
      if (isTrafficRefusal(f) && !stopping) return 'trafficResubmit';
      const neverRetry = f.status !== undefined && NON_RETRYABLE_STATUSES.has(f.status);
      if (f.definiteAnswer === true && !neverRetry && budgetLeft && !stopping) return 'reprepareBackoff';
      if (f.definiteAnswer !== true && isTransient(f) && budgetLeft && !stopping) return 'resubmitBackoff';
      return 'stopAfterSubmit';
    }
  }
}

/**
 * What to do once ingestion has caught up with the ledger and the attempt's standing is known
 * (checkingLedger: after a dead input, or an operator's RETRY while awaiting the ledger).
 * - `transferred`: the transfer is this withdrawal's: wait for its event, never reserve again;
 * - `expired`: ingestion reported the deadline passed: like ATTEMPT_EXPIRED, release and go on;
 * - `inputsSpent`: something else spent an input, so the attempt can never commit: release and
 *   reserve others — but a submitted attempt's holdings are left to the ledger (its expiry), as
 *   the database releases a submitted reservation only once the ledger settled each holding;
 * - `open`: every input is active at the ledger end: nothing spent them, the ledger's word was
 *   about something else. Re-prepare with the same holdings within the transient budget; a
 *   submitted attempt, or a spent budget, waits for the attempt's expiry.
 */
export type CheckDecision = 'awaitTransfer' | 'release' | 'reprepareBackoff' | 'stopAndAwaitLedger' | 'awaitLedger';

export function decideAfterCheck(c: WithdrawalContext, standing: AttemptStanding): CheckDecision {
  const submitted = isSubmitted(c);
  switch (standing) {
    case 'transferred':
      return 'awaitTransfer';
    case 'expired':
      return 'release';
    case 'inputsSpent':
      return submitted ? 'awaitLedger' : 'release';
    case 'open':
      if (submitted) return 'awaitLedger';
      if (c.pendingFailure !== null || c.cancelRequested !== null) return 'release';
      return c.transientFailures < c.policy.maxTransientRetries ? 'reprepareBackoff' : 'stopAndAwaitLedger';
  }
}

/**
 * After a withdraw of our own offer failed: the offer already gone (accepted, rejected, expired by
 * its registry, or withdrawn by an earlier try) → wait for ingestion to report how it closed;
 * transient → try again after a backoff; anything else → wait for an operator's RETRY. Every one
 * of them keeps waiting for INSTRUCTION_CLOSED, which ends the withdrawal whenever it comes.
 */
export type WithdrawDecision = 'awaitClose' | 'backoff' | 'trafficBackoff' | 'halt';

export function decideAfterWithdrawFailure(c: WithdrawalContext, f: ActorFailure): WithdrawDecision {
  if (f.code === Failure.INSTRUCTION_NOT_FOUND || f.code === Failure.DUPLICATE_COMMAND) return 'awaitClose';
  if (isTrafficRefusal(f)) return 'trafficBackoff';
  return isTransient(f) && c.transientFailures < c.policy.maxTransientRetries ? 'backoff' : 'halt';
}

/** The reason recorded when a failure stops the automation: exhausted budgets fail, anything else halts. */
export function stopReasons(c: WithdrawalContext): {
  pendingFailure: string | null;
  haltReason: string | null;
  reasonCode: WithdrawalReasonCode | null;
} {
  const last = c.lastFailure;
  const kept = { pendingFailure: c.pendingFailure, haltReason: c.haltReason, reasonCode: c.reasonCode ?? null };
  if (last === null) return kept;
  const what = `${last.step} failed: ${describeFailure(last.failure)}`;
  if (c.pendingFailure !== null || c.cancelRequested !== null) return kept;
  if (last.failure.code === Failure.RECEIVER_UNKNOWN) {
    // Nothing an operator can do but fail it: end it (holdings released, the customer re-credited).
    return {
      pendingFailure: `the receiver ${c.receiver} is not known on the ledger: nothing was sent (${describeFailure(last.failure)})`,
      haltReason: null,
      reasonCode: 'RECEIVER_UNKNOWN',
    };
  }
  if (isTransient(last.failure)) {
    return {
      pendingFailure: `gave up after ${c.transientFailures} transient failures; last ${what}`,
      haltReason: c.haltReason,
      reasonCode: 'RETRIES_EXHAUSTED',
    };
  }
  return { pendingFailure: null, haltReason: what, reasonCode: failureReasonCode(last.failure) };
}

/** An ATTEMPT_EXPIRED the machine must keep: for an attempt after the current one, none of it held yet. */
export function expiresUnheldAttempt(c: WithdrawalContext, attempt: number): boolean {
  return c.reservation === null && attempt > c.attempt && attempt > (c.expiredUnheld ?? 0);
}

/** A reservation that arrives for an attempt ingestion already reported expired is never used. */
export function reservedAttemptExpired(c: WithdrawalContext, attempt: number): boolean {
  return attempt <= (c.expiredUnheld ?? 0);
}

/**
 * The current attempt's last submission was refused for traffic: held until the validator has
 * traffic, and its expiry (should the hold outlast its deadline) is not the withdrawal's to count.
 */
export function heldForTraffic(c: WithdrawalContext): boolean {
  const last = c.lastFailure;
  return last !== null && (last.step === 'execute' || last.step === 'resubmit') && isTrafficRefusal(last.failure);
}

export function attemptBudgetExhausted(c: WithdrawalContext): boolean {
  return c.attempt - c.retryBase >= c.policy.maxAttempts;
}

/** Status, reason (words an operator reads) and reason code (withdrawal.reason-code.ts) mirrored on the withdrawals row. */
export interface WithdrawalStatus {
  status: string;
  reason: string | null;
  code: WithdrawalReasonCode | null;
}

export function withdrawalStatus(stateValue: unknown, c: WithdrawalContext): WithdrawalStatus {
  const path = statePath(stateValue);
  const top = path[0] ?? 'requested';
  const deadline = c.reservation ? ` (attempt ${c.reservation.attempt}, deadline ${c.reservation.deadline})` : '';
  const code = c.reasonCode ?? null;
  const failed = c.lastFailure ? failureReasonCode(c.lastFailure.failure) : null;
  switch (top) {
    case 'requested':
      return { status: 'requested', reason: null, code: null };
    case 'transferSeen':
      return {
        status: 'awaiting_ledger',
        reason: `its transfer committed in update ${c.transferSeen?.updateId ?? '?'} before this machine started (a request re-sent after a database restore): waiting for ingestion's report of it; never paid again`,
        code: null,
      };
    case 'reserving':
      return { status: 'reserving', reason: null, code: null };
    case 'reserveBackoff':
      return { status: 'reserving', reason: backoffReason(c), code: failed };
    case 'waitingForFunds':
      return { status: 'waiting_for_funds', reason: c.waitingReason, code: 'WAITING_FOR_FUNDS' };
    case 'preparing':
      return { status: 'preparing', reason: null, code: null };
    case 'prepareBackoff':
      return { status: 'preparing', reason: backoffReason(c), code: failed };
    case 'signing':
      return { status: 'signing', reason: null, code: null };
    case 'executing':
      return { status: 'executing', reason: null, code: null };
    case 'checkingLedger':
      return {
        status: 'checking_ledger',
        reason: `the ledger says a reserved holding is gone${deadline}: waiting for ingestion to reach the ledger end before deciding`,
        code: Failure.INPUT_UNAVAILABLE,
      };
    case 'awaitingLedger': {
      const stop = c.pendingFailure ?? c.haltReason;
      if (stop !== null)
        return { status: 'awaiting_ledger', reason: `no further submissions (${stop}); waiting for the ledger outcome${deadline}`, code };
      if ((path[1] === 'resubmitBackoff' || path[1] === 'resubmitting') && heldForTraffic(c)) {
        return {
          status: 'awaiting_ledger',
          reason: `held: the validator is out of synchronizer traffic; the signed transaction is sent again once it has some${deadline} (${describeFailure(c.lastFailure!.failure)})`,
          code: failed,
        };
      }
      if (path[1] === 'resubmitBackoff') return { status: 'awaiting_ledger', reason: backoffReason(c), code: failed };
      return { status: 'awaiting_ledger', reason: `waiting for the ledger outcome${deadline}`, code: null };
    }
    case 'releasing':
    case 'releaseBackoff': {
      const status = c.cancelRequested ? 'cancelling' : c.pendingFailure ? 'failing' : c.haltReason ? 'stalling' : 'retrying';
      const reason = c.cancelRequested?.reason ?? c.pendingFailure ?? c.haltReason ?? lastHistoryDetail(c);
      return { status, reason, code: status === 'retrying' ? retryingCode(c) : code };
    }
    case 'stalled':
      return { status: 'stalled', reason: c.outcomeReason, code };
    case 'pendingAcceptance':
      return {
        status: 'pending_acceptance',
        reason: c.transfer?.transferInstructionCid ? `offer ${c.transfer.transferInstructionCid} awaits the receiver` : null,
        code: null,
      };
    case 'withdrawingOffer':
    case 'offerWithdrawWait':
    case 'offerWithdrawHalted':
      return { status: 'withdrawing_offer', reason: withdrawReason(top, c), code };
    case 'completed':
      return { status: 'completed', reason: null, code: null };
    case 'failed':
      return { status: 'failed', reason: c.outcomeReason, code };
    case 'cancelled':
      return { status: 'cancelled', reason: c.outcomeReason, code };
    default:
      return { status: top, reason: null, code: null };
  }
}

/** Why a withdrawal releases its holdings to try again: what the last history entry says. */
function retryingCode(c: WithdrawalContext): WithdrawalReasonCode | null {
  const last = c.history[c.history.length - 1]?.kind;
  if (last === 'attempt_expired') return 'ATTEMPT_EXPIRED';
  if (last === 'ledger_checked' || last === 'inputs_unavailable') return 'INPUT_UNAVAILABLE';
  return c.lastFailure ? failureReasonCode(c.lastFailure.failure) : null;
}

function withdrawReason(top: string, c: WithdrawalContext): string {
  const offer = c.transfer?.transferInstructionCid ?? '(unknown)';
  const why = c.closed?.outcome === 'expired' ? 'the offer expired unaccepted' : (c.pendingFailure ?? 'failing');
  const f = c.lastFailure?.step === 'withdraw' ? `; last try failed: ${describeFailure(c.lastFailure.failure)}` : '';
  if (top === 'offerWithdrawHalted')
    return `${why}: withdrawing offer ${offer} to unlock the treasury's funds stopped${f}; RETRY once the cause is fixed`;
  if (top === 'offerWithdrawWait')
    return `${why}: withdrawing offer ${offer} to unlock the treasury's funds; waiting for the ledger to show it closed (next try at ${c.retryAt ?? 'once possible'})${f}`;
  return `${why}: withdrawing offer ${offer} to unlock the treasury's funds`;
}

function backoffReason(c: WithdrawalContext): string {
  const f = c.lastFailure;
  return `retrying at ${c.retryAt ?? 'once possible'}${f ? ` after ${f.step} failed: ${describeFailure(f.failure)}` : ''}`;
}

function lastHistoryDetail(c: WithdrawalContext): string | null {
  return c.history[c.history.length - 1]?.detail ?? null;
}

/**
 * Why an operator command is refused in this state, in words for the 409 body. The authority is
 * the machine (`snapshot.can(event)`); this only explains a refusal it already made.
 */
export function withdrawalCommandRefusal(stateValue: unknown, c: WithdrawalContext, command: 'RETRY' | 'CANCEL' | 'FAIL'): string {
  const path = statePath(stateValue);
  const top = path[0] ?? '';
  const { status } = withdrawalStatus(stateValue, c);
  if (top === 'completed' || top === 'failed' || top === 'cancelled') return `withdrawal ${c.withdrawalId} is ${status}: it is final`;
  if (top === 'transferSeen') {
    return `the transfer of withdrawal ${c.withdrawalId} committed in update ${c.transferSeen?.updateId ?? '?'} before its machine started: ingestion's report of it decides how it ends`;
  }
  if (top === 'pendingAcceptance') {
    return `the transfer of withdrawal ${c.withdrawalId} is committed as an offer awaiting the receiver: FAIL withdraws it (the receiver may still accept first); otherwise only the ledger (accept, reject or expiry) ends it`;
  }
  if (top === 'withdrawingOffer' || top === 'offerWithdrawWait' || top === 'offerWithdrawHalted') {
    return command === 'RETRY'
      ? `the withdraw of the offer of withdrawal ${c.withdrawalId} is under way; RETRY applies once it has answered`
      : `the offer of withdrawal ${c.withdrawalId} is being withdrawn (${c.closed?.outcome === 'expired' ? 'it expired' : (c.pendingFailure ?? 'failing')}); the ledger decides how it ends`;
  }
  const deadline = c.reservation ? ` (attempt ${c.reservation.attempt}, deadline ${c.reservation.deadline})` : '';
  switch (command) {
    case 'CANCEL':
      if (c.cancelRequested) return `a cancel is already in progress (requested by ${c.cancelRequested.by})`;
      if (c.pendingFailure) return `the withdrawal is already failing: ${c.pendingFailure}`;
      return `an execute was submitted for the current attempt${deadline}: cancel is only possible before submission; FAIL stops further submissions and fails the withdrawal once ingestion reports the attempt expired`;
    case 'FAIL':
      if (c.pendingFailure) return `the withdrawal is already failing: ${c.pendingFailure}`;
      if (c.cancelRequested) return `a cancel is already in progress (requested by ${c.cancelRequested.by})`;
      return `the withdrawal cannot be failed while ${status}`;
    case 'RETRY':
      if (top === 'awaitingLedger') {
        return c.signed === null
          ? `nothing to retry: no signed transaction for the current attempt${deadline}; waiting for the ledger`
          : `nothing to retry: a failure is pending (${c.pendingFailure ?? ''}); waiting for the ledger outcome${deadline}`;
      }
      return `nothing to retry while ${status}: RETRY applies to a withdrawal waiting for funds, backing off, stalled, or halted awaiting the ledger`;
  }
}

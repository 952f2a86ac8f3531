import { z } from 'zod';
import { BackoffPolicy } from './backoff.js';
import { ActorFailure, isTrafficRefusal, isTransient, NON_RETRYABLE_STATUSES } from './failure.js';
import { Failure } from '../failures.js';
import { ChoiceContext, InstrumentRef, PreparedSubmission, SignedSubmission } from './submission.js';
import { statePath } from './state-path.js';

/** The deposit machine's data and pure decisions (see withdrawal.context.ts for the conventions). */

export const DepositPolicy = z.object({
  /** Accept runs (fresh context, prepare, sign, execute) before the offer is marked acceptFailed. */
  maxAcceptAttempts: z.number().int().positive(),
  backoff: BackoffPolicy,
  /** After an accepted execute, how long to wait for ingestion to see the accept before accepting again (safe: duplicates fail). */
  acceptConfirmMs: z.number().int().positive(),
  /** maxRecordTime of an accept submission = prepare time + acceptTtlMs. */
  acceptTtlMs: z.number().int().positive(),
});
export type DepositPolicy = z.infer<typeof DepositPolicy>;

export const DEFAULT_DEPOSIT_POLICY: DepositPolicy = {
  maxAcceptAttempts: 5,
  backoff: { initialMs: 2_000, maxMs: 120_000, factor: 2 },
  acceptConfirmMs: 5 * 60_000,
  acceptTtlMs: 10 * 60_000,
};

export const DepositInput = z.object({
  depositId: z.string().min(1),
  kind: z.enum(['one_step', 'two_step']),
  instrument: InstrumentRef,
  /** The transfer amount (what the sender sent). */
  amount: z.string(),
  memo: z.string().nullable(),
  /** The deposit account the memo names; null when unknown (unattributed). */
  accountId: z.string().nullable(),
  transferInstructionCid: z.string().nullable(),
  executeBefore: z.string().nullable(),
  /** deposits.status when the machine was created: a row already credited or closed starts final. */
  rowStatus: z.string(),
  treasuryParty: z.string().min(1),
  policy: DepositPolicy,
});
export type DepositInput = z.infer<typeof DepositInput>;

export const DepositHistoryEntry = z.object({
  at: z.string(),
  kind: z.string(),
  detail: z.string(),
  code: z.string().optional(),
  status: z.number().int().optional(),
});
export type DepositHistoryEntry = z.infer<typeof DepositHistoryEntry>;

export const DepositContext = DepositInput.extend({
  acceptAttempts: z.number().int().nonnegative(),
  acceptContext: ChoiceContext.nullable(),
  prepared: PreparedSubmission.nullable(),
  signed: SignedSubmission.nullable(),
  executeCount: z.number().int().nonnegative(),
  lastFailure: z.object({ step: z.enum(['context', 'prepare', 'sign', 'execute']), failure: ActorFailure, at: z.string() }).nullable(),
  retryAt: z.string().nullable(),
  credit: z
    .object({
      accountId: z.string(),
      by: z.enum(['ingestion', 'assign']),
      updateId: z.string().nullable(),
      creditedAmount: z.string().nullable(),
    })
    .nullable(),
  assigned: z.object({ accountId: z.string(), by: z.string(), at: z.string() }).nullable(),
  closed: z
    .object({ outcome: z.enum(['accepted', 'rejected', 'withdrawn', 'expired', 'failed']), updateId: z.string().nullable() })
    .nullable(),
  outcomeReason: z.string().nullable(),
  history: z.array(DepositHistoryEntry),
});
export type DepositContext = z.infer<typeof DepositContext>;

export function initialDepositContext(input: DepositInput): DepositContext {
  return {
    ...input,
    acceptAttempts: 0,
    acceptContext: null,
    prepared: null,
    signed: null,
    executeCount: 0,
    lastFailure: null,
    retryAt: null,
    credit: null,
    assigned: null,
    closed: null,
    outcomeReason: null,
    history: [],
  };
}

const MAX_HISTORY = 200;
export function appendDepositHistory(c: Pick<DepositContext, 'history'>, e: Omit<DepositHistoryEntry, 'at'>): DepositHistoryEntry[] {
  const next = [...c.history, { at: new Date().toISOString(), ...e }];
  return next.length > MAX_HISTORY ? next.slice(next.length - MAX_HISTORY) : next;
}

/** After a failed accept step: the ledger already moved on, try again later, or give up (acceptFailed). */
export type AcceptDecision = 'awaitLedger' | 'backoff' | 'trafficBackoff' | 'acceptFailed';

/** The ledger's answer to an execute of a command id it is still processing (409, category 2). */
const SUBMISSION_ALREADY_IN_FLIGHT = 'SUBMISSION_ALREADY_IN_FLIGHT';

export function decideAcceptFailure(c: DepositContext): AcceptDecision {
  const f = c.lastFailure?.failure;
  if (!f) return 'acceptFailed';
  // The instruction is archived: accepted (maybe by an earlier run), withdrawn or expired. Ingestion will say which.
  if (f.code === Failure.INSTRUCTION_NOT_FOUND || f.code === Failure.DUPLICATE_COMMAND) return 'awaitLedger';
  // Our accept (same command id) is still being processed: it may commit, and a fresh accept run
  // can only collide with it again. Wait for ingestion as after a submitted execute.
  if (c.lastFailure?.step === 'execute' && f.code === SUBMISSION_ALREADY_IN_FLIGHT) return 'awaitLedger';
  // Refused for the validator's traffic: accept again once the traffic gate lets it, the attempt not counted.
  if (c.lastFailure?.step === 'execute' && isTrafficRefusal(f)) return 'trafficBackoff';
  // A definite "not committed" is worth a fresh accept run unless the status is on the never list.
  const neverRetry = f.status !== undefined && NON_RETRYABLE_STATUSES.has(f.status);
  const retryable = isTransient(f) || (f.definiteAnswer === true && !neverRetry);
  return retryable && c.acceptAttempts < c.policy.maxAcceptAttempts ? 'backoff' : 'acceptFailed';
}

/** ASSIGN credits at once when the funds are already in the treasury; a live 2-step offer is accepted instead. */
export function assignCreditsAtOnce(c: DepositContext): boolean {
  return c.kind === 'one_step' || c.closed?.outcome === 'accepted';
}

/** Status and reason the runtime mirrors on the deposits row. null status = leave ingestion's status. */
export function depositStatus(stateValue: unknown, c: DepositContext): { status: string | null; reason: string | null } {
  const top = statePath(stateValue)[0] ?? '';
  switch (top) {
    case 'accepting':
      return { status: 'accepting', reason: `accept attempt ${c.acceptAttempts} of ${c.policy.maxAcceptAttempts}` };
    case 'acceptBackoff':
      return {
        status: 'accepting',
        reason: `retrying at ${c.retryAt ?? '?'} after ${c.lastFailure ? `${c.lastFailure.step} failed: ${c.lastFailure.failure.code}: ${c.lastFailure.failure.message}` : 'a failure'}`,
      };
    case 'awaitingLedger':
      return { status: 'accepting', reason: 'accept submitted; waiting for ingestion to see it' };
    case 'acceptFailed':
      return { status: 'accept_failed', reason: c.outcomeReason };
    case 'unattributed':
      // Ingestion's status stays ('offered' for a live offer: it must keep closing it); only the reason is ours.
      return { status: null, reason: c.memo === null ? 'no memo' : `unknown memo "${c.memo}"` };
    case 'credited':
      if (c.credit?.by === 'assign')
        return { status: 'credited', reason: `assigned to ${c.credit.accountId} by ${c.assigned?.by ?? 'admin'}` };
      // Replaces what the accept left ("accept submitted…"); a row credited at creation had none.
      return { status: null, reason: c.kind === 'two_step' && c.credit ? `accepted; credited to ${c.credit.accountId}` : null };
    case 'rejected':
    case 'withdrawnBySender':
    case 'expired':
    case 'failed':
      // Ingestion wrote the outcome; the reason must not keep saying we are accepting.
      return { status: null, reason: c.outcomeReason ?? closedReason(top) };
    default:
      return { status: null, reason: null };
  }
}

/** Why a 2-step offer ended without a credit, in words for operators (deposits.status_reason). */
export function closedReason(outcome: string): string {
  switch (outcome) {
    case 'rejected':
      return 'offer rejected';
    case 'withdrawn':
    case 'withdrawnBySender':
      return 'offer withdrawn by the sender';
    case 'expired':
      return 'offer expired before it was accepted';
    default:
      return 'offer failed';
  }
}

/** Why an operator command is refused (the machine's `can` decided; this explains it). */
export function depositCommandRefusal(stateValue: unknown, c: DepositContext, command: 'RETRY_ACCEPT' | 'ASSIGN'): string {
  const top = statePath(stateValue)[0] ?? '';
  if (top === 'ignored') return `deposit ${c.depositId} does not count (see its status reason): it is never accepted, assigned or credited`;
  if (top === 'credited') return `deposit ${c.depositId} is already credited to ${c.credit?.accountId ?? c.accountId ?? 'an account'}`;
  if (top === 'rejected' || top === 'withdrawnBySender' || top === 'expired' || top === 'failed')
    return `deposit ${c.depositId} is closed: the offer was ${c.closed?.outcome ?? top}`;
  if (command === 'ASSIGN') {
    return c.accountId !== null
      ? `deposit ${c.depositId} is already attributed to account ${c.accountId}`
      : `deposit ${c.depositId} cannot be assigned while ${top}`;
  }
  if (top === 'unattributed')
    return `deposit ${c.depositId} is unattributed: assign it to an account first; an offer with an unknown memo is never accepted`;
  if (c.kind === 'one_step') return `deposit ${c.depositId} is a 1-step transfer: there is nothing to accept`;
  return `nothing to retry while ${top}: RETRY_ACCEPT applies to an offer whose accept failed or is backing off`;
}

import fc from 'fast-check';
import { afterEach, beforeEach, describe, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { ActorError } from './failure.js';
import { Failure } from '../failures.js';
import type {
  ExecuteSubmissionInput,
  ExecuteSubmissionOutput,
  PreparedSubmission,
  SignedSubmission,
  VerifyAndSignInput,
} from './submission.js';
import { driver, scripted } from '../../test/support/machines/driver.js';
import { Script, type ScriptedCall } from '../../test/support/machines/script.js';
import type {
  AttemptStanding,
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
import { DEFAULT_WITHDRAWAL_POLICY, type WithdrawalInput } from './withdrawal.context.js';
import { withdrawalMachine, type WithdrawalEvent } from './withdrawal.machine.js';
import { statePath } from './state-path.js';

/**
 * Issue 19, item 2, as a general rule of the withdrawal machine:
 * - from every reachable non-final state in which the machine rests (no effect running: it waits
 *   for the ledger, a timer or an operator) there is an operator command it accepts; a state with
 *   an effect running moves on when the effect answers;
 * - no machine stays for ever in a state that holds funds (holdings reserved and unspent, or an
 *   offer of ours still on the ledger locking them): from wherever a random run left it, what the
 *   world can still do — effects answering, the ledger's clock and ingestion's reports (each at
 *   most once, as ingestion makes them), operator commands — leads to the funds being released,
 *   spent by the payout, or back from the offer.
 *
 * The world is a model of the database, the ledger and ingestion. Its database answers a repeated
 * reservation of an attempt with the reservation it already has, even past its deadline (what
 * reserveHoldings did before this fix: the machine must cope on its own), and a
 * reservation's answer can be lost after it committed. Ingestion reports an attempt's expiry only
 * for the withdrawal's current attempt in the database, and only once.
 */

const POLICY = {
  ...DEFAULT_WITHDRAWAL_POLICY,
  maxAttempts: 3,
  maxTransientRetries: 2,
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
const COMMANDS = [
  { type: 'RETRY', by: 'ops' },
  { type: 'CANCEL', by: 'ops', reason: 'r' },
  { type: 'FAIL', by: 'ops', reason: 'r' },
] as const;

const flush = () => vi.advanceTimersByTimeAsync(0);
const err = (code: string, o: { retryable?: boolean; definiteAnswer?: boolean; status?: number } = {}) =>
  new ActorError({ code, message: code, retryable: o.retryable ?? false, ...o });
const TRANSIENT = err('UNAVAILABLE', { retryable: true, status: 503 });
const AMBIGUOUS = err('DEADLINE_EXCEEDED', { retryable: true, definiteAnswer: false, status: 504 });
const DEFINITE = err('LOCAL_VERDICT_TIMEOUT', { definiteAnswer: true, status: 409 });
const INPUT_GONE = err(Failure.INPUT_UNAVAILABLE, { definiteAnswer: true, status: 404 });

/** The database, the ledger and ingestion, as far as one withdrawal can tell. */
class World {
  /** Reservations by attempt; `live` until released. */
  readonly reservations = new Map<number, { holdings: string[]; live: boolean; submitted: boolean }>();
  /** withdrawals.attempt */
  dbAttempt = 0;
  /** Attempts whose deadline the ledger's record time has passed: they can never commit. */
  readonly pastDeadline = new Set<number>();
  /** withdrawals.expiry_emitted_attempt */
  expiryEmitted = 0;
  readonly spent = new Set<string>();
  committed: { attempt: number; kind: 'direct' | 'offer' } | null = null;
  transferReported = false;
  offer: 'none' | 'live' | 'closed' = 'none';
  offerExpiryReported = false;
  /** A close of the offer that ingestion has yet to report. */
  closeToReport: 'withdrawn' | 'accepted' | 'rejected' | null = null;
  private updates = 0;

  updateId(): string {
    return `upd-${++this.updates}`;
  }

  /** Holdings reserved and unspent, or an offer of ours locking them. */
  fundsHeld(): boolean {
    return this.offer === 'live' || [...this.reservations.values()].some((r) => r.live && r.holdings.some((h) => !this.spent.has(h)));
  }

  /** What the runtime's projection does when the machine ends: leftover reservations the database may release. */
  settleFinal(): void {
    for (const [attempt, r] of this.reservations)
      if (!r.submitted || this.pastDeadline.has(attempt) || r.holdings.some((h) => this.spent.has(h))) r.live = false;
  }

  reserve(attempt: number, mode: 'ok' | 'lost' | 'transient' | 'insufficient'): { output: ReserveHoldingsOutput } | { error: unknown } {
    if (mode === 'transient') return { error: TRANSIENT };
    if (mode === 'insufficient')
      return { output: { kind: 'insufficient', needed: '10', available: '3', reason: 'insufficient free funds' } };
    const existing = this.reservations.get(attempt);
    if (existing === undefined) {
      this.reservations.set(attempt, { holdings: [`h${attempt}-a`, `h${attempt}-b`], live: true, submitted: false });
      this.dbAttempt = Math.max(this.dbAttempt, attempt);
    } else if (!existing.live) {
      return { error: err('ATTEMPT_ALREADY_USED') };
    }
    const r = this.reservations.get(attempt)!;
    const output: ReserveHoldingsOutput = {
      kind: 'reserved',
      attempt,
      holdings: r.holdings.map((contractId) => ({ contractId, amount: '5.0000000000' })),
      total: '10.0000000000',
      deadline: `2030-01-01T00:0${attempt}:00.000Z`,
    };
    return mode === 'lost' ? { error: TRANSIENT } : { output };
  }

  release(): void {
    for (const r of this.reservations.values()) r.live = false;
  }

  execute(
    attempt: number,
    inputs: string[],
    mode: 'ok' | 'ambiguousCommitted' | 'ambiguous' | 'definite' | 'transient' | 'dropped',
    kind: 'direct' | 'offer',
  ): { output: ExecuteSubmissionOutput } | { error: unknown } {
    const r = this.reservations.get(attempt);
    if (r) r.submitted = true;
    if (this.pastDeadline.has(attempt)) return { error: DEFINITE };
    if (inputs.some((h) => this.spent.has(h))) return { error: INPUT_GONE };
    if (mode === 'ok' || mode === 'ambiguousCommitted') {
      inputs.forEach((h) => this.spent.add(h));
      this.committed = { attempt, kind };
      // A 2-step transfer locks the funds in an offer from the moment it commits.
      if (kind === 'offer') this.offer = 'live';
      return mode === 'ok' ? { output: {} } : { error: AMBIGUOUS };
    }
    if (mode === 'ambiguous') return { error: AMBIGUOUS };
    if (mode === 'definite') return { error: DEFINITE };
    if (mode === 'transient') return { error: TRANSIENT };
    return { output: {} };
  }

  /** Where ingestion, caught up with the ledger, has the attempt (reservations.ts attemptStanding). */
  standing(input: CheckAttemptInput): AttemptStanding {
    if (this.committed) return 'transferred';
    if (this.expiryEmitted >= input.attempt) return 'expired';
    if (input.holdingCids.some((h) => this.spent.has(h))) return 'inputsSpent';
    return 'open';
  }

  withdraw(): { output: WithdrawOfferOutput } | { error: unknown } {
    if (this.offer !== 'live') return { error: err(Failure.INSTRUCTION_NOT_FOUND, { status: 404 }) };
    this.offer = 'closed';
    this.closeToReport = 'withdrawn';
    return { output: {} };
  }
}

type Answer =
  | 'ok'
  | 'lost'
  | 'transient'
  | 'insufficient'
  | 'ambiguous'
  | 'ambiguousCommitted'
  | 'definite'
  | 'dropped'
  | 'inputGone'
  | 'offer'
  | 'fatal';

function answer(call: ScriptedCall, w: World, a: Answer): void {
  const settle = (r: { output: unknown } | { error: unknown }) => ('output' in r ? call.resolve(r.output) : call.reject(r.error));
  switch (call.name) {
    case 'reserveHoldings': {
      const mode = a === 'lost' || a === 'transient' || a === 'insufficient' ? a : 'ok';
      settle(w.reserve((call.input as ReserveHoldingsInput).attempt, mode));
      return;
    }
    case 'releaseReservation':
      if (a === 'transient') call.reject(TRANSIENT);
      else {
        w.release();
        call.resolve({ released: 1 } satisfies ReleaseReservationOutput);
      }
      return;
    case 'checkAttempt':
      call.resolve({
        standing: w.standing(call.input as CheckAttemptInput),
        ingestedThrough: 1,
        detail: 'model',
      } satisfies CheckAttemptOutput);
      return;
    case 'fetchTransferFactory':
      if (a === 'transient') call.reject(TRANSIENT);
      else if (a === 'fatal') call.reject(err('PERMISSION_DENIED', { status: 403 }));
      else
        call.resolve({
          factoryId: 'f',
          transferKind: a === 'offer' ? 'offer' : 'direct',
          choiceContextData: {},
          disclosedContracts: [],
        } satisfies TransferFactoryOutput);
      return;
    case 'prepareTransfer': {
      const i = call.input as PrepareTransferInput;
      if (a === 'inputGone' || i.inputHoldingCids.some((h) => w.spent.has(h))) call.reject(INPUT_GONE);
      else if (a === 'transient') call.reject(TRANSIENT);
      else
        call.resolve({
          commandId: i.commandId,
          preparedTransaction: JSON.stringify({ attempt: i.attempt, inputs: i.inputHoldingCids }),
          preparedTransactionHash: 'h',
          hashingSchemeVersion: 'V2',
        } satisfies PreparedSubmission);
      return;
    }
    case 'verifyAndSign':
      if (a === 'transient') call.reject(TRANSIENT);
      else call.resolve({ ...(call.input as VerifyAndSignInput).prepared, signature: 's', signedBy: 'k' } satisfies SignedSubmission);
      return;
    case 'executeSubmission': {
      const tx = JSON.parse((call.input as ExecuteSubmissionInput).signed.preparedTransaction) as { attempt: number; inputs: string[] };
      const mode = a === 'ambiguous' || a === 'ambiguousCommitted' || a === 'definite' || a === 'transient' || a === 'dropped' ? a : 'ok';
      settle(w.execute(tx.attempt, tx.inputs, mode, kindOf.get(call) ?? 'direct'));
      return;
    }
    case 'withdrawOffer':
      if (a === 'transient') call.reject(TRANSIENT);
      else if (a === 'fatal') call.reject(err('PERMISSION_DENIED', { status: 403 }));
      // Accepted for processing, never committed: the offer stays until the next withdraw.
      else if (a === 'dropped') call.resolve({} satisfies WithdrawOfferOutput);
      else settle(w.withdraw());
      return;
    default:
      throw new Error(`unexpected effect ${call.name}`);
  }
}
/** The transfer kind each execute carries (what its factory answered). */
const kindOf = new WeakMap<ScriptedCall, 'direct' | 'offer'>();

function harness() {
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
  const actor = createActor(machine, { input: INPUT });
  actor.start();
  return driver(actor, script, flush);
}
type Harness = ReturnType<typeof harness>;

/** What ingestion (and the receiver) can report now; each report happens once. */
type Report = 'transfer' | 'deadline' | 'expiry' | 'offerExpiry' | 'receiverAccepts' | 'receiverRejects' | 'close';

async function report(h: Harness, w: World, r: Report): Promise<boolean> {
  const send = async (e: WithdrawalEvent) => {
    await h.send(e);
    return true;
  };
  switch (r) {
    case 'transfer':
      if (!w.committed || w.transferReported) return false;
      w.transferReported = true;
      return send({
        type: 'TRANSFERRED',
        updateId: w.updateId(),
        outcome: w.committed.kind === 'offer' ? 'pending' : 'completed',
        transferInstructionCid: w.committed.kind === 'offer' ? 'ti-1' : null,
      });
    case 'deadline': {
      // The ledger's record time passes the deadline of the database's current attempt.
      if (w.dbAttempt === 0 || w.pastDeadline.has(w.dbAttempt)) return false;
      w.pastDeadline.add(w.dbAttempt);
      return true;
    }
    case 'expiry': {
      // decideTimeouts: the current attempt in the database, deadline passed, no transfer, once.
      const a = w.dbAttempt;
      if (!w.pastDeadline.has(a) || w.committed !== null || w.expiryEmitted >= a) return false;
      w.expiryEmitted = a;
      return send({ type: 'ATTEMPT_EXPIRED', attempt: a, deadline: `2030-01-01T00:0${a}:00.000Z`, recordTime: '2030-01-02T00:00:00.000Z' });
    }
    case 'offerExpiry':
      if (w.offer !== 'live' || w.offerExpiryReported || !w.transferReported) return false;
      w.offerExpiryReported = true;
      return send({ type: 'INSTRUCTION_CLOSED', updateId: null, outcome: 'expired' });
    case 'receiverAccepts':
    case 'receiverRejects':
      if (w.offer !== 'live' || w.offerExpiryReported || !w.transferReported) return false;
      w.offer = 'closed';
      w.closeToReport = r === 'receiverAccepts' ? 'accepted' : 'rejected';
      return true;
    case 'close': {
      if (w.closeToReport === null) return false;
      const outcome = w.closeToReport;
      w.closeToReport = null;
      return send({ type: 'INSTRUCTION_CLOSED', updateId: w.updateId(), outcome });
    }
  }
}

/** Answers the first pending effect; returns false when the machine rests (nothing running). */
async function answerPending(h: Harness, w: World, a: Answer): Promise<boolean> {
  const call = h.script.pending()[0];
  if (!call) return false;
  if (call.name === 'executeSubmission') kindOf.set(call, factoryKind(h));
  answer(call, w, a);
  await flush();
  return true;
}
const factoryKind = (h: Harness): 'direct' | 'offer' => (h.ctx().factory?.transferKind === 'offer' ? 'offer' : 'direct');

const isFinal = (h: Harness) => h.snap().status === 'done';

/** P1: resting and not final → some operator command is accepted. */
function checkCommandAccepted(h: Harness, trail: string[]): void {
  if (isFinal(h) || h.script.pending().length > 0) return;
  const accepted = COMMANDS.filter((c) => h.snap().can(c)).map((c) => c.type);
  if (accepted.length === 0)
    throw new Error(
      `no operator command accepted in ${JSON.stringify(h.value())} (context ${JSON.stringify(summary(h))}) after: ${trail.slice(-25).join(' | ')}`,
    );
}

/**
 * P2: from here, a fair world releases the funds. Effects answer successfully; ingestion reports
 * what it can (each thing once); time passes; an operator retries or fails as a last resort.
 */
async function drain(h: Harness, w: World, trail: string[]): Promise<void> {
  for (let i = 0; i < 400; i++) {
    checkCommandAccepted(h, trail);
    if (isFinal(h)) w.settleFinal();
    if (!w.fundsHeld()) return;
    if (isFinal(h)) break;
    if (await answerPending(h, w, 'ok')) continue;
    let moved = false;
    for (const r of ['transfer', 'close', 'offerExpiry', 'deadline', 'expiry'] as const) {
      if (await report(h, w, r)) {
        moved = true;
        break;
      }
    }
    if (moved) continue;
    const before = JSON.stringify(h.actor.getPersistedSnapshot());
    await vi.advanceTimersByTimeAsync(3_600_000);
    if (JSON.stringify(h.actor.getPersistedSnapshot()) !== before || h.script.pending().length > 0) continue;
    const command = COMMANDS.find((c) => h.snap().can(c));
    if (command) {
      await h.send(command);
      continue;
    }
    if (await report(h, w, 'receiverRejects')) continue;
    break;
  }
  throw new Error(
    `funds held for good in ${JSON.stringify(h.value())} (${isFinal(h) ? 'final' : 'not final'}; context ${JSON.stringify(summary(h))}; world ${JSON.stringify(worldSummary(w))}) after: ${trail.slice(-25).join(' | ')}`,
  );
}

function summary(h: Harness) {
  const c = h.ctx();
  return {
    attempt: c.attempt,
    reservation: c.reservation?.attempt ?? null,
    executeCount: c.executeCount,
    signed: c.signed !== null,
    pendingFailure: c.pendingFailure,
    haltReason: c.haltReason,
    cancel: c.cancelRequested !== null,
    expiredUnheld: c.expiredUnheld ?? null,
  };
}
function worldSummary(w: World) {
  return {
    dbAttempt: w.dbAttempt,
    pastDeadline: [...w.pastDeadline],
    expiryEmitted: w.expiryEmitted,
    committed: w.committed,
    offer: w.offer,
    live: [...w.reservations].filter(([, r]) => r.live).map(([a]) => a),
  };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2029-12-31T23:00:00.000Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('withdrawal machine: liveness (issue 19, item 2)', () => {
  type Step =
    { kind: 'answer'; a: Answer } | { kind: 'report'; r: Report } | { kind: 'time'; ms: number } | { kind: 'operator'; i: 0 | 1 | 2 };
  const answers = fc.oneof(
    { weight: 12, arbitrary: fc.constant<Answer>('ok') },
    { weight: 6, arbitrary: fc.constant<Answer>('offer') },
    { weight: 3, arbitrary: fc.constant<Answer>('lost') },
    ...(['transient', 'insufficient', 'ambiguous', 'ambiguousCommitted', 'definite', 'dropped', 'inputGone', 'fatal'] as const).map(
      (a) => ({ weight: 1, arbitrary: fc.constant<Answer>(a) }),
    ),
  );
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 24, arbitrary: answers.map((a) => ({ kind: 'answer' as const, a })) },
    {
      weight: 12,
      arbitrary: fc
        .constantFrom<Report>(
          'transfer',
          'transfer',
          'transfer',
          'deadline',
          'deadline',
          'expiry',
          'expiry',
          'offerExpiry',
          'offerExpiry',
          'receiverAccepts',
          'receiverRejects',
          'close',
          'close',
        )
        .map((r) => ({ kind: 'report' as const, r })),
    },
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 70_000 }).map((ms) => ({ kind: 'time' as const, ms })) },
    { weight: 1, arbitrary: fc.constantFrom<0 | 1 | 2>(0, 1, 2).map((i) => ({ kind: 'operator' as const, i })) },
  );

  it('every resting state accepts an operator command, and no state holds funds for good', async () => {
    await fc.assert(
      // Half the runs start from an offer awaiting the receiver, where the walk alone rarely gets.
      fc.asyncProperty(fc.boolean(), fc.array(step, { minLength: 1, maxLength: 120 }), async (fromOffer, steps) => {
        const h = harness();
        const w = new World();
        const trail: string[] = [];
        try {
          if (fromOffer) {
            for (const a of ['ok', 'offer', 'ok', 'ok', 'ok'] as const) await answerPending(h, w, a);
            await report(h, w, 'transfer');
            trail.push('→ pendingAcceptance');
          }
          for (const s of steps) {
            if (isFinal(h)) break;
            if (s.kind === 'answer') {
              const name = h.script.pending()[0]?.name;
              if (await answerPending(h, w, s.a)) trail.push(`${name}:${s.a}`);
            } else if (s.kind === 'report') {
              if (await report(h, w, s.r)) trail.push(s.r);
            } else if (s.kind === 'time') {
              await vi.advanceTimersByTimeAsync(s.ms);
            } else {
              const c = COMMANDS[s.i];
              if (h.snap().can(c)) {
                await h.send(c);
                trail.push(c.type);
              }
            }
            trail.push(`→ ${statePath(h.value()).join('.')}`);
            checkCommandAccepted(h, trail);
          }
          await drain(h, w, trail);
        } finally {
          h.actor.stop();
        }
      }),
      { numRuns: 600 },
    );
  });
});

import type { EventObject, InspectionEvent, Observer } from 'xstate';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import type { Sql, Tx } from '../../store/db.js';
import { findUnmanagedWithdrawals, loadWithdrawalRequest, mirrorWithdrawalStatuses, readNetworkFee } from '../../store/machines-withdrawals.js';
import { appendOutboxEvents, type OutboxEvent, type OutboxEventInput } from '../../store/outbox.js';
import { createReservationActors, markAttemptSubmitted, releaseReservations } from '../../store/reservations.js';
import { normalizeAmount } from '../../lib/decimal.js';
import { decodePreparedTransaction } from '../../ledger/prepared-transaction/index.js';
import { statePath } from '../state-path.js';
import type { WithdrawalActors, WithdrawalDbActors, WithdrawalLedgerActors } from '../withdrawal.actors.js';
import { DEFAULT_WITHDRAWAL_POLICY, WithdrawalContext, WithdrawalPolicy, withdrawalCommandRefusal, withdrawalStatus, type WithdrawalInput } from '../withdrawal.context.js';
import { WITHDRAWAL_MACHINE_VERSION, withdrawalMachine, type WithdrawalEvent } from '../withdrawal.machine.js';
import { lastPerMachine, perMachine } from './per-machine.js';
import { createMachineRuntime, type MachineRuntime } from './runtime.js';
import type { CatchUp, EffectHold, MachineDefinition, Route, RuntimeHooks, RuntimeOptions, TransitionRecord } from './types.js';
import type { Switches } from '../../admin/switches.js';
import { settleAll } from '../../lib/settle-all.js';

export const WITHDRAWAL_MACHINE_TYPE = 'withdrawal';
export const WITHDRAWAL_CONSUMER = 'withdrawal-runtime';
export const WITHDRAWAL_TOPICS = ['withdrawal.requested', 'withdrawal.recovered', 'withdrawal.transferred', 'withdrawal.offered', 'withdrawal.instruction_closed', 'withdrawal.attempt_expired'] as const;

// Outbox payloads as ingestion and the HTTP layer write them (docs/internals.md); extra fields are allowed.
const Requested = z.object({ withdrawalId: z.string().min(1) });
const Recovered = z.object({ withdrawalId: z.string().min(1), outcome: z.enum(['completed', 'pending', 'failed']), self: z.boolean().optional() });
// `pending` only in events written before withdrawal.offered existed (still in an outbox after an upgrade).
const Transferred = z.object({
  withdrawalId: z.string().min(1),
  updateId: z.string().min(1),
  outcome: z.enum(['completed', 'pending', 'failed']),
  transferInstructionCid: z.string().nullish(),
});
/** A 2-step offer on the ledger; the machine takes it as a transfer with outcome pending. */
const Offered = z.object({ withdrawalId: z.string().min(1), updateId: z.string().min(1), transferInstructionCid: z.string().min(1) });
const InstructionClosed = z.object({
  withdrawalId: z.string().min(1),
  updateId: z.string().nullish(),
  outcome: z.enum(['accepted', 'rejected', 'withdrawn', 'expired', 'failed']),
});
const AttemptExpired = z.object({ withdrawalId: z.string().min(1), attempt: z.number().int(), deadline: z.string(), recordTime: z.string() });

const OperatorCommand = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RETRY'), by: z.string().min(1) }),
  z.object({ type: z.literal('CANCEL'), by: z.string().min(1), reason: z.string().min(1) }),
  z.object({ type: z.literal('FAIL'), by: z.string().min(1), reason: z.string().min(1) }),
]);
export type WithdrawalOperatorCommand = z.infer<typeof OperatorCommand>;

/** Typed at the source: the machine's own event union. */
const machineEvent = (e: WithdrawalEvent): EventObject => e;

export function routeWithdrawalEvent(e: OutboxEvent): Route {
  switch (e.topic) {
    case 'withdrawal.requested':
      return { kind: 'deliver', machineId: Requested.parse(e.payload).withdrawalId, event: null, create: true };
    case 'withdrawal.recovered': {
      // Only a payout still offered to its receiver has anything left to follow.
      const p = Recovered.parse(e.payload);
      if (p.outcome !== 'pending' || p.self === true) return { kind: 'ignore', reason: `recovered ${p.outcome} transfer: nothing left to follow` };
      return { kind: 'deliver', machineId: p.withdrawalId, event: null, create: true };
    }
    case 'withdrawal.transferred': {
      const p = Transferred.parse(e.payload);
      return { kind: 'deliver', machineId: p.withdrawalId, event: machineEvent({ type: 'TRANSFERRED', updateId: p.updateId, outcome: p.outcome, transferInstructionCid: p.transferInstructionCid ?? null }), create: false };
    }
    case 'withdrawal.offered': {
      const p = Offered.parse(e.payload);
      return { kind: 'deliver', machineId: p.withdrawalId, event: machineEvent({ type: 'TRANSFERRED', updateId: p.updateId, outcome: 'pending', transferInstructionCid: p.transferInstructionCid }), create: false };
    }
    case 'withdrawal.instruction_closed': {
      const p = InstructionClosed.parse(e.payload);
      return { kind: 'deliver', machineId: p.withdrawalId, event: machineEvent({ type: 'INSTRUCTION_CLOSED', updateId: p.updateId ?? null, outcome: p.outcome }), create: false };
    }
    case 'withdrawal.attempt_expired': {
      const p = AttemptExpired.parse(e.payload);
      return { kind: 'deliver', machineId: p.withdrawalId, event: machineEvent({ type: 'ATTEMPT_EXPIRED', attempt: p.attempt, deadline: p.deadline, recordTime: p.recordTime }), create: false };
    }
    default:
      return { kind: 'ignore', reason: `topic ${e.topic} is not for the withdrawal runtime` };
  }
}

/**
 * Mirror, safety bookkeeping and outcome events of a commit group's transitions, in their
 * transaction: the statuses in one statement, the outcome events in one append.
 */
export async function projectWithdrawals(tx: Tx, transitions: readonly TransitionRecord<WithdrawalContext>[]): Promise<void> {
  const events: OutboxEventInput[] = [];
  await settleAll([
    mirrorWithdrawalStatuses(
      tx,
      lastPerMachine(transitions).map((t) => ({ withdrawalId: t.context.withdrawalId, ...withdrawalStatus(t.to, t.context) })),
    ),
    perMachine(transitions, (t) => projectBookkeeping(tx, t, events)),
  ]);
  await appendOutboxEvents(tx, events);
}

/**
 * The synchronizer the attempt's signed transaction was prepared for (its metadata): its deadline
 * is decided against that synchronizer's record time only. Undefined for a stand-in that does not
 * decode (machine tests' fake submissions): decided against the synchronizer ingestion follows.
 */
function preparedForSynchronizer(c: WithdrawalContext): string | undefined {
  if (c.signed === null) return undefined;
  try {
    return decodePreparedTransaction(c.signed.preparedTransaction, { allowNonCanonical: true }).metadata.synchronizerId;
  } catch {
    return undefined;
  }
}

/** One transition's reservation bookkeeping; its outcome event is added to `events`. */
async function projectBookkeeping(tx: Tx, t: TransitionRecord<WithdrawalContext>, events: OutboxEventInput[]): Promise<void> {
  const c = t.context;
  // Before the first execute of an attempt leaves the process, the database knows it may commit.
  if (c.reservation !== null && c.executeCount > (t.prevContext?.executeCount ?? 0)) {
    await markAttemptSubmitted(tx, c.withdrawalId, c.reservation.attempt, preparedForSynchronizer(c));
  }

  const top = statePath(t.to)[0];
  const wasTop = statePath(t.from)[0];
  if (top === wasTop) return;
  const base = { withdrawalId: c.withdrawalId, account: c.account, purpose: c.purpose, amount: c.amount, instrument: c.instrument, attempt: c.attempt };
  const event = (topic: string, payload: Record<string, unknown>) => events.push({ topic, aggregateType: 'withdrawal', aggregateId: c.withdrawalId, payload: { ...base, ...payload } });
  if (top === 'pendingAcceptance' || top === 'completed' || top === 'failed' || top === 'cancelled') {
    // Leftover reservations (e.g. inputs a committed transfer spent) are bookkeeping now; submitted,
    // undecided ones are left alone by releaseReservations' own check.
    await releaseReservations(tx, { withdrawalId: c.withdrawalId, attempt: null, reason: top }, { strict: false });
  }
  // Ingestion wrote the fee with the update that decided this outcome, so it is in the row by now.
  const networkFee = () => readNetworkFee(tx, c.withdrawalId);
  if (top === 'pendingAcceptance') {
    event('withdrawal.pending_acceptance', { updateId: c.transfer?.updateId ?? null, transferInstructionCid: c.transfer?.transferInstructionCid ?? null });
  } else if (top === 'completed') {
    event('withdrawal.completed', { updateId: c.transfer?.updateId ?? null, outcomeUpdateId: c.closed?.updateId ?? null, transferInstructionCid: c.transfer?.transferInstructionCid ?? null, networkFee: await networkFee() });
  } else if (top === 'failed' || top === 'cancelled') {
    // The exchange debited the customer at request time: a payout that did not happen is re-credited.
    event('withdrawal.failed', {
      reason: c.outcomeReason,
      reasonCode: c.reasonCode ?? null,
      cancelled: top === 'cancelled',
      recredit: c.purpose === 'payout',
      transferUpdateId: c.transfer?.updateId ?? null,
      outcomeUpdateId: c.closed?.updateId ?? null,
      // A failed offer or transfer may still have cost the treasury a fee; null when nothing was sent.
      networkFee: c.transfer === null ? null : await networkFee(),
    });
  }
}

export interface WithdrawalRuntimeConfig {
  /** The treasury party: owner of the holdings, sender of every transfer. */
  treasuryParty: string;
  /** Frozen into each new withdrawal; defaults from DEFAULT_WITHDRAWAL_POLICY. */
  policy?: Partial<WithdrawalPolicy>;
}

export interface WithdrawalDefinitionOptions {
  sql: Sql;
  /** The ledger effects; the DB effects default to src/store/reservations.ts. */
  actors: WithdrawalLedgerActors & Partial<WithdrawalDbActors>;
  config: WithdrawalRuntimeConfig;
  /**
   * Operator pause switches (src/admin/switches.ts): while `withdrawals` is paused no reservation
   * and no ledger call (factory, prepare, sign, execute, resubmit) starts; releases and the
   * outcome events from ingestion still apply.
   */
  switches?: Pick<Switches, 'whenOpen'>;
  /**
   * Ingestion catching up with the ledger end (createIngestionCatchUp): the start gate of the
   * runtime, and what the default checkAttempt waits for.
   */
  catchUp?: CatchUp;
}

export function withdrawalDefinition(opts: WithdrawalDefinitionOptions): MachineDefinition<WithdrawalContext> {
  const policy = WithdrawalPolicy.parse({ ...DEFAULT_WITHDRAWAL_POLICY, ...opts.config.policy });
  const actors: WithdrawalActors = { ...createReservationActors(opts.sql, opts.catchUp ? { catchUp: opts.catchUp } : {}), ...opts.actors };
  const switches = opts.switches;
  // Always a hold: besides the switch, held effects wait for the runtime's start gate (catchUp).
  const hold: EffectHold = switches ? (signal) => switches.whenOpen('withdrawals', signal) : () => Promise.resolve();
  return {
    type: WITHDRAWAL_MACHINE_TYPE,
    version: WITHDRAWAL_MACHINE_VERSION,
    consumer: WITHDRAWAL_CONSUMER,
    topics: WITHDRAWAL_TOPICS,
    lockKey: 1,
    build: (wrap) =>
      withdrawalMachine.provide({
        actors: {
          reserveHoldings: wrap(actors.reserveHoldings, hold),
          releaseReservation: wrap(actors.releaseReservation),
          checkAttempt: wrap(actors.checkAttempt),
          fetchTransferFactory: wrap(actors.fetchTransferFactory, hold),
          prepareTransfer: wrap(actors.prepareTransfer, hold),
          verifyAndSign: wrap(actors.verifyAndSign, hold),
          executeSubmission: wrap(actors.executeSubmission, hold),
          withdrawOffer: wrap(actors.withdrawOffer, hold),
        },
      }),
    route: routeWithdrawalEvent,
    async loadInput(db, id) {
      const row = await loadWithdrawalRequest(db, id);
      if (!row) return { skip: 'no withdrawal row' };
      // A recovered payout still offered: followed, never paid again (the machine starts pendingAcceptance).
      const recoveredOffer =
        row.recovered && row.purpose === 'payout' && row.transferUpdateId !== null && row.transferInstructionCid !== null
          ? { updateId: row.transferUpdateId, transferInstructionCid: row.transferInstructionCid }
          : null;
      if (recoveredOffer === null) {
        if (row.recovered) return { skip: 'recovered from the ledger: it was already paid' };
        if (row.transferUpdateId !== null) return { skip: `already transferred in update ${row.transferUpdateId}` };
        if (row.status !== 'requested') return { skip: `status is ${row.status}, not requested` };
      }
      const input: WithdrawalInput = {
        withdrawalId: row.withdrawalId,
        purpose: row.purpose,
        account: row.account,
        instrument: row.instrument,
        amount: normalizeAmount(row.amount),
        receiver: row.receiver,
        sender: opts.config.treasuryParty,
        transferPolicy: row.transferPolicy,
        policy,
        ...(recoveredOffer ? { recoveredOffer } : {}),
      };
      return { input };
    },
    parseContext: (context) => WithdrawalContext.parse(context),
    project: projectWithdrawals,
    discover: findUnmanagedWithdrawals,
    parseCommand(command) {
      const r = OperatorCommand.safeParse(command);
      if (!r.success) return { ok: false, reason: `not a withdrawal command: ${r.error.issues.map((i) => `${i.path.join('.') || '(command)'}: ${i.message}`).join('; ')}` };
      return { ok: true, event: r.data, by: r.data.by };
    },
    explainRefusal: (value, context, event: EventObject) => withdrawalCommandRefusal(value, context, event.type as WithdrawalOperatorCommand['type']),
  };
}

export interface CreateWithdrawalRuntimeOptions extends WithdrawalDefinitionOptions {
  logger: Logger;
  /** Live view in the Stately inspector (see createMachineInspector); off when absent. */
  inspect?: Observer<InspectionEvent>;
  /** Timings of the runtime (poll intervals, stop timeout…). */
  runtime?: Omit<RuntimeOptions, 'sql' | 'logger' | 'inspect' | 'hooks' | 'catchUp'>;
  hooks?: RuntimeHooks;
}

/** The withdrawal runtime as a daemon Component. */
export function createWithdrawalRuntime(opts: CreateWithdrawalRuntimeOptions): MachineRuntime {
  return createMachineRuntime(withdrawalDefinition(opts), {
    ...opts.runtime,
    sql: opts.sql,
    logger: opts.logger,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.catchUp ? { catchUp: opts.catchUp } : {}),
  });
}

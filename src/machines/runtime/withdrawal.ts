/**
 * The withdrawal machine's runtime definition: how each outbox topic routes to a machine, what a
 * transition writes beside its snapshot (reservation bookkeeping, the status mirror, outcome
 * events), and how request rows without a machine are found. About 330 lines in one file on
 * purpose: a change to a topic or a state touches all three, and they are read together.
 */
import type { EventObject, InspectionEvent, Observer } from 'xstate';
import type { Logger } from '../../logger.js';
import type { Sql, Tx } from '../../store/db.js';
import {
  findUnmanagedWithdrawals,
  loadWithdrawalRequest,
  mirrorWithdrawalStatuses,
  readNetworkFee,
} from '../../store/machines-withdrawals.js';
import { appendOutboxEvents, type OutboxEvent, type OutboxEventInput } from '../../store/outbox.js';
import { OUTBOX_PAYLOADS } from '../../events/outbox-events.js';
import { markAttemptSubmitted, releaseReservations } from '../../store/reservations.js';
import { createReservationActors } from '../effects/reservations.js';
import { recordTrafficCostEstimate } from '../../store/traffic.js';
import { normalizeAmount } from '../../lib/decimal.js';
import { decodePreparedTransaction } from '../../ledger/prepared-transaction/index.js';
import { statePath } from '../state-path.js';
import type { WithdrawalActors, WithdrawalDbActors, WithdrawalLedgerActors } from '../withdrawal.actors.js';
import {
  DEFAULT_WITHDRAWAL_POLICY,
  WithdrawalContext,
  WithdrawalPolicy,
  withdrawalCommandRefusal,
  withdrawalStatus,
  type WithdrawalInput,
} from '../withdrawal.context.js';
import { WITHDRAWAL_MACHINE_VERSION, WithdrawalOperatorCommand, withdrawalMachine, type WithdrawalEvent } from '../withdrawal.machine.js';
import { WITHDRAWAL_MACHINE_TYPE } from '../machine-types.js';
import { lastPerMachine, perMachine } from './per-machine.js';
import { createMachineRuntime, type MachineRuntime } from './runtime.js';
import type { CatchUp, MachineDefinition, Route, RuntimeHooks, RuntimeOptions, TransitionRecord } from './types.js';
import type { Switches } from '../../gates/switches.js';
import type { TrafficGate } from '../../gates/traffic.js';
import { gateHolds } from './gate-holds.js';
import { settleAll } from '../../lib/settle-all.js';

export { WITHDRAWAL_MACHINE_TYPE, WithdrawalOperatorCommand };
export const WITHDRAWAL_CONSUMER = 'withdrawal-runtime';
/** Second key of the runtime's leadership lock (src/store/machines.ts). */
export const WITHDRAWAL_LOCK_KEY = 1;
export const WITHDRAWAL_TOPICS = [
  'withdrawal.requested',
  'withdrawal.recovered',
  'withdrawal.transferred',
  'withdrawal.offered',
  'withdrawal.instruction_closed',
  'withdrawal.attempt_expired',
] as const;

/** Typed at the source: the machine's own event union. */
const machineEvent = (e: WithdrawalEvent): EventObject => e;

export function routeWithdrawalEvent(e: OutboxEvent): Route {
  switch (e.topic) {
    case 'withdrawal.requested':
      return {
        kind: 'deliver',
        machineId: OUTBOX_PAYLOADS['withdrawal.requested'].parse(e.payload).withdrawalId,
        event: null,
        create: true,
      };
    case 'withdrawal.recovered': {
      // Only a payout still offered to its receiver has anything left to follow.
      const p = OUTBOX_PAYLOADS['withdrawal.recovered'].parse(e.payload);
      if (p.outcome !== 'pending' || p.self === true)
        return { kind: 'ignore', reason: `recovered ${p.outcome} transfer: nothing left to follow` };
      return { kind: 'deliver', machineId: p.withdrawalId, event: null, create: true };
    }
    case 'withdrawal.transferred': {
      const p = OUTBOX_PAYLOADS['withdrawal.transferred'].parse(e.payload);
      return {
        kind: 'deliver',
        machineId: p.withdrawalId,
        event: machineEvent({
          type: 'TRANSFERRED',
          updateId: p.updateId,
          outcome: p.outcome,
          transferInstructionCid: p.transferInstructionCid,
        }),
        create: false,
      };
    }
    case 'withdrawal.offered': {
      const p = OUTBOX_PAYLOADS['withdrawal.offered'].parse(e.payload);
      return {
        kind: 'deliver',
        machineId: p.withdrawalId,
        event: machineEvent({
          type: 'TRANSFERRED',
          updateId: p.updateId,
          outcome: 'pending',
          transferInstructionCid: p.transferInstructionCid,
        }),
        create: false,
      };
    }
    case 'withdrawal.instruction_closed': {
      const p = OUTBOX_PAYLOADS['withdrawal.instruction_closed'].parse(e.payload);
      return {
        kind: 'deliver',
        machineId: p.withdrawalId,
        event: machineEvent({ type: 'INSTRUCTION_CLOSED', updateId: p.updateId, outcome: p.outcome }),
        create: false,
      };
    }
    case 'withdrawal.attempt_expired': {
      const p = OUTBOX_PAYLOADS['withdrawal.attempt_expired'].parse(e.payload);
      return {
        kind: 'deliver',
        machineId: p.withdrawalId,
        event: machineEvent({ type: 'ATTEMPT_EXPIRED', attempt: p.attempt, deadline: p.deadline, recordTime: p.recordTime }),
        create: false,
      };
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
  const cost = c.signed?.trafficCost;
  if (cost !== undefined && cost !== t.prevContext?.signed?.trafficCost) await recordTrafficCostEstimate(tx, c.withdrawalId, cost);
  // Before the first execute of an attempt leaves the process, the database knows it may commit.
  if (c.reservation !== null && c.executeCount > (t.prevContext?.executeCount ?? 0)) {
    await markAttemptSubmitted(tx, c.withdrawalId, c.reservation.attempt, preparedForSynchronizer(c));
  }

  const top = statePath(t.to)[0];
  const wasTop = statePath(t.from)[0];
  if (top === wasTop) return;
  const base = {
    withdrawalId: c.withdrawalId,
    account: c.account,
    purpose: c.purpose,
    amount: c.amount,
    instrument: c.instrument,
    attempt: c.attempt,
  };
  const aggregate = { aggregateType: 'withdrawal', aggregateId: c.withdrawalId } as const;
  if (top === 'pendingAcceptance' || top === 'completed' || top === 'failed' || top === 'cancelled') {
    // Leftover reservations (e.g. inputs a committed transfer spent) are bookkeeping now; submitted,
    // undecided ones are left alone by releaseReservations' own check.
    await releaseReservations(tx, { withdrawalId: c.withdrawalId, attempt: null, reason: top }, { strict: false });
  }
  const updateId = c.transfer?.updateId ?? null;
  const transferInstructionCid = c.transfer?.transferInstructionCid ?? null;
  const outcomeUpdateId = c.closed?.updateId ?? null;
  // Ingestion wrote the fee with the update that decided this outcome, so it is in the row by now.
  const networkFee = () => readNetworkFee(tx, c.withdrawalId);
  if (top === 'pendingAcceptance') {
    events.push({ ...aggregate, topic: 'withdrawal.pending_acceptance', payload: { ...base, updateId, transferInstructionCid } });
  } else if (top === 'completed') {
    events.push({
      ...aggregate,
      topic: 'withdrawal.completed',
      payload: { ...base, updateId, outcomeUpdateId, transferInstructionCid, networkFee: await networkFee() },
    });
  } else if (top === 'failed' || top === 'cancelled') {
    // The exchange debited the customer at request time: a payout that did not happen is re-credited.
    const payload = {
      ...base,
      reason: c.outcomeReason,
      reasonCode: c.reasonCode ?? null,
      cancelled: top === 'cancelled',
      recredit: c.purpose === 'payout',
      transferUpdateId: updateId,
      outcomeUpdateId,
      // A failed offer or transfer may still have cost the treasury a fee; null when nothing was sent.
      networkFee: c.transfer === null ? null : await networkFee(),
    };
    events.push({ ...aggregate, topic: 'withdrawal.failed', payload });
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
  /** The ledger effects; the DB effects default to src/machines/effects/reservations.ts. */
  actors: WithdrawalLedgerActors & Partial<WithdrawalDbActors>;
  config: WithdrawalRuntimeConfig;
  /**
   * Operator pause switches (src/gates/switches.ts): while `withdrawals` is paused no reservation
   * and no ledger call (factory, prepare, sign, execute, resubmit) starts; releases and the
   * outcome events from ingestion still apply.
   */
  switches?: Pick<Switches, 'whenOpen'>;
  /**
   * The validator's traffic (src/gates/traffic.ts): while it is held no reservation and no ledger
   * call leading to a submission starts (the probe's machine excepted), and submissions keep its rate cap.
   */
  traffic?: Pick<TrafficGate, 'beforeSubmission' | 'submission'>;
  /**
   * Ingestion catching up with the ledger end (createIngestionCatchUp): the start gate of the
   * runtime, and what the default checkAttempt waits for.
   */
  catchUp?: CatchUp;
}

export function withdrawalDefinition(opts: WithdrawalDefinitionOptions): MachineDefinition<WithdrawalContext> {
  const policy = WithdrawalPolicy.parse({ ...DEFAULT_WITHDRAWAL_POLICY, ...opts.config.policy });
  const actors: WithdrawalActors = { ...createReservationActors(opts.sql, opts.catchUp ? { catchUp: opts.catchUp } : {}), ...opts.actors };
  const holds = gateHolds('withdrawals', WITHDRAWAL_MACHINE_TYPE, opts.switches, opts.traffic);
  const hold = holds.beforeSubmission;
  return {
    type: WITHDRAWAL_MACHINE_TYPE,
    version: WITHDRAWAL_MACHINE_VERSION,
    consumer: WITHDRAWAL_CONSUMER,
    topics: WITHDRAWAL_TOPICS,
    lockKey: WITHDRAWAL_LOCK_KEY,
    build: (wrap) =>
      withdrawalMachine.provide({
        actors: {
          reserveHoldings: wrap(actors.reserveHoldings, hold),
          releaseReservation: wrap(actors.releaseReservation),
          checkAttempt: wrap(actors.checkAttempt),
          fetchTransferFactory: wrap(actors.fetchTransferFactory, hold),
          prepareTransfer: wrap(actors.prepareTransfer, hold),
          verifyAndSign: wrap(actors.verifyAndSign, hold),
          executeSubmission: wrap(actors.executeSubmission, holds.submission),
          // Prepares, signs and submits in one effect: it passes as a submission.
          withdrawOffer: wrap(actors.withdrawOffer, holds.submission),
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
        if (row.status !== 'requested') return { skip: `status is ${row.status}, not requested` };
      }
      // A request ingestion attached a transfer to before this event was consumed (re-sent after a
      // database restore): its machine follows that transfer. Skipping it would leave the row
      // `requested` for ever, as the transfer's own event finds no machine to deliver to.
      const transferSeen = recoveredOffer === null && row.transferUpdateId !== null ? { updateId: row.transferUpdateId } : null;
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
        ...(transferSeen ? { transferSeen } : {}),
      };
      return { input };
    },
    parseContext: (context) => WithdrawalContext.parse(context),
    project: projectWithdrawals,
    discover: findUnmanagedWithdrawals,
    parseCommand(command) {
      const r = WithdrawalOperatorCommand.safeParse(command);
      if (!r.success)
        return {
          ok: false,
          reason: `not a withdrawal command: ${r.error.issues.map((i) => `${i.path.join('.') || '(command)'}: ${i.message}`).join('; ')}`,
        };
      return { ok: true, event: r.data, by: r.data.by };
    },
    explainRefusal: (value, context, event: EventObject) =>
      withdrawalCommandRefusal(value, context, event.type as WithdrawalOperatorCommand['type']),
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

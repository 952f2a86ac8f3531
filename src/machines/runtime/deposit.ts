import type { EventObject, InspectionEvent, Observer } from 'xstate';
import type { Logger } from '../../logger.js';
import type { Sql, Tx } from '../../store/db.js';
import {
  assignDepositAccount,
  creditAssignedDeposit,
  depositAccountExists,
  loadDeposit,
  mirrorDepositReason,
  mirrorDepositStatus,
} from '../../store/machines-deposits.js';
import { appendOutboxEvents, type OutboxEvent } from '../../store/outbox.js';
import { OUTBOX_PAYLOADS } from '../../events/outbox-events.js';
import type { DepositActors } from '../deposit.actors.js';
import {
  DEFAULT_DEPOSIT_POLICY,
  DepositContext,
  DepositPolicy,
  depositCommandRefusal,
  depositStatus,
  type DepositInput,
} from '../deposit.context.js';
import { DEPOSIT_MACHINE_VERSION, DepositOperatorCommand, depositMachine, type DepositEvent } from '../deposit.machine.js';
import { DEPOSIT_MACHINE_TYPE } from '../machine-types.js';
import { statePath } from '../state-path.js';
import { perMachine } from './per-machine.js';
import { createMachineRuntime, type MachineRuntime } from './runtime.js';
import type { CatchUp, MachineDefinition, Route, RuntimeHooks, RuntimeOptions, TransitionRecord } from './types.js';
import type { Switches } from '../../gates/switches.js';
import type { TrafficGate } from '../../gates/traffic.js';
import { gateHolds } from './gate-holds.js';

export { DEPOSIT_MACHINE_TYPE, DepositOperatorCommand };
export const DEPOSIT_CONSUMER = 'deposit-runtime';
export const DEPOSIT_TOPICS = ['deposit.offer_received', 'deposit.unattributed', 'deposit.credited', 'deposit.offer_closed'] as const;

const machineEvent = (e: DepositEvent): EventObject => e;

export function routeDepositEvent(e: OutboxEvent): Route {
  switch (e.topic) {
    case 'deposit.offer_received':
    case 'deposit.unattributed':
      return { kind: 'deliver', machineId: OUTBOX_PAYLOADS[e.topic].parse(e.payload).depositId, event: null, create: true };
    case 'deposit.credited': {
      const p = OUTBOX_PAYLOADS['deposit.credited'].parse(e.payload);
      return {
        kind: 'deliver',
        machineId: p.depositId,
        event: machineEvent({ type: 'CREDITED', accountId: p.accountId, updateId: p.updateId, creditedAmount: p.creditedAmount }),
        create: true,
      };
    }
    case 'deposit.offer_closed': {
      const p = OUTBOX_PAYLOADS['deposit.offer_closed'].parse(e.payload);
      return {
        kind: 'deliver',
        machineId: p.depositId,
        event: machineEvent({ type: 'OFFER_CLOSED', outcome: p.outcome, updateId: p.updateId }),
        create: true,
      };
    }
    default:
      return { kind: 'ignore', reason: `topic ${e.topic} is not for the deposit runtime` };
  }
}

/** Credits, mirror and events of a commit group's transitions, each machine's in order. */
export function projectDeposits(tx: Tx, transitions: readonly TransitionRecord<DepositContext>[]): Promise<void> {
  return perMachine(transitions, (t) => projectDeposit(tx, t));
}

async function projectDeposit(tx: Tx, t: TransitionRecord<DepositContext>): Promise<void> {
  const c = t.context;
  if (t.eventType === 'ASSIGN') {
    const by = c.assigned?.by ?? 'admin';
    // Exactly once: this transition happens once, and the guarded update refuses a second credit.
    if (c.credit?.by === 'assign') await creditAssignedDeposit(tx, c.depositId, c.credit.accountId, by);
    else if (c.accountId !== null) await assignDepositAccount(tx, c.depositId, c.accountId);
  }
  const { status, reason } = depositStatus(t.to, c);
  if (status !== null && status !== 'credited') await mirrorDepositStatus(tx, c.depositId, status, reason);
  else if (status === null && reason !== null) await mirrorDepositReason(tx, c.depositId, reason);

  const top = statePath(t.to)[0];
  if (top === 'acceptFailed' && statePath(t.from)[0] !== 'acceptFailed') {
    await appendOutboxEvents(tx, [
      {
        topic: 'deposit.accept_failed',
        aggregateType: 'deposit',
        aggregateId: c.depositId,
        payload: {
          depositId: c.depositId,
          accountId: c.accountId,
          transferInstructionCid: c.transferInstructionCid,
          reason: c.outcomeReason,
          attempts: c.acceptAttempts,
        },
      },
    ]);
  }
}

export interface DepositRuntimeConfig {
  treasuryParty: string;
  policy?: Partial<DepositPolicy>;
}

export interface DepositDefinitionOptions {
  sql: Sql;
  actors: DepositActors;
  config: DepositRuntimeConfig;
  /** Operator pause switches (src/gates/switches.ts): while `acceptance` is paused no accept step starts. */
  switches?: Pick<Switches, 'whenOpen'>;
  /** The validator's traffic (src/gates/traffic.ts): no accept step starts while it is held, and submissions keep its rate cap. */
  traffic?: Pick<TrafficGate, 'beforeSubmission' | 'submission'>;
}

export function depositDefinition(opts: DepositDefinitionOptions): MachineDefinition<DepositContext> {
  const policy = DepositPolicy.parse({ ...DEFAULT_DEPOSIT_POLICY, ...opts.config.policy });
  const holds = gateHolds('acceptance', DEPOSIT_MACHINE_TYPE, opts.switches, opts.traffic);
  const hold = holds.beforeSubmission;
  return {
    type: DEPOSIT_MACHINE_TYPE,
    version: DEPOSIT_MACHINE_VERSION,
    consumer: DEPOSIT_CONSUMER,
    topics: DEPOSIT_TOPICS,
    lockKey: 2,
    build: (wrap) =>
      depositMachine.provide({
        actors: {
          fetchAcceptContext: wrap(opts.actors.fetchAcceptContext, hold),
          prepareAccept: wrap(opts.actors.prepareAccept, hold),
          verifyAndSign: wrap(opts.actors.verifyAndSign, hold),
          executeSubmission: wrap(opts.actors.executeSubmission, holds.submission),
        },
      }),
    route: routeDepositEvent,
    async loadInput(db, id) {
      const row = await loadDeposit(db, id);
      if (!row) return { skip: 'no deposit row' };
      const input: DepositInput = {
        depositId: row.depositId,
        kind: row.kind,
        instrument: row.instrument,
        amount: row.transferAmount,
        memo: row.memo,
        accountId: row.accountId,
        transferInstructionCid: row.transferInstructionCid,
        executeBefore: row.executeBefore,
        rowStatus: row.status,
        treasuryParty: opts.config.treasuryParty,
        policy,
      };
      return { input };
    },
    parseContext: (context) => DepositContext.parse(context),
    project: projectDeposits,
    parseCommand(command) {
      const r = DepositOperatorCommand.safeParse(command);
      if (!r.success)
        return {
          ok: false,
          reason: `not a deposit command: ${r.error.issues.map((i) => `${i.path.join('.') || '(command)'}: ${i.message}`).join('; ')}`,
        };
      return { ok: true, event: r.data, by: r.data.by };
    },
    explainRefusal: (value, context, event) => depositCommandRefusal(value, context, event.type as DepositOperatorCommand['type']),
    async precheckCommand(db, _id, event) {
      if (event.type !== 'ASSIGN') return null;
      const { accountId } = event as DepositOperatorCommand & { type: 'ASSIGN' };
      return (await depositAccountExists(db, accountId)) ? null : `unknown deposit account ${accountId}`;
    },
  };
}

export interface CreateDepositRuntimeOptions extends DepositDefinitionOptions {
  logger: Logger;
  inspect?: Observer<InspectionEvent>;
  runtime?: Omit<RuntimeOptions, 'sql' | 'logger' | 'inspect' | 'hooks' | 'catchUp'>;
  hooks?: RuntimeHooks;
  /** The start gate: accepts wait until ingestion has caught up with the ledger end (RuntimeOptions.catchUp). */
  catchUp?: CatchUp;
}

export function createDepositRuntime(opts: CreateDepositRuntimeOptions): MachineRuntime {
  return createMachineRuntime(depositDefinition(opts), {
    ...opts.runtime,
    sql: opts.sql,
    logger: opts.logger,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.catchUp ? { catchUp: opts.catchUp } : {}),
  });
}

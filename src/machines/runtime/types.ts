import type { AnyStateMachine, EventObject, InspectionEvent, Observer, PromiseActorLogic } from 'xstate';
import type { Logger } from '../../logger.js';
import type { Queryable, Sql, Tx } from '../../store/db.js';
import type { OutboxEvent } from '../../store/outbox.js';

/**
 * Wraps an effect implementation into the `fromPromise` actor a machine invokes. The runtime's
 * wrapper holds the effect back until the snapshot that started it is committed (write-ahead), so
 * after a crash every effect that may have run is visible in the restored snapshot as running.
 */
export type EffectWrapper = <I, O>(effect: (input: I, signal: AbortSignal) => Promise<O>, hold?: EffectHold) => PromiseActorLogic<O, I>;

/**
 * Holds an effect back after its state is committed and before it starts (an operator pause
 * switch, the validator out of traffic: src/gates/traffic.ts, which tells machines apart by
 * `machineId`): resolves when it may start, rejects when `signal` aborts (the machine moved on or stopped).
 * A held effect is not in flight: a graceful stop does not wait for it, and it starts later exactly
 * as if the network were slow.
 */
export type EffectHold = (signal: AbortSignal, machineId: string) => Promise<void>;

/**
 * Resolves once ingestion has committed everything up to the ledger end read when it was called,
 * with that offset; rejects only when `signal` aborts (it retries its own reads meanwhile).
 * createIngestionCatchUp (catch-up.ts) is the daemon's.
 */
export type CatchUp = (signal: AbortSignal) => Promise<number>;

/** What an outbox event means for a machine type. */
export type Route =
  | { kind: 'ignore'; reason: string }
  | {
      kind: 'deliver';
      machineId: string;
      /** Sent to an existing machine; null = the event only asks for the machine to exist. */
      event: EventObject | null;
      /** Create the machine (from its DB row) when it does not exist yet. */
      create: boolean;
    };

/** One persisted transition, as the machine definition's projection sees it. */
export interface TransitionRecord<TContext> {
  machineId: string;
  seq: number;
  eventType: string;
  /** JSON form of the event (errors serialised). */
  event: Record<string, unknown>;
  from: unknown;
  to: unknown;
  prevContext: TContext | null;
  context: TContext;
  isFinal: boolean;
  outboxEventId: number | null;
  operator: string | null;
}

export type CommandParse = { ok: true; event: EventObject; by: string } | { ok: false; reason: string };

/** Everything machine-specific the generic runtime needs. */
export interface MachineDefinition<TContext> {
  /** machine_snapshots.machine_type */
  readonly type: string;
  readonly version: number;
  /** outbox_cursors.consumer */
  readonly consumer: string;
  readonly topics: readonly string[];
  /** Second key of the runtime's advisory lock; one per machine type. */
  readonly lockKey: number;
  /** The machine with its effects provided, each wrapped by the runtime. */
  build(wrap: EffectWrapper): AnyStateMachine;
  /** Throws (zod) on a payload that does not parse: the runtime fails closed on bad data. */
  route(event: OutboxEvent): Route;
  /** The creation input, read from the machine's DB row; `skip` = must not get a machine (logged). */
  loadInput(db: Queryable, machineId: string): Promise<{ input: unknown } | { skip: string }>;
  /** Validates a restored context (zod): a snapshot this code cannot read is refused, not guessed at. */
  parseContext(context: unknown): TContext;
  /**
   * In the transaction that commits them: status mirror, outcome events for exchange systems,
   * credits. Gets a commit group's transitions (many machines', each machine's in seq order) at once,
   * so it can write them with a few statements whatever their number.
   */
  project(tx: Tx, transitions: readonly TransitionRecord<TContext>[]): Promise<void>;
  /**
   * Machine ids that need a machine but may have no outbox event (SQL-inserted rows); those with
   * an event after `afterEventId` (the runtime's cursor) can be left to it.
   */
  discover?(db: Queryable, limit: number, afterEventId: number): Promise<string[]>;
  /** Operator commands: shape check, and the words for a refusal the machine made. */
  parseCommand(command: unknown): CommandParse;
  explainRefusal(stateValue: unknown, context: TContext, event: EventObject): string;
  /** Checks that need the database (e.g. the account to assign exists); a string refuses. */
  precheckCommand?(db: Queryable, machineId: string, event: EventObject): Promise<string | null>;
}

export type CommandResult =
  { accepted: true; state: unknown } | { accepted: false; code: 'NOT_FOUND' | 'STATE_CONFLICT' | 'INVALID' | 'NOT_ACTIVE'; reason: string };

export interface RuntimeHooks {
  /**
   * Runs inside every transition's transaction after all its writes, before commit. Throwing rolls
   * the transaction back (fault injection in tests).
   */
  beforeCommit?(info: { machineId: string; seq: number; eventType: string }): Promise<void> | void;
  /**
   * After a transition is committed (metrics). Synchronous and best effort: what it throws is
   * logged and ignored, it never affects the machine.
   */
  afterCommit?(t: CommittedTransition): void;
}

/** A committed transition as hooks see it (contexts unvalidated: a hook parses what it reads). */
export interface CommittedTransition {
  machineType: string;
  machineId: string;
  seq: number;
  eventType: string;
  /** JSON form of the event (errors serialised: an effect failure carries `error.failure`). */
  event: Record<string, unknown>;
  from: unknown;
  to: unknown;
  isFinal: boolean;
  prevContext: unknown;
  context: unknown;
}

export interface RuntimeOptions {
  sql: Sql;
  logger: Logger;
  /** Inspection observer, e.g. `createWebSocketInspector().inspect`; every machine reports to it. */
  inspect?: Observer<InspectionEvent>;
  /** Outbox poll interval when idle. */
  pollIntervalMs?: number;
  batchSize?: number;
  /** How often to look for rows that need a machine (definition.discover). */
  discoverIntervalMs?: number;
  /**
   * 'advisory-lock' (default): one active runtime per machine type per database, the others stand
   * by. 'none': this process is the only one (embedded PGlite: a single session, max 1 connection,
   * guarded by the data-dir lock) — reserving a connection for the lock would starve everything else.
   */
  leaderElection?: 'advisory-lock' | 'none';
  /** Standby: how often to try to become the active runtime. */
  leaderRetryMs?: number;
  /** Active: how often to verify the leader lock is still held. */
  leaderCheckMs?: number;
  /** Graceful stop: how long in-flight effects may take to settle. */
  stopTimeoutMs?: number;
  /** After a failed persist: delay before the machine is reloaded from its last committed snapshot. */
  reloadDelayMs?: number;
  hooks?: RuntimeHooks;
  /**
   * After every start (and every takeover of the leadership), effects with a hold (the withdrawal
   * effects, the deposit accepts) wait until ingestion has caught up with the ledger end seen then
   * and this runtime has applied every event ingestion wrote up to there: after a crash or a
   * database restore the machines first learn what the ledger already did (a transfer of theirs,
   * an offer accepted) before acting on their snapshot. Absent: no such wait (tests of the runtime).
   */
  catchUp?: CatchUp;
}

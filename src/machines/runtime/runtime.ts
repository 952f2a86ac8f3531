import type { Component, ComponentState, ComponentStatus } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import type { SnapshotRow } from '../../store/machines.js';
import type { OutboxEvent } from '../../store/outbox.js';
import type { CommandResult, MachineDefinition, Route, RuntimeOptions } from './types.js';
import { createPostgresRuntimeStore } from './postgres-store.js';
import type { RuntimeStore } from './store.js';
import { CommitQueue } from './commit-queue.js';
import { EffectGate } from './effect-gate.js';
import { StartGate } from './start-gate.js';
import { APPLIED_NOTHING, MachineSet, type Applied } from './machine-set.js';
import { BadOutboxEventError, MachineVersionError, NotDurableError } from './errors.js';
import type { Handle, Source } from './handle.js';

export { BadOutboxEventError, MachineVersionError } from './errors.js';

/**
 * The persisted runtime of one machine type (README.md in src/machines has the full story).
 *
 * - Every transition of every machine — caused by an outbox event, an operator command, an effect's
 *   result or a timer — is captured from XState's inspection stream and committed atomically with
 *   its snapshot, transition row, status mirror and outcome events. Transitions captured while a
 *   commit is under way wait and go together in the next one (group commit, first in, first out),
 *   so a machine's transitions commit in order and many machines share one transaction.
 * - Outbox events are applied a batch at a time without waiting for each commit; the consumer
 *   cursor moves once the whole batch is committed. A crash in between replays the batch, and each
 *   machine skips the events it already applied (machine_snapshots.last_event_id).
 * - Write-ahead effects: an effect (invoked promise actor) starts only after the snapshot that
 *   started it is committed. So after any crash, an effect that may have run is visible in the
 *   restored snapshot as running, and is re-run; no effect can have happened "off the books".
 * - One active runtime per machine type per database (session advisory lock); others stand by.
 */

export interface MachineRuntime extends Component {
  readonly type: string;
  /** Validated by the machine: refused with a reason when its state does not allow the command. */
  sendOperatorCommand(machineId: string, command: unknown): Promise<CommandResult>;
  /** Stops at once without draining: what a crash looks like to the database (tests, lost leadership). */
  abort(): Promise<void>;
  liveMachineIds(): string[];
  /** Resolves when every transition captured so far is persisted (tests). */
  settled(): Promise<void>;
}

const noop = () => {};

export function createMachineRuntime<TContext>(def: MachineDefinition<TContext>, opts: RuntimeOptions): MachineRuntime {
  const cfg = { leaderElection: opts.leaderElection ?? 'advisory-lock', leaderCheckMs: opts.leaderCheckMs ?? 5_000 } as const;
  const store = createPostgresRuntimeStore(def, { sql: opts.sql, logger: opts.logger.child({ component: `${def.type}-runtime` }), ...cfg, ...(opts.hooks ? { hooks: opts.hooks } : {}) });
  return new Runtime(def, store, opts);
}

class Runtime<TContext> implements MachineRuntime {
  readonly name: string;
  readonly type: string;
  private readonly log: Logger;
  private readonly cfg: Required<Omit<RuntimeOptions, 'inspect' | 'hooks' | 'sql' | 'logger' | 'catchUp'>>;

  private status_: ComponentStatus = { state: 'stopped' };
  /** Processing outbox events and creating machines. */
  private active = false;
  private stopping: Promise<void> | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private timers = new Set<NodeJS.Timeout>();
  private cursor = 0;
  private nextDiscoverAt = 0;
  private consecutiveFailures = 0;
  private readonly queue: CommitQueue<TContext>;
  private readonly startGate: StartGate;
  private readonly effects: EffectGate<TContext>;
  private readonly machines: MachineSet<TContext>;

  constructor(
    private readonly def: MachineDefinition<TContext>,
    private readonly store: RuntimeStore<TContext>,
    private readonly opts: Omit<RuntimeOptions, 'sql'>,
  ) {
    this.type = def.type;
    this.name = `${def.type}-runtime`;
    this.log = opts.logger.child({ component: this.name });
    this.cfg = {
      pollIntervalMs: opts.pollIntervalMs ?? 250,
      batchSize: opts.batchSize ?? 100,
      discoverIntervalMs: opts.discoverIntervalMs ?? 2_000,
      leaderRetryMs: opts.leaderRetryMs ?? 2_000,
      leaderCheckMs: opts.leaderCheckMs ?? 5_000,
      stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
      reloadDelayMs: opts.reloadDelayMs ?? 1_000,
      leaderElection: opts.leaderElection ?? 'advisory-lock',
    };
    this.queue = new CommitQueue({ type: this.type, log: this.log, store, stopping: () => this.stopping !== undefined, committed: (h, rec) => this.machines.committed(h, rec) });
    this.startGate = new StartGate({
      type: this.type,
      log: this.log,
      catchUp: opts.catchUp,
      store,
      cursor: () => this.cursor,
      pollIntervalMs: this.cfg.pollIntervalMs,
      reloadDelayMs: this.cfg.reloadDelayMs,
    });
    this.effects = new EffectGate({ type: this.type, log: this.log, handleOf: (system) => this.machines.handleOf(system), startGate: () => this.startGate.whenOpen });
    this.machines = new MachineSet({
      def,
      log: this.log,
      store,
      queue: this.queue,
      effects: this.effects,
      active: () => this.active,
      after: (ms, fn) => this.after(ms, fn),
      reloadDelayMs: this.cfg.reloadDelayMs,
      inspect: opts.inspect,
      afterCommit: opts.hooks?.afterCommit,
    });
  }

  status(): ComponentStatus {
    if (this.startGate.closed && this.status_.state === 'running' && this.status_.detail === undefined) {
      return { state: 'running', detail: 'effects held until ingestion has caught up with the ledger end seen at start' };
    }
    return this.status_;
  }

  liveMachineIds(): string[] {
    return this.machines.ids();
  }

  settled(): Promise<void> {
    return this.machines.settled();
  }

  private setStatus(state: ComponentState, detail?: string): void {
    this.status_ = detail === undefined ? { state } : { state, detail };
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.status_.state === 'running' || this.status_.state === 'paused') return;
    this.stopping = undefined;
    this.effects.draining = false;
    this.setStatus('starting');
    try {
      if (!(await this.tryBecomeLeader())) {
        this.setStatus('paused', `standby: another instance runs the ${this.type} machines`);
        this.log.info('standing by: another instance holds the runtime lock');
        this.after(this.cfg.leaderRetryMs, () => this.retryLeadership());
      }
    } catch (e) {
      this.setStatus('failed', (e as Error).message);
      await this.store.lock.release();
      throw e;
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown(true);
    return this.stopping;
  }

  abort(): Promise<void> {
    this.stopping ??= this.shutdown(false);
    return this.stopping;
  }

  private async shutdown(drain: boolean): Promise<void> {
    this.setStatus('stopping');
    this.active = false;
    this.startGate.openNever();
    this.clearTimers();
    this.wake?.();
    await this.loopDone;
    if (drain) {
      // Effects already under way may finish and be persisted; none may start.
      this.effects.draining = true;
      await this.effects.waitIdle(this.cfg.stopTimeoutMs);
      await this.machines.flush();
    }
    // Let a transaction already sent to the database finish: the database then holds exactly what was committed.
    await this.machines.disposeAll();
    await this.queue.inFlight;
    this.machines.clear();
    await this.store.lock.release();
    this.setStatus('stopped');
    this.log.info({ drained: drain }, 'stopped');
  }

  /** One try at the leader lock; activates when it is ours. */
  private async tryBecomeLeader(): Promise<boolean> {
    if (!(await this.store.lock.tryAcquire(() => this.stopping !== undefined))) return false;
    try {
      await this.activate();
    } catch (e) {
      await this.store.lock.release();
      throw e;
    }
    return true;
  }

  private async retryLeadership(): Promise<void> {
    if (this.stopping) return;
    try {
      if (await this.tryBecomeLeader()) return;
    } catch (e) {
      if (e instanceof MachineVersionError) {
        this.setStatus('failed', e.message);
        this.log.error({ err: e }, 'cannot become the active runtime');
        return;
      }
      this.log.warn({ err: e }, 'leader election attempt failed; retrying');
    }
    this.after(this.cfg.leaderRetryMs, () => this.retryLeadership());
  }

  /** Became the leader: restore every live machine, then consume the outbox. */
  private async activate(): Promise<void> {
    const rows = await this.store.loadLiveSnapshots();
    // Refuse before starting anything: a half-restored set of machines would run effects.
    const refused: string[] = [];
    const prepared: { row: SnapshotRow; handle: Handle<TContext> }[] = [];
    for (const row of rows) {
      try {
        prepared.push({ row, handle: this.machines.prepareRestore(row) });
      } catch (e) {
        refused.push(`${row.machineId}: ${(e as Error).message}`);
      }
    }
    if (refused.length > 0) {
      throw new MachineVersionError(`${this.type} runtime (machine version ${this.def.version}) refuses ${refused.length} stored machine(s): ${refused.slice(0, 10).join('; ')}`);
    }
    // Before any machine starts: their held effects wait for it.
    this.startGate.close();
    this.active = true;
    for (const { handle } of prepared) this.machines.startRestored(handle);
    try {
      this.cursor = await this.store.readCursor();
    } catch (e) {
      this.startGate.openNever();
      throw e;
    }
    this.setStatus('running');
    this.log.info({ restored: prepared.length, cursor: this.cursor }, 'active');
    this.loopDone = this.loop();
    if (this.cfg.leaderElection === 'advisory-lock') this.after(this.cfg.leaderCheckMs, () => this.checkLeadership());
  }

  private async checkLeadership(): Promise<void> {
    if (!this.active) return;
    const held = await this.store.lock.held();
    if (!this.active) return;
    if (held) {
      this.after(this.cfg.leaderCheckMs, () => this.checkLeadership());
      return;
    }
    // Another instance may be active now: stop touching anything at once, then stand by.
    this.log.error('lost the runtime lock: stopping all machines and standing by');
    this.active = false;
    this.startGate.openNever();
    this.wake?.();
    await this.loopDone;
    await this.machines.disposeAll();
    this.machines.clear();
    // The session is gone or unreachable: forget the connection without querying or releasing it.
    this.store.lock.forget();
    this.setStatus('paused', 'lost the runtime lock; standing by');
    this.after(this.cfg.leaderRetryMs, () => this.retryLeadership());
  }

  private after(ms: number, fn: () => Promise<void> | void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void Promise.resolve(fn()).catch((e: unknown) => this.log.error({ err: e }, 'background task failed'));
    }, ms);
    this.timers.add(t);
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  // ---------------------------------------------------------------- outbox

  private async loop(): Promise<void> {
    while (this.active) {
      try {
        if (this.store.discover && Date.now() >= this.nextDiscoverAt) {
          this.nextDiscoverAt = Date.now() + this.cfg.discoverIntervalMs;
          await this.discover();
        }
        const events = await this.store.readOutboxEvents(this.cursor, this.cfg.batchSize);
        await this.applyBatch(events);
        this.consecutiveFailures = 0;
        if (this.status_.state === 'failed' && this.active) this.setStatus('running');
        if (events.length < this.cfg.batchSize) await this.sleep(this.cfg.pollIntervalMs);
      } catch (e) {
        // Stopping: what the batch did not commit is replayed by the next runtime.
        if (!this.active) return;
        if (e instanceof BadOutboxEventError) {
          // Fail closed: never skip an event we cannot read.
          this.log.error({ err: e }, 'stopping: an outbox event does not parse');
          this.setStatus('failed', e.message);
          this.active = false;
          return;
        }
        this.consecutiveFailures++;
        this.log.error({ err: e, failures: this.consecutiveFailures }, 'outbox processing failed; retrying from the committed cursor');
        if (this.consecutiveFailures >= 5) this.setStatus('failed', `outbox processing keeps failing: ${(e as Error).message}`);
        this.cursor = await this.store.readCursor().catch(() => this.cursor);
        await this.sleep(this.cfg.reloadDelayMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /**
   * Applies a batch of events in order without waiting for each commit (their transitions join
   * commit groups), then moves the cursor past them once all are committed. A failed commit stops
   * the batch: the events are replayed from the committed cursor, and machines skip what they
   * already applied. One event at a time: machine loads in parallel would flood the pool, where
   * postgres.js 3.4.9 can send a transaction's BEGIN without reserving its connection
   * (porsager/postgres#823, #1189).
   */
  private async applyBatch(events: readonly OutboxEvent[]): Promise<void> {
    this.queue.failed = false;
    const applied: Promise<void>[] = [];
    let last = this.cursor;
    let unreadable: unknown;
    for (const e of events) {
      if (!this.active || this.queue.failed) break;
      let route: Route;
      try {
        route = this.routeOf(e);
      } catch (err) {
        // Those before it are applied, then the runtime stops on it.
        unreadable = err;
        break;
      }
      if (route.kind === 'deliver') {
        const { done } = await this.apply(e, route);
        // Handled here; the batch's outcome is read below.
        done.catch(noop);
        applied.push(done);
      }
      last = e.eventId;
    }
    for (const r of await Promise.allSettled(applied)) if (r.status === 'rejected') throw r.reason;
    if (this.queue.failed) throw new NotDurableError('a commit failed while the batch was applied');
    if (last > this.cursor) {
      await this.queue.enqueue({ kind: 'cursor', eventId: last });
      this.cursor = last;
    }
    if (unreadable !== undefined) throw unreadable;
  }

  private routeOf(e: OutboxEvent): Route {
    try {
      return this.def.route(e);
    } catch (err) {
      throw new BadOutboxEventError(`outbox event ${e.eventId} (${e.topic}, ${e.aggregateType} ${e.aggregateId}) does not parse: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Resolves once the event is applied in memory; what it did commits later (see applyBatch). */
  private async apply(e: OutboxEvent, route: Route & { kind: 'deliver' }): Promise<Applied> {
    const source: Source = { outboxEventId: e.eventId };
    const got = await this.machines.getOrLoad(route.machineId);
    // After a failed commit this machine may have been reloaded without an earlier event of the
    // batch: applying a later one now would put it out of order. The batch is replayed instead.
    if (this.queue.failed || !this.active) throw new NotDurableError(`outbox batch stopped before event ${e.eventId}`);
    if (got.kind === 'live') {
      // A replay (after a crash or a failed commit) of an event this machine already applied.
      if (got.handle.lastEventId >= e.eventId || route.event === null) return APPLIED_NOTHING;
      return { done: this.machines.deliver(got.handle, route.event, source) };
    }
    if (got.kind === 'final') return APPLIED_NOTHING;
    if (!route.create) {
      this.log.warn({ eventId: e.eventId, topic: e.topic, machineId: route.machineId }, 'event for a machine that does not exist; ignored');
      return APPLIED_NOTHING;
    }
    // Created from its row, which already reflects this event (written in the same transaction as it).
    return this.machines.create(route.machineId, source);
  }

  /** Rows that need a machine but have no outbox event (SQL inserts); created without waiting for each commit. */
  private async discover(): Promise<void> {
    const ids = await this.store.discover!(this.cfg.batchSize, this.cursor);
    const created: Promise<void>[] = [];
    for (const id of ids) {
      if (!this.active) break;
      if (this.machines.has(id)) continue;
      const got = await this.machines.getOrLoad(id);
      if (got.kind !== 'absent') continue;
      const { done } = await this.machines.create(id, {});
      // A machine whose first commit fails is simply found again by the next discovery.
      done.catch(noop);
      created.push(done);
    }
    await Promise.allSettled(created);
  }

  // ---------------------------------------------------------------- operators

  async sendOperatorCommand(machineId: string, command: unknown): Promise<CommandResult> {
    if (!this.active) return { accepted: false, code: 'NOT_ACTIVE', reason: `this instance is not running the ${this.type} machines (${this.status_.detail ?? this.status_.state})` };
    const parsed = this.def.parseCommand(command);
    if (!parsed.ok) return { accepted: false, code: 'INVALID', reason: parsed.reason };
    const got = await this.machines.getOrLoad(machineId);
    if (got.kind === 'absent') return { accepted: false, code: 'NOT_FOUND', reason: `no ${this.type} ${machineId}` };
    if (got.kind === 'final') {
      const context = this.def.parseContext((got.row.snapshot as { context?: unknown }).context);
      return { accepted: false, code: 'STATE_CONFLICT', reason: this.def.explainRefusal(got.row.stateValue, context, parsed.event) };
    }
    const refusal = () => {
      const snap = got.handle.actor.getSnapshot();
      return snap.can(parsed.event) ? null : this.def.explainRefusal(snap.value, snap.context as TContext, parsed.event);
    };
    const first = refusal();
    if (first !== null) return { accepted: false, code: 'STATE_CONFLICT', reason: first };
    const pre = await this.store.precheckCommand(machineId, parsed.event);
    if (pre) return { accepted: false, code: 'STATE_CONFLICT', reason: pre };
    // The machine may have moved while we were reading the database.
    if (got.handle.state !== 'live') return { accepted: false, code: 'STATE_CONFLICT', reason: `${this.type} ${machineId} changed meanwhile; try again` };
    const second = refusal();
    if (second !== null) return { accepted: false, code: 'STATE_CONFLICT', reason: second };
    await this.machines.deliver(got.handle, parsed.event, { operator: parsed.by });
    this.log.info({ machineId, command: parsed.event.type, by: parsed.by }, 'operator command applied');
    return { accepted: true, state: got.handle.lastValue };
  }
}

import type { Component, ComponentState, ComponentStatus } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import type { CommandResult, MachineDefinition, RuntimeOptions } from './types.js';
import { createPostgresRuntimeStore } from './postgres-store.js';
import type { RuntimeStore } from './store.js';
import { CommitQueue } from './commit-queue.js';
import { EffectGate } from './effect-gate.js';
import { StartGate } from './start-gate.js';
import { MachineSet } from './machine-set.js';
import { OutboxConsumer } from './outbox-consumer.js';
import { applyOperatorCommand, type CommandTarget } from './commands.js';
import { MachineVersionError } from './errors.js';

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
 *
 * The parts, each with the narrow view of the others it needs (passed to its constructor):
 *   runtime.ts          lifecycle and leadership (start, stop, abort, the lock check); wires the parts
 *   store.ts            RuntimeStore: what the runtime needs from its database; postgres-store.ts
 *   machine-set.ts      the machines in memory: create, restore, deliver, capture (transition.ts)
 *   commit-queue.ts     group commit, first in first out, fallback machine by machine
 *   effect-gate.ts      write-ahead effects, holds, effects in flight; start-gate.ts: the start gate
 *   outbox-consumer.ts  batches, the cursor, replays, discovery
 *   commands.ts         operator commands
 *
 * A little over 300 lines: about 40 of them are this map.
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

export function createMachineRuntime<TContext>(def: MachineDefinition<TContext>, opts: RuntimeOptions): MachineRuntime {
  const cfg = { leaderElection: opts.leaderElection ?? 'advisory-lock', leaderCheckMs: opts.leaderCheckMs ?? 5_000 } as const;
  const store = createPostgresRuntimeStore(def, {
    sql: opts.sql,
    logger: opts.logger.child({ component: `${def.type}-runtime` }),
    ...cfg,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
  });
  return createMachineRuntimeOn(def, store, opts);
}

/**
 * The runtime on any RuntimeStore (the daemon's is Postgres: createMachineRuntime; the ordering
 * tests keep one in memory). `hooks.beforeCommit` is the store's to run: only `afterCommit` is read here.
 */
export function createMachineRuntimeOn<TContext>(
  def: MachineDefinition<TContext>,
  store: RuntimeStore<TContext>,
  opts: Omit<RuntimeOptions, 'sql'>,
): MachineRuntime {
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
  private timers = new Set<NodeJS.Timeout>();
  private readonly queue: CommitQueue<TContext>;
  private readonly startGate: StartGate;
  private readonly effects: EffectGate<TContext>;
  private readonly machines: MachineSet<TContext>;
  private readonly consumer: OutboxConsumer<TContext>;
  private readonly commands: CommandTarget<TContext>;

  constructor(
    def: MachineDefinition<TContext>,
    private readonly store: RuntimeStore<TContext>,
    opts: Omit<RuntimeOptions, 'sql'>,
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
    this.queue = new CommitQueue({
      type: this.type,
      log: this.log,
      store,
      stopping: () => this.stopping !== undefined,
      committed: (h, rec) => this.machines.committed(h, rec),
    });
    this.startGate = new StartGate({
      type: this.type,
      log: this.log,
      catchUp: opts.catchUp,
      store,
      cursor: () => this.consumer.cursor,
      pollIntervalMs: this.cfg.pollIntervalMs,
      reloadDelayMs: this.cfg.reloadDelayMs,
    });
    this.effects = new EffectGate({
      type: this.type,
      log: this.log,
      handleOf: (system) => this.machines.handleOf(system),
      startGate: () => this.startGate.whenOpen,
    });
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
    this.consumer = new OutboxConsumer({
      route: (e) => def.route(e),
      log: this.log,
      store,
      machines: this.machines,
      queue: this.queue,
      active: () => this.active,
      deactivate: () => {
        this.active = false;
      },
      status: () => this.status_,
      setStatus: (state, detail) => this.setStatus(state, detail),
      batchSize: this.cfg.batchSize,
      pollIntervalMs: this.cfg.pollIntervalMs,
      discoverIntervalMs: this.cfg.discoverIntervalMs,
      reloadDelayMs: this.cfg.reloadDelayMs,
    });
    this.commands = {
      def,
      log: this.log,
      store,
      machines: this.machines,
      inactive: () => (this.active ? undefined : (this.status_.detail ?? this.status_.state)),
    };
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
    await this.consumer.stopped();
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
    const prepared = this.machines.prepareAll(await this.store.loadLiveSnapshots());
    // Before any machine starts: their held effects wait for it.
    this.startGate.close();
    this.active = true;
    for (const handle of prepared) this.machines.startRestored(handle);
    try {
      await this.consumer.readCursor();
    } catch (e) {
      this.startGate.openNever();
      throw e;
    }
    this.setStatus('running');
    this.log.info({ restored: prepared.length, cursor: this.consumer.cursor }, 'active');
    this.consumer.start();
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
    await this.consumer.stopped();
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

  // ---------------------------------------------------------------- operators

  sendOperatorCommand(machineId: string, command: unknown): Promise<CommandResult> {
    return applyOperatorCommand(this.commands, machineId, command);
  }
}

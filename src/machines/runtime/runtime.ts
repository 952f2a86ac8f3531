import type postgres from 'postgres';
import { createActor, fromPromise, type Actor, type AnyStateMachine, type EventObject, type InspectionEvent, type Snapshot } from 'xstate';
import type { Component, ComponentState, ComponentStatus } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import { appendTransition, loadLiveSnapshots, loadSnapshot, releaseRuntimeLock, runtimeLockHeldBy, tryRuntimeLock, writeSnapshot, type SnapshotRow } from '../../store/machines.js';
import { advanceCursor, readCursor, readOutboxEvents, type OutboxEvent } from '../../store/outbox.js';
import { serializeError } from '../failure.js';
import type { CommandResult, EffectHold, EffectWrapper, MachineDefinition, RuntimeOptions, TransitionRecord } from './types.js';

/**
 * The persisted runtime of one machine type (README.md in src/machines has the full story).
 *
 * - Every transition of every machine — caused by an outbox event, an operator command, an effect's
 *   result or a timer — is captured from XState's inspection stream and written in ONE transaction:
 *   snapshot, transition row, consumer cursor (outbox events), status mirror and outcome events.
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

export class MachineVersionError extends Error {
  override readonly name = 'MachineVersionError';
}

export class BadOutboxEventError extends Error {
  override readonly name = 'BadOutboxEventError';
}

class NotDurableError extends Error {
  override readonly name = 'NotDurableError';
}

interface Source {
  outboxEventId?: number;
  operator?: string;
}

interface Marker {
  source: Source;
  persisted?: Promise<void>;
}

interface Waiter {
  seq: number;
  resolve(): void;
  reject(e: Error): void;
}

interface PendingRecord<TContext> extends TransitionRecord<TContext> {
  snapshotJson: string;
}

/** One machine in memory: its actor and where its persistence stands. */
class Handle<TContext> {
  state: 'live' | 'broken' | 'disposed' = 'live';
  actor!: Actor<AnyStateMachine>;
  /** Captures are ignored while set (starting a restored actor is not a transition). */
  suppress = false;
  marker: Marker | null = null;
  /** Seq of the last captured transition; seqCommitted of the last one in the database. */
  seqTaken: number;
  seqCommitted: number;
  lastJson = '';
  lastValue: unknown = null;
  lastContext: TContext | null = null;
  chain: Promise<void> = Promise.resolve();
  waiters: Waiter[] = [];

  constructor(
    readonly id: string,
    seq: number,
  ) {
    this.seqTaken = seq;
    this.seqCommitted = seq;
  }
}

type Loaded<TContext> = { kind: 'live'; handle: Handle<TContext> } | { kind: 'final'; row: SnapshotRow } | { kind: 'absent' };

const noop = () => {};

export function createMachineRuntime<TContext>(def: MachineDefinition<TContext>, opts: RuntimeOptions): MachineRuntime {
  return new Runtime(def, opts);
}

class Runtime<TContext> implements MachineRuntime {
  readonly name: string;
  readonly type: string;
  private readonly log: Logger;
  private readonly machine: AnyStateMachine;
  private readonly handles = new Map<string, Handle<TContext>>();
  private readonly loading = new Map<string, Promise<Loaded<TContext>>>();
  // Keyed by the actor system XState gives each root actor: how an effect finds its machine.
  private readonly bySystem = new WeakMap<object, Handle<TContext>>();
  private readonly cfg: Required<Omit<RuntimeOptions, 'inspect' | 'hooks' | 'sql' | 'logger'>>;

  private status_: ComponentStatus = { state: 'stopped' };
  private conn: postgres.ReservedSql | undefined;
  /** Backend pid of the session holding the leader lock. */
  private lockPid = -1;
  /** Processing outbox events and creating machines. */
  private active = false;
  /** Graceful stop under way: no new effect may start. */
  private draining = false;
  private stopping: Promise<void> | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private timers = new Set<NodeJS.Timeout>();
  private cursor = 0;
  private nextDiscoverAt = 0;
  private consecutiveFailures = 0;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly def: MachineDefinition<TContext>,
    private readonly opts: RuntimeOptions,
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
    this.machine = def.build(this.wrap);
  }

  status(): ComponentStatus {
    return this.status_;
  }

  liveMachineIds(): string[] {
    return [...this.handles.keys()];
  }

  async settled(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => h.chain));
  }

  /**
   * Until nothing new is captured: an effect's result reaches XState a few ticks after the effect
   * settles, and its transition must be persisted before the actors are stopped.
   */
  private async flush(): Promise<void> {
    const taken = () => [...this.handles.values()].reduce((n, h) => n + h.seqTaken, 0);
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const before = taken();
      await this.settled();
      await new Promise((r) => setImmediate(r));
      if (taken() === before) return;
    }
  }

  private setStatus(state: ComponentState, detail?: string): void {
    this.status_ = detail === undefined ? { state } : { state, detail };
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.status_.state === 'running' || this.status_.state === 'paused') return;
    this.stopping = undefined;
    this.draining = false;
    this.setStatus('starting');
    try {
      if (!(await this.tryBecomeLeader())) {
        this.setStatus('paused', `standby: another instance runs the ${this.type} machines`);
        this.log.info('standing by: another instance holds the runtime lock');
        this.after(this.cfg.leaderRetryMs, () => this.retryLeadership());
      }
    } catch (e) {
      this.setStatus('failed', (e as Error).message);
      await this.releaseConnection();
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
    this.clearTimers();
    this.wake?.();
    await this.loopDone;
    if (drain) {
      // Effects already under way may finish and be persisted; none may start.
      this.draining = true;
      await this.waitIdle(this.cfg.stopTimeoutMs);
      await this.flush();
    }
    const all = [...this.handles.values()];
    for (const h of all) this.dispose(h, 'disposed');
    // Let a transaction already sent to the database finish: the database then holds exactly what was committed.
    await Promise.all(all.map((h) => h.chain.catch(noop)));
    this.handles.clear();
    await this.releaseConnection();
    this.setStatus('stopped');
    this.log.info({ drained: drain }, 'stopped');
  }

  /**
   * One try at the leader lock, on a freshly reserved connection kept only if the lock is ours.
   * Every query is time-boxed: on a connection whose session died, postgres.js never answers.
   */
  private async tryBecomeLeader(): Promise<boolean> {
    if (this.cfg.leaderElection === 'none') {
      await this.activate();
      return true;
    }
    const key = this.def.lockKey;
    const limit = Math.max(2_000, this.cfg.leaderCheckMs);
    const reserving = this.opts.sql.reserve();
    const conn = await withTimeout(reserving, limit).catch((e: unknown) => {
      void reserving.then((c) => c.release(), noop);
      throw e;
    });
    const attempt = tryRuntimeLock(conn, key);
    let lock: { ok: boolean; pid: number };
    try {
      lock = await withTimeout(attempt, limit);
    } catch (e) {
      // Abandoned: should the attempt still complete, undo it rather than hold an orphaned lock.
      void attempt.then((l) => (l.ok ? releaseRuntimeLock(conn, key).then(() => conn.release()) : conn.release()), noop);
      throw e;
    }
    if (!lock.ok) {
      conn.release();
      return false;
    }
    if (this.stopping) {
      // Stopped while we were asking: never become a leader nobody will stop.
      await withTimeout(releaseRuntimeLock(conn, key), limit).then(() => conn.release(), noop);
      return false;
    }
    this.conn = conn;
    this.lockPid = lock.pid;
    try {
      await this.activate();
    } catch (e) {
      await this.releaseConnection();
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

  private async releaseConnection(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    // A reserved connection whose session died is already back in the pool as closed; releasing it
    // again would hand out a dead socket (postgres.js). Only a live session is unlocked and released.
    if (await this.lockHeld()) {
      await withTimeout(releaseRuntimeLock(conn, this.def.lockKey), 2_000).then(() => conn.release(), noop);
    }
    this.lockPid = -1;
  }

  /** False when the lock is gone, or when the database cannot tell us in time (assume the worst). */
  private async lockHeld(): Promise<boolean> {
    if (this.lockPid < 0) return false;
    try {
      return await withTimeout(runtimeLockHeldBy(this.opts.sql, this.def.lockKey, this.lockPid), Math.max(1_000, this.cfg.leaderCheckMs));
    } catch (e) {
      this.log.error({ err: e }, 'cannot verify the runtime lock');
      return false;
    }
  }

  /** Became the leader: restore every live machine, then consume the outbox. */
  private async activate(): Promise<void> {
    const rows = await loadLiveSnapshots(this.opts.sql, this.type);
    // Refuse before starting anything: a half-restored set of machines would run effects.
    const refused: string[] = [];
    const prepared: { row: SnapshotRow; handle: Handle<TContext> }[] = [];
    for (const row of rows) {
      try {
        prepared.push({ row, handle: this.prepareRestore(row) });
      } catch (e) {
        refused.push(`${row.machineId}: ${(e as Error).message}`);
      }
    }
    if (refused.length > 0) {
      throw new MachineVersionError(`${this.type} runtime (machine version ${this.def.version}) refuses ${refused.length} stored machine(s): ${refused.slice(0, 10).join('; ')}`);
    }
    this.active = true;
    for (const { handle } of prepared) this.startRestored(handle);
    this.cursor = await readCursor(this.opts.sql, this.def.consumer);
    this.setStatus('running');
    this.log.info({ restored: prepared.length, cursor: this.cursor }, 'active');
    this.loopDone = this.loop();
    if (this.cfg.leaderElection === 'advisory-lock') this.after(this.cfg.leaderCheckMs, () => this.checkLeadership());
  }

  private async checkLeadership(): Promise<void> {
    if (!this.active || !this.conn) return;
    const held = await this.lockHeld();
    if (!this.active) return;
    if (held) {
      this.after(this.cfg.leaderCheckMs, () => this.checkLeadership());
      return;
    }
    // Another instance may be active now: stop touching anything at once, then stand by.
    this.log.error('lost the runtime lock: stopping all machines and standing by');
    this.active = false;
    this.wake?.();
    await this.loopDone;
    const all = [...this.handles.values()];
    for (const h of all) this.dispose(h, 'disposed');
    await Promise.all(all.map((h) => h.chain.catch(noop)));
    this.handles.clear();
    // The session is gone or unreachable: forget the connection without querying or releasing it.
    this.conn = undefined;
    this.lockPid = -1;
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
        if (this.def.discover && Date.now() >= this.nextDiscoverAt) {
          this.nextDiscoverAt = Date.now() + this.cfg.discoverIntervalMs;
          await this.discover();
        }
        const events = await readOutboxEvents(this.opts.sql, { afterId: this.cursor, limit: this.cfg.batchSize, topics: this.def.topics });
        for (const e of events) {
          if (!this.active) break;
          await this.apply(e);
          this.cursor = e.eventId;
        }
        this.consecutiveFailures = 0;
        if (this.status_.state === 'failed' && this.active) this.setStatus('running');
        if (events.length < this.cfg.batchSize) await this.sleep(this.cfg.pollIntervalMs);
      } catch (e) {
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
        this.cursor = await readCursor(this.opts.sql, this.def.consumer).catch(() => this.cursor);
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

  private async apply(e: OutboxEvent): Promise<void> {
    let route;
    try {
      route = this.def.route(e);
    } catch (err) {
      throw new BadOutboxEventError(`outbox event ${e.eventId} (${e.topic}, ${e.aggregateType} ${e.aggregateId}) does not parse: ${(err as Error).message}`, { cause: err });
    }
    const source: Source = { outboxEventId: e.eventId };
    if (route.kind === 'ignore') return this.advanceOnly(e.eventId);
    const got = await this.getOrLoad(route.machineId);
    if (got.kind === 'live') {
      if (route.event === null) return this.advanceOnly(e.eventId);
      return this.deliver(got.handle, route.event, source);
    }
    if (got.kind === 'final') return this.advanceOnly(e.eventId);
    if (!route.create) {
      this.log.warn({ eventId: e.eventId, topic: e.topic, machineId: route.machineId }, 'event for a machine that does not exist; ignored');
      return this.advanceOnly(e.eventId);
    }
    // Created from its row, which already reflects this event (written in the same transaction as it).
    if (!(await this.create(route.machineId, source))) return this.advanceOnly(e.eventId);
  }

  private async advanceOnly(eventId: number): Promise<void> {
    await this.opts.sql.begin((tx) => advanceCursor(tx, this.def.consumer, eventId));
  }

  private async discover(): Promise<void> {
    const ids = await this.def.discover!(this.opts.sql, this.cfg.batchSize);
    for (const id of ids) {
      if (!this.active) return;
      if (this.handles.has(id)) continue;
      const got = await this.getOrLoad(id);
      if (got.kind === 'absent') await this.create(id, {});
    }
  }

  // ---------------------------------------------------------------- machines

  private getOrLoad(id: string): Promise<Loaded<TContext>> {
    const h = this.handles.get(id);
    if (h) return Promise.resolve({ kind: 'live', handle: h });
    let p = this.loading.get(id);
    if (!p) {
      p = (async (): Promise<Loaded<TContext>> => {
        const row = await loadSnapshot(this.opts.sql, this.type, id);
        const again = this.handles.get(id);
        if (again) return { kind: 'live', handle: again };
        if (!row) return { kind: 'absent' };
        if (row.isFinal) return { kind: 'final', row };
        const handle = this.prepareRestore(row);
        this.startRestored(handle);
        return { kind: 'live', handle };
      })().finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  /** Checks a stored machine and builds its actor without starting it. Throws when it cannot be read. */
  private prepareRestore(row: SnapshotRow): Handle<TContext> {
    if (row.machineVersion !== this.def.version) {
      throw new MachineVersionError(`stored with machine version ${row.machineVersion}, this code reads version ${this.def.version}`);
    }
    const snapshot = row.snapshot as { context?: unknown } | null;
    this.def.parseContext(snapshot?.context);
    const h = new Handle<TContext>(row.machineId, row.seq);
    h.suppress = true;
    h.actor = createActor(this.machine, { snapshot: row.snapshot as Snapshot<unknown>, inspect: (ev) => this.onInspect(h, ev) });
    const restored = h.actor.getSnapshot() as { status: string; error?: unknown };
    if (restored.status === 'error') throw new Error(`snapshot does not restore: ${(restored.error as Error | undefined)?.message ?? 'unknown error'}`);
    this.bySystem.set(h.actor.system, h);
    return h;
  }

  private startRestored(h: Handle<TContext>): void {
    this.handles.set(h.id, h);
    h.actor.start();
    const snap = h.actor.getSnapshot();
    h.lastJson = JSON.stringify(h.actor.getPersistedSnapshot());
    h.lastValue = snap.value;
    h.lastContext = snap.context as TContext;
    h.suppress = false;
    // XState does not re-arm delayed transitions of a restored snapshot (statelyai/xstate#5331):
    // timer states re-enter on RESUME and recompute the delay from the persisted retryAt.
    if (snap.can({ type: 'RESUME' })) void this.deliver(h, { type: 'RESUME' }, {}).catch(noop);
  }

  /** A new machine from its DB row. False when the definition says it must not get one. */
  private async create(id: string, source: Source): Promise<boolean> {
    const loaded = await this.def.loadInput(this.opts.sql, id);
    if ('skip' in loaded) {
      this.log.warn({ machineId: id, reason: loaded.skip }, 'not creating a machine');
      return false;
    }
    if (this.handles.has(id) || !this.active) return true;
    const h = new Handle<TContext>(id, 0);
    h.actor = createActor(this.machine, { input: loaded.input, inspect: (ev) => this.onInspect(h, ev) });
    this.bySystem.set(h.actor.system, h);
    this.handles.set(id, h);
    const marker: Marker = { source };
    h.marker = marker;
    h.actor.start();
    h.marker = null;
    // No capture means the machine failed at start: retry from the committed cursor, loudly.
    if (!marker.persisted) throw new Error(`${this.type} ${id}: the new machine produced no transition to persist`);
    await marker.persisted;
    return true;
  }

  private deliver(h: Handle<TContext>, event: EventObject, source: Source): Promise<void> {
    if (h.state !== 'live') return Promise.reject(new NotDurableError(`${this.type} ${h.id} is not live`));
    const marker: Marker = { source };
    h.marker = marker;
    try {
      h.actor.send(event);
    } finally {
      h.marker = null;
    }
    if (marker.persisted) return marker.persisted;
    // Nothing was captured (the actor did not process it): still acknowledge an outbox event.
    if (source.outboxEventId !== undefined) return this.advanceOnly(source.outboxEventId);
    return Promise.resolve();
  }

  /** Every root transition of every machine passes here, synchronously, right after XState took it. */
  private onInspect(h: Handle<TContext>, ev: InspectionEvent): void {
    try {
      this.capture(h, ev);
    } finally {
      // After the capture, and a copy: inspectors may rewrite the event they are given (sanitising).
      if (this.opts.inspect) {
        try {
          this.opts.inspect.next?.({ ...ev });
        } catch (e) {
          this.log.warn({ err: e }, 'inspector failed');
        }
      }
    }
  }

  private capture(h: Handle<TContext>, ev: InspectionEvent): void {
    if (ev.type !== '@xstate.snapshot' || ev.actorRef !== h.actor) return;
    if (h.suppress || h.state !== 'live') return;
    const marker = h.marker;
    h.marker = null;
    const snap = h.actor.getSnapshot() as { status: string; value: unknown; context: unknown; error?: unknown };
    if (snap.status === 'error') {
      this.breakHandle(h, snap.error);
      return;
    }
    if (snap.status === 'stopped') return;
    const json = JSON.stringify(h.actor.getPersistedSnapshot());
    const source = marker?.source ?? {};
    if (json === h.lastJson && source.outboxEventId === undefined && source.operator === undefined) return;
    const event = serializeEvent(ev.event);
    const rec: PendingRecord<TContext> = {
      machineId: h.id,
      seq: ++h.seqTaken,
      eventType: ev.event.type,
      event,
      from: h.lastValue,
      to: snap.value,
      prevContext: h.lastContext,
      context: snap.context as TContext,
      isFinal: snap.status === 'done',
      outboxEventId: source.outboxEventId ?? null,
      operator: source.operator ?? null,
      snapshotJson: json,
    };
    h.lastJson = json;
    h.lastValue = snap.value;
    h.lastContext = snap.context as TContext;
    const p = h.chain.then(() => this.persist(h, rec));
    h.chain = p.catch((e: unknown) => this.breakHandle(h, e));
    if (marker) marker.persisted = p;
  }

  private async persist(h: Handle<TContext>, rec: PendingRecord<TContext>): Promise<void> {
    if (h.state !== 'live') throw new NotDurableError(`${this.type} ${h.id} is no longer live`);
    await this.opts.sql.begin(async (tx) => {
      await writeSnapshot(tx, {
        machineType: this.type,
        machineId: h.id,
        machineVersion: this.def.version,
        stateValue: rec.to,
        snapshotJson: rec.snapshotJson,
        isFinal: rec.isFinal,
        seq: rec.seq,
      });
      await appendTransition(tx, {
        machineType: this.type,
        machineId: h.id,
        seq: rec.seq,
        eventType: rec.eventType,
        event: rec.operator === null ? rec.event : { ...rec.event, operator: rec.operator },
        fromState: rec.from,
        toState: rec.to,
        outboxEventId: rec.outboxEventId,
      });
      if (rec.outboxEventId !== null) await advanceCursor(tx, this.def.consumer, rec.outboxEventId);
      await this.def.project(tx, rec);
      await this.opts.hooks?.beforeCommit?.({ machineId: h.id, seq: rec.seq, eventType: rec.eventType });
    });
    h.seqCommitted = rec.seq;
    this.notifyCommitted(rec);
    if (rec.isFinal) {
      this.dispose(h, 'disposed');
      return;
    }
    this.releaseWaiters(h);
  }

  private notifyCommitted(rec: PendingRecord<TContext>): void {
    const hook = this.opts.hooks?.afterCommit;
    if (!hook) return;
    try {
      hook({
        machineType: this.type,
        machineId: rec.machineId,
        seq: rec.seq,
        eventType: rec.eventType,
        event: rec.event,
        from: rec.from,
        to: rec.to,
        isFinal: rec.isFinal,
        prevContext: rec.prevContext,
        context: rec.context,
      });
    } catch (e) {
      this.log.warn({ err: e, machineId: rec.machineId }, 'afterCommit hook failed (ignored)');
    }
  }

  /** Persisting failed: the in-memory machine is ahead of the database. Drop it, reload from the database. */
  private breakHandle(h: Handle<TContext>, err: unknown): void {
    if (h.state !== 'live') return;
    this.log.error({ err, machineId: h.id }, 'a transition could not be persisted: reloading the machine from its last committed snapshot');
    this.dispose(h, 'broken');
    if (this.active) {
      this.after(this.cfg.reloadDelayMs, async () => {
        if (this.active && !this.handles.has(h.id)) await this.getOrLoad(h.id);
      });
    }
  }

  private dispose(h: Handle<TContext>, state: 'broken' | 'disposed'): void {
    if (h.state !== 'live') return;
    h.state = state;
    h.suppress = true;
    if (this.handles.get(h.id) === h) this.handles.delete(h.id);
    try {
      h.actor.stop();
    } catch (e) {
      this.log.warn({ err: e, machineId: h.id }, 'stopping an actor failed');
    }
    const err = new NotDurableError(`${this.type} ${h.id} stopped`);
    for (const w of h.waiters.splice(0)) w.reject(err);
  }

  // ---------------------------------------------------------------- effects

  /** The wrapper every effect of this runtime's machines runs in. */
  private readonly wrap: EffectWrapper = <I, O>(effect: (input: I, signal: AbortSignal) => Promise<O>, hold?: EffectHold) =>
    fromPromise<O, I>(async ({ input, signal, system }) => {
      const h = this.bySystem.get(system);
      if (!h) throw new Error(`${this.type}: an effect started outside a runtime-managed machine`);
      await this.durable(h);
      if (hold) await this.held(hold, signal);
      if (signal.aborted) throw new NotDurableError('aborted before it started');
      this.inflight++;
      try {
        return await effect(input, signal);
      } finally {
        this.inflight--;
        if (this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
      }
    });

  /** Waits while the effect is held (a pause switch); a graceful stop that began meanwhile never lets it start. */
  private async held(hold: EffectHold, signal: AbortSignal): Promise<void> {
    await hold(signal);
    if (!this.draining) return;
    // Like durable() while draining: never start; the actor is stopped shortly, which aborts the signal.
    await new Promise<never>((_resolve, reject) => {
      const stop = () => reject(new NotDurableError('stopped while held'));
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
  }

  /** Resolves once the transition that started the calling effect is committed (write-ahead). */
  private async durable(h: Handle<TContext>): Promise<void> {
    // The effect was started inside XState's synchronous transition; by the next microtask that
    // transition has been captured and queued for persistence, so seqTaken covers it.
    await Promise.resolve();
    if (h.state !== 'live') throw new NotDurableError(`${this.type} ${h.id} is not live`);
    const seq = h.seqTaken;
    if (!this.draining && h.seqCommitted >= seq) return;
    await new Promise<void>((resolve, reject) => h.waiters.push({ seq, resolve, reject }));
  }

  private releaseWaiters(h: Handle<TContext>): void {
    if (this.draining) return;
    const ready = h.waiters.filter((w) => w.seq <= h.seqCommitted);
    h.waiters = h.waiters.filter((w) => w.seq > h.seqCommitted);
    for (const w of ready) w.resolve();
  }

  private waitIdle(timeoutMs: number): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.log.warn({ inflight: this.inflight }, 'stop timeout: abandoning effects still in flight (they re-run on restart)');
        resolve();
      }, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  // ---------------------------------------------------------------- operators

  async sendOperatorCommand(machineId: string, command: unknown): Promise<CommandResult> {
    if (!this.active) return { accepted: false, code: 'NOT_ACTIVE', reason: `this instance is not running the ${this.type} machines (${this.status_.detail ?? this.status_.state})` };
    const parsed = this.def.parseCommand(command);
    if (!parsed.ok) return { accepted: false, code: 'INVALID', reason: parsed.reason };
    const got = await this.getOrLoad(machineId);
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
    const pre = await this.def.precheckCommand?.(this.opts.sql, machineId, parsed.event);
    if (pre) return { accepted: false, code: 'STATE_CONFLICT', reason: pre };
    // The machine may have moved while we were reading the database.
    if (got.handle.state !== 'live') return { accepted: false, code: 'STATE_CONFLICT', reason: `${this.type} ${machineId} changed meanwhile; try again` };
    const second = refusal();
    if (second !== null) return { accepted: false, code: 'STATE_CONFLICT', reason: second };
    await this.deliver(got.handle, parsed.event, { operator: parsed.by });
    this.log.info({ machineId, command: parsed.event.type, by: parsed.by }, 'operator command applied');
    return { accepted: true, state: got.handle.lastValue };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function serializeEvent(event: EventObject): Record<string, unknown> {
  return JSON.parse(JSON.stringify(event, (_key, value: unknown) => (value instanceof Error ? serializeError(value) : value))) as Record<string, unknown>;
}

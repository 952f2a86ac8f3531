import { createActor, type AnyStateMachine, type EventObject, type InspectionEvent, type Observer, type Snapshot } from 'xstate';
import type { Logger } from '../../logger.js';
import { encodeSnapshot } from '../../store/machine-blobs.js';
import type { SnapshotRow } from '../../store/machines.js';
import type { CommitQueue } from './commit-queue.js';
import type { EffectGate } from './effect-gate.js';
import { MachineVersionError, NotDurableError } from './errors.js';
import { Handle, type Loaded, type Marker, type Source } from './handle.js';
import type { PendingRecord, RuntimeStore } from './store.js';
import { takeTransition } from './transition.js';
import type { MachineDefinition, RuntimeHooks } from './types.js';

export interface MachineSetOptions<TContext> {
  def: Pick<MachineDefinition<TContext>, 'type' | 'version' | 'parseContext' | 'build'>;
  log: Logger;
  store: Pick<RuntimeStore<TContext>, 'loadSnapshot' | 'loadInput'>;
  queue: Pick<CommitQueue<TContext>, 'enqueue' | 'failed' | 'inFlight'>;
  effects: Pick<EffectGate<TContext>, 'wrap' | 'committed' | 'abandon'>;
  /** The runtime is the leader and running: machines may be created and reloaded. */
  active(): boolean;
  /** Runs `fn` after `ms` unless the runtime stops first. */
  after(ms: number, fn: () => Promise<void> | void): void;
  /** After a failed persist: delay before the machine is reloaded from its last committed snapshot. */
  reloadDelayMs: number;
  inspect: Observer<InspectionEvent> | undefined;
  afterCommit: RuntimeHooks['afterCommit'];
}

/** An outbox event applied in memory; `done` settles when what it did is committed. */
export interface Applied {
  done: Promise<void>;
}

export const APPLIED_NOTHING: Applied = { done: Promise.resolve() };

const noop = () => {};

/**
 * The machines in memory: created, restored, sent events, and every root transition captured from
 * XState's inspection stream and queued for commit (with its snapshot, its source, its seq). A
 * machine whose transition cannot be persisted is dropped and reloaded from its last committed
 * snapshot; one that reaches a final state leaves memory once that state is committed.
 *
 * About 300 lines, kept whole: creating, restoring, delivering and capturing share the handle's
 * life cycle, and splitting them would spread that one life cycle over several files.
 */
export class MachineSet<TContext> {
  private readonly machine: AnyStateMachine;
  private readonly handles = new Map<string, Handle<TContext>>();
  private readonly loading = new Map<string, Promise<Loaded<TContext>>>();
  // Keyed by the actor system XState gives each root actor: how an effect finds its machine.
  private readonly bySystem = new WeakMap<object, Handle<TContext>>();

  constructor(private readonly o: MachineSetOptions<TContext>) {
    this.machine = o.def.build(o.effects.wrap);
  }

  ids(): string[] {
    return [...this.handles.keys()];
  }

  has(id: string): boolean {
    return this.handles.has(id);
  }

  /** The machine whose actor system this is (how an effect finds its machine). */
  handleOf(system: object): Handle<TContext> | undefined {
    return this.bySystem.get(system);
  }

  /** Stops every machine, then waits for what their commits already sent to the database. */
  async disposeAll(): Promise<void> {
    const all = [...this.handles.values()];
    for (const h of all) this.dispose(h, 'disposed');
    await Promise.all(all.map((h) => h.chain.catch(noop)));
  }

  clear(): void {
    this.handles.clear();
  }

  /** Resolves when every transition captured so far is persisted. */
  async settled(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => h.chain));
    await this.o.queue.inFlight;
  }

  /**
   * Until nothing new is captured: an effect's result reaches XState a few ticks after the effect
   * settles, and its transition must be persisted before the actors are stopped.
   */
  async flush(): Promise<void> {
    const taken = () => [...this.handles.values()].reduce((n, h) => n + h.seqTaken, 0);
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const before = taken();
      await this.settled();
      await new Promise((r) => setImmediate(r));
      if (taken() === before) return;
    }
  }

  getOrLoad(id: string): Promise<Loaded<TContext>> {
    const h = this.handles.get(id);
    if (h) return Promise.resolve({ kind: 'live', handle: h });
    let p = this.loading.get(id);
    if (!p) {
      p = (async (): Promise<Loaded<TContext>> => {
        const row = await this.o.store.loadSnapshot(id);
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

  /**
   * Checks and builds every stored machine without starting any. Refuses (MachineVersionError) if
   * one cannot be read, before anything starts: a half-restored set of machines would run effects.
   */
  prepareAll(rows: readonly SnapshotRow[]): Handle<TContext>[] {
    const refused: string[] = [];
    const prepared: Handle<TContext>[] = [];
    for (const row of rows) {
      try {
        prepared.push(this.prepareRestore(row));
      } catch (e) {
        refused.push(`${row.machineId}: ${(e as Error).message}`);
      }
    }
    if (refused.length > 0) {
      throw new MachineVersionError(
        `${this.o.def.type} runtime (machine version ${this.o.def.version}) refuses ${refused.length} stored machine(s): ${refused.slice(0, 10).join('; ')}`,
      );
    }
    return prepared;
  }

  /** Checks a stored machine and builds its actor without starting it. Throws when it cannot be read. */
  private prepareRestore(row: SnapshotRow): Handle<TContext> {
    if (row.machineVersion !== this.o.def.version) {
      throw new MachineVersionError(`stored with machine version ${row.machineVersion}, this code reads version ${this.o.def.version}`);
    }
    const snapshot = row.snapshot as { context?: unknown } | null;
    this.o.def.parseContext(snapshot?.context);
    const h = new Handle<TContext>(row.machineId, row.seq);
    h.lastEventId = row.lastEventId ?? 0;
    h.blobs = row.blobs;
    h.suppress = true;
    h.actor = createActor(this.machine, { snapshot: row.snapshot as Snapshot<unknown>, inspect: (ev) => this.onInspect(h, ev) });
    const restored = h.actor.getSnapshot() as { status: string; error?: unknown };
    if (restored.status === 'error')
      throw new Error(`snapshot does not restore: ${(restored.error as Error | undefined)?.message ?? 'unknown error'}`);
    this.bySystem.set(h.actor.system, h);
    return h;
  }

  startRestored(h: Handle<TContext>): void {
    this.handles.set(h.id, h);
    h.actor.start();
    const snap = h.actor.getSnapshot();
    // Only compared with the next capture's; what it would add is stored with that capture.
    h.lastJson = encodeSnapshot(h.actor.getPersistedSnapshot(), h.blobs).json;
    h.lastValue = snap.value;
    h.lastContext = snap.context as TContext;
    h.suppress = false;
    // XState does not re-arm delayed transitions of a restored snapshot (statelyai/xstate#5331):
    // timer states re-enter on RESUME and recompute the delay from the persisted retryAt.
    if (snap.can({ type: 'RESUME' })) void this.deliver(h, { type: 'RESUME' }, {}).catch(noop);
  }

  /** A new machine from its DB row, unless the definition says it must not get one. */
  async create(id: string, source: Source): Promise<Applied> {
    const loaded = await this.o.store.loadInput(id);
    if ('skip' in loaded) {
      this.o.log.warn({ machineId: id, reason: loaded.skip }, 'not creating a machine');
      return APPLIED_NOTHING;
    }
    if (this.handles.has(id) || !this.o.active()) return APPLIED_NOTHING;
    if (source.outboxEventId !== undefined && this.o.queue.failed)
      throw new NotDurableError(`outbox batch stopped before event ${source.outboxEventId}`);
    const h = new Handle<TContext>(id, 0);
    h.actor = createActor(this.machine, { input: loaded.input, inspect: (ev) => this.onInspect(h, ev) });
    this.bySystem.set(h.actor.system, h);
    this.handles.set(id, h);
    const marker: Marker = { source };
    h.marker = marker;
    h.actor.start();
    h.marker = null;
    // No capture means the machine failed at start: retry from the committed cursor, loudly.
    if (!marker.persisted) throw new Error(`${this.o.def.type} ${id}: the new machine produced no transition to persist`);
    return { done: marker.persisted };
  }

  deliver(h: Handle<TContext>, event: EventObject, source: Source): Promise<void> {
    if (h.state !== 'live') return Promise.reject(new NotDurableError(`${this.o.def.type} ${h.id} is not live`));
    const marker: Marker = { source };
    h.marker = marker;
    try {
      h.actor.send(event);
    } finally {
      h.marker = null;
    }
    if (marker.persisted) return marker.persisted;
    // Nothing was captured (the actor did not process it): remembered, so a replay skips it too.
    if (source.outboxEventId !== undefined) {
      h.lastEventId = Math.max(h.lastEventId, source.outboxEventId);
      return this.o.queue.enqueue({ kind: 'ack', h, eventId: source.outboxEventId });
    }
    return Promise.resolve();
  }

  /** Every root transition of every machine passes here, synchronously, right after XState took it. */
  private onInspect(h: Handle<TContext>, ev: InspectionEvent): void {
    try {
      this.capture(h, ev);
    } finally {
      // After the capture, and a copy: inspectors may rewrite the event they are given (sanitising).
      if (this.o.inspect) {
        try {
          this.o.inspect.next?.({ ...ev });
        } catch (e) {
          this.o.log.warn({ err: e }, 'inspector failed');
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
    const source = marker?.source ?? {};
    const rec = takeTransition(h, ev.event, snap, source);
    if (!rec) return;
    const p = this.o.queue.enqueue({ kind: 'record', h, rec });
    h.chain = p.catch((e: unknown) => this.breakHandle(h, e));
    if (marker) marker.persisted = p;
  }

  committed(h: Handle<TContext>, rec: PendingRecord<TContext>): void {
    h.seqCommitted = rec.seq;
    this.notifyCommitted(rec);
    if (rec.isFinal) {
      this.dispose(h, 'ended');
      return;
    }
    this.o.effects.committed(h);
  }

  private notifyCommitted(rec: PendingRecord<TContext>): void {
    const hook = this.o.afterCommit;
    if (!hook) return;
    try {
      hook({
        machineType: this.o.def.type,
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
      this.o.log.warn({ err: e, machineId: rec.machineId }, 'afterCommit hook failed (ignored)');
    }
  }

  /** Persisting failed: the in-memory machine is ahead of the database. Drop it, reload from the database. */
  private breakHandle(h: Handle<TContext>, err: unknown): void {
    if (h.state !== 'live') return;
    this.o.log.error(
      { err, machineId: h.id },
      'a transition could not be persisted: reloading the machine from its last committed snapshot',
    );
    this.dispose(h, 'broken');
    if (this.o.active()) {
      this.o.after(this.o.reloadDelayMs, async () => {
        if (this.o.active() && !this.handles.has(h.id)) await this.getOrLoad(h.id);
      });
    }
  }

  private dispose(h: Handle<TContext>, state: 'ended' | 'broken' | 'disposed'): void {
    if (h.state !== 'live') return;
    h.state = state;
    h.suppress = true;
    if (this.handles.get(h.id) === h) this.handles.delete(h.id);
    try {
      h.actor.stop();
    } catch (e) {
      this.o.log.warn({ err: e, machineId: h.id }, 'stopping an actor failed');
    }
    const err = new NotDurableError(`${this.o.def.type} ${h.id} stopped`);
    this.o.effects.abandon(h, err);
  }
}

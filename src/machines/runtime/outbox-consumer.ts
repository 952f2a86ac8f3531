import type { ComponentState, ComponentStatus } from '../../lifecycle.js';
import type { Logger } from '../../logger.js';
import type { OutboxEvent } from '../../store/outbox.js';
import type { CommitQueue } from './commit-queue.js';
import { BadOutboxEventError, NotDurableError } from './errors.js';
import type { Source } from './handle.js';
import { APPLIED_NOTHING, type Applied, type MachineSet } from './machine-set.js';
import type { RuntimeStore } from './store.js';
import type { MachineDefinition, Route } from './types.js';

export interface OutboxConsumerOptions<TContext> {
  route: MachineDefinition<TContext>['route'];
  log: Logger;
  store: Pick<RuntimeStore<TContext>, 'readOutboxEvents' | 'readCursor' | 'discover'>;
  machines: Pick<MachineSet<TContext>, 'getOrLoad' | 'deliver' | 'create' | 'has'>;
  queue: Pick<CommitQueue<TContext>, 'enqueue' | 'failed'>;
  /** The runtime is the leader and running; the loop ends when it no longer is. */
  active(): boolean;
  /** Fail closed on an event that does not parse: the runtime stops consuming. */
  deactivate(): void;
  status(): ComponentStatus;
  setStatus(state: ComponentState, detail?: string): void;
  batchSize: number;
  pollIntervalMs: number;
  discoverIntervalMs: number;
  /** Wait after a failed batch before it is replayed from the committed cursor. */
  reloadDelayMs: number;
}

const noop = () => {};

/**
 * Consumes the runtime's outbox topics. Events are applied a batch at a time without waiting for
 * each commit; the cursor moves (in a commit of its own, after the batch's transitions) once the
 * whole batch is committed. A crash or a failed commit in between replays the batch from the
 * committed cursor, and each machine skips the events it already applied (its last_event_id).
 * Also creates machines for rows that have no event (definition.discover).
 */
export class OutboxConsumer<TContext> {
  /** The last event whose batch is committed (outbox_cursors). */
  cursor = 0;
  private nextDiscoverAt = 0;
  private consecutiveFailures = 0;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(private readonly o: OutboxConsumerOptions<TContext>) {}

  async readCursor(): Promise<void> {
    this.cursor = await this.o.store.readCursor();
  }

  /** Starts the loop; it runs while the runtime is active. */
  start(): void {
    this.loopDone = this.loop();
  }

  /** Once the runtime is no longer active: wakes the loop and resolves when it has ended. */
  stopped(): Promise<void> {
    this.wake?.();
    return this.loopDone;
  }

  private async loop(): Promise<void> {
    while (this.o.active()) {
      try {
        if (this.o.store.discover && Date.now() >= this.nextDiscoverAt) {
          this.nextDiscoverAt = Date.now() + this.o.discoverIntervalMs;
          await this.discover();
        }
        const events = await this.o.store.readOutboxEvents(this.cursor, this.o.batchSize);
        await this.applyBatch(events);
        this.consecutiveFailures = 0;
        if (this.o.status().state === 'failed' && this.o.active()) this.o.setStatus('running');
        if (events.length < this.o.batchSize) await this.sleep(this.o.pollIntervalMs);
      } catch (e) {
        // Stopping: what the batch did not commit is replayed by the next runtime.
        if (!this.o.active()) return;
        if (e instanceof BadOutboxEventError) {
          // Fail closed: never skip an event we cannot read.
          this.o.log.error({ err: e }, 'stopping: an outbox event does not parse');
          this.o.setStatus('failed', e.message);
          this.o.deactivate();
          return;
        }
        this.consecutiveFailures++;
        this.o.log.error({ err: e, failures: this.consecutiveFailures }, 'outbox processing failed; retrying from the committed cursor');
        if (this.consecutiveFailures >= 5) this.o.setStatus('failed', `outbox processing keeps failing: ${(e as Error).message}`);
        this.cursor = await this.o.store.readCursor().catch(() => this.cursor);
        await this.sleep(this.o.reloadDelayMs);
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
    this.o.queue.failed = false;
    const applied: Promise<void>[] = [];
    let last = this.cursor;
    let unreadable: unknown;
    for (const e of events) {
      if (!this.o.active() || this.o.queue.failed) break;
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
    if (this.o.queue.failed) throw new NotDurableError('a commit failed while the batch was applied');
    if (last > this.cursor) {
      await this.o.queue.enqueue({ kind: 'cursor', eventId: last });
      this.cursor = last;
    }
    if (unreadable !== undefined) throw unreadable;
  }

  private routeOf(e: OutboxEvent): Route {
    try {
      return this.o.route(e);
    } catch (err) {
      throw new BadOutboxEventError(
        `outbox event ${e.eventId} (${e.topic}, ${e.aggregateType} ${e.aggregateId}) does not parse: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** Resolves once the event is applied in memory; what it did commits later (see applyBatch). */
  private async apply(e: OutboxEvent, route: Route & { kind: 'deliver' }): Promise<Applied> {
    const source: Source = { outboxEventId: e.eventId };
    const got = await this.o.machines.getOrLoad(route.machineId);
    // After a failed commit this machine may have been reloaded without an earlier event of the
    // batch: applying a later one now would put it out of order. The batch is replayed instead.
    if (this.o.queue.failed || !this.o.active()) throw new NotDurableError(`outbox batch stopped before event ${e.eventId}`);
    if (got.kind === 'live') {
      // A replay (after a crash or a failed commit) of an event this machine already applied.
      if (got.handle.lastEventId >= e.eventId || route.event === null) return APPLIED_NOTHING;
      return { done: this.o.machines.deliver(got.handle, route.event, source) };
    }
    if (got.kind === 'final') return APPLIED_NOTHING;
    if (!route.create) {
      this.o.log.warn(
        { eventId: e.eventId, topic: e.topic, machineId: route.machineId },
        'event for a machine that does not exist; ignored',
      );
      return APPLIED_NOTHING;
    }
    // Created from its row, which already reflects this event (written in the same transaction as it).
    return this.o.machines.create(route.machineId, source);
  }

  /** Rows that need a machine but have no outbox event (SQL inserts); created without waiting for each commit. */
  private async discover(): Promise<void> {
    const ids = await this.o.store.discover!(this.o.batchSize, this.cursor);
    const created: Promise<void>[] = [];
    for (const id of ids) {
      if (!this.o.active()) break;
      if (this.o.machines.has(id)) continue;
      const got = await this.o.machines.getOrLoad(id);
      if (got.kind !== 'absent') continue;
      const { done } = await this.o.machines.create(id, {});
      // A machine whose first commit fails is simply found again by the next discovery.
      done.catch(noop);
      created.push(done);
    }
    await Promise.allSettled(created);
  }
}

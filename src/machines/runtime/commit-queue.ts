import type { Logger } from '../../logger.js';
import { NotDurableError } from './errors.js';
import type { Handle } from './handle.js';
import type { PendingRecord, RuntimeStore } from './store.js';

/** What waits to be committed, first in first out. */
export type Commitable<TContext> =
  | { kind: 'record'; h: Handle<TContext>; rec: PendingRecord<TContext> }
  /** An outbox event a live machine received and ignored. */
  | { kind: 'ack'; h: Handle<TContext>; eventId: number }
  /** The consumer cursor, once a batch of outbox events is committed. */
  | { kind: 'cursor'; eventId: number };

type Pending<TContext> = Commitable<TContext> & { settle: Settle };

interface Settle {
  resolve(): void;
  reject(e: unknown): void;
}

/** Transitions per commit group: bounds one transaction's size and the time it holds its locks. */
export const MAX_GROUP = 256;

export interface CommitQueueOptions<TContext> {
  type: string;
  log: Logger;
  store: Pick<RuntimeStore<TContext>, 'commit'>;
  /** A stop is under way: a failed group is not retried machine by machine. */
  stopping(): boolean;
  /** After the commit of a record, before its promise settles. */
  committed(h: Handle<TContext>, rec: PendingRecord<TContext>): void;
}

/**
 * Group commit. Transitions captured while a commit is under way wait and go together in the next
 * one (first in, first out), so a machine's transitions commit in order and many machines share
 * one transaction. Each enqueued item's promise settles when its group is committed, or rejects
 * when it cannot be.
 */
export class CommitQueue<TContext> {
  /** Set when a commit fails: the outbox batch under way stops and is replayed from the cursor. */
  failed = false;
  private readonly queue: Pending<TContext>[] = [];
  private committing: Promise<void> | undefined;

  constructor(private readonly o: CommitQueueOptions<TContext>) {}

  /** The commit under way, if any (it takes whatever is queued meanwhile before it resolves). */
  get inFlight(): Promise<void> | undefined {
    return this.committing;
  }

  enqueue(item: Commitable<TContext>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...item, settle: { resolve, reject } });
      this.committing ??= this.commitQueued();
    });
  }

  /** One commit at a time, each taking everything queued meanwhile (up to MAX_GROUP). */
  private async commitQueued(): Promise<void> {
    // Transitions captured in the same turn of the event loop join this group.
    await new Promise((r) => setImmediate(r));
    while (this.queue.length > 0) await this.commitWithFallback(this.queue.splice(0, MAX_GROUP));
    this.committing = undefined;
  }

  /**
   * A failed group is retried machine by machine, so one machine that cannot be persisted (its
   * own bad data, a conflict) does not take the others down with it.
   */
  private async commitWithFallback(group: Pending<TContext>[]): Promise<void> {
    const live: Pending<TContext>[] = [];
    for (const item of group) {
      if (item.kind === 'cursor' || item.h.state === 'live') live.push(item);
      // An event its final state ignored, queued before that state committed: a replay skips an
      // ended machine anyway, so there is nothing to record (failing it would replay the batch).
      else if (item.kind === 'ack' && item.h.state === 'ended') item.settle.resolve();
      else this.fail(item, new NotDurableError(`${this.o.type} ${item.h.id} is no longer live`));
    }
    if (live.length === 0) return;
    try {
      await this.commit(live);
      return;
    } catch (e) {
      const parts = new Map<string, Pending<TContext>[]>();
      for (const item of live) {
        const key = item.kind === 'cursor' ? '' : item.h.id;
        parts.set(key, [...(parts.get(key) ?? []), item]);
      }
      if (parts.size === 1 || this.o.stopping()) {
        for (const item of live) this.fail(item, e);
        return;
      }
      this.o.log.warn({ err: e, items: live.length, machines: parts.size }, 'a group commit failed: committing its machines one by one');
      for (const part of parts.values()) {
        try {
          await this.commit(part);
        } catch (e2) {
          for (const item of part) this.fail(item, e2);
        }
      }
    }
  }

  private fail(item: Pending<TContext>, e: unknown): void {
    this.failed = true;
    item.settle.reject(e);
  }

  /** One transaction (RuntimeStore.commit): every record's snapshot, transition and projection, the acks, the cursor. */
  private async commit(items: Pending<TContext>[]): Promise<void> {
    const records: { h: Handle<TContext>; rec: PendingRecord<TContext> }[] = [];
    const acks: { machineId: string; eventId: number }[] = [];
    let cursor: number | undefined;
    for (const item of items) {
      if (item.kind === 'record') records.push(item);
      else if (item.kind === 'ack') acks.push({ machineId: item.h.id, eventId: item.eventId });
      else cursor = Math.max(cursor ?? 0, item.eventId);
    }
    await this.o.store.commit({ records: records.map(({ rec }) => rec), acks, cursor });
    for (const item of items) {
      if (item.kind === 'record') this.o.committed(item.h, item.rec);
      item.settle.resolve();
    }
  }
}

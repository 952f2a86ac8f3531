import type { EventObject } from 'xstate';
import type { EncodedSnapshot } from '../../store/machine-blobs.js';
import type { SnapshotRow } from '../../store/machines.js';
import type { OutboxEvent } from '../../store/outbox.js';
import type { TransitionRecord } from './types.js';

/**
 * What the runtime needs from its database, and nothing more: the runtime's parts reach the
 * database only through this interface. postgres-store.ts is the daemon's (SQL stays in
 * src/store); test/machines/support/memory-store.ts keeps everything in memory, so the ordering
 * rules (write-ahead effects, group commit, the outbox cursor) are unit-tested without Postgres.
 */
export interface RuntimeStore<TContext> {
  /** The leader lock of this machine type (one active runtime per database). */
  readonly lock: LeaderLock;

  /** Every non-final machine of this type, as stored (restored on becoming the leader). */
  loadLiveSnapshots(): Promise<SnapshotRow[]>;
  loadSnapshot(machineId: string): Promise<SnapshotRow | undefined>;

  /** The consumer cursor: the last outbox event whose batch is committed (0 before any). */
  readCursor(): Promise<number>;
  /** Events of this machine type's topics after `afterId`, oldest first. */
  readOutboxEvents(afterId: number, limit: number): Promise<OutboxEvent[]>;
  /** The newest outbox event id of any topic (0 when there is none). */
  lastOutboxEventId(): Promise<number>;

  /**
   * One transaction: every record's snapshot, transition row and projection, the acks, and the
   * cursor. All or nothing; a rejection means nothing of the group was written.
   */
  commit(group: CommitGroup<TContext>): Promise<void>;

  /** The definition's reads (MachineDefinition.loadInput, discover, precheckCommand) on this database. */
  loadInput(machineId: string): Promise<{ input: unknown } | { skip: string }>;
  /** Undefined when the definition has no discovery. */
  readonly discover: ((limit: number, afterEventId: number) => Promise<string[]>) | undefined;
  precheckCommand(machineId: string, event: EventObject): Promise<string | null>;
}

/** A transition on its way to the database: the record the projection sees, plus its snapshot. */
export interface PendingRecord<TContext> extends TransitionRecord<TContext> {
  snapshot: EncodedSnapshot;
  /** The snapshot no longer references a long string the previous one did. */
  releasedBlobs: boolean;
}

/** What one commit writes: many machines' transitions (each machine's in seq order), acks, the cursor. */
export interface CommitGroup<TContext> {
  records: readonly PendingRecord<TContext>[];
  /** Outbox events live machines received and ignored (machine_snapshots.last_event_id). */
  acks: readonly { machineId: string; eventId: number }[];
  /** Where the consumer cursor moves, once a batch of outbox events is committed. */
  cursor: number | undefined;
}

/** The leader lock, held by one runtime of a machine type per database. */
export interface LeaderLock {
  /**
   * One try; true when the lock is ours now. `stopping` is asked once the lock is taken: a runtime
   * stopped meanwhile gives it back rather than become a leader nobody will stop.
   */
  tryAcquire(stopping: () => boolean): Promise<boolean>;
  /** False when the lock is gone, or when the database cannot tell in time (assume the worst). */
  held(): Promise<boolean>;
  /** Gives the lock back if it is still ours. */
  release(): Promise<void>;
  /** The lock's session is gone or unreachable: forget it without querying or releasing it. */
  forget(): void;
}

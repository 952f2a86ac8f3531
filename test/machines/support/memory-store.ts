import type { SnapshotRow } from '../../../src/store/machines.js';
import type { OutboxEvent } from '../../../src/store/outbox.js';
import type { CommitGroup, LeaderLock, PendingRecord, RuntimeStore } from '../../../src/machines/runtime/store.js';

/**
 * A database in memory for the runtime (RuntimeStore), so its ordering rules are tested without
 * Postgres. It keeps what the Postgres store keeps, with the same rules: a commit is all or
 * nothing, a snapshot's seq must follow the stored one, last_event_id and the cursor never go
 * back. Snapshots are kept as their JSON (the test machines have no long strings to store apart).
 * Every commit tried is logged, and `beforeCommit` can hold a commit or fail it.
 */
export class MemoryDatabase<TContext> {
  readonly snapshots = new Map<string, SnapshotRow>();
  /** Committed transitions, in commit order. */
  readonly transitions: PendingRecord<TContext>[] = [];
  /** Every group the runtime tried to commit, and whether it did. */
  readonly attempts: { group: CommitGroup<TContext>; ok: boolean }[] = [];
  readonly outbox: OutboxEvent[] = [];
  cursor = 0;
  /** How many times each event id was read by a runtime (more than once: a batch replayed). */
  readonly timesRead = new Map<number, number>();
  /** Rows that machines are created from (MachineDefinition.loadInput). */
  readonly rows = new Map<string, unknown>();
  /** Runs before a group is written: throwing fails it, awaiting holds it. */
  beforeCommit: ((group: CommitGroup<TContext>) => Promise<void> | void) | undefined;
  private lockHolder: object | undefined;

  constructor(
    private readonly machineType: string,
    private readonly topics: readonly string[],
  ) {}

  /** The groups that committed, in order. */
  get commits(): CommitGroup<TContext>[] {
    return this.attempts.filter((a) => a.ok).map((a) => a.group);
  }

  append(topic: string, payload: Record<string, unknown>): number {
    const eventId = (this.outbox.at(-1)?.eventId ?? 0) + 1;
    this.outbox.push({
      eventId,
      topic,
      aggregateType: 'toy',
      aggregateId: String(payload.id ?? ''),
      payload,
      createdAt: new Date(0).toISOString(),
    });
    return eventId;
  }

  /** A runtime's view of this database, with its own hold on the leader lock. */
  store(): RuntimeStore<TContext> {
    const me = {};
    const lock: LeaderLock = {
      tryAcquire: async (stopping) => {
        if (this.lockHolder !== undefined && this.lockHolder !== me) return false;
        this.lockHolder = me;
        if (!stopping()) return true;
        this.lockHolder = undefined;
        return false;
      },
      held: async () => this.lockHolder === me,
      release: async () => {
        if (this.lockHolder === me) this.lockHolder = undefined;
      },
      forget: () => {},
    };
    return {
      lock,
      loadLiveSnapshots: async () => [...this.snapshots.values()].filter((r) => !r.isFinal).map(copy),
      loadSnapshot: async (id) => {
        const row = this.snapshots.get(id);
        return row && copy(row);
      },
      readCursor: async () => this.cursor,
      readOutboxEvents: async (afterId, limit) => {
        const events = this.outbox.filter((e) => e.eventId > afterId && this.topics.includes(e.topic)).slice(0, limit);
        for (const e of events) this.timesRead.set(e.eventId, (this.timesRead.get(e.eventId) ?? 0) + 1);
        return events;
      },
      lastOutboxEventId: async () => this.outbox.at(-1)?.eventId ?? 0,
      commit: (group) => this.commit(group),
      loadInput: async (id) => (this.rows.has(id) ? { input: this.rows.get(id) } : { skip: 'no row' }),
      discover: undefined,
      precheckCommand: async () => null,
    };
  }

  private async commit(group: CommitGroup<TContext>): Promise<void> {
    const attempt = { group, ok: false };
    this.attempts.push(attempt);
    await this.beforeCommit?.(group);
    // Checked before anything is written: all or nothing.
    const next = new Map<string, SnapshotRow>();
    for (const rec of group.records) {
      const prev = next.get(rec.machineId) ?? this.snapshots.get(rec.machineId);
      if ((prev?.seq ?? 0) !== rec.seq - 1) throw new Error(`${rec.machineId}: seq ${rec.seq} does not follow ${prev?.seq ?? 0}`);
      next.set(rec.machineId, {
        machineType: this.machineType,
        machineId: rec.machineId,
        machineVersion: 1,
        stateValue: rec.to,
        snapshot: JSON.parse(rec.snapshot.json) as unknown,
        blobs: new Map(),
        isFinal: rec.isFinal,
        seq: rec.seq,
        lastEventId: Math.max(prev?.lastEventId ?? 0, rec.outboxEventId ?? 0) || null,
        createdAt: '',
        updatedAt: '',
      });
    }
    for (const ack of group.acks) {
      const row = next.get(ack.machineId) ?? this.snapshots.get(ack.machineId);
      if (row) next.set(ack.machineId, { ...row, lastEventId: Math.max(row.lastEventId ?? 0, ack.eventId) });
    }
    if (group.cursor !== undefined && group.cursor < this.cursor)
      throw new Error(`the cursor may not move back from ${this.cursor} to ${group.cursor}`);
    for (const [id, row] of next) this.snapshots.set(id, row);
    this.transitions.push(...group.records);
    if (group.cursor !== undefined) this.cursor = group.cursor;
    attempt.ok = true;
  }
}

const copy = (row: SnapshotRow): SnapshotRow => ({ ...row, snapshot: structuredClone(row.snapshot) });

/** A promise released by hand. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

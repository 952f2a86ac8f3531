import type postgres from 'postgres';
import type { Logger } from '../../logger.js';
import type { Sql } from '../../store/db.js';
import { blobWrites } from '../../store/machine-blobs.js';
import {
  loadLiveSnapshots,
  loadSnapshot,
  releaseRuntimeLock,
  runtimeLockHeldBy,
  tryRuntimeLock,
  writeTransitions,
} from '../../store/machines.js';
import { advanceCursor, lastOutboxEventId, readCursor, readOutboxEvents } from '../../store/outbox.js';
import { settleAll } from '../../lib/settle-all.js';
import type { CommitGroup, LeaderLock, RuntimeStore } from './store.js';
import type { MachineDefinition, RuntimeHooks } from './types.js';

/** The runtime's store on Postgres: the SQL is src/store's, the definition's reads get the pool. */
export interface PostgresRuntimeStoreOptions {
  sql: Sql;
  logger: Logger;
  leaderElection: 'advisory-lock' | 'none';
  leaderCheckMs: number;
  hooks?: RuntimeHooks;
}

const noop = () => {};

export function createPostgresRuntimeStore<TContext>(
  def: MachineDefinition<TContext>,
  o: PostgresRuntimeStoreOptions,
): RuntimeStore<TContext> {
  const { sql } = o;
  const discover = def.discover;
  return {
    lock: o.leaderElection === 'none' ? NO_LOCK : new AdvisoryLock(sql, def.lockKey, o.leaderCheckMs, o.logger),
    loadLiveSnapshots: () => loadLiveSnapshots(sql, def.type),
    loadSnapshot: (machineId) => loadSnapshot(sql, def.type, machineId),
    readCursor: () => readCursor(sql, def.consumer),
    readOutboxEvents: (afterId, limit) => readOutboxEvents(sql, { afterId, limit, topics: def.topics }),
    lastOutboxEventId: () => lastOutboxEventId(sql),
    commit: (group) => commitGroup(def, o, group),
    loadInput: (machineId) => def.loadInput(sql, machineId),
    discover: discover ? (limit, afterEventId) => discover.call(def, sql, limit, afterEventId) : undefined,
    precheckCommand: async (machineId, event) => (await def.precheckCommand?.(sql, machineId, event)) ?? null,
  };
}

/** One transaction: every record's snapshot, transition and projection, the acks, the cursor. */
async function commitGroup<TContext>(
  def: MachineDefinition<TContext>,
  o: PostgresRuntimeStoreOptions,
  { records, acks, cursor }: CommitGroup<TContext>,
): Promise<void> {
  await o.sql.begin(async (tx) => {
    await settleAll([
      writeTransitions(
        tx,
        def.type,
        def.version,
        records.map((rec) => ({
          machineId: rec.machineId,
          seq: rec.seq,
          eventType: rec.eventType,
          event: rec.operator === null ? rec.event : { ...rec.event, operator: rec.operator },
          fromState: rec.from,
          toState: rec.to,
          snapshotJson: rec.snapshot.json,
          isFinal: rec.isFinal,
          outboxEventId: rec.outboxEventId,
        })),
        acks,
        blobWrites(records),
      ),
      def.project(tx, records),
      cursor === undefined ? undefined : advanceCursor(tx, def.consumer, cursor),
    ]);
    for (const rec of records) await o.hooks?.beforeCommit?.({ machineId: rec.machineId, seq: rec.seq, eventType: rec.eventType });
  });
}

/** leaderElection 'none' (embedded PGlite): this process is the only one. */
const NO_LOCK: LeaderLock = {
  tryAcquire: () => Promise.resolve(true),
  held: () => Promise.resolve(true),
  release: () => Promise.resolve(),
  forget: noop,
};

/**
 * The session advisory lock (src/store/machines.ts), held on a connection reserved while it is
 * ours. Every query is time-boxed: on a session cut off without its socket closing, nothing answers.
 */
class AdvisoryLock implements LeaderLock {
  private conn: postgres.ReservedSql | undefined;
  /** Backend pid of the session holding the lock. */
  private pid = -1;

  constructor(
    private readonly sql: Sql,
    private readonly key: number,
    private readonly checkMs: number,
    private readonly log: Logger,
  ) {}

  /** One try, on a freshly reserved connection kept only if the lock is ours. */
  async tryAcquire(stopping: () => boolean): Promise<boolean> {
    const key = this.key;
    const limit = Math.max(2_000, this.checkMs);
    const reserving = this.sql.reserve();
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
    if (stopping()) {
      // Stopped while we were asking: never become a leader nobody will stop.
      await withTimeout(releaseRuntimeLock(conn, key), limit).then(() => conn.release(), noop);
      return false;
    }
    this.conn = conn;
    this.pid = lock.pid;
    return true;
  }

  async held(): Promise<boolean> {
    if (this.pid < 0) return false;
    try {
      return await withTimeout(runtimeLockHeldBy(this.sql, this.key, this.pid), Math.max(1_000, this.checkMs));
    } catch (e) {
      this.log.error({ err: e }, 'cannot verify the runtime lock');
      return false;
    }
  }

  async release(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    // A reserved connection whose session died is already back in the pool (its lock went with the
    // session): only a live session is unlocked and released.
    if (await this.held()) {
      await withTimeout(releaseRuntimeLock(conn, this.key), 2_000).then(() => conn.release(), noop);
    }
    this.pid = -1;
  }

  forget(): void {
    this.conn = undefined;
    this.pid = -1;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

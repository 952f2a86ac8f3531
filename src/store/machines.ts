import type postgres from 'postgres';
import type { Queryable, Tx } from './db.js';

/**
 * Persisted XState machines: one `machine_snapshots` row per machine (the latest snapshot) and an
 * append-only `machine_transitions` row per transition. Only the machine runtime writes them, one
 * transaction per transition; `seq` is optimistic concurrency: a write expects the previous seq,
 * so two writers of one machine cannot both succeed.
 */

export class MachineConflictError extends Error {
  override readonly name = 'MachineConflictError';
}

export interface SnapshotRow {
  machineType: string;
  machineId: string;
  machineVersion: number;
  stateValue: unknown;
  snapshot: unknown;
  isFinal: boolean;
  seq: number;
  createdAt: string;
  updatedAt: string;
}

interface SnapshotDbRow {
  machine_type: string;
  machine_id: string;
  machine_version: number;
  state_value: unknown;
  snapshot: unknown;
  is_final: boolean;
  seq: number;
  created_at: string;
  updated_at: string;
}

const toRow = (r: SnapshotDbRow): SnapshotRow => ({
  machineType: r.machine_type,
  machineId: r.machine_id,
  machineVersion: r.machine_version,
  stateValue: r.state_value,
  snapshot: r.snapshot,
  isFinal: r.is_final,
  seq: r.seq,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface SnapshotWrite {
  machineType: string;
  machineId: string;
  machineVersion: number;
  stateValue: unknown;
  /** JSON text of getPersistedSnapshot(). */
  snapshotJson: string;
  isFinal: boolean;
  seq: number;
}

/** Writes seq 1 of a new machine, or seq n over seq n - 1; anything else is a conflict. */
export async function writeSnapshot(tx: Tx, s: SnapshotWrite): Promise<void> {
  const stateValue = JSON.stringify(s.stateValue);
  const rows =
    s.seq === 1
      ? await tx`
          insert into machine_snapshots (machine_type, machine_id, machine_version, state_value, snapshot, is_final, seq)
          values (${s.machineType}, ${s.machineId}, ${s.machineVersion}, ${stateValue}::text::jsonb, ${s.snapshotJson}::text::jsonb, ${s.isFinal}, 1)
          on conflict (machine_type, machine_id) do nothing
          returning seq`
      : await tx`
          update machine_snapshots
          set machine_version = ${s.machineVersion}, state_value = ${stateValue}::text::jsonb, snapshot = ${s.snapshotJson}::text::jsonb,
              is_final = ${s.isFinal}, seq = ${s.seq}, updated_at = now()
          where machine_type = ${s.machineType} and machine_id = ${s.machineId} and seq = ${s.seq - 1}
          returning seq`;
  if (rows.length === 0) {
    throw new MachineConflictError(`${s.machineType} ${s.machineId}: expected to write seq ${s.seq} over ${s.seq - 1}, but the stored machine moved (another writer?)`);
  }
}

export interface TransitionWrite {
  machineType: string;
  machineId: string;
  seq: number;
  eventType: string;
  event: unknown;
  fromState: unknown;
  toState: unknown;
  outboxEventId: number | null;
}

export async function appendTransition(tx: Tx, t: TransitionWrite): Promise<void> {
  await tx`
    insert into machine_transitions (machine_type, machine_id, seq, event_type, event, from_state, to_state, outbox_event_id)
    values (${t.machineType}, ${t.machineId}, ${t.seq}, ${t.eventType}, ${JSON.stringify(t.event)}::text::jsonb,
            ${t.fromState === null ? null : JSON.stringify(t.fromState)}::text::jsonb, ${JSON.stringify(t.toState)}::text::jsonb, ${t.outboxEventId})`;
}

/** Every machine of a type that is not final: what a runtime restores at start. */
export async function loadLiveSnapshots(db: Queryable, machineType: string): Promise<SnapshotRow[]> {
  const rows = await db<SnapshotDbRow[]>`
    select * from machine_snapshots where machine_type = ${machineType} and not is_final order by created_at, machine_id`;
  return rows.map(toRow);
}

export async function loadSnapshot(db: Queryable, machineType: string, machineId: string): Promise<SnapshotRow | undefined> {
  const [row] = await db<SnapshotDbRow[]>`select * from machine_snapshots where machine_type = ${machineType} and machine_id = ${machineId}`;
  return row ? toRow(row) : undefined;
}

/** What the HTTP layer shows of a machine: its state and context, without XState internals. */
export interface MachineView {
  machineType: string;
  machineId: string;
  machineVersion: number;
  state: unknown;
  /** "awaitingLedger.waiting" */
  stateName: string;
  context: unknown;
  isFinal: boolean;
  seq: number;
  createdAt: string;
  updatedAt: string;
}

export async function getMachineView(db: Queryable, machineType: string, machineId: string): Promise<MachineView | undefined> {
  const row = await loadSnapshot(db, machineType, machineId);
  if (!row) return undefined;
  const snapshot = row.snapshot as { context?: unknown } | null;
  return {
    machineType: row.machineType,
    machineId: row.machineId,
    machineVersion: row.machineVersion,
    state: row.stateValue,
    stateName: stateNameOf(row.stateValue),
    context: snapshot?.context ?? null,
    isFinal: row.isFinal,
    seq: row.seq,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function stateNameOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const [key] = Object.keys(value);
    if (key === undefined) return '';
    const rest = stateNameOf((value as Record<string, unknown>)[key]);
    return rest ? `${key}.${rest}` : key;
  }
  return '';
}

export interface TransitionView {
  seq: number;
  eventType: string;
  event: unknown;
  from: unknown;
  to: unknown;
  outboxEventId: number | null;
  at: string;
}

/** A machine's history, oldest first, paged by seq. */
export async function listMachineTransitions(db: Queryable, machineType: string, machineId: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<TransitionView[]> {
  const rows = await db<{ seq: number; event_type: string; event: unknown; from_state: unknown; to_state: unknown; outbox_event_id: number | null; at: string }[]>`
    select seq, event_type, event, from_state, to_state, outbox_event_id, at from machine_transitions
    where machine_type = ${machineType} and machine_id = ${machineId} and seq > ${opts.afterSeq ?? 0}
    order by seq limit ${opts.limit ?? 500}`;
  return rows.map((r) => ({ seq: r.seq, eventType: r.event_type, event: r.event, from: r.from_state, to: r.to_state, outboxEventId: r.outbox_event_id, at: r.at }));
}

/** A transition as the HTTP detail views show it: without the event payload (it may hold signed transactions). */
export interface TransitionSummary {
  seq: number;
  eventType: string;
  from: unknown;
  to: unknown;
  at: string;
}

/** A machine's transition history, oldest first, for status views. */
export async function listTransitionHistory(db: Queryable, machineType: string, machineId: string, limit = 500): Promise<TransitionSummary[]> {
  const rows = await db<{ seq: number; event_type: string; from_state: unknown; to_state: unknown; at: string }[]>`
    select seq, event_type, from_state, to_state, at from machine_transitions
    where machine_type = ${machineType} and machine_id = ${machineId} order by seq limit ${limit}`;
  return rows.map((r) => ({ seq: r.seq, eventType: r.event_type, from: r.from_state, to: r.to_state, at: r.at }));
}

/**
 * Leader election: a session advisory lock (two-int form, so it cannot collide with the bigint
 * keys used elsewhere) held on a connection reserved for the runtime's lifetime. Whether the lock
 * is still held is asked through the pool, by the backend pid that took it: a query on a reserved
 * connection whose session died never answers (postgres.js), and the lock died with the session.
 */
export const RUNTIME_LOCK_NAMESPACE = 72_450_193;

/** Takes the lock if free; returns the backend pid holding it. */
export async function tryRuntimeLock(conn: postgres.ReservedSql, key: number): Promise<{ ok: boolean; pid: number }> {
  const [row] = await conn<{ ok: boolean; pid: number }[]>`select pg_try_advisory_lock(${RUNTIME_LOCK_NAMESPACE}::int, ${key}::int) as ok, pg_backend_pid() as pid`;
  return { ok: row?.ok === true, pid: row?.pid ?? -1 };
}

/** Asked on any connection: does backend `pid` still hold the runtime lock? */
export async function runtimeLockHeldBy(db: Queryable, key: number, pid: number): Promise<boolean> {
  const [row] = await db<{ held: boolean }[]>`
    select exists (
      select 1 from pg_locks
      where locktype = 'advisory' and pid = ${pid} and granted
        and classid = ${RUNTIME_LOCK_NAMESPACE}::int::oid and objid = ${key}::int::oid and objsubid = 2
    ) as held`;
  return row?.held === true;
}

export async function releaseRuntimeLock(conn: postgres.ReservedSql, key: number): Promise<void> {
  await conn`select pg_advisory_unlock(${RUNTIME_LOCK_NAMESPACE}::int, ${key}::int)`;
}

import type postgres from 'postgres';
import type { Queryable, Tx } from './db.js';
import { resolveSnapshots, writeBlobs, type BlobWrite, type SnapshotBlobs } from './machine-blobs.js';
import { settleAll } from '../lib/settle-all.js';

/**
 * Persisted XState machines: one `machine_snapshots` row per machine (the latest snapshot) and an
 * append-only `machine_transitions` row per transition. Only the machine runtime writes them, in
 * commit groups of many machines' transitions; `seq` is optimistic concurrency: a write expects the
 * previous seq, so two writers of one machine cannot both succeed.
 */

export class MachineConflictError extends Error {
  override readonly name = 'MachineConflictError';
}

export interface SnapshotRow {
  machineType: string;
  machineId: string;
  machineVersion: number;
  stateValue: unknown;
  /** As XState gave it: long strings stored apart are back in place (machine-blobs.ts). */
  snapshot: unknown;
  /** Those long strings (content → hash), for encoding the machine's next snapshot. */
  blobs: SnapshotBlobs;
  isFinal: boolean;
  seq: number;
  /** The last outbox event this machine applied (or received and ignored); null before any. */
  lastEventId: number | null;
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
  last_event_id: number | null;
  created_at: string;
  updated_at: string;
}

const NO_BLOBS: SnapshotBlobs = new Map();

const toRow = (r: SnapshotDbRow, blobs: SnapshotBlobs = NO_BLOBS): SnapshotRow => ({
  machineType: r.machine_type,
  machineId: r.machine_id,
  machineVersion: r.machine_version,
  stateValue: r.state_value,
  snapshot: r.snapshot,
  blobs,
  isFinal: r.is_final,
  seq: r.seq,
  lastEventId: r.last_event_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * The transitions of one commit group, one machine's in seq order (the runtime groups the
 * transitions of many machines into one transaction: src/machines/README.md, "Group commit").
 */
export interface TransitionWrite {
  machineId: string;
  seq: number;
  eventType: string;
  event: unknown;
  fromState: unknown;
  toState: unknown;
  /** JSON text of getPersistedSnapshot() after this transition. */
  snapshotJson: string;
  isFinal: boolean;
  outboxEventId: number | null;
}

/** Outbox events a live machine received and ignored: remembered so a replay skips them too. */
export interface EventAck {
  machineId: string;
  eventId: number;
}

/**
 * Writes a group's transitions: for each machine its latest snapshot (seq n over the stored seq
 * of its first transition here minus one, or a new row for seq 1; anything else is a conflict),
 * the long strings those snapshots store apart (`blobs`, machine-blobs.ts), every transition row,
 * and the last outbox event each machine applied. A fixed number of statements whatever the
 * group's size, started together (execute()) so they travel in one round trip, in this order.
 */
export async function writeTransitions(
  tx: Tx,
  machineType: string,
  machineVersion: number,
  writes: readonly TransitionWrite[],
  acks: readonly EventAck[] = [],
  blobs: readonly BlobWrite[] = [],
): Promise<void> {
  if (writes.length === 0 && acks.length === 0) return;
  const latest = new Map<string, { first: number; last: TransitionWrite; lastEventId: number | null }>();
  for (const w of writes) {
    const m = latest.get(w.machineId);
    const lastEventId = w.outboxEventId ?? m?.lastEventId ?? null;
    if (m) {
      if (w.seq !== m.last.seq + 1)
        throw new MachineConflictError(`${machineType} ${w.machineId}: transitions ${m.last.seq} and ${w.seq} are not consecutive`);
      latest.set(w.machineId, { first: m.first, last: w, lastEventId });
    } else {
      latest.set(w.machineId, { first: w.seq, last: w, lastEventId });
    }
  }
  // Snapshots are JSON text already: spliced into the document rather than parsed and re-stringified.
  const snapshotDoc = (rows: [string, { first: number; last: TransitionWrite; lastEventId: number | null }][]) =>
    `[${rows
      .map(
        ([id, m]) =>
          `{"id":${JSON.stringify(id)},"sv":${JSON.stringify(m.last.toState)},"s":${m.last.snapshotJson},"f":${m.last.isFinal},"seq":${m.last.seq},"exp":${m.first - 1},"ev":${m.lastEventId ?? 'null'}}`,
      )
      .join(',')}]`;
  const created = [...latest].filter(([, m]) => m.first === 1);
  const updated = [...latest].filter(([, m]) => m.first !== 1);
  const transitionDoc = JSON.stringify(
    writes.map((w) => ({ id: w.machineId, seq: w.seq, t: w.eventType, e: w.event, f: w.fromState, to: w.toState, o: w.outboxEventId })),
  );
  const none = Promise.resolve([] as { machine_id: string }[]);
  const [inserted, changed] = await settleAll([
    created.length === 0
      ? none
      : tx<{ machine_id: string }[]>`
          insert into machine_snapshots (machine_type, machine_id, machine_version, state_value, snapshot, is_final, seq, last_event_id)
          select ${machineType}, e->>'id', ${machineVersion}, e->'sv', e->'s', (e->>'f')::boolean, (e->>'seq')::bigint, (e->>'ev')::bigint
          from jsonb_array_elements(${snapshotDoc(created)}::text::jsonb) as e
          on conflict (machine_type, machine_id) do nothing
          returning machine_id`.execute(),
    updated.length === 0
      ? none
      : tx<{ machine_id: string }[]>`
          update machine_snapshots m
          set machine_version = ${machineVersion}, state_value = e->'sv', snapshot = e->'s', is_final = (e->>'f')::boolean,
              seq = (e->>'seq')::bigint, last_event_id = greatest(m.last_event_id, (e->>'ev')::bigint), updated_at = now()
          from jsonb_array_elements(${snapshotDoc(updated)}::text::jsonb) as e
          where m.machine_type = ${machineType} and m.machine_id = e->>'id' and m.seq = (e->>'exp')::bigint
          returning m.machine_id`.execute(),
    ...writeBlobs(tx, machineType, blobs),
    writes.length === 0
      ? undefined
      : tx`
          insert into machine_transitions (machine_type, machine_id, seq, event_type, event, from_state, to_state, outbox_event_id)
          select ${machineType}, e->>'id', (e->>'seq')::bigint, e->>'t', e->'e', nullif(e->'f', 'null'::jsonb), e->'to', (e->>'o')::bigint
          from jsonb_array_elements(${transitionDoc}::text::jsonb) as e`.execute(),
    acks.length === 0
      ? undefined
      : tx`
          update machine_snapshots m set last_event_id = greatest(m.last_event_id, a.event_id)
          from (select e->>'id' as machine_id, max((e->>'ev')::bigint) as event_id
                from jsonb_array_elements(${JSON.stringify(acks.map((a) => ({ id: a.machineId, ev: a.eventId })))}::text::jsonb) as e group by 1) a
          where m.machine_type = ${machineType} and m.machine_id = a.machine_id`.execute(),
  ]);
  if (inserted.length + changed.length !== latest.size) {
    const written = new Set([...inserted, ...changed].map((r) => r.machine_id));
    const moved = [...latest].filter(([id]) => !written.has(id)).map(([id, m]) => `${id} (expected seq ${m.first - 1})`);
    throw new MachineConflictError(`${machineType}: the stored machine moved (another writer?) for ${moved.join(', ')}`);
  }
}

/** Every machine of a type that is not final: what a runtime restores at start. */
export async function loadLiveSnapshots(db: Queryable, machineType: string): Promise<SnapshotRow[]> {
  const rows = await db<SnapshotDbRow[]>`
    select * from machine_snapshots where machine_type = ${machineType} and not is_final order by created_at, machine_id`;
  return withBlobs(db, machineType, rows);
}

export async function loadSnapshot(db: Queryable, machineType: string, machineId: string): Promise<SnapshotRow | undefined> {
  const rows = await db<SnapshotDbRow[]>`select * from machine_snapshots where machine_type = ${machineType} and machine_id = ${machineId}`;
  return (await withBlobs(db, machineType, rows))[0];
}

async function withBlobs(db: Queryable, machineType: string, rows: readonly SnapshotDbRow[]): Promise<SnapshotRow[]> {
  const blobs = await resolveSnapshots(
    db,
    machineType,
    rows.map((r) => ({ machineId: r.machine_id, snapshot: r.snapshot })),
  );
  return rows.map((r) => toRow(r, blobs.get(r.machine_id)));
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
export async function listMachineTransitions(
  db: Queryable,
  machineType: string,
  machineId: string,
  opts: { afterSeq?: number; limit?: number } = {},
): Promise<TransitionView[]> {
  const rows = await db<
    {
      seq: number;
      event_type: string;
      event: unknown;
      from_state: unknown;
      to_state: unknown;
      outbox_event_id: number | null;
      at: string;
    }[]
  >`
    select seq, event_type, event, from_state, to_state, outbox_event_id, at from machine_transitions
    where machine_type = ${machineType} and machine_id = ${machineId} and seq > ${opts.afterSeq ?? 0}
    order by seq limit ${opts.limit ?? 500}`;
  return rows.map((r) => ({
    seq: r.seq,
    eventType: r.event_type,
    event: r.event,
    from: r.from_state,
    to: r.to_state,
    outboxEventId: r.outbox_event_id,
    at: r.at,
  }));
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
export async function listTransitionHistory(
  db: Queryable,
  machineType: string,
  machineId: string,
  limit = 500,
): Promise<TransitionSummary[]> {
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
  const [row] = await conn<
    { ok: boolean; pid: number }[]
  >`select pg_try_advisory_lock(${RUNTIME_LOCK_NAMESPACE}::int, ${key}::int) as ok, pg_backend_pid() as pid`;
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

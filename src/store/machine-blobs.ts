import { createHash } from 'node:crypto';
import type { Queryable, Tx } from './db.js';

/**
 * Long strings of machine snapshots, stored once per machine (sql/010_machine_blobs.sql). A
 * withdrawal carries its prepared transaction (~30 KB of base64) from preparing until the ledger
 * has it, in its context and, while an effect runs, again in that effect's input: each snapshot of
 * those states held it once or twice and was written whole at every transition. A stored snapshot
 * holds a reference in its place; reading one puts the strings back, so every reader gets exactly
 * the snapshot XState gave.
 */

/** Strings at least this long are stored apart. */
export const BLOB_MIN_LENGTH = 4096;

/** The reference's only key. Contexts are plain typed data: none has an object with this key. */
const REF_KEY = '$cxi.blob';

/** A snapshot's long strings by content, each with its hash (content → hash). */
export type SnapshotBlobs = ReadonlyMap<string, string>;

export interface EncodedSnapshot {
  json: string;
  /** The long strings this snapshot references. */
  blobs: SnapshotBlobs;
  /** Those not in the previous snapshot's: to be stored. */
  added: { hash: string; content: string }[];
}

/**
 * JSON text of a persisted snapshot with its long strings replaced by references. `previous` (the
 * machine's last snapshot's blobs) spares hashing a string again: it is the same string object
 * from one snapshot to the next, so the lookup is cheap.
 */
export function encodeSnapshot(snapshot: unknown, previous: SnapshotBlobs): EncodedSnapshot {
  const blobs = new Map<string, string>();
  const added: { hash: string; content: string }[] = [];
  const json = JSON.stringify(snapshot, (_key, value: unknown) => {
    if (typeof value !== 'string' || value.length < BLOB_MIN_LENGTH) return value;
    let hash = blobs.get(value) ?? previous.get(value);
    if (hash === undefined) {
      hash = createHash('sha256').update(value).digest('hex');
      added.push({ hash, content: value });
    }
    blobs.set(value, hash);
    return { [REF_KEY]: hash };
  });
  return { json, blobs, added };
}

/** Does `next` no longer reference a long string that `previous` (a snapshot's blobs) did? */
export function releasesBlobs(previous: SnapshotBlobs, next: EncodedSnapshot): boolean {
  for (const content of previous.keys()) if (!next.blobs.has(content)) return true;
  return false;
}

/** Hashes referenced in a decoded snapshot (parsed JSON), in no particular order. */
function referencedHashes(value: unknown, into: Set<string>): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) referencedHashes(v, into);
  } else if (value !== null && typeof value === 'object') {
    const hash = refHash(value as Record<string, unknown>);
    if (hash !== undefined) into.add(hash);
    else for (const v of Object.values(value)) referencedHashes(v, into);
  }
  return into;
}

function refHash(o: Record<string, unknown>): string | undefined {
  const hash = o[REF_KEY];
  return typeof hash === 'string' && Object.keys(o).length === 1 ? hash : undefined;
}

/** Replaces references in place (a freshly read row); a missing blob is an error, never a gap. */
function resolve(value: unknown, contents: ReadonlyMap<string, string>, where: string): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = resolve(value[i], contents, where);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  const hash = refHash(o);
  if (hash !== undefined) {
    const content = contents.get(hash);
    if (content === undefined) throw new Error(`${where}: the snapshot references a stored string (${hash}) that is missing`);
    return content;
  }
  for (const k of Object.keys(o)) o[k] = resolve(o[k], contents, where);
  return o;
}

/**
 * Puts the long strings back into stored snapshots (read in one query). Returns, per machine, the
 * blobs of its snapshot, for encoding the next one.
 */
export async function resolveSnapshots(
  db: Queryable,
  machineType: string,
  rows: readonly { machineId: string; snapshot: unknown }[],
): Promise<Map<string, SnapshotBlobs>> {
  const wanted = new Map<string, Set<string>>();
  for (const r of rows) {
    const hashes = referencedHashes(r.snapshot, new Set());
    if (hashes.size > 0) wanted.set(r.machineId, hashes);
  }
  const byMachine = new Map<string, SnapshotBlobs>();
  if (wanted.size === 0) return byMachine;
  const stored = await db<{ machine_id: string; hash: string; content: string }[]>`
    select machine_id, hash, content from machine_blobs where machine_type = ${machineType} and machine_id = any(${[...wanted.keys()]}::text[])`;
  const contents = new Map<string, Map<string, string>>();
  for (const s of stored) {
    let m = contents.get(s.machine_id);
    if (!m) contents.set(s.machine_id, (m = new Map()));
    m.set(s.hash, s.content);
  }
  for (const r of rows) {
    if (!wanted.has(r.machineId)) continue;
    const mine = contents.get(r.machineId) ?? new Map<string, string>();
    resolve(r.snapshot, mine, `${machineType} ${r.machineId}`);
    byMachine.set(r.machineId, new Map([...mine].map(([hash, content]) => [content, hash])));
  }
  return byMachine;
}

/** What a commit group does to one machine's blobs: its latest snapshot's, and which are new. */
export interface BlobWrite {
  machineId: string;
  /** Every hash the machine's latest snapshot in the group references; the others may go. */
  keep: readonly string[];
  /** Strings first referenced in this group and still referenced at its end. */
  added: readonly { hash: string; content: string }[];
  /** Some snapshot of the group stopped referencing a string. */
  released: boolean;
}

/**
 * Per machine of a commit group (its snapshots in order): the blobs of its latest snapshot, those
 * first stored in the group, and whether any snapshot released one.
 */
export function blobWrites(snapshots: readonly { machineId: string; snapshot: EncodedSnapshot; releasedBlobs: boolean }[]): BlobWrite[] {
  const byMachine = new Map<string, { latest: EncodedSnapshot; added: Map<string, string>; released: boolean }>();
  for (const s of snapshots) {
    const m = byMachine.get(s.machineId) ?? { latest: s.snapshot, added: new Map<string, string>(), released: false };
    m.latest = s.snapshot;
    for (const a of s.snapshot.added) m.added.set(a.hash, a.content);
    m.released ||= s.releasedBlobs;
    byMachine.set(s.machineId, m);
  }
  const writes: BlobWrite[] = [];
  for (const [machineId, m] of byMachine) {
    const keep = new Set(m.latest.blobs.values());
    // A string added and released within the group is never stored.
    const added = [...m.added].filter(([hash]) => keep.has(hash)).map(([hash, content]) => ({ hash, content }));
    if (added.length > 0 || m.released) writes.push({ machineId, keep: [...keep], added, released: m.released });
  }
  return writes;
}

/**
 * In the caller's transaction, after the snapshot rows (both statements are started at once, in
 * this order): first what the machines no longer reference goes, then the new strings are stored.
 */
export function writeBlobs(tx: Tx, machineType: string, writes: readonly BlobWrite[]): PromiseLike<unknown>[] {
  const statements: PromiseLike<unknown>[] = [];
  const released = writes.filter((w) => w.released);
  if (released.length > 0) {
    const keep = JSON.stringify(released.map((w) => ({ id: w.machineId, keep: w.keep })));
    statements.push(
      tx`
      delete from machine_blobs b
      using jsonb_to_recordset(${keep}::text::jsonb) as k(id text, keep text[])
      where b.machine_type = ${machineType} and b.machine_id = k.id and b.hash <> all(k.keep)`.execute(),
    );
  }
  const added = writes.flatMap((w) => w.added.map((a) => ({ id: w.machineId, ...a })));
  if (added.length > 0) {
    statements.push(
      tx`
      insert into machine_blobs (machine_type, machine_id, hash, content)
      select ${machineType}, * from unnest(${added.map((a) => a.id)}::text[], ${added.map((a) => a.hash)}::text[], ${added.map((a) => a.content)}::text[])
      on conflict do nothing`.execute(),
    );
  }
  return statements;
}

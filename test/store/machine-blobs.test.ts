import { describe, expect, it } from 'vitest';
import {
  blobWrites,
  BLOB_MIN_LENGTH,
  encodeSnapshot,
  releasesBlobs,
  type EncodedSnapshot,
  type SnapshotBlobs,
} from '../../src/store/machine-blobs.js';
import { loadLiveSnapshots, loadSnapshot, writeTransitions } from '../../src/store/machines.js';
import { useMigratedDatabase } from '../support/db.js';

/** Long strings of machine snapshots are stored once per machine and put back when read. */

const { sql } = await useMigratedDatabase();
const TYPE = 'blob-probe';

const long = (c: string) => c.repeat(BLOB_MIN_LENGTH * 8);
const PREPARED = long('A');

/** A snapshot shaped like a withdrawal's in `signing`: the string in the context and in an effect's input. */
const signing = (tx: string) => ({
  value: 'signing',
  context: { id: 'w', prepared: { tx, hash: 'h' } },
  children: { sign: { snapshot: { input: { tx } } } },
});
const settled = { value: 'completed', context: { id: 'w', prepared: null }, children: {} };

async function write(machineId: string, seq: number, snapshot: object, previous: SnapshotBlobs): Promise<EncodedSnapshot> {
  const encoded = encodeSnapshot(snapshot, previous);
  await sql.begin((tx) =>
    writeTransitions(
      tx,
      TYPE,
      1,
      [
        {
          machineId,
          seq,
          eventType: 'E',
          event: { type: 'E' },
          fromState: null,
          toState: (snapshot as { value: string }).value,
          snapshotJson: encoded.json,
          isFinal: (snapshot as { value: string }).value === 'completed',
          outboxEventId: null,
        },
      ],
      [],
      blobWrites([{ machineId, snapshot: encoded, releasedBlobs: releasesBlobs(previous, encoded) }]),
    ),
  );
  return encoded;
}

const storedBlobs = async (machineId: string) => sql<{ hash: string; length: number }[]>`
  select hash, length(content)::int as length from machine_blobs where machine_type = ${TYPE} and machine_id = ${machineId}`;

describe('machine snapshot blobs', () => {
  it('encodes each long string once as a reference; short strings and keys stay', () => {
    const e = encodeSnapshot({ a: PREPARED, b: [PREPARED, 'short'], c: { [long('k')]: 1 } }, new Map());
    expect(e.added).toHaveLength(1);
    expect(e.added[0]!.content).toBe(PREPARED);
    expect(e.json.length).toBeLessThan(BLOB_MIN_LENGTH * 9);
    expect(e.json).not.toContain(PREPARED);
    expect(JSON.parse(e.json)).toMatchObject({ a: { '$cxi.blob': e.added[0]!.hash }, b: [{ '$cxi.blob': e.added[0]!.hash }, 'short'] });
    // Known from the previous snapshot: referenced, not added again.
    const again = encodeSnapshot({ a: PREPARED }, e.blobs);
    expect(again.added).toEqual([]);
    expect([...again.blobs.values()]).toEqual([e.added[0]!.hash]);
  });

  it('a snapshot holding a long string twice stores it once and reads back exactly; the row goes when no snapshot references it', async () => {
    const first = await write('m1', 1, signing(PREPARED), new Map());
    const [row] = await sql<
      { size: number }[]
    >`select length(snapshot::text)::int as size from machine_snapshots where machine_type = ${TYPE} and machine_id = 'm1'`;
    expect(row!.size).toBeLessThan(1000);
    expect(await storedBlobs('m1')).toEqual([{ hash: first.added[0]!.hash, length: PREPARED.length }]);

    const loaded = await loadSnapshot(sql, TYPE, 'm1');
    expect(loaded!.snapshot).toEqual(signing(PREPARED));
    expect(loaded!.blobs).toEqual(first.blobs);
    expect((await loadLiveSnapshots(sql, TYPE)).map((r) => r.snapshot)).toEqual([signing(PREPARED)]);

    // Unchanged string in the next snapshot: nothing new is stored.
    const second = await write('m1', 2, signing(PREPARED), loaded!.blobs);
    expect(second.added).toEqual([]);
    expect(await storedBlobs('m1')).toHaveLength(1);

    // A new attempt's transaction replaces the old one: the old row goes, the new one is stored.
    const next = long('B');
    const third = await write('m1', 3, signing(next), second.blobs);
    expect(await storedBlobs('m1')).toEqual([{ hash: third.added[0]!.hash, length: next.length }]);

    await write('m1', 4, settled, third.blobs);
    expect(await storedBlobs('m1')).toEqual([]);
    expect((await loadSnapshot(sql, TYPE, 'm1'))!.snapshot).toEqual(settled);
  });

  it('a snapshot stored before blobs existed (its strings inline) loads as it is; the next one stores them apart', async () => {
    const inline = signing(PREPARED);
    await sql.begin((tx) =>
      writeTransitions(tx, TYPE, 1, [
        {
          machineId: 'm0',
          seq: 1,
          eventType: 'E',
          event: { type: 'E' },
          fromState: null,
          toState: 'signing',
          snapshotJson: JSON.stringify(inline),
          isFinal: false,
          outboxEventId: null,
        },
      ]),
    );
    const loaded = await loadSnapshot(sql, TYPE, 'm0');
    expect(loaded!.snapshot).toEqual(inline);
    expect(loaded!.blobs.size).toBe(0);
    const next = await write('m0', 2, signing(PREPARED), loaded!.blobs);
    expect(next.added).toHaveLength(1);
    expect(await storedBlobs('m0')).toHaveLength(1);
    expect((await loadSnapshot(sql, TYPE, 'm0'))!.snapshot).toEqual(inline);
  });

  it('a string added and released within one commit group is never stored', () => {
    const added = encodeSnapshot(signing(long('C')), new Map());
    const dropped = encodeSnapshot(settled, added.blobs);
    expect(
      blobWrites([
        { machineId: 'g', snapshot: added, releasedBlobs: false },
        { machineId: 'g', snapshot: dropped, releasedBlobs: releasesBlobs(added.blobs, dropped) },
      ]),
    ).toEqual([{ machineId: 'g', keep: [], added: [], released: true }]);
  });

  it('a snapshot whose stored string is missing does not load: an error naming the machine, never a gap', async () => {
    await write('m2', 1, signing(PREPARED), new Map());
    await sql`delete from machine_blobs where machine_type = ${TYPE} and machine_id = 'm2'`;
    await expect(loadSnapshot(sql, TYPE, 'm2')).rejects.toThrow(
      /blob-probe m2: the snapshot references a stored string \([0-9a-f]{64}\) that is missing/,
    );
  });
});

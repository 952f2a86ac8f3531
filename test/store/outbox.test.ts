import { describe, expect, it } from 'vitest';
import { advanceCursor, appendOutboxEvents, readCursor, readOutboxEvents } from '../../src/store/outbox.js';
import { untilLockAwaited, useMigratedDatabase } from '../support/db.js';
import { backupDatabase } from '../withdrawals/support/restore.js';
import { sampleEvent } from '../support/outbox-events.js';
import { OutboxPayloadError, type OutboxEventInput } from '../../src/events/outbox-events.js';

const { sql, url } = await useMigratedDatabase({ max: 10 });

const ev = (i: number) => sampleEvent('operator.switch_changed', `a${i}`, { reason: `r${i}` });
const reasonOf = (payload: Record<string, unknown>) => payload['reason'];

describe('outbox', () => {
  it('appends and reads events in id order with their payloads intact', async () => {
    const ids = await sql.begin((tx) => appendOutboxEvents(tx, [ev(1), ev(2)]));
    expect(ids).toHaveLength(2);
    const read = await readOutboxEvents(sql, { afterId: ids[0]! - 1, limit: 10 });
    expect(read.map((e) => e.payload)).toEqual([ev(1).payload, ev(2).payload]);
    expect(read[0]!.eventId).toBeLessThan(read[1]!.eventId);
  });

  it('gives a large batch ids in the order of its events, every field intact', async () => {
    const events: OutboxEventInput[] = Array.from({ length: 300 }, (_, i) =>
      i % 2
        ? sampleEvent('instrument.configured', `big-${i}`, { config: { amount: `${i}.0000000000`, nested: { text: 'ü "quoted" \\ \n' } } })
        : sampleEvent('operator.switch_changed', `big-${i}`, { reason: `ü "quoted" \\ \n ${i}` }),
    );
    const ids = await sql.begin((tx) => appendOutboxEvents(tx, events));
    expect(ids).toHaveLength(300);
    const read = await readOutboxEvents(sql, { afterId: ids[0]! - 1, limit: 300 });
    expect(read.map((e) => e.eventId)).toEqual(ids);
    expect(read.map(({ topic, aggregateType, aggregateId, payload }) => ({ topic, aggregateType, aggregateId, payload }))).toEqual(events);
  });

  it('makes ids visible in commit order: a reader never skips an event that commits late', async () => {
    const [{ max } = { max: 0 }] = await sql<{ max: number }[]>`select coalesce(max(event_id), 0)::bigint as max from outbox_events`;
    // A slow writer takes the lock first; a fast one must wait for it, so it cannot commit a higher id earlier.
    let releaseSlow!: () => void;
    const slowHolds = new Promise<void>((r) => (releaseSlow = r));
    let slowAppended!: () => void;
    const slowHasLock = new Promise<void>((r) => (slowAppended = r));
    const slow = sql.begin(async (tx) => {
      await appendOutboxEvents(tx, [ev(10)]);
      slowAppended();
      await slowHolds;
    });
    await slowHasLock;
    const fast = sql.begin((tx) => appendOutboxEvents(tx, [ev(11)]));
    await untilLockAwaited(sql, 'advisory');
    // The fast writer is blocked: nothing new is visible yet.
    expect(await readOutboxEvents(sql, { afterId: max, limit: 10 })).toEqual([]);
    releaseSlow();
    await Promise.all([slow, fast]);
    const seen = await readOutboxEvents(sql, { afterId: max, limit: 10 });
    expect(seen.map((e) => reasonOf(e.payload))).toEqual(['r10', 'r11']);
  });

  it('advances a consumer cursor atomically and never backwards', async () => {
    await sql.begin((tx) => advanceCursor(tx, 'c1', 5));
    expect(await readCursor(sql, 'c1')).toBe(5);
    await expect(sql.begin((tx) => advanceCursor(tx, 'c1', 4))).rejects.toThrow(/backwards/);
    await expect(
      sql.begin(async (tx) => {
        await advanceCursor(tx, 'c1', 9);
        throw new Error('apply failed');
      }),
    ).rejects.toThrow('apply failed');
    expect(await readCursor(sql, 'c1')).toBe(5);
  });

  it('filters by topic', async () => {
    await sql.begin((tx) => appendOutboxEvents(tx, [sampleEvent('deposit.accept_failed', 'd20', { reason: 'r20' })]));
    const only = await readOutboxEvents(sql, { afterId: 0, limit: 100, topics: ['deposit.accept_failed'] });
    expect(only.map((e) => reasonOf(e.payload))).toEqual(['r20']);
  });

  it('refuses a payload its topic does not define, before writing anything: missing, extra or mistyped fields (issue 21 item 3)', async () => {
    const before = await readOutboxEvents(sql, { afterId: 0, limit: 1000 });
    const good = sampleEvent('withdrawal.completed', 'w-x');
    const { outcomeUpdateId: _dropped, ...missing } = good.payload as Record<string, unknown>;
    const bad = [
      { ...good, payload: missing },
      { ...good, payload: { ...good.payload, gasFee: '0.1' } },
      { ...good, payload: { ...good.payload, attempt: '1' } },
      { ...good, topic: 'withdrawal.unknown' },
    ] as unknown as OutboxEventInput[];
    for (const e of bad) await expect(sql.begin((tx) => appendOutboxEvents(tx, [ev(30), e]))).rejects.toBeInstanceOf(OutboxPayloadError);
    expect(await readOutboxEvents(sql, { afterId: 0, limit: 1000 })).toEqual(before);
  });

  // Issue 20: a consumer of GET /v1/events keeps "after=<last id seen>". After a restore the
  // database forgets the events written since the backup; the ones written next must not take
  // their ids, or the consumer skips them for good.
  it('never reuses an event id after a database restore: the next event is above every id written before it', async () => {
    const backup = await backupDatabase(sql, url);
    try {
      const seen = await sql.begin((tx) => appendOutboxEvents(tx, [ev(30), ev(31), ev(32)]));
      await backup.restore();
      const [next] = await sql.begin((tx) => appendOutboxEvents(tx, [ev(33)]));
      expect(next).toBeGreaterThan(Math.max(...seen));
      const read = await readOutboxEvents(sql, { afterId: Math.max(...seen), limit: 10 });
      expect(read.map((e) => reasonOf(e.payload))).toEqual(['r33']);
      expect(Number.isSafeInteger(next)).toBe(true);
    } finally {
      await backup.remove();
    }
  });
});

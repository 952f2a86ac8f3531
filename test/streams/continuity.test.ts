import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/ingestion/checkpoint.js';
import {
  checkLedgerContinuity,
  findResumeOffset,
  LedgerContinuityError,
  type ContinuityLedger,
  type LedgerPoint,
} from '../../src/streams/continuity.js';
import '../support/fast-check-seed.js';

/** A ledger of points (offset order), read as the continuity checks and the resync search read it. */
function ledgerOf(
  points: LedgerPoint[],
  o: { end?: number; participant?: string; synchronizers?: string[]; pruned?: number } = {},
): ContinuityLedger & { reads: number } {
  const end = o.end ?? points.at(-1)?.offset ?? 0;
  const l = {
    reads: 0,
    participantId: () => Promise.resolve(o.participant ?? 'PAR::p::1220aa'),
    connectedSynchronizers: () => Promise.resolve(o.synchronizers ?? ['sync-a']),
    ledgerEnd: () => Promise.resolve(end),
    prunedUpTo: () => Promise.resolve(o.pruned ?? 0),
    updateIdAt: (offset: number) => Promise.resolve(points.find((p) => p.offset === offset)?.updateId),
    updatesBetween: (b: number, e: number, limit: number) => {
      l.reads++;
      return Promise.resolve(points.filter((p) => p.offset > b && p.offset <= e).slice(0, limit));
    },
  };
  return l;
}

const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();

const checkpoint = (over: Partial<Checkpoint>): Checkpoint => ({
  treasuryParty: 'treasury',
  offset: 10,
  updateId: 'u10',
  updateOffset: 10,
  participantId: 'PAR::p::1220aa',
  synchronizerId: 'sync-a',
  recordTime: t(10),
  synchronizerTimes: { 'sync-a': t(10) },
  ...over,
});

describe('ledger continuity checks', () => {
  const points = Array.from({ length: 12 }, (_, i) => ({
    offset: i + 1,
    updateId: `u${i + 1}`,
    recordTime: t(i + 1),
    synchronizerId: 'sync-a',
  }));

  it('passes the ledger it read and names the first difference otherwise', async () => {
    await expect(checkLedgerContinuity(ledgerOf(points), checkpoint({}))).resolves.toEqual({ participantId: 'PAR::p::1220aa' });
    await expect(checkLedgerContinuity(ledgerOf(points), undefined)).resolves.toEqual({ participantId: 'PAR::p::1220aa' });
    const cases: [ContinuityLedger, Partial<Checkpoint>, string][] = [
      [ledgerOf(points, { participant: 'PAR::other::1220bb' }), {}, 'participant_differs'],
      [ledgerOf(points, { synchronizers: ['sync-b'] }), {}, 'synchronizer_differs'],
      [ledgerOf(points.slice(0, 8)), {}, 'ledger_end_behind'],
      [ledgerOf(points.map((p) => (p.offset === 10 ? { ...p, updateId: 'other' } : p))), {}, 'update_differs'],
      [
        ledgerOf(
          points.filter((p) => p.offset !== 10),
          { end: 12 },
        ),
        {},
        'update_differs',
      ],
    ];
    for (const [ledger, cp, reason] of cases) {
      const e = await checkLedgerContinuity(ledger, checkpoint(cp)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LedgerContinuityError);
      expect((e as LedgerContinuityError).reason).toBe(reason);
      expect((e as Error).message).toMatch(/cxi ingestion (resync|migrate)/);
    }
  });

  it('cannot look up a pruned last transaction: the other checks still apply', async () => {
    const moved = points.map((p) => (p.offset === 10 ? { ...p, updateId: 'other' } : p));
    await expect(checkLedgerContinuity(ledgerOf(moved, { pruned: 10 }), checkpoint({}))).resolves.toBeDefined();
  });
});

describe('resync: the offset to resume from, found by reading', () => {
  it('resumes right after the last update before the target time, reading about log2(end) times', async () => {
    const points = Array.from({ length: 1000 }, (_, i) => ({
      offset: i + 1,
      updateId: `u${i + 1}`,
      recordTime: t(i + 1),
      synchronizerId: 'sync-a',
    }));
    const l = ledgerOf(points);
    const r = await findResumeOffset(l, { synchronizerId: 'sync-a', recordTime: t(700), from: 0, ledgerEnd: 1000 });
    expect(r.offset).toBe(699);
    expect(r.at?.updateId).toBe('u699');
    expect(r.reads).toBeLessThanOrEqual(2 * 12);
  });

  it('never skips an update at or after the target time: repeated record times, gaps, other synchronizers (property)', async () => {
    const arb = fc.array(fc.record({ gap: fc.integer({ min: 1, max: 4 }), dt: fc.integer({ min: 0, max: 2 }), other: fc.boolean() }), {
      minLength: 1,
      maxLength: 80,
    });
    await fc.assert(
      fc.asyncProperty(arb, fc.nat(200), async (steps, targetIndex) => {
        let offset = 0;
        let time = 0;
        let otherTime = 500;
        const points: LedgerPoint[] = steps.map((s) => {
          offset += s.gap;
          if (s.other) {
            otherTime -= 3; // another synchronizer's clock: not ordered with ours
            return { offset, updateId: `o${offset}`, recordTime: t(otherTime), synchronizerId: 'sync-b' };
          }
          time += s.dt;
          return { offset, updateId: `u${offset}`, recordTime: t(time), synchronizerId: 'sync-a' };
        });
        const target = t(targetIndex % (time + 2));
        const end = offset + 3;
        const r = await findResumeOffset(ledgerOf(points, { end }), {
          synchronizerId: 'sync-a',
          recordTime: target,
          from: 0,
          ledgerEnd: end,
        });
        const ours = points.filter((p) => p.synchronizerId === 'sync-a');
        // Every update at or after the target is read from there on…
        for (const p of ours) if (p.recordTime >= target) expect(p.offset).toBeGreaterThan(r.offset);
        // …and nothing earlier than needed: the update at the resume offset is before the target.
        const at = ours.find((p) => p.offset === r.offset);
        if (r.offset > 0) expect(at === undefined || at.recordTime < target).toBe(true);
        if (at) expect(r.at?.updateId).toBe(at.updateId);
      }),
      { numRuns: 300 },
    );
  });
});

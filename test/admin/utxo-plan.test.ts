import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addAmounts, compareAmounts, subAmounts } from '../../src/lib/decimal.js';
import { timesUnit } from '../../src/admin/amounts.js';
import { planSelfTransfers, viewOf, type FreeHolding, type PlannedSelfTransfer } from '../../src/admin/utxo-plan.js';
import { effectivePolicy, UtxoPolicy, type EffectivePolicy, type UtxoPolicyInput } from '../../src/admin/utxo-policy.js';

const policy = (p: UtxoPolicyInput): EffectivePolicy => effectivePolicy(UtxoPolicy.parse(p));
const holdings = (amounts: readonly string[], prefix = 'h'): FreeHolding[] =>
  amounts.map((amount, i) => ({ contractId: `${prefix}${String(i).padStart(5, '0')}`, amount }));
const plan = (hs: readonly FreeHolding[], p: EffectivePolicy) => planSelfTransfers(viewOf(hs, p), p);

let fresh = 0;
/** The ledger's effect of a plan: inputs archived, amount and change created (self-transfers are free). */
function apply(hs: readonly FreeHolding[], transfers: readonly PlannedSelfTransfer[]): FreeHolding[] {
  const spent = new Set(transfers.flatMap((t) => t.inputs.map((i) => i.contractId)));
  const out = hs.filter((h) => !spent.has(h.contractId));
  for (const t of transfers) {
    const change = subAmounts(addAmounts(...t.inputs.map((i) => i.amount)), t.amount);
    out.push({ contractId: `o${++fresh}`, amount: t.amount });
    if (compareAmounts(change, '0') > 0) out.push({ contractId: `o${++fresh}`, amount: change });
  }
  return out;
}

const poolCount = (hs: readonly FreeHolding[], p: EffectivePolicy) =>
  p.poolTargetAmount === null ? 0 : hs.filter((h) => compareAmounts(h.amount, p.poolTargetAmount!) >= 0).length;
const smallCount = (hs: readonly FreeHolding[], p: EffectivePolicy) =>
  hs.filter((h) => p.smallAmount === null || compareAmounts(h.amount, p.smallAmount) < 0).length;
const sum = (hs: readonly FreeHolding[]) => addAmounts('0', ...hs.map((h) => h.amount));

function checkWellFormed(hs: readonly FreeHolding[], p: EffectivePolicy, transfers: readonly PlannedSelfTransfer[]): void {
  expect(transfers.length).toBeLessThanOrEqual(p.maxTransfersPerRun);
  const byId = new Map(hs.map((h) => [h.contractId, h.amount]));
  const seen = new Set<string>();
  for (const t of transfers) {
    for (const i of t.inputs) {
      expect(byId.get(i.contractId)).toBe(i.amount);
      expect(seen.has(i.contractId)).toBe(false);
      seen.add(i.contractId);
    }
    const inputTotal = addAmounts(...t.inputs.map((i) => i.amount));
    if (t.kind === 'merge') {
      expect(t.inputs.length).toBeGreaterThanOrEqual(2);
      expect(t.inputs.length).toBeLessThanOrEqual(p.maxInputs);
      expect(t.amount).toBe(inputTotal);
    } else {
      const target = p.poolTargetAmount!;
      expect(t.inputs).toHaveLength(1);
      expect(compareAmounts(t.amount, target)).toBeGreaterThanOrEqual(0);
      expect(compareAmounts(subAmounts(inputTotal, t.amount), target)).toBeGreaterThanOrEqual(0);
    }
  }
}

describe('UTXO policy', () => {
  it('an empty policy manages nothing; defaults are filled in', () => {
    expect(UtxoPolicy.parse({})).toEqual({ maxInputs: 100, poolSize: 0, maxTransfersPerRun: 10 });
    expect(effectivePolicy(UtxoPolicy.parse({}))).toMatchObject({ mergeThreshold: null, poolSize: 0, poolTargetAmount: null });
  });

  it('refuses what cannot work: > 100 inputs, a pool without a target, small above the target, unknown keys', () => {
    expect(UtxoPolicy.safeParse({ maxInputs: 101 }).success).toBe(false);
    expect(UtxoPolicy.safeParse({ poolSize: 3 }).error?.issues[0]?.path).toEqual(['poolTargetAmount']);
    expect(UtxoPolicy.safeParse({ poolSize: 3, poolTargetAmount: '10', smallAmount: '11' }).error?.issues[0]?.path).toEqual([
      'smallAmount',
    ]);
    expect(UtxoPolicy.safeParse({ mergeTreshold: 3 }).success).toBe(false);
    expect(UtxoPolicy.safeParse({ poolSize: 1, poolTargetAmount: '-1' }).success).toBe(false);
  });

  it('normalises amounts and defaults smallAmount to the pool target', () => {
    expect(effectivePolicy(UtxoPolicy.parse({ poolSize: 2, poolTargetAmount: '5' }))).toMatchObject({
      poolTargetAmount: '5.0000000000',
      smallAmount: '5.0000000000',
    });
  });
});

describe('planning self-transfers', () => {
  it('merges 250 small holdings in 3 transfers of at most 100 inputs, smallest first', () => {
    const p = policy({ mergeThreshold: 20, smallAmount: '1' });
    const hs = [...holdings(Array.from({ length: 250 }, (_, i) => `0.${String(i + 1).padStart(3, '0')}`)), ...holdings(['5', '7'], 'big')];
    const transfers = plan(hs, p);
    checkWellFormed(hs, p, transfers);
    expect(transfers.map((t) => [t.kind, t.inputs.length])).toEqual([
      ['merge', 84],
      ['merge', 83],
      ['merge', 83],
    ]);
    expect(transfers.flatMap((t) => t.inputs.map((i) => i.contractId))).not.toContain('big00000');
    const after = apply(hs, transfers);
    expect(after).toHaveLength(5);
    expect(sum(after)).toBe(sum(hs));
  });

  it('merges nothing at or below the threshold', () => {
    const p = policy({ mergeThreshold: 3, smallAmount: '1' });
    expect(plan(holdings(['0.1', '0.2', '0.3', '9']), p)).toEqual([]);
    expect(plan(holdings(['0.1', '0.2', '0.3', '0.4']), p)).toHaveLength(1);
  });

  it('grows a pool from one large holding by doubling splits', () => {
    const p = policy({ poolSize: 8, poolTargetAmount: '10' });
    let hs = holdings(['1000']);
    const splitsPerRound: number[] = [];
    for (let round = 0; round < 10; round++) {
      const transfers = plan(hs, p);
      if (transfers.length === 0) break;
      checkWellFormed(hs, p, transfers);
      splitsPerRound.push(transfers.length);
      hs = apply(hs, transfers);
    }
    expect(splitsPerRound).toEqual([1, 2, 4]);
    expect(poolCount(hs, p)).toBe(8);
    expect(sum(hs)).toBe('1000.0000000000');
  });

  it('counts pool holdings serving a withdrawal right now, and never splits those', () => {
    const p = policy({ poolSize: 2, poolTargetAmount: '100' });
    const free = holdings(['1000']);
    expect(planSelfTransfers(viewOf(free, p, holdings(['150'], 'res')), p)).toEqual([]);
    expect(planSelfTransfers(viewOf(free, p, holdings(['99'], 'res')), p).map((t) => t.inputs[0]?.contractId)).toEqual(['h00000']);
  });

  it('fills the pool by merging holdings below the target when nothing can be split', () => {
    const p = policy({ poolSize: 2, poolTargetAmount: '10' });
    const transfers = plan(holdings(['6', '5', '4', '3', '1', '15']), p);
    expect(transfers.map((t) => [t.kind, t.inputs.map((i) => i.amount)])).toEqual([['merge', ['6', '5']]]);
  });

  it('leaves a pool that is full alone, and never plans with fewer than two merge inputs', () => {
    const p = policy({ poolSize: 2, poolTargetAmount: '10', mergeThreshold: 1, maxInputs: 2 });
    expect(plan(holdings(['10', '30']), p)).toEqual([]);
    const odd = plan(holdings(['1', '2', '3']), p);
    expect(odd.every((t) => t.inputs.length === 2)).toBe(true);
  });

  const amount = fc.integer({ min: 1, max: 5_000_000 }).map((n) => (n / 10_000).toFixed(4));
  const policyArb = fc
    .record({
      mergeThreshold: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
      maxInputs: fc.integer({ min: 2, max: 100 }),
      poolSize: fc.integer({ min: 0, max: 12 }),
      poolTargetAmount: fc.integer({ min: 1, max: 300 }).map(String),
      smallFraction: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      maxTransfersPerRun: fc.integer({ min: 1, max: 6 }),
    })
    .map((r) =>
      policy({
        ...(r.mergeThreshold === undefined ? {} : { mergeThreshold: r.mergeThreshold }),
        maxInputs: r.maxInputs,
        poolSize: r.poolSize,
        maxTransfersPerRun: r.maxTransfersPerRun,
        ...(r.poolSize > 0 ? { poolTargetAmount: r.poolTargetAmount } : {}),
        ...(r.smallFraction === undefined ? {} : { smallAmount: (Number(r.poolTargetAmount) * (r.smallFraction / 100)).toFixed(2) }),
      }),
    );

  it('property: every plan is well formed, conserves the total and never shrinks the pool; repeated runs converge', () => {
    fc.assert(
      fc.property(fc.array(amount, { maxLength: 300 }), policyArb, (amounts, p) => {
        let hs = holdings(amounts);
        const start = sum(hs);
        let rounds = 0;
        for (;;) {
          const transfers = plan(hs, p);
          if (transfers.length === 0) break;
          checkWellFormed(hs, p, transfers);
          const before = poolCount(hs, p);
          hs = apply(hs, transfers);
          expect(sum(hs)).toBe(start);
          expect(poolCount(hs, p)).toBeGreaterThanOrEqual(before);
          expect(++rounds).toBeLessThan(80);
        }
        // The fixpoint: nothing left to merge, and the pool is full unless the funds cannot make it.
        if (p.mergeThreshold !== null) expect(smallCount(hs, p)).toBeLessThanOrEqual(p.mergeThreshold);
        if (p.poolTargetAmount !== null && poolCount(hs, p) < p.poolSize) {
          const target = p.poolTargetAmount;
          expect(hs.some((h) => compareAmounts(h.amount, timesUnit(target, 2)) >= 0)).toBe(false);
          const below = hs
            .filter((h) => compareAmounts(h.amount, target) < 0)
            .map((h) => h.amount)
            .sort((a, b) => compareAmounts(b, a))
            .slice(0, p.maxInputs);
          expect(compareAmounts(addAmounts('0', ...below), target)).toBeLessThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

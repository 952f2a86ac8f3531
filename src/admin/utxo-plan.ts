import { addAmounts, compareAmounts } from '../lib/decimal.js';
import { halfInUnits, timesUnit } from './amounts.js';
import type { FreeHolding, FreeHoldingsView, ViewLimits } from '../store/holdings-job.js';
import type { EffectivePolicy } from './utxo-policy.js';

/**
 * Planning the holdings job's self-transfers: pure, from what the job read of an instrument's
 * free holdings (unlocked, unreserved, not planned for another self-transfer) and its policy.
 *
 * A self-transfer spends its inputs and creates `amount` plus the change (total − amount) for the
 * treasury, at no fee: the ledger charges only transfers that reach another party (Canton Coin's
 * sender fee included), so coin selection reserves no fee for self-transfers either
 * (src/store/reservations.ts) and a merge needs no room for one. So a merge (amount = total of its
 * inputs) turns n holdings into one, and a split (amount < its single input) turns one holding
 * into two. Neither changes the total.
 */

/** What it plans from: the view of the free holdings the job's SQL reads (src/store/holdings-job.ts). */
export type { FreeHolding, FreeHoldingsView, ViewLimits };

/** The most a plan can use: every transfer a merge of maxInputs, or every transfer a split. */
export function viewLimits(p: EffectivePolicy): ViewLimits {
  return { inputs: p.maxInputs * p.maxTransfersPerRun, splits: p.maxTransfersPerRun };
}

export interface PlannedSelfTransfer {
  kind: 'merge' | 'split';
  inputs: FreeHolding[];
  /** What the self-transfer moves to the treasury; the rest of the inputs comes back as change. */
  amount: string;
  /** Why, for logs and the operator. */
  reason: string;
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
export const ascending = (a: FreeHolding, b: FreeHolding) => compareAmounts(a.amount, b.amount) || byteOrder(a.contractId, b.contractId);
// Exactly reversed, ties included: the SQL side then reads its index backwards, sorting nothing.
export const descending = (a: FreeHolding, b: FreeHolding) => compareAmounts(b.amount, a.amount) || byteOrder(b.contractId, a.contractId);

const isSmall = (h: FreeHolding, p: EffectivePolicy) => p.smallAmount === null || compareAmounts(h.amount, p.smallAmount) < 0;

/**
 * The view of a complete list of free holdings (and of those reserved by withdrawals, which only
 * count towards the pool): what the SQL reads, for tests and small sets.
 */
export function viewOf(holdings: readonly FreeHolding[], p: EffectivePolicy, reserved: readonly FreeHolding[] = []): FreeHoldingsView {
  const limits = viewLimits(p);
  const small = holdings.filter((h) => isSmall(h, p)).sort(ascending);
  const target = p.poolTargetAmount;
  const desc = [...holdings].sort(descending);
  return {
    smallCount: small.length,
    smallest: small.slice(0, limits.inputs),
    poolCount: target === null ? 0 : [...holdings, ...reserved].filter((h) => compareAmounts(h.amount, target) >= 0).length,
    splittable: target === null ? [] : desc.filter((h) => compareAmounts(h.amount, timesUnit(target, 2)) >= 0).slice(0, limits.splits),
    belowTarget: target === null ? [] : desc.filter((h) => compareAmounts(h.amount, target) < 0).slice(0, limits.inputs),
  };
}

/** n inputs in as few chunks of at most `max` as possible, sizes differing by at most one. */
function balancedChunks<T>(items: readonly T[], max: number): T[][] {
  if (items.length === 0) return [];
  const k = Math.ceil(items.length / max);
  const base = Math.floor(items.length / k);
  const extra = items.length % k;
  const chunks: T[][] = [];
  let at = 0;
  for (let i = 0; i < k; i++) {
    const size = base + (i < extra ? 1 : 0);
    chunks.push(items.slice(at, at + size));
    at += size;
  }
  return chunks;
}

const total = (hs: readonly FreeHolding[]) => addAmounts(...hs.map((h) => h.amount));

/**
 * The self-transfers to create now, at most maxTransfersPerRun, each input used once:
 * 1. more small holdings than mergeThreshold → merge them, smallest first, in balanced chunks
 *    of at most maxInputs (250 small holdings, 100 inputs → 3 merges);
 * 2. fewer than poolSize pool holdings (counting merges of step 1 that reach the target) →
 *    split the largest holdings of at least twice the target in halves of whole targets;
 * 3. still short → merge the largest holdings below the target into groups that reach it.
 * No step ever spends a pool holding without leaving two, so the pool never shrinks by a plan.
 */
export function planSelfTransfers(view: FreeHoldingsView, p: EffectivePolicy): PlannedSelfTransfer[] {
  const plan: PlannedSelfTransfer[] = [];
  const used = new Set<string>();
  const room = () => p.maxTransfersPerRun - plan.length;
  const target = p.poolTargetAmount;
  let poolGain = 0;

  if (p.mergeThreshold !== null && view.smallCount > p.mergeThreshold) {
    const candidates = view.smallest.slice(0, p.maxInputs * p.maxTransfersPerRun);
    for (const chunk of balancedChunks(candidates, p.maxInputs)) {
      // A chunk of one (few inputs over many chunks) merges nothing; it waits for the next run.
      if (chunk.length < 2 || room() === 0) continue;
      const amount = total(chunk);
      plan.push({
        kind: 'merge',
        inputs: chunk,
        amount,
        reason: `${view.smallCount} small holdings exceed the merge threshold ${p.mergeThreshold}`,
      });
      chunk.forEach((h) => used.add(h.contractId));
      if (target !== null && compareAmounts(amount, target) >= 0) poolGain++;
    }
  }

  if (target === null) return plan;
  let deficit = p.poolSize - view.poolCount - poolGain;

  for (const source of view.splittable) {
    if (deficit <= 0 || room() === 0) break;
    if (used.has(source.contractId)) continue;
    const amount = halfInUnits(source.amount, target);
    plan.push({
      kind: 'split',
      inputs: [source],
      amount,
      reason: `pool has ${view.poolCount + poolGain} of ${p.poolSize} holdings ≥ ${target}: split ${source.amount}`,
    });
    used.add(source.contractId);
    deficit--;
  }

  let group: FreeHolding[] = [];
  for (const h of view.belowTarget) {
    if (deficit <= 0 || room() === 0) break;
    if (used.has(h.contractId)) continue;
    group.push(h);
    if (compareAmounts(total(group), target) >= 0) {
      plan.push({
        kind: 'merge',
        inputs: group,
        amount: total(group),
        reason: `pool has fewer than ${p.poolSize} holdings ≥ ${target}: merge ${group.length} holdings up to the target`,
      });
      group.forEach((g) => used.add(g.contractId));
      group = [];
      deficit--;
    } else if (group.length === p.maxInputs) {
      // Largest first: if these cannot reach the target, no later group can.
      break;
    }
  }
  return plan;
}

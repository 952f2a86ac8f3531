import { addAmounts, compareAmounts, subAmounts } from '../lib/decimal.js';

export interface Candidate {
  contractId: string;
  amount: string;
}

/**
 * Coin selection. Prefers small holdings (paying with them merges dust for free) and never exceeds
 * `maxInputs`. Tries k = 0, 1, 2… of the largest holdings and fills the rest of the amount with the
 * smallest ones, returning the first k that fits: k = 0 is "smallest first"; a larger k brings in
 * just enough big holdings when the small ones cannot cover the amount within the input limit.
 * Returns null exactly when even the `maxInputs` largest holdings do not cover the amount.
 *
 * Candidates must hold at least the maxInputs smallest and the maxInputs largest free holdings:
 * no better selection can use any other holding.
 */
export function selectInputs(candidates: readonly Candidate[], amount: string, maxInputs: number): Candidate[] | null {
  const unique = [...new Map(candidates.map((c) => [c.contractId, c])).values()];
  const asc = [...unique].sort((a, b) => compareAmounts(a.amount, b.amount) || a.contractId.localeCompare(b.contractId));
  const desc = [...asc].reverse();
  for (let k = 0; k <= Math.min(maxInputs, desc.length); k++) {
    const large = desc.slice(0, k);
    const taken = new Set(large.map((c) => c.contractId));
    let rest = subAmounts(amount, addAmounts(...large.map((c) => c.amount)));
    const chosen = [...large];
    for (const c of asc) {
      if (compareAmounts(rest, '0') <= 0) break;
      if (chosen.length >= maxInputs) break;
      if (taken.has(c.contractId)) continue;
      chosen.push(c);
      rest = subAmounts(rest, c.amount);
    }
    if (compareAmounts(rest, '0') <= 0) return chosen;
  }
  return null;
}

import { Decimal } from 'decimal.js';
import { AMOUNT_SCALE } from '../lib/decimal.js';

/**
 * The operations UTXO planning needs beyond src/lib/decimal.ts, with the same precision and
 * rounding: decimal arithmetic throughout, so huge amounts or tiny units never pass through a float.
 */
const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_DOWN, toExpNeg: -100, toExpPos: 100 });

export function timesUnit(unit: string, n: number): string {
  return new D(unit).mul(n).toFixed(AMOUNT_SCALE);
}

/**
 * The part to split off a holding so that both parts hold as many whole units as possible:
 * unit × ⌊⌊amount / unit⌋ / 2⌋. For amount ≥ 2 units both the part and the rest are ≥ 1 unit,
 * and each can be split again while it holds 2 units or more: a pool grows by doubling.
 */
export function halfInUnits(amount: string, unit: string): string {
  const units = new D(amount).div(unit).floor();
  return units.div(2).floor().mul(unit).toFixed(AMOUNT_SCALE);
}

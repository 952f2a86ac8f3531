import { Decimal } from 'decimal.js';
import { z } from 'zod';
import { addAmounts, AMOUNT_SCALE, isAmountString, NonNegativeAmountString, normalizeAmount } from './decimal.js';

/**
 * What a transfer's sender pays on top of the amount, out of the same inputs (Canton Coin charges
 * a flat fee plus a rate of the amount): coin selection covers amount + flat + amount × rate, or the
 * ledger refuses the prepared transfer for insufficient funds. The transfer amount is unchanged;
 * what the ledger does not burn comes back as change. Set per instrument (instruments.fee_reserve_*),
 * at or a little above the ledger's fee: a reserve below it stalls withdrawals, one above it only
 * reserves a little more than is spent.
 */
export interface FeeReserve {
  /** Fraction of the amount, e.g. "0.001" for 0.1 %. */
  rate: string;
  /** A fixed amount per transfer. */
  flat: string;
}

/** None: rate 0, flat 0, in the canonical 10-digit form the database hands back. */
export const NO_FEE_RESERVE: FeeReserve = { rate: '0.0000000000', flat: '0.0000000000' };

const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_DOWN, toExpNeg: -100, toExpPos: 100 });

const Rate = NonNegativeAmountString.refine((s) => !isAmountString(s) || new D(s).lte(1), 'must be at most 1 (100 %)').transform(
  normalizeAmount,
);
const Flat = NonNegativeAmountString.transform(normalizeAmount);

/** The reserve as the admin API and the CLI take it; a missing part is 0. */
export const FeeReserveBody = z
  .object({
    rate: Rate.default(NO_FEE_RESERVE.rate).describe('Fraction of the amount the sender pays on top of it, e.g. "0.001" (0.1 %)'),
    flat: Flat.default(NO_FEE_RESERVE.flat).describe('Fixed amount the sender pays on top of every transfer, e.g. "0.5"'),
  })
  .strict();

/** A change of the reserve: the parts given replace the stored ones. */
export const FeeReservePatch = z
  .object({
    rate: Rate.optional().describe('Fraction of the amount, e.g. "0.001" (0.1 %)'),
    flat: Flat.optional().describe('Fixed amount per transfer, e.g. "0.5"'),
  })
  .strict();

/**
 * The fee reserve for a transfer of `amount`: flat + amount × rate, rounded UP to the amount scale
 * (the product can have up to 20 fractional digits; rounding down could leave the inputs a unit
 * short of what the ledger charges).
 */
export function feeReserveFor(amount: string, r: FeeReserve): string {
  const variable = new D(amount).times(r.rate).toDecimalPlaces(AMOUNT_SCALE, Decimal.ROUND_UP).toFixed(AMOUNT_SCALE);
  return addAmounts(r.flat, variable);
}

/** What coin selection must cover for a transfer of `amount`: the amount plus its fee reserve. */
export function amountWithFeeReserve(amount: string, r: FeeReserve): string {
  return addAmounts(amount, feeReserveFor(amount, r));
}

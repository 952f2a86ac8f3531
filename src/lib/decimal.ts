import { Decimal } from 'decimal.js';
import { z } from 'zod';

/**
 * Token amounts. Daml `Numeric 10` travels as a JSON string ("200.0000000000") and is stored as
 * SQL `numeric(38,10)`; in TypeScript an amount is always a decimal string, never a JS number,
 * so no float rounding can creep into money. Arithmetic goes through decimal.js with enough
 * precision for 28 integer + 10 fractional digits.
 */
const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_DOWN, toExpNeg: -100, toExpPos: 100 });

export const AMOUNT_SCALE = 10;
const AMOUNT_PATTERN = /^-?(0|[1-9]\d{0,27})(\.\d{1,10})?$/;
/** Ledger JSON may send trailing zeros beyond our scale or leading zeros; accept what Daml emits. */
const LEDGER_NUMERIC_PATTERN = /^-?\d+(\.\d+)?$/;

/** A decimal string with at most 10 fractional digits and 28 integer digits (fits numeric(38,10)). */
export const AmountString = z.string().regex(AMOUNT_PATTERN, 'must be a decimal string with at most 28 integer and 10 fractional digits');
export type AmountString = z.infer<typeof AmountString>;

/** Whether a string is an amount of the pattern: what refinements check before any arithmetic. */
export const isAmountString = (s: string): boolean => AMOUNT_PATTERN.test(s);

/**
 * A strictly positive amount, as requested by customers. zod runs a refinement even when the regex
 * already failed, and decimal.js throws on what the regex refused ("1,5", "NaN"): the check only
 * judges strings of the pattern, so a malformed one fails with the pattern's issue on its field.
 */
export const PositiveAmountString = AmountString.refine((s) => !isAmountString(s) || new D(s).gt(0), 'must be greater than 0');

/** A non-negative amount (a fee, a reserve); guarded like PositiveAmountString. */
export const NonNegativeAmountString = AmountString.refine((s) => !isAmountString(s) || new D(s).gte(0), 'must not be negative');

/** 10^28: the first magnitude numeric(38,10) cannot hold. */
const AMOUNT_LIMIT = new D(10).pow(28);

/**
 * Exact fast paths. Most amounts are plain decimal strings of at most 10 fractional digits (what
 * the ledger and the database send); those are handled as integers of 10^-10 units (BigInt) or
 * as strings, which give exactly decimal.js's results at scale 10 — the arithmetic is exact, so
 * there is nothing to round. Anything else (more digits, exponents, signs, spaces) goes through
 * decimal.js as before. Tested against decimal.js (test/lib/decimal-fast.test.ts).
 */
const PLAIN_AMOUNT = /^(-?)(\d+)(?:\.(\d{1,10}))?$/;
const SCALE_ZEROS = '0'.repeat(AMOUNT_SCALE);

/** The canonical 10-digit form of a plain amount below 10^28, else undefined. */
function canonicalPlain(s: string): string | undefined {
  const m = PLAIN_AMOUNT.exec(s);
  if (m === null) return undefined;
  let int = m[2]!;
  let i = 0;
  while (i < int.length - 1 && int.charCodeAt(i) === 48) i++;
  if (i > 0) int = int.slice(i);
  if (int.length > 28) return undefined;
  const frac = m[3] === undefined ? SCALE_ZEROS : m[3].padEnd(AMOUNT_SCALE, '0');
  // decimal.js prints zero without a sign, however it was written ("-0.00" → "0.0000000000").
  const negative = m[1] === '-' && (int !== '0' || frac !== SCALE_ZEROS);
  return `${negative ? '-' : ''}${int}.${frac}`;
}

/** A plain amount in units of 10^-10, else undefined. */
function toUnits(s: string): bigint | undefined {
  const m = PLAIN_AMOUNT.exec(s);
  // Far beyond any amount; decimal.js's 60 significant digits stay exact for what is left.
  if (m === null || m[2]!.length > 40) return undefined;
  const units = BigInt(m[2]! + (m[3] === undefined ? SCALE_ZEROS : m[3].padEnd(AMOUNT_SCALE, '0')));
  return m[1] === '-' ? -units : units;
}

function fromUnits(u: bigint): string {
  const negative = u < 0n;
  const digits = (negative ? -u : u).toString().padStart(AMOUNT_SCALE + 1, '0');
  const cut = digits.length - AMOUNT_SCALE;
  return `${negative ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
}

/**
 * A Daml Numeric as the ledger sends it, normalised to exactly 10 fractional digits. Rejects values
 * that would lose precision at scale 10 or overflow numeric(38,10): bad data stops, never rounds.
 */
export const LedgerNumeric = z
  .string()
  .regex(LEDGER_NUMERIC_PATTERN, 'must be a Daml Numeric string')
  .transform((s, ctx) => {
    const plain = canonicalPlain(s);
    if (plain !== undefined) return plain;
    const d = new D(s);
    if (d.decimalPlaces() > AMOUNT_SCALE) {
      ctx.addIssue({ code: 'custom', message: `more than ${AMOUNT_SCALE} fractional digits: ${s}` });
      return z.NEVER;
    }
    if (d.abs().gte(AMOUNT_LIMIT)) {
      ctx.addIssue({ code: 'custom', message: `amount out of range: ${s}` });
      return z.NEVER;
    }
    return d.toFixed(AMOUNT_SCALE);
  });

/** Canonical form: exactly 10 fractional digits, e.g. "200.0000000000". */
export function normalizeAmount(a: AmountString): string {
  return canonicalPlain(a) ?? new D(a).toFixed(AMOUNT_SCALE);
}

/** Significant fractional digits of an amount ("12.50" has 1): what a display rounded to fewer would lose. */
export function fractionDigits(a: AmountString): number {
  return (
    normalizeAmount(a)
      .replace(/\.?0+$/, '')
      .split('.')[1]?.length ?? 0
  );
}

export function addAmounts(...xs: readonly string[]): string {
  let sum = 0n;
  for (const x of xs) {
    const u = toUnits(x);
    if (u === undefined) return xs.reduce((acc, y) => acc.plus(y), new D(0)).toFixed(AMOUNT_SCALE);
    sum += u;
  }
  return fromUnits(sum);
}

export function subAmounts(a: string, b: string): string {
  const x = toUnits(a);
  const y = toUnits(b);
  if (x !== undefined && y !== undefined) return fromUnits(x - y);
  return new D(a).minus(b).toFixed(AMOUNT_SCALE);
}

export function negateAmount(a: string): string {
  const x = toUnits(a);
  if (x !== undefined) return fromUnits(-x);
  return new D(a).neg().toFixed(AMOUNT_SCALE);
}

/** -1, 0 or 1, like a comparator. */
export function compareAmounts(a: string, b: string): -1 | 0 | 1 {
  const x = toUnits(a);
  const y = toUnits(b);
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0;
  return new D(a).comparedTo(b) as -1 | 0 | 1;
}

export function isZeroAmount(a: string): boolean {
  const x = toUnits(a);
  if (x !== undefined) return x === 0n;
  return new D(a).isZero();
}

export function isPositiveAmount(a: string): boolean {
  const x = toUnits(a);
  if (x !== undefined) return x > 0n;
  return new D(a).gt(0);
}

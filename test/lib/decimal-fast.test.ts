import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addAmounts,
  compareAmounts,
  isPositiveAmount,
  isZeroAmount,
  LedgerNumeric,
  negateAmount,
  normalizeAmount,
  subAmounts,
} from '../../src/lib/decimal.js';

/**
 * The exact fast paths of src/lib/decimal.ts must give decimal.js's answers, character for
 * character: the reference below is the decimal.js code they replace.
 */
const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_DOWN, toExpNeg: -100, toExpPos: 100 });
const ref = {
  numeric(s: string): string | 'error' {
    if (!/^-?\d+(\.\d+)?$/.test(s)) return 'error';
    const d = new D(s);
    if (d.decimalPlaces() > 10 || d.abs().gte(new D(10).pow(28))) return 'error';
    return d.toFixed(10);
  },
  add: (...xs: string[]) => xs.reduce((acc, x) => acc.plus(x), new D(0)).toFixed(10),
  sub: (a: string, b: string) => new D(a).minus(b).toFixed(10),
  neg: (a: string) => new D(a).neg().toFixed(10),
  cmp: (a: string, b: string) => new D(a).comparedTo(b),
};

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), minLength: min, maxLength: max });
/** Plain decimal strings, with leading and trailing zeros, signs, zero, and too many digits. */
const amount = fc
  .tuple(fc.constantFrom('', '-'), digits(1, 31), fc.option(digits(1, 14), { nil: undefined }))
  .map(([sign, int, frac]) => `${sign}${int}${frac === undefined ? '' : `.${frac}`}`);
const odd = fc.constantFrom(
  '0',
  '-0',
  '-0.0',
  '0.0000000000',
  '-0.0000000000',
  '00012.50',
  '1e5',
  '+1',
  '.5',
  '5.',
  ' 1',
  '1.00000000000000',
  '9999999999999999999999999999.9999999999',
  '10000000000000000000000000000',
);
const anyAmount = fc.oneof(amount, odd);

describe('decimal fast paths', () => {
  it('LedgerNumeric normalises exactly as decimal.js', () => {
    fc.assert(
      fc.property(anyAmount, (s) => {
        const r = LedgerNumeric.safeParse(s);
        expect(r.success ? r.data : 'error').toBe(ref.numeric(s));
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps the error messages', () => {
    expect(LedgerNumeric.safeParse('1.00000000001').error?.issues[0]?.message).toBe('more than 10 fractional digits: 1.00000000001');
    expect(LedgerNumeric.safeParse('10000000000000000000000000000').error?.issues[0]?.message).toBe(
      'amount out of range: 10000000000000000000000000000',
    );
    const big = `-0000${'1'.padEnd(29, '0')}.5`;
    expect(LedgerNumeric.safeParse(big).error?.issues[0]?.message).toBe(`amount out of range: ${big}`);
    expect(LedgerNumeric.safeParse(`-0000${'9'.repeat(28)}.5`).data).toBe(`-${'9'.repeat(28)}.5000000000`);
  });

  it('arithmetic and comparisons equal decimal.js', () => {
    const valid = anyAmount.filter((s) => {
      try {
        return new D(s).isFinite();
      } catch {
        return false;
      }
    });
    fc.assert(
      fc.property(valid, valid, fc.array(valid, { maxLength: 4 }), (a, b, more) => {
        expect(addAmounts(a, b, ...more)).toBe(ref.add(a, b, ...more));
        expect(addAmounts(a)).toBe(ref.add(a));
        expect(subAmounts(a, b)).toBe(ref.sub(a, b));
        expect(negateAmount(a)).toBe(ref.neg(a));
        expect(compareAmounts(a, b)).toBe(ref.cmp(a, b));
        expect(isZeroAmount(a)).toBe(new D(a).isZero());
        expect(isPositiveAmount(a)).toBe(new D(a).gt(0));
        if (/^-?(0|[1-9]\d{0,27})(\.\d{1,10})?$/.test(a)) expect(normalizeAmount(a)).toBe(new D(a).toFixed(10));
      }),
      { numRuns: 5000 },
    );
    expect(addAmounts()).toBe('0.0000000000');
    expect(subAmounts('1', '1')).toBe('0.0000000000');
    expect(negateAmount('0.0000000000')).toBe('0.0000000000');
  });
});

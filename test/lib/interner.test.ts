import { describe, expect, it } from 'vitest';
import { Interner } from '../../src/lib/interner.js';

describe('Interner', () => {
  it('returns the value it was given, for new and for known strings', () => {
    const i = new Interner(10);
    const fresh = ['DSO::1220', 'Splice.Amulet:Amulet'].map((s) => i.intern(s));
    expect(fresh).toEqual(['DSO::1220', 'Splice.Amulet:Amulet']);
    expect(i.intern(['DSO', '1220'].join('::'))).toBe('DSO::1220');
    expect(i.internAll(['a', 'DSO::1220', 'a'])).toEqual(['a', 'DSO::1220', 'a']);
    expect(i.size).toBe(3);
  });

  it('never holds more than its capacity: it starts over when full', () => {
    const i = new Interner(100);
    for (let n = 0; n < 1_000; n++) {
      expect(i.intern(`party-${n}`)).toBe(`party-${n}`);
      expect(i.size).toBeLessThanOrEqual(100);
    }
    expect(i.size).toBe(100); // the 1,000th distinct string filled it again
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const c of [0, -1, 1.5, Number.NaN]) expect(() => new Interner(c)).toThrow(RangeError);
  });
});

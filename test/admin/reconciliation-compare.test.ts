import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareHoldings, type HoldingRecord } from '../../src/admin/reconciliation/compare.js';
import { formatReport } from '../../src/admin/reconciliation/format.js';
import { addAmounts } from '../../src/lib/decimal.js';

const CC = { admin: 'DSO::1220aa', id: 'Amulet' };
const UTK = { admin: 'reg::1220bb', id: 'UTK' };
const h = (contractId: string, amount: string, instrument = CC, locked = false): HoldingRecord => ({
  contractId,
  instrument,
  amount,
  locked,
});
const movements = (hs: readonly HoldingRecord[]) => {
  const per = new Map<string, { instrument: typeof CC; created: string; archived: string }>();
  for (const x of hs) {
    const k = `${x.instrument.admin}/${x.instrument.id}`;
    const m = per.get(k) ?? { instrument: x.instrument, created: '0', archived: '0' };
    m.created = addAmounts(m.created, x.amount);
    per.set(k, m);
  }
  return [...per.values()];
};

describe('compareHoldings', () => {
  it('is clean when both sides hold the same contracts and the movements add up', () => {
    const db = [h('a', '10'), h('b', '2.5', UTK), h('c', '1', CC, true)];
    const r = compareHoldings(db, [...db].reverse(), movements(db));
    expect(r.differences).toEqual([]);
    expect(r.instruments).toEqual([
      {
        instrument: CC,
        db: { count: 2, total: '11.0000000000' },
        ledger: { count: 2, total: '11.0000000000' },
        movements: { created: '11.0000000000', archived: '0.0000000000', net: '11.0000000000' },
        differences: 0,
      },
      {
        instrument: UTK,
        db: { count: 1, total: '2.5000000000' },
        ledger: { count: 1, total: '2.5000000000' },
        movements: { created: '2.5000000000', archived: '0.0000000000', net: '2.5000000000' },
        differences: 0,
      },
    ]);
  });

  it('names every difference: missing, extra, amount, instrument, lock, movements', () => {
    const db = [h('same', '1'), h('extra', '2'), h('amt', '3'), h('inst', '4'), h('lock', '5')];
    const ledger = [h('same', '1'), h('missing', '7'), h('amt', '3.5'), h('inst', '4', UTK), h('lock', '5', CC, true)];
    const r = compareHoldings(db, ledger, [{ instrument: CC, created: '20', archived: '1' }]);
    expect(r.differences).toEqual([
      { kind: 'amount', contractId: 'amt', instrument: CC, dbAmount: '3.0000000000', ledgerAmount: '3.5000000000' },
      { kind: 'extra', contractId: 'extra', instrument: CC, dbAmount: '2.0000000000' },
      { kind: 'lock', contractId: 'lock', instrument: CC, dbLocked: false, ledgerLocked: true },
      { kind: 'missing', contractId: 'missing', instrument: CC, ledgerAmount: '7.0000000000' },
      { kind: 'movements', instrument: CC, movementsTotal: '19.0000000000', dbTotal: '15.0000000000' },
      { kind: 'instrument', contractId: 'inst', instrument: UTK, dbInstrument: CC, ledgerAmount: '4.0000000000', dbAmount: '4.0000000000' },
    ]);
    const text = formatReport({
      treasuryParty: 't::1',
      offset: 9,
      recordTime: null,
      checkedAt: 'now',
      clean: false,
      ignoredLedgerHoldings: 0,
      ...r,
    });
    expect(text).toContain('6 DIFFERENCE(S)');
    for (const kind of ['missing', 'extra', 'amount', 'instrument', 'lock', 'movements']) expect(text).toContain(kind);
  });

  it('property: differences are exactly the contracts on one side only or differing, and clean means equal', () => {
    const holding = fc.record({ id: fc.integer({ min: 0, max: 30 }), amount: fc.integer({ min: 1, max: 1000 }), utk: fc.boolean() });
    fc.assert(
      fc.property(fc.array(holding, { maxLength: 25 }), fc.array(holding, { maxLength: 25 }), (xs, ys) => {
        const toRecords = (zs: typeof xs) => [
          ...new Map(zs.map((z) => [z.id, h(`c${z.id}`, String(z.amount), z.utk ? UTK : CC)])).values(),
        ];
        const db = toRecords(xs);
        const ledger = toRecords(ys);
        const r = compareHoldings(db, ledger, movements(db));
        const dbIds = new Set(db.map((x) => x.contractId));
        const ledgerIds = new Set(ledger.map((x) => x.contractId));
        const byKind = (k: string) =>
          new Set(r.differences.filter((d) => d.kind === k).map((d) => ('contractId' in d ? d.contractId : '')));
        expect(byKind('missing')).toEqual(new Set([...ledgerIds].filter((c) => !dbIds.has(c))));
        expect(byKind('extra')).toEqual(new Set([...dbIds].filter((c) => !ledgerIds.has(c))));
        expect(r.differences.some((d) => d.kind === 'movements')).toBe(false);
        const same =
          db.length === ledger.length &&
          db.every((d) => ledger.some((l) => l.contractId === d.contractId && l.amount === d.amount && l.instrument === d.instrument));
        expect(r.differences.length === 0).toBe(same);
      }),
      { numRuns: 300 },
    );
  });
});

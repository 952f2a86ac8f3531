import { addAmounts, compareAmounts, normalizeAmount, subAmounts } from '../../lib/decimal.js';
import type { HoldingRecord, MovementTotals } from '../../store/reconciliation.js';

/**
 * Invariant 5 (ARCHITECTURE.md): the treasury holdings in the database equal the ledger's active
 * Holding contracts of the treasury at the checkpoint offset, and the holdings ingestion recorded
 * as created minus those it recorded as archived add up to the same total. This is the pure
 * comparison; src/admin/reconciliation/run.ts gathers both sides at one offset.
 */

export interface InstrumentRef {
  admin: string;
  id: string;
}

/** The records both sides are compared in: those the database snapshot is read as (src/store/reconciliation.ts). */
export type { HoldingRecord, MovementTotals };

export type Difference =
  /** Active on the ledger, not in the database: ingestion missed it (money the books do not show). */
  | { kind: 'missing'; contractId: string; instrument: InstrumentRef; ledgerAmount: string }
  /** In the database, not active on the ledger: ingestion missed its archive (money the books show twice). */
  | { kind: 'extra'; contractId: string; instrument: InstrumentRef; dbAmount: string }
  | { kind: 'amount'; contractId: string; instrument: InstrumentRef; dbAmount: string; ledgerAmount: string }
  | {
      kind: 'instrument';
      contractId: string;
      instrument: InstrumentRef;
      dbInstrument: InstrumentRef;
      ledgerAmount: string;
      dbAmount: string;
    }
  | { kind: 'lock'; contractId: string; instrument: InstrumentRef; dbLocked: boolean; ledgerLocked: boolean }
  /** Σ created − Σ archived of the ingested facts differs from the holdings total in the database. */
  | { kind: 'movements'; instrument: InstrumentRef; movementsTotal: string; dbTotal: string };

export interface InstrumentReconciliation {
  instrument: InstrumentRef;
  db: { count: number; total: string };
  ledger: { count: number; total: string };
  movements: { created: string; archived: string; net: string };
  differences: number;
}

export interface Comparison {
  instruments: InstrumentReconciliation[];
  differences: Difference[];
}

const keyOf = (i: InstrumentRef) => `${i.admin}\u0000${i.id}`;
const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function compareHoldings(
  db: Iterable<HoldingRecord>,
  ledger: Iterable<HoldingRecord>,
  movements: readonly MovementTotals[],
): Comparison {
  const differences: Difference[] = [];
  const perInstrument = new Map<string, InstrumentReconciliation>();
  const entry = (i: InstrumentRef) => {
    const k = keyOf(i);
    let e = perInstrument.get(k);
    if (!e) {
      e = {
        instrument: i,
        db: { count: 0, total: normalizeAmount('0') },
        ledger: { count: 0, total: normalizeAmount('0') },
        movements: { created: normalizeAmount('0'), archived: normalizeAmount('0'), net: normalizeAmount('0') },
        differences: 0,
      };
      perInstrument.set(k, e);
    }
    return e;
  };
  const differ = (i: InstrumentRef, d: Difference) => {
    differences.push(d);
    entry(i).differences++;
  };

  const inDb = new Map<string, HoldingRecord>();
  for (const h of db) {
    inDb.set(h.contractId, h);
    const e = entry(h.instrument);
    e.db.count++;
    e.db.total = addAmounts(e.db.total, h.amount);
  }
  const seen = new Set<string>();
  for (const l of ledger) {
    if (seen.has(l.contractId)) continue;
    seen.add(l.contractId);
    const e = entry(l.instrument);
    e.ledger.count++;
    e.ledger.total = addAmounts(e.ledger.total, l.amount);
    const d = inDb.get(l.contractId);
    if (!d) {
      differ(l.instrument, {
        kind: 'missing',
        contractId: l.contractId,
        instrument: l.instrument,
        ledgerAmount: normalizeAmount(l.amount),
      });
      continue;
    }
    if (keyOf(d.instrument) !== keyOf(l.instrument)) {
      differ(l.instrument, {
        kind: 'instrument',
        contractId: l.contractId,
        instrument: l.instrument,
        dbInstrument: d.instrument,
        ledgerAmount: normalizeAmount(l.amount),
        dbAmount: normalizeAmount(d.amount),
      });
      continue;
    }
    if (compareAmounts(d.amount, l.amount) !== 0) {
      differ(l.instrument, {
        kind: 'amount',
        contractId: l.contractId,
        instrument: l.instrument,
        dbAmount: normalizeAmount(d.amount),
        ledgerAmount: normalizeAmount(l.amount),
      });
    }
    if (d.locked !== l.locked)
      differ(l.instrument, {
        kind: 'lock',
        contractId: l.contractId,
        instrument: l.instrument,
        dbLocked: d.locked,
        ledgerLocked: l.locked,
      });
  }
  for (const d of inDb.values()) {
    if (!seen.has(d.contractId))
      differ(d.instrument, { kind: 'extra', contractId: d.contractId, instrument: d.instrument, dbAmount: normalizeAmount(d.amount) });
  }

  for (const m of movements) {
    const e = entry(m.instrument);
    e.movements = { created: normalizeAmount(m.created), archived: normalizeAmount(m.archived), net: subAmounts(m.created, m.archived) };
  }
  for (const e of perInstrument.values()) {
    if (compareAmounts(e.movements.net, e.db.total) !== 0) {
      differ(e.instrument, { kind: 'movements', instrument: e.instrument, movementsTotal: e.movements.net, dbTotal: e.db.total });
    }
  }

  const order = (a: InstrumentRef, b: InstrumentRef) => byteOrder(a.admin, b.admin) || byteOrder(a.id, b.id);
  differences.sort(
    (a, b) =>
      order(a.instrument, b.instrument) ||
      byteOrder(a.kind, b.kind) ||
      byteOrder('contractId' in a ? a.contractId : '', 'contractId' in b ? b.contractId : ''),
  );
  return { instruments: [...perInstrument.values()].sort((a, b) => order(a.instrument, b.instrument)), differences };
}

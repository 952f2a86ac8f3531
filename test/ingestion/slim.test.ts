import { describe, expect, it } from 'vitest';
import { OverlayLedgerState, staticLedgerState } from '../../src/ingestion/ledger-state.js';
import { parseTransaction } from '../../src/ingestion/parser.js';
import { TransactionSlimmer } from '../../src/ingestion/slim.js';
import type { JsTransaction } from '../../src/ledger/schema/index.js';
import { RECORDED_PARTIES as P, recordedTransactions, txOf } from '../streams/support/fixtures.js';
import { customer, ScriptedLedger, TREASURY } from '../streams/support/scripted-ledger.js';

describe('slimming a queued transaction', () => {
  it('never changes its facts (recorded and scripted transactions, every party)', () => {
    const slimmer = new TransactionSlimmer();
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '100', memo: 'a' });
    const o = l.offerDeposit({ sender: customer(2), amount: '5', memo: 'x' });
    l.acceptOffer(o, { fee: '0.1' });
    const w = l.treasuryTransfer({ withdrawalId: 'w', receiver: customer(3), amount: '7', kind: 'offer' })!;
    l.customerDecides(w.instructionCid!, false);
    l.treasuryTransfer({ withdrawalId: 'm', receiver: TREASURY, amount: '50', kind: 'self' });
    const cases: [JsTransaction[], string][] = [
      [l.elements.map((e) => txOf(e)), TREASURY],
      [recordedTransactions('1-step-transfer.json'), P.oneStepTreasury],
      [
        [...recordedTransactions('transfer-instruction-create.json'), ...recordedTransactions('transfer-instruction-accept.json')],
        P.twoStepTreasury,
      ],
      [recordedTransactions('utility-token-transfer.json'), P.utilitySender],
      [recordedTransactions('utility-token-transfer.json'), P.utilityReceiver],
    ];
    for (const [txs, party] of cases) {
      const full = new OverlayLedgerState();
      const slim = new OverlayLedgerState();
      for (const t of txs) {
        const a = parseTransaction(structuredClone(t), party, full, { unknownOwnedHolding: 'report' });
        const b = parseTransaction(slimmer.slim(structuredClone(t)), party, slim, { unknownOwnedHolding: 'report' });
        expect(JSON.stringify(b)).toBe(JSON.stringify(a));
        full.apply(a);
        slim.apply(b);
      }
    }
  });
  it('keeps a malformed Holding view as it came: the parse meets it as it would unslimmed', () => {
    const [tx] = recordedTransactions('1-step-transfer.json');
    const treasurys = (change: (view: Record<string, unknown>) => void): JsTransaction => {
      const t = structuredClone(tx!);
      for (const e of t.events) {
        if (!('CreatedEvent' in e)) continue;
        for (const v of e.CreatedEvent.interfaceViews ?? []) {
          const value = v.viewValue as Record<string, unknown>;
          if (v.interfaceId.endsWith(':Holding') && value.owner === P.oneStepTreasury) change(value);
        }
      }
      return t;
    };
    const outcome = (t: JsTransaction) => {
      try {
        return JSON.stringify(parseTransaction(t, P.oneStepTreasury, staticLedgerState()));
      } catch (e) {
        return `failed: ${(e as Error).message}`;
      }
    };
    const cases = [
      treasurys((v) => (v.instrumentId = { admin: 'DSO::1220' })),
      treasurys((v) => (v.instrumentId = { admin: 7, id: 'Amulet' })),
      treasurys((v) => delete v.instrumentId),
      treasurys((v) => (v.owner = 7)),
    ];
    const outcomes = cases.map((t) => outcome(t));
    const slimmer = new TransactionSlimmer();
    expect(outcomes.slice(0, 3).every((o) => o.startsWith('failed: '))).toBe(true);
    expect(outcomes[3]).not.toMatch(/^failed/); // an owner that is not the treasury's: not our holding
    cases.forEach((t, i) => expect(outcome(slimmer.slim(structuredClone(t)))).toBe(outcomes[i]));
  });
});

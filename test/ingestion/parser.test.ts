import { describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { UpdateParseError } from '../../src/ingestion/errors.js';
import { TransactionFacts, type Activity, type TransactionFacts as Facts } from '../../src/ingestion/facts.js';
import { OverlayLedgerState, staticLedgerState } from '../../src/ingestion/ledger-state.js';
import { parseTransaction } from '../../src/ingestion/parser.js';
import { loadRecorded, RECORDED_PARTIES as P, recordedTransactions, txOf } from '../streams/support/fixtures.js';
import { CC, customer, DSO, ScriptedLedger, TREASURY } from '../streams/support/scripted-ledger.js';

function only<K extends Activity['kind']>(f: Facts, kind: K): Extract<Activity, { kind: K }> {
  const xs = f.activities.filter((a): a is Extract<Activity, { kind: K }> => a.kind === kind);
  expect(xs).toHaveLength(1);
  return xs[0]!;
}

/** Parses a scripted ledger's transactions in order, like ingestion over one long batch. */
function parseAll(ledger: ScriptedLedger, party = TREASURY, state = new OverlayLedgerState()): Facts[] {
  const out: Facts[] = [];
  for (const el of ledger.elements) {
    const u = (el as { update: Record<string, unknown> }).update;
    if (!('Transaction' in u)) continue;
    const f = parseTransaction(txOf(el), party, state);
    TransactionFacts.parse(f); // the facts model is the contract with the store
    state.apply(f);
    out.push(f);
  }
  return out;
}

describe('parser on the recorded transactions', () => {
  it('1-step CC deposit: 200 CC credited by the holdings delta, memo from the result meta, sender coin ignored', () => {
    const [tx] = recordedTransactions('1-step-transfer.json');
    const f = parseTransaction(tx!, P.oneStepTreasury, staticLedgerState());
    const d = only(f, 'transfer_in');
    expect(d).toMatchObject({
      nodeId: 4,
      depositId: `${tx!.updateId}:4`,
      choice: 'TransferPreapproval_Send',
      sender: 'sender::1220278a4a0eb2c244b425dff62853ef1cd04ca1095bffcea465c0de766faf9ab8cd',
      instrument: { admin: 'DSO::12204b8b621ec1dedd51ee2510085f8164cad194953496494d32f541f3f2c170e962', id: 'Amulet' },
      transferAmount: '200.0000000000',
      creditedAmount: '200.0000000000',
      fee: null,
      memo: 'deposit-account-id',
    });
    expect(f.activities).toHaveLength(1); // the nested AmuletRules_Transfer (also tx-kind transfer) is not counted again
    expect(f.holdingsCreated.map((h) => [h.contractId.slice(0, 12), h.amount])).toEqual([['008f783cd288', '200.0000000000']]);
    expect(f.holdingsArchived).toEqual([]); // the sender's Amulet is not ours
    expect(f).toMatchObject({ offset: 107, recordTime: '1970-01-01T00:01:00.000114Z', import: false });
  });

  it('2-step CC deposit: the 1000 CC offer, then its accept credits the treasury delta with the offer memo', () => {
    const [create] = recordedTransactions('transfer-instruction-create.json');
    const [accept] = recordedTransactions('transfer-instruction-accept.json');
    const state = new OverlayLedgerState();
    const f1 = parseTransaction(create!, P.twoStepTreasury, state);
    state.apply(f1);
    const offer = only(f1, 'instruction_created');
    expect(offer).toMatchObject({
      direction: 'incoming',
      amount: '1000.0000000000',
      memo: 'deposit-account-id',
      executeBefore: '1970-01-01T00:02:00Z',
      status: 'TransferPendingReceiverAcceptance',
    });
    expect(f1.holdingsCreated).toEqual([]);

    const f2 = parseTransaction(accept!, P.twoStepTreasury, state);
    const closed = only(f2, 'instruction_closed');
    expect(closed).toMatchObject({
      instructionCid: offer.instructionCid,
      direction: 'incoming',
      outcome: 'accepted',
      known: true,
      memo: 'deposit-account-id',
      amount: '1000.0000000000',
      creditedAmount: '1000.0000000000',
      fee: null,
    });
    expect(f2.activities).toHaveLength(1); // LockedAmulet_Unlock and AmuletRules_Transfer are inside the accept
    expect(f2.holdingsCreated.map((h) => h.amount)).toEqual(['1000.0000000000']);
  });

  it('an accept of an offer never seen is still a credit (memo unknown) by the treasury delta', () => {
    const [accept] = recordedTransactions('transfer-instruction-accept.json');
    const closed = only(parseTransaction(accept!, P.twoStepTreasury, staticLedgerState()), 'instruction_closed');
    expect(closed).toMatchObject({
      direction: 'incoming',
      outcome: 'accepted',
      known: false,
      memo: null,
      amount: null,
      creditedAmount: '1000.0000000000',
    });
  });

  describe('utility token (registry-issued, not CC), from the sender side, against the SDK parse', () => {
    const txs = recordedTransactions('utility-token-transfer.json');
    const sdk = loadRecorded('utility-token-transfer.expected-sdk-parse.json') as {
      transactions: {
        updateId: string;
        events: {
          label: { type: string; reason?: string };
          lockedHoldingsChange: { creates?: { amount: string }[]; archives?: { amount: string }[] } | null;
          unlockedHoldingsChange: { creates?: { amount: string }[] } | null;
          transferInstruction: { multiStepCorrelationId?: string } | null;
        }[];
      }[];
    };
    const state = new OverlayLedgerState();
    const facts = txs.map((t) => {
      const f = parseTransaction(t, P.utilitySender, state, { unknownOwnedHolding: 'report' });
      state.apply(f);
      return f;
    });
    const byId = new Map(facts.map((f) => [f.updateId, f]));
    const sum = (xs: string[]) => xs.reduce((s, x) => s.plus(x), new Decimal(0)).toFixed(10);

    it('derives for every transaction the SDK reports the same holdings created (locked and unlocked) and reason', () => {
      for (const t of sdk.transactions) {
        const f = byId.get(t.updateId);
        expect(f, t.updateId).toBeDefined();
        for (const e of t.events) {
          const lockedCreates = (e.lockedHoldingsChange?.creates ?? []).map((c) => c.amount);
          const unlockedCreates = (e.unlockedHoldingsChange?.creates ?? []).map((c) => c.amount);
          expect(sum(f!.holdingsCreated.filter((h) => h.lock !== null).map((h) => h.amount)), t.updateId).toBe(sum(lockedCreates));
          expect(sum(f!.holdingsCreated.filter((h) => h.lock === null).map((h) => h.amount)), t.updateId).toBe(sum(unlockedCreates));
          const memos = f!.activities.map((a) => ('memo' in a ? a.memo : null)).filter((m) => m !== null);
          if (e.label.reason !== undefined && e.label.reason !== null && e.label.type !== 'MergeSplit')
            expect(memos, t.updateId).toContain(e.label.reason);
          if (e.transferInstruction?.multiStepCorrelationId) {
            expect(
              f!.activities.some(
                (a) => a.kind === 'instruction_created' && a.instructionCid === e.transferInstruction!.multiStepCorrelationId,
              ),
            ).toBe(true);
          }
        }
      }
    });

    it('names each transaction', () => {
      const kinds = facts.map((f) =>
        f.activities.map((a) =>
          a.kind === 'holdings_changed'
            ? `${a.kind}:${a.txKind}`
            : a.kind === 'instruction_closed'
              ? `${a.kind}:${a.direction}:${a.outcome}`
              : a.kind === 'instruction_created'
                ? `${a.kind}:${a.direction}`
                : a.kind === 'transfer_out'
                  ? `${a.kind}:${a.outcome}`
                  : a.kind,
        ),
      );
      expect(kinds).toEqual([
        ['holdings_changed:mint'], // 60678 mint of 1000 LOAD
        ['transfer_out:pending', 'instruction_created:outgoing'], // 60681 offer of 500 to test-receiver
        ['instruction_closed:outgoing:accepted'], // 60684 receiver accepts it (the SDK output omits this one)
        ['instruction_created:incoming'], // 60687 receiver offers 400 back (omitted by the SDK)
        ['instruction_closed:incoming:accepted'], // 60689 sender accepts: TransferIn 400
        ['holdings_changed:null'], // 60694 burn request locks 1016 (SDK: Lock)
        ['holdings_changed:burn'], // 60697 burn of the locked 1016
      ]);
      expect(only(facts[4]!, 'instruction_closed')).toMatchObject({
        creditedAmount: '400.0000000000',
        memo: 'send-some-back-phillip',
        sender: P.utilityReceiver,
      });
      expect(only(facts[6]!, 'holdings_changed').holdingsDelta).toEqual([
        { instrument: { admin: expect.any(String), id: 'LOAD' }, amount: '-1016.0000000000' },
      ]);
      expect(only(facts[2]!, 'instruction_closed').holdingsDelta[0]?.amount).toBe('-500.0000000000');
    });

    it('in strict mode (ingestion) the inputs of unknown amount stop parsing, naming update, offset and holding', () => {
      const s = new OverlayLedgerState();
      s.apply(parseTransaction(txs[0]!, P.utilitySender, s));
      let err: unknown;
      try {
        parseTransaction(txs[1]!, P.utilitySender, s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UpdateParseError);
      expect((err as UpdateParseError).message).toMatch(
        /update 12206499bd14.* at offset 60681: holding 00f8b370daa6.* is an input of a transfer the treasury sent but is not in the treasury's holdings/,
      );
      // lenient mode lists them and leaves the delta unknown rather than wrong
      expect(facts[1]!.unresolvedHoldingCids).toHaveLength(4);
      expect(only(facts[1]!, 'transfer_out')).toMatchObject({
        holdingsDelta: null,
        fee: null,
        amount: '500.0000000000',
        transferInstructionCid: expect.stringMatching(/^00b3396b/),
      });
    });
  });
});

describe('parser on scripted transactions', () => {
  it('1-step deposits with known, unknown and missing memo; a fee makes the credit differ from the amount', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'acct-1' });
    l.deposit1Step({ sender: customer(2), amount: '20', memo: 'who-knows' });
    l.deposit1Step({ sender: customer(3), amount: '30', memo: null, receiverFee: '0.5' });
    const [a, b, c] = parseAll(l).map((f) => only(f, 'transfer_in'));
    expect(a).toMatchObject({ memo: 'acct-1', creditedAmount: '10.0000000000', fee: null, sender: customer(1) });
    expect(b).toMatchObject({ memo: 'who-knows', creditedAmount: '20.0000000000' });
    expect(c).toMatchObject({ memo: null, transferAmount: '30.0000000000', creditedAmount: '29.5000000000', fee: '0.5000000000' });
  });

  it('1-step withdrawal: inputs archived with amounts from our holdings, change created, fee = spent − amount', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '100', memo: 'a' });
    l.deposit1Step({ sender: customer(1), amount: '50', memo: 'a' });
    l.treasuryTransfer({ withdrawalId: 'wd-1', receiver: customer(9), amount: '120', fee: '1.5', kind: '1-step' });
    const facts = parseAll(l);
    const out = only(facts[2]!, 'transfer_out');
    expect(out).toMatchObject({
      memo: 'wd-1',
      outcome: 'completed',
      self: false,
      receiver: customer(9),
      amount: '120.0000000000',
      holdingsDelta: '-121.5000000000',
      fee: '1.5000000000',
    });
    expect(facts[2]!.holdingsArchived.map((h) => h.amount).sort()).toEqual(['100.0000000000', '50.0000000000']);
    expect(facts[2]!.holdingsCreated.map((h) => h.amount)).toEqual(['28.5000000000']); // change; the customer's holding is not ours
  });

  it('2-step withdrawal: pending with the instruction; the customer accepts (locked holding leaves) or rejects (funds return)', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '100', memo: 'a' });
    const r1 = l.treasuryTransfer({ withdrawalId: 'wd-a', receiver: customer(7), amount: '30', kind: 'offer' })!;
    const r2 = l.treasuryTransfer({ withdrawalId: 'wd-b', receiver: customer(8), amount: '20', kind: 'offer' })!;
    l.customerDecides(r1.instructionCid!, true);
    l.customerDecides(r2.instructionCid!, false);
    const facts = parseAll(l);
    expect(only(facts[1]!, 'transfer_out')).toMatchObject({
      outcome: 'pending',
      transferInstructionCid: r1.instructionCid,
      holdingsDelta: '0.0000000000',
      fee: null,
    });
    expect(only(facts[1]!, 'instruction_created')).toMatchObject({ direction: 'outgoing', memo: 'wd-a', receiver: customer(7) });
    expect(facts[1]!.holdingsCreated.find((h) => h.lock !== null)?.amount).toBe('30.0000000000');
    expect(only(facts[3]!, 'instruction_closed')).toMatchObject({
      direction: 'outgoing',
      outcome: 'accepted',
      memo: 'wd-a',
      fee: null,
      holdingsDelta: [{ instrument: CC, amount: '-30.0000000000' }],
    });
    expect(only(facts[4]!, 'instruction_closed')).toMatchObject({
      direction: 'outgoing',
      outcome: 'rejected',
      memo: 'wd-b',
      fee: null,
      holdingsDelta: [{ instrument: CC, amount: '0.0000000000' }],
    });
  });

  it('2-step deposit offers: rejected by us, withdrawn by the sender', () => {
    const l = new ScriptedLedger();
    const o1 = l.offerDeposit({ sender: customer(1), amount: '5', memo: 'x' });
    const o2 = l.offerDeposit({ sender: customer(2), amount: '6', memo: null });
    l.rejectOffer(o1);
    l.withdrawOffer(o2);
    const facts = parseAll(l);
    expect(only(facts[2]!, 'instruction_closed')).toMatchObject({ direction: 'incoming', outcome: 'rejected', creditedAmount: null });
    expect(only(facts[3]!, 'instruction_closed')).toMatchObject({
      direction: 'incoming',
      outcome: 'withdrawn',
      memo: null,
      creditedAmount: null,
    });
    expect(facts[3]!.holdingsCreated).toEqual([]);
  });

  it('the registry returning locked funds after executeBefore closes the offer as expired, in both directions', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '100', memo: 'a' });
    const incoming = l.offerDeposit({ sender: customer(2), amount: '5', memo: 'x', executeBeforeMs: 10_000 });
    const outgoing = l.treasuryTransfer({
      withdrawalId: 'wd-x',
      receiver: customer(3),
      amount: '7',
      kind: 'offer',
      executeBeforeMs: 10_000,
    })!.instructionCid!;
    l.advance(20_000);
    l.adminExpires(incoming);
    l.adminExpires(outgoing);
    const facts = parseAll(l);
    expect(only(facts[3]!, 'instruction_closed')).toMatchObject({
      instructionCid: incoming,
      direction: 'incoming',
      outcome: 'expired',
      choice: 'TransferOffer_Expire',
      creditedAmount: null,
    });
    const out = only(facts[4]!, 'instruction_closed');
    expect(out).toMatchObject({ instructionCid: outgoing, direction: 'outgoing', outcome: 'expired', memo: 'wd-x' });
    expect(out.holdingsDelta).toEqual([{ instrument: CC, amount: '0.0000000000' }]); // locked 7 archived, 7 back unlocked
  });

  it('a self-transfer (merge) is a transfer_out to the treasury with its memo; the delta is the fee', () => {
    const l = new ScriptedLedger();
    for (let i = 0; i < 3; i++) l.deposit1Step({ sender: customer(1), amount: '10', memo: 'a' });
    l.treasuryTransfer({ withdrawalId: 'merge-1', receiver: TREASURY, amount: '30', fee: '0.1', kind: 'self' });
    const f = parseAll(l)[3]!;
    expect(only(f, 'transfer_out')).toMatchObject({
      self: true,
      memo: 'merge-1',
      receiver: TREASURY,
      holdingsDelta: '-0.1000000000',
      fee: '0.1000000000',
    });
    expect(f.holdingsArchived).toHaveLength(3);
    expect(f.holdingsCreated.map((h) => h.amount)).toEqual(['29.9000000000']);
  });

  it('a transfer the treasury sent from a holding we do not know stops with the update id and offset', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'a' });
    l.treasuryTransfer({ withdrawalId: 'w', receiver: customer(2), amount: '5', kind: '1-step' });
    const el = l.elements[1]!;
    const tx = txOf(el);
    expect(() => parseTransaction(tx, TREASURY, staticLedgerState())).toThrow(
      new RegExp(`update ${tx.updateId} at offset ${tx.offset}: holding .* is an input of a transfer the treasury sent`),
    );
  });

  it('major-upgrade import: holdings re-created, nobody credited', () => {
    const l = new ScriptedLedger();
    l.importHoldings(['7', '8']);
    const [f] = parseAll(l);
    expect(f!.import).toBe(true);
    expect(f!.activities).toEqual([]);
    expect(f!.holdingsCreated.map((h) => h.amount)).toEqual(['7.0000000000', '8.0000000000']);
  });

  it('a Holding view that failed to compute stops parsing (it might be ours)', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'a' });
    const el = structuredClone(l.elements[0]!) as {
      update: {
        Transaction: { value: { events: { CreatedEvent?: { interfaceViews: { viewStatus: unknown; viewValue?: unknown }[] } }[] } };
      };
    };
    const created = el.update.Transaction.value.events.find((e) => e.CreatedEvent)!.CreatedEvent!;
    created.interfaceViews[0]!.viewStatus = { code: 9, message: 'package not vetted' };
    delete created.interfaceViews[0]!.viewValue;
    expect(() => parseTransaction(txOf(el), TREASURY, staticLedgerState())).toThrow(
      /Holding view of contract .* failed to compute: status 9 package not vetted/,
    );
  });

  it('a malformed token-standard argument stops parsing with the path of the bad field', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'a' });
    l.treasuryTransfer({ withdrawalId: 'w', receiver: customer(2), amount: '5', kind: '1-step' });
    const el = structuredClone(l.elements[1]!) as {
      update: { Transaction: { value: { events: { ExercisedEvent?: { choiceArgument: { transfer: { amount: unknown } } } }[] } } };
    };
    el.update.Transaction.value.events[0]!.ExercisedEvent!.choiceArgument.transfer.amount = 12.5;
    const state = new OverlayLedgerState();
    state.apply(parseTransaction(txOf(l.elements[0]), TREASURY, state));
    expect(() => parseTransaction(txOf(el), TREASURY, state)).toThrow(
      /choice argument of TransferFactory_Transfer \(node 0\) does not match the token standard: transfer\.amount/,
    );
  });

  it('holdings that only appear (no visible transfer, treasury acted nowhere) are an unattributed deposit', () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'a' });
    // Strip the registry choice: the treasury sees only its new holding, as when it is not an informee of the transfer.
    const el = structuredClone(l.elements[0]!) as {
      update: {
        Transaction: { value: { events: { CreatedEvent?: { viewOwner?: string; interfaceViews: { viewValue: { owner: string } }[] } }[] } };
      };
    };
    const v = el.update.Transaction.value;
    v.events = v.events.filter((e) => e.CreatedEvent && e.CreatedEvent.interfaceViews[0]!.viewValue.owner === TREASURY);
    const f = parseTransaction(txOf(el), TREASURY, staticLedgerState());
    expect(only(f, 'transfer_in')).toMatchObject({ choice: null, memo: null, sender: null, creditedAmount: '10.0000000000' });
  });

  it('transactions that touch the treasury but move nothing of ours produce no activity', () => {
    const l = new ScriptedLedger();
    l.offerDeposit({ sender: customer(1), amount: '5', memo: 'x', instrument: { admin: DSO, id: 'Other' } });
    const f = parseAll(l, `someone-else::1220${'9'.repeat(64)}`);
    expect(f[0]!.activities).toEqual([]);
  });
});

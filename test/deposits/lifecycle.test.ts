import { afterEach, describe, expect, it } from 'vitest';
import { addAmounts } from '../../src/lib/decimal.js';
import { DEFAULT_INSTRUMENTS } from '../../src/sandbox/engine/instruments.js';
import { startStack, type Stack, type StackOptions } from '../support/stack.js';
import {
  acceptsOnLedger,
  amt,
  checkCreditedOnce,
  customerDeposits,
  depositEvents,
  oneStepDepositId,
  treasuryTotal,
  waitForMachine,
} from './support.js';

/**
 * Deposits against the ledger double: customers send 1-step transfers (Canton Coin to the
 * treasury's preapproval) and 2-step offers (UTK, or CC as an offer); ingestion records them, the
 * deposit runtime accepts offers addressed to known deposit accounts with the real ledger effects.
 * Every test ends with the money invariants checked in the database and against the double.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start(o: StackOptions = {}): Promise<Stack> {
  stack = await startStack(o);
  return stack;
}

const topics = async (s: Stack, id: string) => (await depositEvents(s, id)).map((e) => e.topic);

interface History {
  eventType: string;
}

describe('deposits with a known memo: credited to the account once', () => {
  it('1-step: credited at once, with amounts, update id and the account totals', async () => {
    const s = await start();
    const acct = await s.depositAccount('memo-alice');
    const alice = s.customer({ fund: [{ instrument: 'Amulet', amount: '1000' }] });
    const d = await customerDeposits(s, { from: alice, instrument: 'Amulet', amount: '120.5', memo: 'memo-alice' });
    expect(d.transferInstructionCid).toBeNull();
    expect(d.depositId).toMatch(new RegExp(`^${d.updateId}:\\d+$`));

    const row = await s.waitForDeposit(d.depositId, 'credited');
    expect(row).toMatchObject({
      kind: 'one_step',
      accountId: acct,
      memo: 'memo-alice',
      sender: alice,
      transferAmount: amt('120.5'),
      creditedAmount: amt('120.5'),
      fee: null,
      creditUpdateId: d.updateId,
      offerUpdateId: null,
      transferInstructionCid: null,
    });
    expect(await topics(s, d.depositId)).toEqual(['deposit.credited']);
    const [credited] = await depositEvents(s, d.depositId);
    expect(credited!.payload).toMatchObject({
      depositId: d.depositId,
      kind: 'one_step',
      accountId: acct,
      transferAmount: amt('120.5'),
      creditedAmount: amt('120.5'),
      updateId: d.updateId,
    });

    const detail = await s.api('GET', `/v1/deposits/${encodeURIComponent(d.depositId)}`);
    expect(detail).toMatchObject({
      status: 200,
      body: { status: 'credited', accountId: acct, creditedAmount: amt('120.5'), creditUpdateId: d.updateId },
    });
    // The machine was created final from the row: nothing to accept.
    const account = await s.api('GET', `/v1/accounts/${acct}`);
    expect(account.body['credited']).toEqual([{ instrument: { admin: s.cc.admin, id: s.cc.id }, credited: amt('120.5'), deposits: 1 }]);
    expect((account.body['recentDeposits'] as { depositId: string }[]).map((x) => x.depositId)).toEqual([d.depositId]);
    await checkCreditedOnce(s, [d.depositId]);
  });

  it.each([
    ['UTK', false],
    ['Amulet', true],
  ] as const)('2-step (%s): the offer is accepted by the treasury, credited once, announced once', async (instrument, offer) => {
    const s = await start();
    const acct = await s.depositAccount('memo-bob');
    const bob = s.customer({ fund: [{ instrument, amount: '500' }] });
    const before = treasuryTotal(s, instrument);
    const d = await customerDeposits(s, { from: bob, instrument, amount: '75', memo: 'memo-bob', offer });
    expect(d.transferInstructionCid).not.toBeNull();

    const row = await s.waitForDeposit(d.depositId, ['credited', 'accept_failed', 'withdrawn', 'expired', 'failed', 'rejected']);
    const i = s.instrument(instrument);
    expect(row).toMatchObject({
      status: 'credited',
      kind: 'two_step',
      accountId: acct,
      sender: bob,
      memo: 'memo-bob',
      instrument: { admin: i.admin, id: i.id },
      transferAmount: amt('75'),
      creditedAmount: amt('75'),
      fee: null,
      transferInstructionCid: d.transferInstructionCid,
      offerUpdateId: d.updateId,
    });
    const accepts = acceptsOnLedger(s, d.transferInstructionCid!);
    expect(accepts).toEqual([{ updateId: row.creditUpdateId, actingParties: [s.treasury] }]);
    expect(row.closedUpdateId).toBe(row.creditUpdateId);
    expect(s.sandbox.control.books.isActiveInstruction(d.transferInstructionCid!)).toBe(false);
    await s.caughtUp();
    expect(treasuryTotal(s, instrument)).toBe(addAmounts(before, '75'));

    expect(await topics(s, d.depositId)).toEqual(['deposit.offer_received', 'deposit.offer_closed', 'deposit.credited']);
    const events = await depositEvents(s, d.depositId);
    expect(events[0]!.payload).toMatchObject({ accountId: acct, memo: 'memo-bob', sender: bob, amount: amt('75') });
    expect(events[2]!.payload).toMatchObject({
      kind: 'two_step',
      accountId: acct,
      transferAmount: amt('75'),
      creditedAmount: amt('75'),
      updateId: row.creditUpdateId,
    });

    // Ingestion writes the row; the machine follows from the outbox.
    await waitForMachine(s, d.depositId, 'credited');
    // The accept's "waiting for ingestion" explanation does not outlive the credit.
    await s.waitForDeposit(d.depositId, (r) => r.statusReason === `accepted; credited to ${acct}`);
    const detail = await s.api('GET', `/v1/deposits/${encodeURIComponent(d.depositId)}`);
    expect(detail.status).toBe(200);
    const history = (detail.body['history'] as History[]).map((h) => h.eventType);
    expect(history).toEqual(
      expect.arrayContaining([
        'xstate.done.actor.fetchAcceptContext',
        'xstate.done.actor.prepareAccept',
        'xstate.done.actor.verifyAndSign',
        'xstate.done.actor.executeSubmission',
        'OFFER_CLOSED',
        'CREDITED',
      ]),
    );
    const [snap] = await s.sql<
      { state_value: unknown; is_final: boolean }[]
    >`select state_value, is_final from machine_snapshots where machine_type = 'deposit' and machine_id = ${d.depositId}`;
    expect(snap).toEqual({ state_value: 'credited', is_final: true });

    const account = await s.api('GET', `/v1/accounts/${acct}`);
    expect(account.body['credited']).toEqual([{ instrument: { admin: i.admin, id: i.id }, credited: amt('75'), deposits: 1 }]);
    await checkCreditedOnce(s, [d.depositId]);
  });

  it('a receiver fee: the credited amount is what arrived, the fee the difference', async () => {
    const instruments = DEFAULT_INSTRUMENTS.map((i) =>
      i.id === 'UTK' ? { ...i, fees: { senderFlat: '0', senderRate: '0', receiverRate: '0.01' } } : i,
    );
    const s = await start({ sandbox: { instruments } });
    const acct = await s.depositAccount('memo-fee');
    const carl = s.customer({ fund: [{ instrument: 'UTK', amount: '500' }] });
    const d = await customerDeposits(s, { from: carl, instrument: 'UTK', amount: '200', memo: 'memo-fee' });
    const row = await s.waitForDeposit(d.depositId, ['credited', 'accept_failed']);
    expect(row).toMatchObject({
      status: 'credited',
      accountId: acct,
      transferAmount: amt('200'),
      creditedAmount: amt('198'),
      fee: amt('2'),
    });
    const credited = (await depositEvents(s, d.depositId)).find((e) => e.topic === 'deposit.credited');
    expect(credited!.payload).toMatchObject({ transferAmount: amt('200'), creditedAmount: amt('198'), fee: amt('2') });
    const account = await s.api('GET', `/v1/accounts/${acct}`);
    expect(account.body['credited']).toEqual([{ instrument: { admin: s.utk.admin, id: s.utk.id }, credited: amt('198'), deposits: 1 }]);
    await checkCreditedOnce(s, [d.depositId]);
  });
});

describe('deposits with an unknown or missing memo: unattributed, never accepted', () => {
  it.each([
    ['an unknown memo', 'nobody-has-this'],
    ['no memo', null],
  ] as const)('1-step with %s: unattributed, credited to nobody', async (_name, memo) => {
    const s = await start();
    await s.depositAccount('memo-known');
    const dan = s.customer({ fund: [{ instrument: 'Amulet', amount: '100' }] });
    const d = await customerDeposits(s, { from: dan, instrument: 'Amulet', amount: '10', memo });
    const row = await s.waitForDeposit(d.depositId, 'unattributed');
    expect(row).toMatchObject({
      kind: 'one_step',
      accountId: null,
      memo,
      transferAmount: amt('10'),
      creditedAmount: amt('10'),
      creditUpdateId: d.updateId,
    });
    expect(await topics(s, d.depositId)).toEqual(['deposit.unattributed']);
    const listed = await s.api('GET', '/v1/deposits?status=unattributed');
    expect((listed.body['items'] as { depositId: string }[]).map((x) => x.depositId)).toEqual([d.depositId]);
    await checkCreditedOnce(s, [d.depositId]);
  });

  it.each([
    ['an unknown memo', 'nobody-has-this', 'unknown memo "nobody-has-this"'],
    ['no memo', null, 'no memo'],
  ] as const)('2-step with %s: the offer stays pending on the ledger, the deposit is unattributed', async (_name, memo, reason) => {
    const s = await start();
    await s.depositAccount('memo-known');
    const erin = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    const d = await customerDeposits(s, { from: erin, instrument: 'UTK', amount: '10', memo });
    const row = await s.waitForDeposit(d.depositId, (r) => r.statusReason !== null);
    expect(row).toMatchObject({ kind: 'two_step', status: 'offered', statusReason: reason, accountId: null, memo, creditedAmount: null });
    const [snap] = await s.sql<
      { state_value: unknown }[]
    >`select state_value from machine_snapshots where machine_type = 'deposit' and machine_id = ${d.depositId}`;
    expect(snap?.state_value).toBe('unattributed');
    // Give the automation every chance to (wrongly) accept it.
    await new Promise((r) => setTimeout(r, 500));
    await s.caughtUp();
    expect(s.sandbox.control.books.isActiveInstruction(d.transferInstructionCid!)).toBe(true);
    expect(acceptsOnLedger(s, d.transferInstructionCid!)).toEqual([]);
    const history = await s.sql<
      { event_type: string }[]
    >`select event_type from machine_transitions where machine_type = 'deposit' and machine_id = ${d.depositId}`;
    expect(history.map((h) => h.event_type).filter((t) => t.includes('actor'))).toEqual([]);
    expect(await topics(s, d.depositId)).toEqual(['deposit.offer_received']);
    // Operators find it where they look for deposits to assign.
    const listed = await s.api('GET', '/v1/deposits?status=unattributed');
    expect((listed.body['items'] as { depositId: string; status: string }[]).map((x) => [x.depositId, x.status])).toEqual([
      [d.depositId, 'offered'],
    ]);
    await checkCreditedOnce(s, [d.depositId]);
  });
});

describe('offers closed by the sender or by time', () => {
  it('expiry: the ingested record time passes executeBefore → expired, nothing credited, the funds back with the sender', async () => {
    const s = await start();
    await s.depositAccount('memo-unknown-account');
    const fay = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    // Unattributed (never accepted), so only time can close it.
    const d = await customerDeposits(s, { from: fay, instrument: 'UTK', amount: '40', memo: 'typo' });
    await s.waitForDeposit(d.depositId, (r) => r.statusReason !== null);
    await s.advanceClock(25 * 3_600_000);
    const row = await s.waitForDeposit(d.depositId, ['expired', 'credited']);
    expect(row).toMatchObject({ status: 'expired', creditedAmount: null, accountId: null });
    expect(await topics(s, d.depositId)).toEqual(['deposit.offer_received', 'deposit.offer_closed']);
    expect((await depositEvents(s, d.depositId))[1]!.payload).toMatchObject({ outcome: 'expired' });
    await waitForMachine(s, d.depositId, 'expired');
    await s.caughtUp();
    expect(s.sandbox.control.books.balances(fay)[`${s.utk.admin}/${s.utk.id}`]?.total).toBe(amt('100'));
    await checkCreditedOnce(s, [d.depositId]);
  });
});

describe('many deposits at once', () => {
  it('20 offers and 10 direct transfers from several customers, mixed memos: each known one credited once, account totals exact', async () => {
    const s = await start();
    const accounts = [await s.depositAccount('memo-m1'), await s.depositAccount('memo-m2'), await s.depositAccount('memo-m3')];
    const memos = ['memo-m1', 'memo-m2', 'memo-m3', 'memo-nobody', null] as const;
    const customers = [0, 1, 2, 3].map(() =>
      s.customer({
        fund: [
          { instrument: 'UTK', amount: '1000' },
          { instrument: 'Amulet', amount: '1000' },
        ],
      }),
    );
    const expected = new Map<string, string>();
    const sent: { depositId: string; memo: string | null }[] = [];
    for (let i = 0; i < 30; i++) {
      const memo = memos[i % memos.length]!;
      const amount = `${i + 1}.5`;
      const r = s.sandbox.control.transfer({
        from: customers[i % customers.length]!,
        to: s.treasury,
        instrument: i < 20 ? 'UTK' : 'Amulet',
        amount,
        memo,
      });
      const known = memo !== null && memo !== 'memo-nobody';
      if (known) {
        const key = `${memo}|${i < 20 ? 'UTK' : 'Amulet'}`;
        expected.set(key, addAmounts(expected.get(key) ?? '0', amount));
      }
      sent.push({ depositId: r.transferInstructionCid ?? `update:${r.updateId}`, memo });
    }
    await s.caughtUp();
    const ids: string[] = [];
    for (const x of sent) {
      const id = x.depositId.startsWith('update:') ? await oneStepDepositId(s, x.depositId.slice('update:'.length)) : x.depositId;
      ids.push(id);
      const known = x.memo !== null && x.memo !== 'memo-nobody';
      if (known) {
        await s.waitForDeposit(id, 'credited', 30_000);
        await waitForMachine(s, id, 'credited');
      } else {
        await waitForMachine(s, id, 'unattributed');
      }
    }
    await s.caughtUp();
    for (const [i, acct] of accounts.entries()) {
      const { body } = await s.api('GET', `/v1/accounts/${acct}`);
      const credited = body['credited'] as { instrument: { id: string }; credited: string }[];
      for (const inst of ['UTK', 'Amulet']) {
        expect(credited.find((c) => c.instrument.id === inst)?.credited, `${acct} ${inst}`).toBe(
          amt(expected.get(`memo-m${i + 1}|${inst}`) ?? '0'),
        );
      }
    }
    const unattributedOffers = sent.filter((x) => !x.depositId.startsWith('update:') && (x.memo === null || x.memo === 'memo-nobody'));
    for (const x of unattributedOffers) expect(s.sandbox.control.books.isActiveInstruction(x.depositId)).toBe(true);
    await checkCreditedOnce(s, ids);
  });
});

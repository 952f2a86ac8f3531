import { afterEach, describe, expect, it } from 'vitest';
import { addAmounts, subAmounts } from '../../src/lib/decimal.js';
import { startStack, type Stack } from '../support/stack.js';
import { checkPaidAtMostOnce, withdrawalEvents } from './support/money.js';

/**
 * The sender's fee against the ledger double: Canton Coin charges 0.5 + 0.1 % of the amount from
 * the transfer's inputs. The stack onboards it with that fee as the instrument's reserve, so coin
 * selection covers amount + fee; before, a selection covering just the amount made the ledger
 * refuse the prepare ("insufficient funds") and the withdrawal stalled.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** The treasury's Canton Coin on the double's own books. */
const treasuryCc = (s: Stack) => s.sandbox.control.books.balances(s.treasury)[`${s.cc.admin}/${s.cc.id}`]?.total ?? '0';
const ccHoldings = (s: Stack) =>
  s.sandbox.control.books
    .holdings(s.treasury)
    .filter((h) => h.instrumentId === s.cc.id)
    .map((h) => h.amount);

describe('fee reserve in coin selection (ledger double, Canton Coin 0.5 + 0.1 %)', () => {
  it('the stack onboards Canton Coin with its fee as the reserve', async () => {
    const s = (stack = await startStack());
    const [row] = await s.sql<{ rate: string; flat: string }[]>`
      select fee_reserve_rate::text as rate, fee_reserve_flat::text as flat from instruments where instrument_id = ${s.cc.id}`;
    expect(row).toEqual({ rate: '0.0010000000', flat: '0.5000000000' });
  });

  it('holdings 3.0, 0.2 and 100, withdraw 3.2: selects inputs that also pay the fee and completes on the first attempt', async () => {
    const s = (stack = await startStack());
    await s.fundTreasury('Amulet', '3.0');
    await s.fundTreasury('Amulet', '0.2');
    await s.fundTreasury('Amulet', '100');
    const before = treasuryCc(s);
    const bob = s.customer({ preapproval: true });
    expect((await s.requestWithdrawal({ withdrawalId: 'w-fee', receiver: bob, instrument: 'Amulet', amount: '3.2' })).status).toBe(201);

    const w = await s.waitForWithdrawal('w-fee', ['completed', 'failed', 'stalled', 'waiting_for_funds']);
    expect(w).toMatchObject({ status: 'completed', attempt: 1 });
    // Straight through: never stalled nor retried.
    expect((await withdrawalEvents(s, 'w-fee')).map((e) => e.topic)).toEqual([
      'withdrawal.requested',
      'withdrawal.transferred',
      'withdrawal.completed',
    ]);
    const [t] = s.sandbox.control.books.transfers('w-fee');
    expect(t).toMatchObject({ receiver: bob, amount: '3.2000000000', outcome: 'completed' });
    // 0.2 + 3.0 covers the amount, not the fee: the 100 came in too.
    const [reserved] = await s.sql<{ n: number }[]>`select count(*)::int as n from holding_reservations where withdrawal_id = 'w-fee'`;
    expect(reserved!.n).toBe(3);

    // The receiver got the amount; the treasury paid the amount plus the fee (0.5 + 0.0032), burned.
    await s.caughtUp();
    expect(s.sandbox.control.books.balances(bob)[`${s.cc.admin}/${s.cc.id}`]?.total).toBe('3.2000000000');
    expect(treasuryCc(s)).toBe(subAmounts(before, addAmounts('3.2', '0.5032')));
    expect(ccHoldings(s)).toEqual(['99.4968000000']);
    await checkPaidAtMostOnce(s, ['w-fee']);
  });

  it('free funds cover the amount but not the fee: waits for funds naming the reserve, then completes once funds arrive', async () => {
    const s = (stack = await startStack({ withdrawalPolicy: { fundsRecheckMs: 100 } }));
    await s.fundTreasury('Amulet', '3.0');
    await s.fundTreasury('Amulet', '0.2');
    const carol = s.customer({ preapproval: true });
    await s.requestWithdrawal({ withdrawalId: 'w-short', receiver: carol, instrument: 'Amulet', amount: '3.2' });

    const waiting = await s.waitForWithdrawal('w-short', ['waiting_for_funds', 'completed', 'failed', 'stalled']);
    expect(waiting.status).toBe('waiting_for_funds');
    expect(waiting.statusReason).toBe(
      'insufficient free funds: need 3.7032000000 (amount 3.2000000000 + fee reserve 0.5032000000), free 3.2000000000 in 2 holdings',
    );
    // Nothing was tried on the ledger.
    expect(s.sandbox.control.books.transfers('w-short')).toEqual([]);

    await s.fundTreasury('Amulet', '1');
    const done = await s.waitForWithdrawal('w-short', ['completed', 'failed', 'stalled']);
    expect(done).toMatchObject({ status: 'completed', attempt: 1 });
    await checkPaidAtMostOnce(s, ['w-short']);
  });
});

describe('the network fee a withdrawal paid (ledger double, Canton Coin 0.5 + 0.1 %)', () => {
  it('is on the withdrawal (one, list) and its withdrawal.completed: what the treasury lost beyond the amount, 1-step and 2-step', async () => {
    const s = (stack = await startStack());
    await s.fundTreasury('Amulet', '100');
    await s.fundTreasury('UTK', '100');
    const bob = s.customer({ preapproval: true });
    const carol = s.customer();
    const cases = [
      { withdrawalId: 'w-fee-1step', receiver: bob, instrument: 'Amulet', amount: '10', fee: '0.5100000000' },
      { withdrawalId: 'w-fee-utk', receiver: carol, instrument: 'UTK', amount: '10', fee: '0.0000000000' },
      // An offer: the fee is paid where the double charges it (locking, accepting), summed over both updates.
      { withdrawalId: 'w-fee-cc-offer', receiver: carol, instrument: 'Amulet', amount: '20', fee: '0.5200000000' },
    ];
    for (const c of cases) {
      const before = s.sandbox.control.books.balances(s.treasury)[`${c.instrument === 'UTK' ? s.utk.admin : s.cc.admin}/${c.instrument}`]!
        .total;
      await s.requestWithdrawal({ withdrawalId: c.withdrawalId, receiver: c.receiver, instrument: c.instrument, amount: c.amount });
      let w = await s.waitForWithdrawal(c.withdrawalId, ['completed', 'pending_acceptance', 'failed', 'stalled']);
      if (w.status === 'pending_acceptance') {
        s.sandbox.control.accept(w.transfer!.transferInstructionCid!);
        w = await s.waitForWithdrawal(c.withdrawalId, ['completed', 'failed']);
      }
      expect(w.status).toBe('completed');
      await s.caughtUp();
      const after = s.sandbox.control.books.balances(s.treasury)[`${c.instrument === 'UTK' ? s.utk.admin : s.cc.admin}/${c.instrument}`]!
        .total;
      // The ledger's own books: the fee is exactly what left the treasury beyond the amount.
      expect(subAmounts(subAmounts(before, after), c.amount)).toBe(c.fee);
      expect(w.networkFee).toBe(c.fee);
      const one = await s.api('GET', `/v1/withdrawals/${c.withdrawalId}`);
      expect(one.body['networkFee']).toBe(c.fee);
      const list = await s.api('GET', '/v1/withdrawals?limit=500');
      expect(
        (list.body['items'] as { withdrawalId: string; networkFee: string | null }[]).find((x) => x.withdrawalId === c.withdrawalId)
          ?.networkFee,
      ).toBe(c.fee);
      const completed = (await withdrawalEvents(s, c.withdrawalId)).find((e) => e.topic === 'withdrawal.completed');
      expect(completed?.payload['networkFee']).toBe(c.fee);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_INSTRUMENTS } from '../../src/sandbox/engine/instruments.js';
import { startStack, type Stack } from '../support/stack.js';
import { withdrawalEvents } from './support/money.js';

/**
 * A payout a database restore lost after its 2-step transfer committed comes back from the ledger
 * as a `recovered` row with its offer still awaiting the receiver (found by the chaos campaign's
 * restore fault). The exchange debited the customer when it requested it, so how the offer ends
 * must reach it: accepted → withdrawal.completed; rejected → withdrawal.failed with a re-credit;
 * expired unaccepted → withdrawn (its funds unlocked) and then withdrawal.failed. The recovered
 * withdrawal is never paid again: no holdings are reserved for it.
 */

let stack: Stack;

beforeAll(async () => {
  // A registry that never expires offers by itself: only the daemon's withdraw unlocks the funds.
  stack = await startStack({ sandbox: { instruments: DEFAULT_INSTRUMENTS.map((i) => ({ ...i, expiresOffers: false })) } });
  await stack.fundTreasury('UTK', '1000', 4);
});
afterAll(async () => {
  await stack.close();
});

/** The treasury's offer of a withdrawal this database never saw requested: what a restore leaves. */
function lostOffer(withdrawalId: string, receiver: string): string {
  // Offered for an hour, as the daemon's own offers are (the double's default for a party's transfer is a day).
  const executeBefore = new Date(Date.parse(stack.sandbox.control.clockNow().time) + 3_600_000).toISOString();
  const r = stack.sandbox.control.transfer({
    from: stack.treasury,
    to: receiver,
    instrument: 'UTK',
    amount: '10',
    memo: withdrawalId,
    mode: 'offer',
    executeBefore,
  });
  if (!r.transferInstructionCid) throw new Error('the double made no offer');
  return r.transferInstructionCid;
}

async function outcomeEvents(id: string): Promise<{ topic: string; payload: Record<string, unknown> }[]> {
  return (await withdrawalEvents(stack, id)).filter((e) => e.topic === 'withdrawal.completed' || e.topic === 'withdrawal.failed');
}

describe('a recovered payout still offered to its receiver', () => {
  it('is followed to its end: accepted → completed; rejected → failed with a re-credit; never paid again', async () => {
    const bob = stack.customer();
    const carol = stack.customer();
    const accepted = lostOffer('w-lost-accepted', bob);
    const rejected = lostOffer('w-lost-rejected', carol);
    expect(await stack.waitForWithdrawal('w-lost-accepted', 'pending_acceptance')).toMatchObject({
      recovered: true,
      account: '(recovered)',
    });
    await stack.waitForWithdrawal('w-lost-rejected', 'pending_acceptance');

    stack.sandbox.control.accept(accepted);
    stack.sandbox.control.reject(rejected);
    expect(await stack.waitForWithdrawal('w-lost-accepted', ['completed', 'failed'])).toMatchObject({
      status: 'completed',
      recovered: true,
    });
    expect(await stack.waitForWithdrawal('w-lost-rejected', ['completed', 'failed'])).toMatchObject({
      status: 'failed',
      statusCode: 'OFFER_REJECTED',
      recovered: true,
    });
    expect((await outcomeEvents('w-lost-accepted')).map((e) => e.topic)).toEqual(['withdrawal.completed']);
    expect((await outcomeEvents('w-lost-rejected')).map((e) => e.payload)).toEqual([
      expect.objectContaining({ recredit: true, cancelled: false, reasonCode: 'OFFER_REJECTED' }),
    ]);

    // One transfer per memo on the ledger, and nothing was ever reserved for them.
    for (const id of ['w-lost-accepted', 'w-lost-rejected']) {
      expect(stack.sandbox.control.books.transfers().filter((t) => t.memo === id)).toHaveLength(1);
      expect(await stack.sql`select 1 from holding_reservations where withdrawal_id = ${id}`).toHaveLength(0);
    }
  });

  it('expired unaccepted: withdrawn so its funds are unlocked, then failed with a re-credit', async () => {
    const dave = stack.customer();
    const offer = lostOffer('w-lost-expired', dave);
    await stack.waitForWithdrawal('w-lost-expired', 'pending_acceptance');
    await stack.advanceClock(3_600_000 + 5 * 60_000);
    expect(await stack.waitForWithdrawal('w-lost-expired', ['completed', 'failed'])).toMatchObject({
      status: 'failed',
      statusCode: 'OFFER_EXPIRED',
    });
    expect(stack.sandbox.engine.activeInstructions(stack.treasury).map((i) => i.contract.contractId)).not.toContain(offer);
    expect(stack.sandbox.control.books.holdings(stack.treasury).filter((h) => h.instrumentId === 'UTK' && h.locked)).toEqual([]);
    expect((await outcomeEvents('w-lost-expired')).map((e) => e.payload)).toEqual([
      expect.objectContaining({ recredit: true, reasonCode: 'OFFER_EXPIRED' }),
    ]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAmounts } from '../../src/lib/decimal.js';
import { DEFAULT_INSTRUMENTS } from '../../src/sandbox/engine/instruments.js';
import { startStack, type Stack } from '../support/stack.js';
import { withdrawalEvents } from './support/money.js';

/**
 * Issue 19, item 7: a 2-step payout offer that expires unaccepted must not leave the treasury's
 * funds locked. The double's UTK registry here never expires offers by itself (as a real registry
 * may not): once the ingested record time passes the offer's executeBefore, the daemon withdraws it
 * and only then fails the withdrawal (re-credit); the locked holding comes back into the pool.
 */

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    sandbox: { instruments: DEFAULT_INSTRUMENTS.map((i) => ({ ...i, expiresOffers: false })) },
  });
  await stack.fundTreasury('UTK', '1000', 1);
  await stack.fundTreasury('Amulet', '1000', 1);
});
afterAll(async () => {
  await stack.close();
});

/** The treasury's holdings of an instrument as ingestion recorded them: free (unlocked, active) and locked. */
async function treasuryPool(instrument: { admin: string; id: string }): Promise<{ free: string; locked: number }> {
  const rows = await stack.sql<{ amount: string; locked: boolean }[]>`
    select amount::text as amount, lock is not null as locked from holdings
    where owner = ${stack.treasury} and instrument_admin = ${instrument.admin} and instrument_id = ${instrument.id} and archived_offset is null`;
  return { free: addAmounts('0', ...rows.filter((r) => !r.locked).map((r) => r.amount)), locked: rows.filter((r) => r.locked).length };
}

describe('an expired 2-step payout offer whose registry never expires it (issue 19, item 7)', () => {
  it('is withdrawn by the daemon: the withdrawal fails with a re-credit and the locked funds return to the pool (a registry token and Canton Coin)', async () => {
    // One registry-issued token, one Canton Coin offer (AmuletTransferInstruction over a LockedAmulet),
    // both expiring at the same clock step: the ledger's clock only moves forward.
    const cases = ['UTK', 'Amulet'].map((symbol) => ({ symbol, id: `w-offer-expires-${symbol}`, instrument: stack.instrument(symbol) }));
    const carol = stack.customer();
    const offers = new Map<string, string>();
    for (const c of cases) {
      expect(await treasuryPool(c.instrument)).toEqual({ free: '1000.0000000000', locked: 0 });
      await stack.requestWithdrawal({ withdrawalId: c.id, receiver: carol, instrument: c.symbol, amount: '10' });
      const pending = await stack.waitForWithdrawal(c.id, 'pending_acceptance');
      offers.set(c.id, pending.transfer!.transferInstructionCid!);
      expect((await treasuryPool(c.instrument)).locked).toBe(1);
    }

    // Past executeBefore (offerTtlMs = 1 h) and the grace ingestion allows: nobody may accept now.
    await stack.advanceClock(3_600_000 + 5 * 60_000);
    for (const c of cases) {
      const failed = await stack.waitForWithdrawal(c.id, ['failed', 'completed']);
      // The double's books: the offer is gone, withdrawn by its sender, and nothing stays locked.
      expect(stack.sandbox.engine.activeInstructions(stack.treasury).map((i) => i.contract.contractId)).not.toContain(offers.get(c.id));
      expect(stack.sandbox.control.books.holdings(stack.treasury).filter((h) => h.instrumentId === c.instrument.id && h.locked)).toEqual(
        [],
      );
      // And ingestion's pool has all of it back.
      await stack.caughtUp();
      expect(await treasuryPool(c.instrument)).toEqual({ free: '1000.0000000000', locked: 0 });

      expect(failed).toMatchObject({
        status: 'failed',
        statusReason: expect.stringMatching(/^transfer offer expired before acceptance; the offer closed \(withdrawn\) in update /),
      });
      const events = await withdrawalEvents(stack, c.id);
      expect(events.filter((e) => e.topic === 'withdrawal.failed').map((e) => e.payload)).toEqual([
        expect.objectContaining({ recredit: true, cancelled: false }),
      ]);
    }
  });
});

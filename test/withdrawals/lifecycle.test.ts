import { afterEach, describe, expect, it } from 'vitest';
import { upsertInstrument } from '../../src/store/instruments.js';
import { startStack, type Stack, type StackOptions } from '../support/stack.js';
import { checkPaidAtMostOnce, liveReservationCount, withdrawalEvents } from './support/money.js';

/**
 * Withdrawals end to end: requested over HTTP, executed by the withdrawal runtime with the real
 * ledger effects against the ledger double, outcomes reported by ingestion. Every test ends with
 * the money invariants checked against the double's books.
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

const topics = async (s: Stack, id: string) => (await withdrawalEvents(s, id)).map((e) => e.topic);

describe('withdrawals against the ledger double', () => {
  it('1-step happy path: HTTP request → transfer to the preapproved receiver → completed, announced once, holdings settled', async () => {
    const s = await start();
    await s.fundTreasury('Amulet', '1000', 3);
    const bob = s.customer({ preapproval: true });
    const created = await s.requestWithdrawal({ withdrawalId: 'w-1step', receiver: bob, instrument: 'Amulet', amount: '25' });
    expect(created).toMatchObject({ status: 201, body: { status: 'requested' } });
    // The same request again is idempotent, a different one a conflict.
    expect((await s.requestWithdrawal({ withdrawalId: 'w-1step', receiver: bob, instrument: 'Amulet', amount: '25' })).status).toBe(200);
    expect((await s.requestWithdrawal({ withdrawalId: 'w-1step', receiver: bob, instrument: 'Amulet', amount: '26' })).status).toBe(409);

    const w = await s.waitForWithdrawal('w-1step', ['completed', 'failed', 'stalled']);
    expect(w).toMatchObject({ status: 'completed', attempt: 1, transfer: { transferInstructionCid: null } });
    const [t] = s.sandbox.control.books.transfers('w-1step');
    expect(t).toMatchObject({ receiver: bob, amount: '25.0000000000', outcome: 'completed', updateId: w.transfer!.updateId });
    expect(await topics(s, 'w-1step')).toEqual(['withdrawal.requested', 'withdrawal.transferred', 'withdrawal.completed']);
    expect(await liveReservationCount(s, 'w-1step')).toBe(0);
    await checkPaidAtMostOnce(s, ['w-1step']);
    // The HTTP detail shows what happened.
    const detail = await s.api('GET', '/v1/withdrawals/w-1step');
    expect(detail.body).toMatchObject({ status: 'completed', holdings: [expect.objectContaining({ attempt: 1 })] });
    expect((detail.body['history'] as { eventType: string }[]).map((h) => h.eventType)).toEqual(
      expect.arrayContaining(['xstate.done.actor.executeSubmission', 'TRANSFERRED']),
    );

    // What stays stored: the prepared transaction (tens of kilobytes) is neither in the final
    // snapshot nor in the transition rows, which keep its hash and command id; the copy kept
    // apart while the withdrawal needed it (machine_blobs) is gone.
    const [snapshot] = await s.sql<
      { snapshot: string }[]
    >`select snapshot::text as snapshot from machine_snapshots where machine_type = 'withdrawal' and machine_id = 'w-1step'`;
    expect(snapshot!.snapshot.length).toBeLessThan(8_000);
    expect(await s.sql`select hash from machine_blobs where machine_type = 'withdrawal' and machine_id = 'w-1step'`).toHaveLength(0);
    const rows = await s.sql<{ event_type: string; event: { output?: Record<string, unknown> } }[]>`
      select event_type, event from machine_transitions where machine_type = 'withdrawal' and machine_id = 'w-1step' order by seq`;
    const prepared = rows.find((r) => r.event_type === 'xstate.done.actor.prepareTransfer')!.event.output!;
    expect(prepared['preparedTransaction']).toMatch(/^\[\d+ characters, not kept\]$/);
    expect(prepared['preparedTransactionHash']).toEqual(expect.any(String));
    expect(Math.max(...rows.map((r) => JSON.stringify(r.event).length))).toBeLessThan(16_000);
  });

  it('2-step accepted: an offer (UTK, and CC to a receiver without preapproval) → pending_acceptance → the receiver accepts → completed', async () => {
    const s = await start();
    await s.fundTreasury('UTK', '500', 2);
    await s.fundTreasury('Amulet', '500', 2);
    const carol = s.customer();
    await s.requestWithdrawal({ withdrawalId: 'w-utk', receiver: carol, instrument: 'UTK', amount: '40' });
    await s.requestWithdrawal({ withdrawalId: 'w-cc-offer', receiver: carol, instrument: 'Amulet', amount: '30' });
    for (const id of ['w-utk', 'w-cc-offer']) {
      const pending = await s.waitForWithdrawal(id, ['pending_acceptance', 'completed', 'failed', 'stalled']);
      expect(pending.status).toBe('pending_acceptance');
      const cid = pending.transfer!.transferInstructionCid!;
      expect(s.sandbox.control.books.isActiveInstruction(cid)).toBe(true);
      s.sandbox.control.accept(cid);
      const done = await s.waitForWithdrawal(id, ['completed', 'failed']);
      expect(done).toMatchObject({ status: 'completed', outcomeUpdateId: expect.any(String) });
      expect(await topics(s, id)).toEqual([
        'withdrawal.requested',
        'withdrawal.offered',
        'withdrawal.pending_acceptance',
        'withdrawal.instruction_closed',
        'withdrawal.completed',
      ]);
      // The offer is its own fact, not a transfer with an outcome still open.
      const offered = (await withdrawalEvents(s, id)).find((e) => e.topic === 'withdrawal.offered')!;
      expect(offered.payload).toMatchObject({
        withdrawalId: id,
        transferInstructionCid: cid,
        updateId: pending.transfer!.updateId,
        executeBefore: expect.any(String),
      });
      expect(offered.payload).not.toHaveProperty('outcome');
    }
    await checkPaidAtMostOnce(s, ['w-utk', 'w-cc-offer']);
  });

  it('2-step rejected, withdrawn by us, expired: failed with the reason, funds back in the treasury, re-credit announced', async () => {
    const s = await start();
    await s.fundTreasury('UTK', '100', 3);
    const before = s.sandbox.control.books.balances(s.treasury)[`${s.utk.admin}/${s.utk.id}`]!.total;
    const dave = s.customer();
    for (const id of ['w-rejected', 'w-withdrawn', 'w-expired'])
      await s.requestWithdrawal({ withdrawalId: id, receiver: dave, instrument: 'UTK', amount: '10' });
    const cidOf = async (id: string) => (await s.waitForWithdrawal(id, 'pending_acceptance')).transfer!.transferInstructionCid!;
    s.sandbox.control.reject(await cidOf('w-rejected'));
    s.sandbox.control.withdraw(await cidOf('w-withdrawn'));
    await cidOf('w-expired');
    // Offers live offerTtlMs (1 h in the stack's policy); the registry expires them after that.
    await s.advanceClock(2 * 3_600_000);
    const reasons: Record<string, RegExp> = {
      'w-rejected': /rejected by the receiver/,
      'w-withdrawn': /withdrawn by the sender/,
      'w-expired': /expired before acceptance/,
    };
    for (const [id, reason] of Object.entries(reasons)) {
      const w = await s.waitForWithdrawal(id, ['failed', 'completed']);
      expect(w.status).toBe('failed');
      expect(w.statusReason).toMatch(reason);
      const failed = (await withdrawalEvents(s, id)).find((e) => e.topic === 'withdrawal.failed');
      expect(failed?.payload).toMatchObject({ recredit: true, cancelled: false, transferUpdateId: expect.any(String) });
    }
    await s.caughtUp();
    expect(s.sandbox.control.books.balances(s.treasury)[`${s.utk.admin}/${s.utk.id}`]!.total).toBe(before);
    expect(s.sandbox.control.books.balances(dave)).toEqual({});
    await checkPaidAtMostOnce(s, Object.keys(reasons));
  });

  it('a receiver the ledger does not know: failed RECEIVER_UNKNOWN at prepare, holdings released, re-credit announced, no operator needed', async () => {
    const s = await start();
    await s.fundTreasury('Amulet', '100', 1);
    await s.fundTreasury('UTK', '100', 1);
    // A well-formed party id no participant hosts (a typo in the fingerprint, say).
    const nobody = `nobody::1220${'e'.repeat(64)}`;
    for (const [id, instrument] of [
      ['w-nobody-cc', 'Amulet'],
      ['w-nobody-utk', 'UTK'],
    ] as const) {
      expect((await s.requestWithdrawal({ withdrawalId: id, receiver: nobody, instrument, amount: '10' })).status).toBe(201);
      const w = await s.waitForWithdrawal(id, ['failed', 'stalled', 'completed', 'pending_acceptance']);
      expect(w).toMatchObject({ status: 'failed', statusCode: 'RECEIVER_UNKNOWN' });
      expect(w.statusReason).toContain(`the receiver ${nobody} is not known on the ledger`);
      expect(await liveReservationCount(s, id)).toBe(0);
      expect(s.sandbox.control.books.transfers(id)).toEqual([]);
      const failed = (await withdrawalEvents(s, id)).find((e) => e.topic === 'withdrawal.failed');
      expect(failed?.payload).toMatchObject({ reasonCode: 'RECEIVER_UNKNOWN', recredit: true, cancelled: false, transferUpdateId: null });
    }
    await checkPaidAtMostOnce(s, ['w-nobody-cc', 'w-nobody-utk']);
  });

  it('insufficient funds: waits for funds and completes once they arrive; fails without paying when they never do', async () => {
    const s = await start({ withdrawalPolicy: { fundsRecheckMs: 100, fundsTimeoutMs: 2_000 } });
    await s.fundTreasury('Amulet', '100', 2);
    const erin = s.customer({ preapproval: true });
    await s.requestWithdrawal({ withdrawalId: 'w-later', receiver: erin, instrument: 'Amulet', amount: '500' });
    const waiting = await s.waitForWithdrawal('w-later', 'waiting_for_funds');
    // Canton Coin's sender fee (0.5 + 0.1 % = 1.0) is reserved on top of the amount.
    expect(waiting.statusReason).toMatch(
      /insufficient free funds: need 501.0000000000 \(amount 500.0000000000 \+ fee reserve 1.0000000000\), free 200.0000000000 in 2 holdings/,
    );
    await s.fundTreasury('Amulet', '1000', 1);
    expect(await s.waitForWithdrawal('w-later', ['completed', 'failed'])).toMatchObject({ status: 'completed' });

    await s.requestWithdrawal({ withdrawalId: 'w-never', receiver: erin, instrument: 'Amulet', amount: '1000000' });
    const failed = await s.waitForWithdrawal('w-never', ['failed', 'completed'], 10_000);
    expect(failed.statusReason).toMatch(/insufficient funds for more than/);
    expect(failed.attempt).toBe(0);
    expect(s.sandbox.control.books.transfers('w-never')).toEqual([]);
    expect((await withdrawalEvents(s, 'w-never')).find((e) => e.topic === 'withdrawal.failed')?.payload).toMatchObject({ recredit: true });
    await checkPaidAtMostOnce(s, ['w-later', 'w-never']);
  });

  it('a 1-step-only instrument and a receiver without preapproval: failed with that reason, nothing submitted; a preapproved receiver is paid', async () => {
    const s = await start();
    await upsertInstrument(s.sql, {
      admin: s.cc.admin,
      id: s.cc.id,
      registryUrl: s.cc.registryUrl,
      displayDecimals: 10,
      transferPolicy: 'direct-only',
      enabled: true,
    });
    await s.fundTreasury('Amulet', '1000', 2);
    const frank = s.customer();
    const grace = s.customer({ preapproval: true });
    await s.requestWithdrawal({ withdrawalId: 'w-nopre', receiver: frank, instrument: 'Amulet', amount: '10' });
    await s.requestWithdrawal({ withdrawalId: 'w-pre', receiver: grace, instrument: 'Amulet', amount: '10' });
    const refused = await s.waitForWithdrawal('w-nopre', ['failed', 'completed', 'stalled']);
    expect(refused.status).toBe('failed');
    expect(refused.statusReason).toBe(
      `receiver ${frank} has no transfer preapproval and instrument Amulet supports only 1-step (direct) transfers`,
    );
    expect(await liveReservationCount(s, 'w-nopre')).toBe(0);
    const [snapshot] = await s.sql<
      { context: { executeCount: number } }[]
    >`select snapshot->'context' as context from machine_snapshots where machine_id = 'w-nopre'`;
    expect(snapshot!.context.executeCount).toBe(0);
    expect(await s.waitForWithdrawal('w-pre', ['completed', 'failed'])).toMatchObject({ status: 'completed' });
    await checkPaidAtMostOnce(s, ['w-nopre', 'w-pre']);
  });
});

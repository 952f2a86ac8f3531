import { afterEach, describe, expect, it } from 'vitest';
import { createHoldingsJob, type HoldingsJob } from '../../src/admin/holdings-job.js';
import { createReconciler } from '../../src/admin/reconciliation/run.js';
import { UtxoPolicy, type UtxoPolicyInput } from '../../src/admin/utxo-policy.js';
import { addAmounts, compareAmounts } from '../../src/lib/decimal.js';
import { startStack, TEST_WITHDRAWAL_POLICY, type Stack } from '../support/stack.js';

/** UTXO management end to end: the holdings job's self-transfers run by the real daemon parts against the ledger double. */

let stack: Stack | undefined;
let job: HoldingsJob | undefined;
afterEach(async () => {
  await job?.stop();
  job = undefined;
  await stack?.close();
  stack = undefined;
});

async function setPolicy(s: Stack, instrument: string, policy: UtxoPolicyInput): Promise<void> {
  const i = s.instrument(instrument);
  await s.sql`update instruments set utxo_policy = ${s.sql.json(UtxoPolicy.parse(policy))} where admin_party = ${i.admin} and instrument_id = ${i.id}`;
}

const startJob = (s: Stack, intervalMs = 50) =>
  createHoldingsJob({
    sql: s.sql,
    logger: s.logger,
    treasuryParty: s.treasury,
    intervalMs,
    withdrawals: s.daemon.withdrawals,
    maxInputs: TEST_WITHDRAWAL_POLICY.maxInputs ?? 100,
  });

/** The double's own books: the treasury's unlocked holdings of an instrument. */
const ledgerHoldings = (s: Stack, instrument: string) =>
  s.sandbox.control.books
    .holdings(s.treasury)
    .filter((h) => h.instrumentId === s.instrument(instrument).id)
    .map((h) => ({ contractId: h.contractId, amount: h.amount, locked: h.locked }));

async function selfTransfers(s: Stack) {
  return s.sql<{ withdrawal_id: string; status: string; status_reason: string | null; inputs: number }[]>`
    select withdrawal_id, status, status_reason, cardinality(input_holding_cids)::int as inputs from withdrawals
    where input_holding_cids is not null order by requested_at, withdrawal_id`;
}

async function waitUntil<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function expectReconciledClean(s: Stack): Promise<void> {
  await s.caughtUp();
  const report = await createReconciler({ sql: s.sql, ledger: s.ledger }).run();
  expect(report.differences).toEqual([]);
  expect(report.clean).toBe(true);
}

describe('UTXO management against the ledger double', () => {
  it('merges 250 small holdings into at most 3 self-transfers through the withdrawal path', async () => {
    const s = (stack = await startStack());
    await s.fundTreasury('Amulet', '0.25', 250);
    await s.fundTreasury('Amulet', '500', 1);
    await setPolicy(s, 'Amulet', { mergeThreshold: 20, smallAmount: '1' });
    const before = ledgerHoldings(s, 'Amulet');
    expect(before).toHaveLength(251);

    job = startJob(s);
    const run = await job.runOnce();
    const created = run.instruments.find((x) => x.instrument.id === 'Amulet')?.outcome;
    expect(created?.kind).toBe('created');
    const planned = await selfTransfers(s);
    expect(planned.length).toBeLessThanOrEqual(3);
    expect(planned.every((t) => t.inputs <= 100)).toBe(true);
    expect(planned.reduce((n, t) => n + t.inputs, 0)).toBe(250);

    for (const t of planned) await s.waitForWithdrawal(t.withdrawal_id, ['completed', 'failed', 'stalled', 'cancelled'], 30_000);
    expect((await selfTransfers(s)).map((t) => t.status)).toEqual(planned.map(() => 'completed'));
    await s.caughtUp();

    // On the ledger: the 250 small holdings became one holding per merge; nothing was paid out.
    const after = ledgerHoldings(s, 'Amulet');
    expect(after).toHaveLength(1 + planned.length);
    expect(addAmounts(...after.map((h) => h.amount))).toBe(addAmounts(...before.map((h) => h.amount)));
    expect(after.filter((h) => compareAmounts(h.amount, '1') < 0)).toEqual([]);
    // The merges paid nothing out: no exchange-facing completion re-credits or debits anybody.
    const events = await s.sql<{ topic: string; payload: { purpose: string; recredit?: boolean } }[]>`
      select topic, payload from outbox_events where topic in ('withdrawal.completed', 'withdrawal.failed')`;
    expect(events.every((e) => e.payload.purpose === 'self_transfer' && e.topic === 'withdrawal.completed')).toBe(true);

    // Nothing more to do: the next run plans nothing.
    expect((await job.runOnce()).instruments.find((x) => x.instrument.id === 'Amulet')?.outcome).toEqual({ kind: 'nothing_to_do' });
    await expectReconciledClean(s);
  });

  it('keeps a pool of k holdings at the target under a stream of withdrawals', async () => {
    const s = (stack = await startStack());
    const k = 4;
    await s.fundTreasury('Amulet', '3000', 1);
    await setPolicy(s, 'Amulet', { poolSize: k, poolTargetAmount: '200', mergeThreshold: 3 });
    const receivers = Array.from({ length: k }, () => s.customer({ preapproval: true }));
    job = startJob(s);
    await job.start();

    /** Holdings of at least the target that a withdrawal may take now. */
    const freePool = async () => {
      const [r] = await s.sql<{ n: number }[]>`
        select count(*)::int as n from holdings h
        where h.owner = ${s.treasury} and h.instrument_id = 'Amulet' and h.archived_offset is null and h.lock is null and h.amount >= 200
          and not exists (select 1 from holding_reservations r where r.contract_id = h.contract_id and r.released_at is null)`;
      return r!.n;
    };
    /** Until a run that started after now found nothing to do: the job has caught up with the ledger. */
    const settled = async () => {
      await s.caughtUp();
      const since = new Date().toISOString();
      await waitUntil(
        'the holdings job to settle',
        async () => job!.lastRun(),
        (r) => r !== undefined && r.at > since && r.instruments.find((x) => x.instrument.id === 'Amulet')?.outcome.kind === 'nothing_to_do',
      );
    };

    // From one holding of 3000 the job splits its way to k of at least 200.
    await settled();
    expect(await freePool()).toBeGreaterThanOrEqual(k);
    const initial = (await selfTransfers(s)).length;

    // A stream of withdrawals that eats into the pool holdings while the job keeps running.
    const ids = Array.from({ length: 12 }, (_, i) => `pool-${i}`);
    const requests: Promise<unknown>[] = [];
    for (const [i, id] of ids.entries()) {
      requests.push(
        s
          .requestWithdrawal({ withdrawalId: id, receiver: receivers[i % k]!, instrument: 'Amulet', amount: '150' })
          .then((r) => expect(r.status).toBe(201)),
      );
      await new Promise((r) => setTimeout(r, 60));
    }
    await Promise.all(requests);
    for (const id of ids)
      expect(await s.waitForWithdrawal(id, ['completed', 'failed', 'stalled'], 60_000)).toMatchObject({ status: 'completed' });

    // Once the stream has passed, the job has refilled the pool from what is left (about 1190 CC).
    await settled();
    expect(await freePool()).toBeGreaterThanOrEqual(k);
    const transfers = await selfTransfers(s);
    expect(transfers.length).toBeGreaterThan(initial);
    expect(transfers.filter((t) => t.status !== 'completed')).toEqual([]);
    await expectReconciledClean(s);
  });

  it('a crash after a merge was executed: the restarted daemon finishes every merge, each committed once', async () => {
    const tA = Date.now();
    const s = (stack = await startStack());
    console.error('stack', Date.now() - tA);
    await s.fundTreasury('Amulet', '0.2', 120);
    console.error('funded', Date.now() - tA);
    await setPolicy(s, 'Amulet', { mergeThreshold: 10, smallAmount: '1' });
    let crashed: Promise<void> | undefined;
    /** The process is gone: an effect never answers; it is abandoned when the runtime aborts. */
    const hang = (signal: AbortSignal) =>
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('abandoned: crashed')), { once: true }));
    await s.restart({
      intercept: {
        withdrawal: (a) => ({
          ...a,
          // The first execute reaches the ledger, then the process dies before recording the answer.
          executeSubmission: async (input, signal) => {
            if (crashed) return hang(signal);
            await a.executeSubmission(input, signal);
            crashed = s.crash();
            return hang(signal);
          },
        }),
      },
    });
    console.error('restarted', Date.now() - tA);
    job = startJob(s);
    expect((await job.runOnce()).instruments.find((x) => x.instrument.id === 'Amulet')?.outcome.kind).toBe('created');
    const planned = await selfTransfers(s);
    expect(planned).toHaveLength(2);
    console.error('planned', Date.now() - tA);
    await waitUntil(
      'the crash',
      async () => ({ crashed }),
      (c) => c.crashed !== undefined,
    );
    await crashed;
    console.error('crashed', Date.now() - tA);

    const t0 = Date.now();
    await s.restart({ intercept: {} });
    console.error('restart', Date.now() - t0);
    for (const t of planned)
      expect(await s.waitForWithdrawal(t.withdrawal_id, ['completed', 'failed', 'stalled'], 30_000)).toMatchObject({ status: 'completed' });
    console.error('done', Date.now() - t0);
    for (const t of planned) expect(s.sandbox.control.books.transfers(t.withdrawal_id)).toHaveLength(1);
    await s.caughtUp();
    expect(ledgerHoldings(s, 'Amulet')).toHaveLength(2);
    await expectReconciledClean(s);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHoldingsJob, type HoldingsJobRun } from '../../src/admin/holdings-job.js';
import { viewLimits, viewOf, type FreeHolding } from '../../src/admin/utxo-plan.js';
import { effectivePolicy, UtxoPolicy, type UtxoPolicyInput } from '../../src/admin/utxo-policy.js';
import { readFreeHoldingsView } from '../../src/store/holdings-job.js';
import { readOutboxEvents } from '../../src/store/outbox.js';
import { releaseReservations, reserveHoldings } from '../../src/store/reservations.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';
import { archiveHoldings, DSO, insertHolding, insertWithdrawal, TREASURY } from '../machines/support/fixtures.js';

const { sql } = await useMigratedDatabase({ max: 10 });

let n = 0;
/** A fresh instrument per test: the file shares one database. */
async function instrument(policy: UtxoPolicyInput, enabled = true) {
  const i = { admin: DSO, id: `Tok${++n}` };
  await sql`
    insert into instruments (admin_party, instrument_id, registry_url, transfer_policy, utxo_policy, enabled)
    values (${i.admin}, ${i.id}, 'http://registry.invalid', 'direct-or-offer', ${sql.json(UtxoPolicy.parse(policy))}, ${enabled})`;
  return i;
}
async function fund(i: { admin: string; id: string }, amounts: readonly string[], prefix: string) {
  for (const [k, amount] of amounts.entries())
    await insertHolding(sql, { contractId: `${prefix}-${String(k).padStart(4, '0')}`, amount, instrument: i });
}
const job = (extra: Partial<Parameters<typeof createHoldingsJob>[0]> = {}) =>
  createHoldingsJob({ sql, logger: testLogger(), treasuryParty: TREASURY, ...extra });
const outcomeOf = (run: HoldingsJobRun, i: { id: string }) => run.instruments.find((x) => x.instrument.id === i.id)?.outcome;
const plannedRows = (i: { id: string }) =>
  sql<
    {
      withdrawal_id: string;
      purpose: string;
      receiver: string;
      amount: string;
      input_holding_cids: string[];
      status: string;
      account: string;
    }[]
  >`
    select withdrawal_id, purpose, receiver, amount::text, input_holding_cids, status, account from withdrawals
    where instrument_id = ${i.id} and input_holding_cids is not null order by withdrawal_id`;
const reserve = (withdrawalId: string, i: { admin: string; id: string }, amount: string, attempt = 1) =>
  reserveHoldings(sql, { withdrawalId, attempt, owner: TREASURY, instrument: i, amount, maxInputs: 100, ttlMs: 600_000 });

describe('the planner view in SQL', () => {
  it('property: equals viewOf over the free holdings (locked, archived, reserved, foreign, planned ones excluded)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            amount: fc.integer({ min: 1, max: 4000 }).map((x) => (x / 100).toFixed(2)),
            state: fc.constantFrom('free', 'free', 'free', 'locked', 'archived', 'reserved', 'foreign'),
          }),
          { maxLength: 60 },
        ),
        fc.record({
          poolSize: fc.integer({ min: 0, max: 4 }),
          target: fc.integer({ min: 1, max: 20 }),
          maxInputs: fc.integer({ min: 2, max: 5 }),
          maxTransfersPerRun: fc.integer({ min: 1, max: 3 }),
        }),
        async (hs, q) => {
          const i = await instrument({});
          const free: FreeHolding[] = [];
          const reserved: FreeHolding[] = [];
          for (const [k, h] of hs.entries()) {
            const contractId = `v${n}-${k}`;
            await insertHolding(sql, {
              contractId,
              amount: h.amount,
              instrument: i,
              locked: h.state === 'locked',
              archived: h.state === 'archived',
              ...(h.state === 'foreign' ? { owner: `x::1220${'e'.repeat(64)}` } : {}),
            });
            if (h.state === 'reserved') {
              await insertWithdrawal(sql, { id: `vw-${contractId}`, amount: h.amount, instrument: i });
              await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values (${contractId}, ${`vw-${contractId}`}, 1)`;
              reserved.push({ contractId, amount: `${h.amount}00000000` });
            }
            if (h.state === 'free') free.push({ contractId, amount: `${h.amount}00000000` });
          }
          const p = effectivePolicy(
            UtxoPolicy.parse({
              maxInputs: q.maxInputs,
              maxTransfersPerRun: q.maxTransfersPerRun,
              poolSize: q.poolSize,
              ...(q.poolSize > 0 ? { poolTargetAmount: String(q.target) } : {}),
            }),
          );
          const view = await readFreeHoldingsView(sql, TREASURY, i, {
            smallAmount: p.smallAmount,
            poolTargetAmount: p.poolTargetAmount,
            limits: viewLimits(p),
          });
          expect(view).toEqual(viewOf(free, p, reserved));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('lists the largest free holdings below a target from the active-holdings index: no sort, however many tie', async () => {
    const i = await instrument({});
    await fund(
      i,
      Array.from({ length: 300 }, (_, k) => String(1 + (k % 3))),
      `tie${n}`,
    );
    await sql`analyze holdings`;
    // The statement shape of readFreeHoldingsView's `list` (src/store/holdings-job.ts), below-target case.
    const plan = await sql<{ 'QUERY PLAN': string }[]>`
      explain select h.contract_id, h.amount::text as amount from holdings h
      where h.owner = ${TREASURY} and h.instrument_admin = ${i.admin} and h.instrument_id = ${i.id}
        and h.archived_offset is null and h.lock is null and not h.reserved
        and not exists (
          select 1 from withdrawals p
          where p.instrument_admin = h.instrument_admin and p.instrument_id = h.instrument_id
            and p.input_holding_cids is not null and p.status not in ('completed', 'failed', 'cancelled', 'recovered', 'stalled')
            and h.contract_id = any(p.input_holding_cids))
        and h.amount < ${'3'}::numeric
      order by h.amount desc, h.contract_id desc
      limit 5`;
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index Scan Backward using holdings_active/);
    expect(text).not.toMatch(/Sort/);
    const view = await readFreeHoldingsView(sql, TREASURY, i, {
      smallAmount: null,
      poolTargetAmount: '3',
      limits: { inputs: 5, splits: 5 },
    });
    expect(view.belowTarget.map((h) => h.contractId)).toEqual(
      ['tie0298', 'tie0295', 'tie0292', 'tie0289', 'tie0286'].map((c) => c.replace('tie', `tie${n}-`)),
    );
  });
});

describe('the holdings job', () => {
  it('merges 250 small holdings with 3 self-transfers to the treasury, then waits for them', async () => {
    const i = await instrument({ mergeThreshold: 50, smallAmount: '1' });
    await fund(
      i,
      Array.from({ length: 250 }, () => '0.01'),
      `m${n}`,
    );
    await fund(i, ['40'], `big${n}`);
    const run = await job().runOnce();
    const outcome = outcomeOf(run, i);
    expect(outcome?.kind).toBe('created');
    const rows = await plannedRows(i);
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      expect(r).toMatchObject({ purpose: 'self_transfer', receiver: TREASURY, status: 'requested', account: '(holdings-job)' });
      expect(r.withdrawal_id).toMatch(/^utxo-merge-[0-9a-f-]{36}$/);
      expect(r.input_holding_cids.length).toBeLessThanOrEqual(100);
      expect(r.input_holding_cids).not.toContain(`big${n}-0000`);
    }
    expect(new Set(rows.flatMap((r) => r.input_holding_cids)).size).toBe(250);
    const events = await readOutboxEvents(sql, { afterId: 0, limit: 10_000, topics: ['withdrawal.requested'] });
    expect(events.filter((e) => rows.some((r) => r.withdrawal_id === e.aggregateId)).map((e) => e.payload['purpose'])).toEqual([
      'self_transfer',
      'self_transfer',
      'self_transfer',
    ]);

    // Unfinished: nothing new is planned, whatever arrives meanwhile.
    await fund(
      i,
      Array.from({ length: 60 }, () => '0.02'),
      `m2-${n}`,
    );
    expect(outcomeOf(await job().runOnce(), i)).toMatchObject({ kind: 'waiting', unfinished: rows.map((r) => r.withdrawal_id).sort() });
  });

  it('a planned self-transfer reserves exactly its inputs, and payouts keep away from them', async () => {
    const i = await instrument({ poolSize: 2, poolTargetAmount: '10' });
    await fund(i, ['100'], `s${n}`);
    await fund(i, ['1', '2'], `small${n}`);
    expect(outcomeOf(await job().runOnce(), i)?.kind).toBe('created');
    const [split] = await plannedRows(i);
    expect(split).toMatchObject({ amount: '50.0000000000', input_holding_cids: [`s${n}-0000`] });

    // A payout that only the planned holding could cover waits instead of taking it.
    await insertWithdrawal(sql, { id: `pay-${n}`, amount: '60', instrument: i });
    expect(await reserve(`pay-${n}`, i, '60')).toMatchObject({ kind: 'insufficient', available: '3.0000000000' });
    // The self-transfer takes its planned input even though smaller holdings would cover 50 too.
    const r = await reserve(split!.withdrawal_id, i, split!.amount);
    expect(r).toMatchObject({ kind: 'reserved', holdings: [{ contractId: `s${n}-0000` }] });
  });

  it('a self-transfer whose planned inputs were taken waits for funds, and the job cancels it', async () => {
    const i = await instrument({ mergeThreshold: 2, smallAmount: '5' });
    await fund(i, ['1', '2', '3'], `t${n}`);
    expect(outcomeOf(await job().runOnce(), i)?.kind).toBe('created');
    const [merge] = await plannedRows(i);
    // Reserved by a payout in the race window between planning and the self-transfer's reservation.
    await insertWithdrawal(sql, { id: `race-${n}`, amount: '1', instrument: i });
    await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values (${`t${n}-0000`}, ${`race-${n}`}, 1)`;
    const r = await reserve(merge!.withdrawal_id, i, merge!.amount);
    expect(r).toMatchObject({ kind: 'insufficient' });
    expect(r.kind === 'insufficient' && r.reason).toMatch(/planned inputs no longer all free: 2 of 3/);
    await sql`update withdrawals set status = 'waiting_for_funds' where withdrawal_id = ${merge!.withdrawal_id}`;

    const commands: { id: string; command: unknown }[] = [];
    const withdrawals = {
      async sendOperatorCommand(id: string, command: unknown) {
        commands.push({ id, command });
        await sql`update withdrawals set status = 'cancelled' where withdrawal_id = ${id}`;
        return { accepted: true };
      },
    };
    expect(outcomeOf(await job({ withdrawals }).runOnce(), i)).toMatchObject({ kind: 'waiting', cancelled: [merge!.withdrawal_id] });
    expect(commands).toEqual([{ id: merge!.withdrawal_id, command: expect.objectContaining({ type: 'CANCEL', by: 'holdings-job' }) }]);
    // Cancelled is final: the next run plans again from what is free.
    await fund(i, ['4'], `t2-${n}`);
    expect(outcomeOf(await job().runOnce(), i)?.kind).toBe('created');
  });

  it('waiting for funds only because of a lock elsewhere is not cancelled', async () => {
    const i = await instrument({ mergeThreshold: 1, smallAmount: '5' });
    await fund(i, ['1', '2'], `u${n}`);
    await job().runOnce();
    const [merge] = await plannedRows(i);
    await sql`update withdrawals set status = 'waiting_for_funds' where withdrawal_id = ${merge!.withdrawal_id}`;
    const withdrawals = { sendOperatorCommand: () => Promise.reject(new Error('must not be called')) };
    expect(outcomeOf(await job({ withdrawals }).runOnce(), i)).toMatchObject({ kind: 'waiting', cancelled: [] });
    // Spent (archived) inputs are gone for good.
    await archiveHoldings(sql, [`u${n}-0000`]);
    const calls: string[] = [];
    await job({ withdrawals: { sendOperatorCommand: async (id) => (calls.push(id), { accepted: false, reason: 'not now' }) } }).runOnce();
    expect(calls).toEqual([merge!.withdrawal_id]);
  });

  it('skips disabled and unmanaged instruments, reports an invalid policy, pauses after a failure', async () => {
    const off = await instrument({ mergeThreshold: 1 }, false);
    await fund(off, ['1', '2'], `off${n}`);
    const none = await instrument({});
    await fund(none, ['1', '2'], `none${n}`);
    const bad = await instrument({});
    await sql`update instruments set utxo_policy = ${sql.json({ maxInputs: 500 })} where instrument_id = ${bad.id}`;
    const failing = await instrument({ mergeThreshold: 1 });
    await fund(failing, ['1', '2'], `f${n}`);

    const run = await job().runOnce();
    expect(outcomeOf(run, off)).toBeUndefined();
    expect(outcomeOf(run, none)).toEqual({ kind: 'unmanaged' });
    expect(outcomeOf(run, bad)).toMatchObject({ kind: 'invalid_policy', reason: expect.stringMatching(/maxInputs/) });
    await sql`update instruments set enabled = false where instrument_id = ${bad.id}`;
    expect(outcomeOf(run, failing)?.kind).toBe('created');
    const [merge] = await plannedRows(failing);
    await sql`update withdrawals set status = 'failed', updated_at = now() where withdrawal_id = ${merge!.withdrawal_id}`;
    expect(outcomeOf(await job().runOnce(), failing)?.kind).toBe('backoff');
    expect(outcomeOf(await job({ failureBackoffMs: 0 }).runOnce(), failing)?.kind).toBe('created');
  });

  it('two instances running at once create one job per instrument', async () => {
    const i = await instrument({ mergeThreshold: 1 });
    await fund(
      i,
      Array.from({ length: 30 }, (_, k) => String(k + 1)),
      `c${n}`,
    );
    const runs = await Promise.all([job().runOnce(), job().runOnce(), job().runOnce()]);
    expect(runs.filter((r) => outcomeOf(r, i)?.kind === 'created')).toHaveLength(1);
    expect(await plannedRows(i)).toHaveLength(1);
  });

  it('payouts and a released self-transfer: releasing makes its inputs free for the next attempt only', async () => {
    const i = await instrument({ mergeThreshold: 1, smallAmount: '5' });
    await fund(i, ['1', '2'], `r${n}`);
    await job().runOnce();
    const [merge] = await plannedRows(i);
    expect(await reserve(merge!.withdrawal_id, i, merge!.amount)).toMatchObject({ kind: 'reserved' });
    await sql.begin((tx) => releaseReservations(tx, { withdrawalId: merge!.withdrawal_id, attempt: 1, reason: 'test' }, { strict: true }));
    // Still earmarked while live: a payout does not get them; the next attempt does.
    await insertWithdrawal(sql, { id: `p2-${n}`, amount: '1', instrument: i });
    expect(await reserve(`p2-${n}`, i, '1')).toMatchObject({ kind: 'insufficient' });
    expect(await reserve(merge!.withdrawal_id, i, merge!.amount, 2)).toMatchObject({ kind: 'reserved', attempt: 2 });
  });
});

describe('the holdings job and the withdrawal policy', () => {
  it("never plans a merge with more inputs than the withdrawal runtime's reservation may take", async () => {
    const i = await instrument({ mergeThreshold: 5, smallAmount: '1', maxInputs: 100 });
    await fund(
      i,
      Array.from({ length: 30 }, () => '0.1'),
      `cap${n}`,
    );
    const run = await job({ maxInputs: 8 }).runOnce();
    const outcome = outcomeOf(run, i);
    expect(outcome?.kind === 'created' && outcome.transfers.map((t) => t.inputs)).toEqual([8, 8, 7, 7]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addAmounts, compareAmounts } from '../../src/lib/decimal.js';
import { ActorError } from '../../src/machines/failure.js';
import type { ReserveHoldingsInput, ReserveHoldingsOutput } from '../../src/machines/withdrawal.actors.js';
import { selectInputs } from '../../src/store/reservations-selection.js';
import { createReservationActors } from '../../src/machines/effects/reservations.js';
import {
  liveReservations,
  markAttemptSubmitted,
  releaseReservations,
  reserveHoldings,
  STALE_RELEASE_REASON,
} from '../../src/store/reservations.js';
import { useMigratedDatabase } from '../support/db.js';
import { AMULET, archiveHoldings, insertHolding, insertWithdrawal, setIngestedRecordTime, TREASURY } from './support/fixtures.js';

const { sql } = await useMigratedDatabase({ max: 20 });

let n = 0;
/** A fresh instrument per test keeps tests independent inside the file's database. */
function instrument() {
  return { admin: AMULET.admin, id: `Token${++n}` };
}
const req = (
  withdrawalId: string,
  inst: { admin: string; id: string },
  amount: string,
  attempt = 1,
  maxInputs = 100,
): ReserveHoldingsInput => ({
  withdrawalId,
  attempt,
  owner: TREASURY,
  instrument: inst,
  amount,
  maxInputs,
  ttlMs: 600_000,
});
const cids = (r: ReserveHoldingsOutput) => (r.kind === 'reserved' ? r.holdings.map((h) => h.contractId) : []);

describe('coin selection (pure)', () => {
  const c = (id: string, amount: string) => ({ contractId: id, amount });

  it('takes the smallest holdings first', () => {
    expect(selectInputs([c('a', '1'), c('b', '50'), c('c', '2'), c('d', '3')], '5', 100)?.map((x) => x.contractId)).toEqual([
      'a',
      'c',
      'd',
    ]);
  });

  it('brings in as few large holdings as needed when small ones cannot cover within the input limit', () => {
    const dust = Array.from({ length: 5 }, (_, i) => c(`d${i}`, '1'));
    const got = selectInputs([...dust, c('big1', '100'), c('big2', '90')], '95', 3);
    expect(got?.map((x) => x.contractId)).toEqual(['big1']);
    expect(selectInputs([...dust, c('big1', '100'), c('big2', '90')], '102', 3)?.map((x) => x.contractId)).toEqual(['big1', 'd0', 'd1']);
  });

  it('property: null exactly when the maxInputs largest cannot cover; otherwise covers within the limit using candidates once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 0, maxLength: 40 }),
        fc.integer({ min: 1, max: 3_000_000 }),
        fc.integer({ min: 1, max: 10 }),
        (amounts, want, maxInputs) => {
          const cands = amounts.map((a, i) => c(`h${i}`, `${a / 1000}`));
          const amount = `${want / 1000}`;
          const got = selectInputs(cands, amount, maxInputs);
          const best = [...amounts]
            .sort((x, y) => y - x)
            .slice(0, maxInputs)
            .reduce((s, x) => s + x, 0);
          if (best < want) return got === null;
          if (got === null) return false;
          const ids = got.map((x) => x.contractId);
          return (
            new Set(ids).size === ids.length &&
            got.length <= maxInputs &&
            compareAmounts(addAmounts(...got.map((x) => x.amount)), amount) >= 0
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('reserveHoldings', () => {
  it('reads the free holdings of an instrument from the active-holdings index, in selection order: no sort', async () => {
    const inst = instrument();
    // Many ties at each amount: an order the index cannot give would sort a whole group of them.
    for (let i = 0; i < 300; i++) await insertHolding(sql, { contractId: `plan-${i}`, amount: String(1 + (i % 3)), instrument: inst });
    await sql`analyze holdings`;
    // The statement shape of reserveHoldings' `free` (src/store/reservations.ts), both directions.
    for (const order of [sql`asc`, sql`desc`]) {
      const plan = await sql<{ 'QUERY PLAN': string }[]>`
        explain select h.contract_id, h.amount::text as amount from holdings h
        where h.owner = ${TREASURY} and h.instrument_admin = ${inst.admin} and h.instrument_id = ${inst.id}
          and h.archived_offset is null and h.lock is null and not h.reserved
        order by h.amount ${order}, h.contract_id ${order} limit 8 for update of h skip locked`;
      const text = plan.map((r) => r['QUERY PLAN']).join('\n');
      expect(text).toMatch(/Index Scan( Backward)? using holdings_active/);
      expect(text).not.toMatch(/Sort/);
    }
  });

  it('claims free holdings only: not locked, archived, reserved, foreign or of another instrument', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'f-ok-1', amount: '4', instrument: inst });
    await insertHolding(sql, { contractId: 'f-ok-2', amount: '7', instrument: inst });
    await insertHolding(sql, { contractId: 'f-locked', amount: '1', instrument: inst, locked: true });
    await insertHolding(sql, { contractId: 'f-archived', amount: '1', instrument: inst, archived: true });
    await insertHolding(sql, { contractId: 'f-foreign', amount: '1', instrument: inst, owner: 'someone::1220dd' });
    await insertHolding(sql, { contractId: 'f-other', amount: '1', instrument: instrument() });
    await insertHolding(sql, { contractId: 'f-taken', amount: '1', instrument: inst });
    await insertWithdrawal(sql, { id: 'f-w0', amount: '1', instrument: inst });
    expect(cids(await reserveHoldings(sql, req('f-w0', inst, '1')))).toEqual(['f-taken']);

    await insertWithdrawal(sql, { id: 'f-w1', amount: '10', instrument: inst });
    const r = await reserveHoldings(sql, req('f-w1', inst, '10'));
    expect(r).toMatchObject({ kind: 'reserved', attempt: 1, total: '11.0000000000' });
    expect(cids(r)).toEqual(['f-ok-1', 'f-ok-2']);
    const [row] = await sql<
      { attempt: number; deadline: string }[]
    >`select attempt, deadline from withdrawals where withdrawal_id = 'f-w1'`;
    expect(row!.attempt).toBe(1);
    expect(r.kind === 'reserved' && r.deadline).toBe(row!.deadline);
    const ttl = Date.parse(row!.deadline) - Date.now();
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    expect((await liveReservations(sql, 'f-w1')).map((x) => x.deadline)).toEqual([row!.deadline, row!.deadline]);
  });

  it('is idempotent per (withdrawal, attempt): a re-run after a crash returns the same holdings and deadline', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'i-1', amount: '5', instrument: inst });
    await insertHolding(sql, { contractId: 'i-2', amount: '5', instrument: inst });
    await insertWithdrawal(sql, { id: 'i-w', amount: '5', instrument: inst });
    const first = await reserveHoldings(sql, req('i-w', inst, '5'));
    const again = await reserveHoldings(sql, req('i-w', inst, '5'));
    expect(again).toEqual(first);
    expect(await liveReservations(sql, 'i-w')).toHaveLength(1);
    // An older attempt is refused rather than reserved again.
    await sql.begin((tx) => releaseReservations(tx, { withdrawalId: 'i-w', attempt: 1, reason: 'test' }, { strict: true }));
    const second = await reserveHoldings(sql, req('i-w', inst, '5', 2));
    expect(second.kind).toBe('reserved');
    await expect(reserveHoldings(sql, req('i-w', inst, '5', 1))).rejects.toMatchObject({
      failure: { code: 'ATTEMPT_ALREADY_USED', retryable: false },
    });
  });

  it('never hands back a reservation whose deadline has passed: a re-run releases it and claims the next attempt (issue 19, item 2)', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'st-1', amount: '5', instrument: inst });
    await insertHolding(sql, { contractId: 'st-2', amount: '6', instrument: inst });
    await insertWithdrawal(sql, { id: 'st-w', amount: '5', instrument: inst });
    // The reservation commits, its answer is lost, and the machine asks again only after its deadline.
    const lost = await reserveHoldings(sql, { ...req('st-w', inst, '5'), ttlMs: 1 });
    expect(cids(lost)).toEqual(['st-1']);
    await new Promise((r) => setTimeout(r, 20));
    const again = await reserveHoldings(sql, req('st-w', inst, '5'));
    expect(again).toMatchObject({ kind: 'reserved', attempt: 2 });
    expect(Date.parse(again.kind === 'reserved' ? again.deadline : '')).toBeGreaterThan(Date.now() + 590_000);
    // The stale one was never submitted: released, and its holding may be taken again.
    expect(cids(again)).toEqual(['st-1']);
    const rows = await sql<{ attempt: number; released: boolean; release_reason: string | null }[]>`
      select attempt, released_at is not null as released, release_reason from holding_reservations where withdrawal_id = 'st-w' order by attempt`;
    expect(rows).toEqual([
      { attempt: 1, released: true, release_reason: STALE_RELEASE_REASON },
      { attempt: 2, released: false, release_reason: null },
    ]);
    const [row] = await sql<{ attempt: number }[]>`select attempt from withdrawals where withdrawal_id = 'st-w'`;
    expect(row!.attempt).toBe(2);
    // The answer of that replacement can be lost too: asking for attempt 1 again finds attempt 2.
    expect(await reserveHoldings(sql, req('st-w', inst, '5'))).toEqual(again);
  });

  it('a stale reservation that was submitted is never released by a re-run: only the ledger settles it', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'ss-1', amount: '5', instrument: inst });
    await insertWithdrawal(sql, { id: 'ss-w', amount: '5', instrument: inst });
    await reserveHoldings(sql, { ...req('ss-w', inst, '5'), ttlMs: 1 });
    await sql.begin((tx) => markAttemptSubmitted(tx, 'ss-w', 1));
    await new Promise((r) => setTimeout(r, 20));
    await expect(reserveHoldings(sql, req('ss-w', inst, '5'))).rejects.toMatchObject({
      failure: { code: 'STALE_ATTEMPT_SUBMITTED', retryable: false },
    });
    expect(await liveReservations(sql, 'ss-w')).toMatchObject([{ contractId: 'ss-1', attempt: 1, submitted: true }]);
  });

  it('reports insufficient funds, and funds spread over too many holdings, with reasons; writes nothing', async () => {
    const inst = instrument();
    for (let i = 0; i < 4; i++) await insertHolding(sql, { contractId: `s-${i}`, amount: '1', instrument: inst });
    await insertWithdrawal(sql, { id: 's-w', amount: '10', instrument: inst });
    const r = await reserveHoldings(sql, req('s-w', inst, '10'));
    expect(r).toEqual({
      kind: 'insufficient',
      needed: '10.0000000000',
      available: '4.0000000000',
      reason: 'insufficient free funds: need 10.0000000000, free 4.0000000000 in 4 holdings',
    });
    const frag = await reserveHoldings(sql, req('s-w', inst, '3', 1, 2));
    expect(frag.kind === 'insufficient' && frag.reason).toMatch(/only with more than 2 holdings/);
    expect(await liveReservations(sql, 's-w')).toEqual([]);
    const [row] = await sql<
      { attempt: number; deadline: string | null }[]
    >`select attempt, deadline from withdrawals where withdrawal_id = 's-w'`;
    expect(row).toEqual({ attempt: 0, deadline: null });
  });

  it('tells holdings in use by other withdrawals apart from missing funds', async () => {
    const inst = instrument();
    // One large holding (a fresh treasury): the first withdrawal of a burst takes it whole.
    await insertHolding(sql, { contractId: 'busy-big', amount: '50000', instrument: inst });
    for (const id of ['busy-1', 'busy-2', 'busy-3']) await insertWithdrawal(sql, { id, amount: '10', instrument: inst });
    expect(cids(await reserveHoldings(sql, req('busy-1', inst, '10')))).toEqual(['busy-big']);
    await insertHolding(sql, { contractId: 'busy-small', amount: '3', instrument: inst });
    const waiting = await reserveHoldings(sql, req('busy-2', inst, '10'));
    expect(waiting).toMatchObject({ kind: 'insufficient', available: '3.0000000000' });
    expect(waiting.kind === 'insufficient' && waiting.reason).toBe(
      'all free holdings are in use by 1 withdrawals: need 10.0000000000, free 3.0000000000 in 1 holdings, 50000.0000000000 in 1 holdings reserved by withdrawals in flight (their change comes back when they finish)',
    );
    // More than the treasury holds at all: that is missing funds, whatever is in flight.
    const short = await reserveHoldings(sql, req('busy-3', inst, '60000'));
    expect(short.kind === 'insufficient' && short.reason).toBe(
      'insufficient free funds: need 60000.0000000000, free 3.0000000000 in 1 holdings',
    );
  });

  it('candidates locked for a moment by a concurrent reserver are waited for, not reported as missing funds', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'k-1', amount: '5', instrument: inst });
    await insertHolding(sql, { contractId: 'k-2', amount: '5', instrument: inst });
    await insertWithdrawal(sql, { id: 'k-w', amount: '5', instrument: inst });
    let locked!: () => void;
    const held = new Promise<void>((r) => (locked = r));
    // Another reserver's transaction: both candidates locked, neither claimed, committed 30 ms later.
    const other = sql.begin(async (tx) => {
      await tx`select contract_id from holdings where contract_id = any(${['k-1', 'k-2']}) for update`;
      locked();
      await tx`select pg_sleep(0.03)`;
    });
    await held;
    const r = await reserveHoldings(sql, req('k-w', inst, '5'));
    await other;
    expect(r.kind).toBe('reserved');
    expect(cids(r)).toHaveLength(1);
  });

  it('holdings carry a reserved mark that mirrors their live reservations, whoever writes them', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'm-1', amount: '5', instrument: inst });
    await insertHolding(sql, { contractId: 'm-2', amount: '5', instrument: inst });
    await insertWithdrawal(sql, { id: 'm-w', amount: '5', instrument: inst });
    const marks = async () =>
      Object.fromEntries(
        (
          await sql<
            { contract_id: string; reserved: boolean }[]
          >`select contract_id, reserved from holdings where contract_id like 'm-%' order by 1`
        ).map((r) => [r.contract_id, r.reserved]),
      );
    expect(await marks()).toEqual({ 'm-1': false, 'm-2': false });

    expect(cids(await reserveHoldings(sql, req('m-w', inst, '5')))).toEqual(['m-1']);
    expect(await marks()).toEqual({ 'm-1': true, 'm-2': false });
    await sql.begin((tx) => markAttemptSubmitted(tx, 'm-w', 1)); // other columns leave it alone
    expect(await marks()).toEqual({ 'm-1': true, 'm-2': false });
    await setIngestedRecordTime(sql, '2999-01-01T00:00:00Z');
    await sql.begin((tx) => releaseReservations(tx, { withdrawalId: 'm-w', attempt: 1, reason: 'retry' }, { strict: true }));
    await setIngestedRecordTime(sql, '2000-01-01T00:00:00Z');
    expect(await marks()).toEqual({ 'm-1': false, 'm-2': false });
    // The next attempt may take the same holding again.
    expect(cids(await reserveHoldings(sql, req('m-w', inst, '5', 2)))).toEqual(['m-1']);
    expect(await marks()).toEqual({ 'm-1': true, 'm-2': false });

    // An operator's SQL: a reservation inserted by hand hides the holding from selection; deleted, frees it.
    await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values ('m-2', 'm-w', 9)`;
    expect(await marks()).toEqual({ 'm-1': true, 'm-2': true });
    await insertWithdrawal(sql, { id: 'm-w2', amount: '5', instrument: inst });
    expect(await reserveHoldings(sql, req('m-w2', inst, '5'))).toMatchObject({ kind: 'insufficient' });
    await sql`delete from holding_reservations where contract_id = 'm-2' and attempt = 9`;
    expect(await marks()).toEqual({ 'm-1': true, 'm-2': false });
    expect(cids(await reserveHoldings(sql, req('m-w2', inst, '5')))).toEqual(['m-2']);
  });

  it('refuses a final withdrawal (the status mirror is ordered against it by the row lock)', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'x-1', amount: '5', instrument: inst });
    await insertWithdrawal(sql, { id: 'x-w', amount: '5', instrument: inst });
    await sql`update withdrawals set status = 'cancelled' where withdrawal_id = 'x-w'`;
    await expect(reserveHoldings(sql, req('x-w', inst, '5'))).rejects.toMatchObject({ failure: { code: 'WITHDRAWAL_FINAL' } });
  });

  it('many concurrent reservers never share a holding (property, real Postgres, FOR UPDATE SKIP LOCKED)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 2, maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        async (holdingAmounts, withdrawalAmounts, maxInputs) => {
          const inst = instrument();
          const tag = inst.id;
          for (const [i, a] of holdingAmounts.entries())
            await insertHolding(sql, { contractId: `${tag}-h${i}`, amount: String(a), instrument: inst });
          for (const [i, a] of withdrawalAmounts.entries())
            await insertWithdrawal(sql, { id: `${tag}-w${i}`, amount: String(a), instrument: inst });
          const results = await Promise.all(
            withdrawalAmounts.map((a, i) => reserveHoldings(sql, req(`${tag}-w${i}`, inst, String(a), 1, maxInputs))),
          );
          const claimed = results.flatMap(cids);
          expect(new Set(claimed).size).toBe(claimed.length);
          results.forEach((r, i) => {
            if (r.kind === 'reserved') {
              expect(r.holdings.length).toBeLessThanOrEqual(maxInputs);
              expect(compareAmounts(r.total, String(withdrawalAmounts[i]))).toBeGreaterThanOrEqual(0);
            }
          });
          // What the database holds agrees with what the callers were told.
          const live = await sql<{ contract_id: string; withdrawal_id: string }[]>`
            select contract_id, withdrawal_id from holding_reservations where released_at is null and withdrawal_id like ${tag + '-%'}`;
          expect(live.map((l) => l.contract_id).sort()).toEqual([...claimed].sort());
          // Sequentially, a withdrawal reported insufficient really had no way to be paid from what was left.
          const total = holdingAmounts.reduce((s, x) => s + x, 0);
          const used = results.reduce((s, r) => s + (r.kind === 'reserved' ? Number(r.total) : 0), 0);
          expect(used).toBeLessThanOrEqual(total);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('releaseReservations: the database refuses to free holdings of a submitted, undecided attempt', () => {
  async function reservedSubmitted(tag: string) {
    const inst = instrument();
    await insertHolding(sql, { contractId: `${tag}-h`, amount: '5', instrument: inst });
    await insertWithdrawal(sql, { id: `${tag}-w`, amount: '5', instrument: inst });
    const r = await reserveHoldings(sql, req(`${tag}-w`, inst, '5'));
    await sql.begin((tx) => markAttemptSubmitted(tx, `${tag}-w`, 1));
    return r.kind === 'reserved' ? r.deadline : '';
  }
  const actors = createReservationActors(sql);
  const signal = new AbortController().signal;

  it('not submitted: released', async () => {
    const inst = instrument();
    await insertHolding(sql, { contractId: 'r0-h', amount: '5', instrument: inst });
    await insertWithdrawal(sql, { id: 'r0-w', amount: '5', instrument: inst });
    await reserveHoldings(sql, req('r0-w', inst, '5'));
    expect(await actors.releaseReservation({ withdrawalId: 'r0-w', attempt: null, reason: 'retry' }, signal)).toEqual({ released: 1 });
    expect(await liveReservations(sql, 'r0-w')).toEqual([]);
  });

  it('submitted, deadline not passed by the ingested record time: refused, nothing released', async () => {
    const deadline = await reservedSubmitted('r1');
    await setIngestedRecordTime(sql, new Date(Date.parse(deadline) - 1).toISOString());
    const e = await actors.releaseReservation({ withdrawalId: 'r1-w', attempt: null, reason: 'retry' }, signal).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ActorError);
    expect((e as ActorError).failure).toMatchObject({ code: 'RELEASE_REFUSED', retryable: false });
    expect(await liveReservations(sql, 'r1-w')).toHaveLength(1);
    // The lenient form (final clean-up) releases nothing either.
    expect(
      await sql.begin((tx) => releaseReservations(tx, { withdrawalId: 'r1-w', attempt: null, reason: 'x' }, { strict: false })),
    ).toEqual({ released: [], refused: ['r1-h'] });
  });

  it('submitted, ingested record time past the deadline: released', async () => {
    const deadline = await reservedSubmitted('r2');
    await setIngestedRecordTime(sql, new Date(Date.parse(deadline) + 1).toISOString());
    expect(await actors.releaseReservation({ withdrawalId: 'r2-w', attempt: 1, reason: 'expired' }, signal)).toEqual({ released: 1 });
    await setIngestedRecordTime(sql, '2000-01-01T00:00:00Z');
  });

  it('submitted, holdings spent (archived): released', async () => {
    await setIngestedRecordTime(sql, '2000-01-01T00:00:00Z');
    await reservedSubmitted('r3');
    await archiveHoldings(sql, ['r3-h']);
    expect(await actors.releaseReservation({ withdrawalId: 'r3-w', attempt: null, reason: 'completed' }, signal)).toEqual({ released: 1 });
  });
});

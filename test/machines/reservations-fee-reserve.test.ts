import { describe, expect, it } from 'vitest';
import { amountWithFeeReserve, feeReserveFor, FeeReserveBody } from '../../src/lib/fee-reserve.js';
import type { ReserveHoldingsInput, ReserveHoldingsOutput } from '../../src/machines/withdrawal.actors.js';
import { upsertInstrument } from '../../src/store/instruments.js';
import { selectInputs } from '../../src/store/reservations-selection.js';
import { liveReservations, reserveHoldings } from '../../src/store/reservations.js';
import { useMigratedDatabase } from '../support/db.js';
import { AMULET, insertHolding, insertWithdrawal, TREASURY } from './support/fixtures.js';

/** Coin selection covers the amount plus the instrument's fee reserve (Canton Coin: 0.5 + 0.1 %). */

const { sql } = await useMigratedDatabase({ max: 5 });

const CC_FEE = { rate: '0.001', flat: '0.5' };

let n = 0;
async function instrument(feeReserve = CC_FEE) {
  const inst = { admin: AMULET.admin, id: `Fee${++n}` };
  await upsertInstrument(sql, {
    ...inst,
    registryUrl: 'http://registry.invalid',
    displayDecimals: 10,
    transferPolicy: 'direct-or-offer',
    feeReserve,
    enabled: true,
  });
  return inst;
}
const req = (withdrawalId: string, inst: { admin: string; id: string }, amount: string, maxInputs = 100): ReserveHoldingsInput => ({
  withdrawalId,
  attempt: 1,
  owner: TREASURY,
  instrument: inst,
  amount,
  maxInputs,
  ttlMs: 600_000,
});
const cids = (r: ReserveHoldingsOutput) => (r.kind === 'reserved' ? r.holdings.map((h) => h.contractId) : []);
const c = (id: string, amount: string) => ({ contractId: id, amount });

describe('fee reserve arithmetic', () => {
  it('is flat + amount × rate, exact, rounded up to 10 decimals', () => {
    expect(feeReserveFor('3.2', CC_FEE)).toBe('0.5032000000');
    expect(amountWithFeeReserve('3.2', CC_FEE)).toBe('3.7032000000');
    expect(amountWithFeeReserve('3.2', { rate: '0', flat: '0' })).toBe('3.2000000000');
    // 0.0000000001 × 0.001 has 13 decimals: rounding down would reserve nothing for it.
    expect(feeReserveFor('0.0000000001', { rate: '0.001', flat: '0' })).toBe('0.0000000001');
    // Far beyond float precision: 10^27 × 0.001 + 0.5, exact.
    expect(amountWithFeeReserve('1000000000000000000000000000', CC_FEE)).toBe('1001000000000000000000000000.5000000000');
  });

  it('the API schema normalises, defaults a missing part to 0 and refuses negative, > 1 and malformed values naming the part', () => {
    expect(FeeReserveBody.parse({ flat: '0.5' })).toEqual({ rate: '0.0000000000', flat: '0.5000000000' });
    for (const [body, field] of [
      [{ rate: '-0.1' }, 'rate'],
      [{ rate: '1.5' }, 'rate'],
      [{ flat: '1,5' }, 'flat'],
      [{ flat: 'NaN' }, 'flat'],
    ] as const) {
      const r = FeeReserveBody.safeParse(body);
      expect(r.success).toBe(false);
      expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual([field]);
    }
  });
});

describe('coin selection with a fee reserve (pure)', () => {
  it('a selection covering the amount alone is not enough: it takes what also pays the fee', () => {
    const holdings = [c('a', '3.0'), c('b', '0.2'), c('big', '100')];
    // The amount alone: 0.2 + 3.0 = 3.2 exactly (what stalled on the ledger: it needs 3.5032).
    expect(selectInputs(holdings, '3.2', 100)?.map((x) => x.contractId)).toEqual(['b', 'a']);
    expect(selectInputs(holdings, amountWithFeeReserve('3.2', CC_FEE), 100)?.map((x) => x.contractId)).toEqual(['b', 'a', 'big']);
    // With at most 2 inputs, one large holding does it.
    expect(selectInputs(holdings, amountWithFeeReserve('3.2', CC_FEE), 2)?.map((x) => x.contractId)).toEqual(['big']);
  });
});

describe('reserveHoldings with a fee reserve (real Postgres)', () => {
  it('reserves inputs that hold the amount plus the reserve, read from the instrument', async () => {
    const inst = await instrument();
    await insertHolding(sql, { contractId: 'fr-3', amount: '3.0', instrument: inst });
    await insertHolding(sql, { contractId: 'fr-02', amount: '0.2', instrument: inst });
    await insertHolding(sql, { contractId: 'fr-4', amount: '4.0', instrument: inst });
    await insertWithdrawal(sql, { id: 'fr-w', amount: '3.2', instrument: inst });
    const r = await reserveHoldings(sql, req('fr-w', inst, '3.2'));
    expect(r).toMatchObject({ kind: 'reserved', total: '7.2000000000' });
    expect(cids(r)).toEqual(['fr-02', 'fr-3', 'fr-4']);
  });

  it('free funds that cover the amount but not the reserve: insufficient, the reason names the reserve; nothing written', async () => {
    const inst = await instrument();
    await insertHolding(sql, { contractId: 'fs-3', amount: '3.0', instrument: inst });
    await insertHolding(sql, { contractId: 'fs-02', amount: '0.2', instrument: inst });
    await insertWithdrawal(sql, { id: 'fs-w', amount: '3.2', instrument: inst });
    const r = await reserveHoldings(sql, req('fs-w', inst, '3.2'));
    expect(r).toEqual({
      kind: 'insufficient',
      needed: '3.7032000000',
      available: '3.2000000000',
      reason:
        'insufficient free funds: need 3.7032000000 (amount 3.2000000000 + fee reserve 0.5032000000), free 3.2000000000 in 2 holdings',
    });
    expect(await liveReservations(sql, 'fs-w')).toEqual([]);
  });

  it('uses the reserve configured when the reservation is made', async () => {
    const inst = await instrument({ rate: '0', flat: '0' });
    await insertHolding(sql, { contractId: 'fc-3', amount: '3.0', instrument: inst });
    await insertHolding(sql, { contractId: 'fc-02', amount: '0.2', instrument: inst });
    await insertWithdrawal(sql, { id: 'fc-w1', amount: '0.2', instrument: inst });
    await insertWithdrawal(sql, { id: 'fc-w2', amount: '2.9', instrument: inst });
    expect(cids(await reserveHoldings(sql, req('fc-w1', inst, '0.2')))).toEqual(['fc-02']);
    await sql`update instruments set fee_reserve_flat = 0.15 where admin_party = ${inst.admin} and instrument_id = ${inst.id}`;
    const r = await reserveHoldings(sql, req('fc-w2', inst, '2.9'));
    expect(r).toMatchObject({ kind: 'insufficient', needed: '3.0500000000', available: '3.0000000000' });
  });

  it('a planned self-transfer (to the treasury itself, which pays no fee) reserves exactly its amount', async () => {
    const inst = await instrument();
    await insertHolding(sql, { contractId: 'fm-1', amount: '1', instrument: inst });
    await insertHolding(sql, { contractId: 'fm-2', amount: '2', instrument: inst });
    await insertWithdrawal(sql, { id: 'fm-w', amount: '3', instrument: inst, purpose: 'self_transfer', receiver: TREASURY });
    await sql`update withdrawals set input_holding_cids = ${['fm-1', 'fm-2']}::text[] where withdrawal_id = 'fm-w'`;
    const r = await reserveHoldings(sql, req('fm-w', inst, '3'));
    expect(r).toMatchObject({ kind: 'reserved', total: '3.0000000000' });
  });
});

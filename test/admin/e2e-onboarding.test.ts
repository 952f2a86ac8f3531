import { afterEach, describe, expect, it } from 'vitest';
import { createReconciler } from '../../src/admin/reconciliation/run.js';
import { DEFAULT_INSTRUMENTS } from '../../src/sandbox/engine/instruments.js';
import { STACK_API_TOKEN, startStack, type Stack } from '../support/stack.js';

/** Token onboarding at runtime: a token the running daemon has never heard of, added over the API, then deposited and withdrawn. */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const ACME = {
  id: 'ACME',
  family: 'registry' as const,
  adminHint: 'acme-registrar',
  registry: 'acme',
  name: 'Acme Token',
  symbol: 'ACME',
  decimals: 6,
};

async function call(s: Stack, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
  const res = await fetch(s.daemon.apiUrl + path, {
    method,
    headers: { authorization: `Bearer ${STACK_API_TOKEN.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('onboarding a token while the daemon runs', () => {
  it('is refused before, deposited and withdrawn after onboarding, and still ingested once disabled', async () => {
    const s = (stack = await startStack({ sandbox: { instruments: [...DEFAULT_INSTRUMENTS, ACME] } }));
    const acme = s.instrument('ACME');
    // The stack onboards every token of the double; this one the operator has not onboarded yet.
    await s.sql`delete from instruments where instrument_id = 'ACME'`;
    const path = `/v1/instruments/${encodeURIComponent(acme.admin)}/ACME`;

    const alice = s.customer({ fund: [{ instrument: 'ACME', amount: '1000' }] });
    await s.fundTreasury('ACME', '500', 2);
    expect(
      (await s.requestWithdrawal({ withdrawalId: 'acme-early', receiver: alice, instrument: 'ACME', amount: '5' })).body,
    ).toMatchObject({ code: 'VALIDATION_FAILED', message: 'Unknown instrument' });

    // The registry check is real: a wrong admin is refused; the right one is added with the registry's decimals.
    const wrong = await call(s, 'POST', '/v1/instruments', { admin: s.cc.admin, id: 'ACME', registryUrl: acme.registryUrl });
    expect(wrong.status).toBe(400);
    const added = await call(s, 'POST', '/v1/instruments', {
      admin: acme.admin,
      id: 'ACME',
      registryUrl: acme.registryUrl,
      transferPolicy: 'offer-only',
    });
    expect(added).toMatchObject({ status: 201, body: { enabled: true, displayDecimals: 6, registry: { symbol: 'ACME', decimals: 6 } } });
    // The two holdings the treasury received before onboarding were ignored deposits; onboarding adopts them into the pool.
    expect(added.body['adopted']).toMatchObject({ holdings: 2 });
    const ignored = (await call(s, 'GET', '/v1/deposits?status=ignored')).body.items as { statusReason: string }[];
    expect(ignored.length).toBeGreaterThanOrEqual(2);
    expect((await call(s, 'GET', '/v1/instruments?enabled=true')).body.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: 'ACME' })]),
    );

    // A 2-step deposit of the new token: the deposit automation finds its registry in the table.
    await s.depositAccount('acme-memo-1');
    const offer = s.sandbox.control.transfer({
      from: alice,
      to: s.treasury,
      instrument: 'ACME',
      amount: '40',
      memo: 'acme-memo-1',
      mode: 'offer',
    });
    expect(await s.waitForDeposit(offer.transferInstructionCid!, ['credited', 'accept_failed', 'failed'], 30_000)).toMatchObject({
      status: 'credited',
      creditedAmount: '40.0000000000',
    });

    // A withdrawal of it: an offer the customer accepts.
    expect((await s.requestWithdrawal({ withdrawalId: 'acme-w1', receiver: alice, instrument: 'ACME', amount: '25' })).status).toBe(201);
    const pending = await s.waitForWithdrawal('acme-w1', ['pending_acceptance', 'failed', 'stalled'], 30_000);
    expect(pending.status).toBe('pending_acceptance');
    s.sandbox.control.accept(pending.transfer!.transferInstructionCid!);
    expect(await s.waitForWithdrawal('acme-w1', ['completed', 'failed'], 30_000)).toMatchObject({ status: 'completed' });

    // Disabled: no new withdrawals, but deposits are still ingested and credited.
    expect((await call(s, 'POST', `${path}/disable`)).body).toMatchObject({ enabled: false, changed: ['enabled'] });
    expect((await s.requestWithdrawal({ withdrawalId: 'acme-w2', receiver: alice, instrument: 'ACME', amount: '5' })).body).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'Instrument disabled',
    });
    const late = s.sandbox.control.transfer({
      from: alice,
      to: s.treasury,
      instrument: 'ACME',
      amount: '7',
      memo: 'acme-memo-1',
      mode: 'offer',
    });
    expect(await s.waitForDeposit(late.transferInstructionCid!, ['credited', 'accept_failed', 'failed'], 30_000)).toMatchObject({
      status: 'credited',
    });
    const holdings = (await call(s, 'GET', '/v1/holdings')).body.items as {
      instrument: { id: string };
      total: string;
      config: { enabled: boolean };
    }[];
    expect(holdings.find((h) => h.instrument.id === 'ACME')).toMatchObject({ total: '1022.0000000000', config: { enabled: false } });

    await s.caughtUp();
    const report = await createReconciler({ sql: s.sql, ledger: s.ledger }).run();
    expect(report).toMatchObject({ clean: true, differences: [] });
  });
});

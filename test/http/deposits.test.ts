import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/server.js';
import { auth, buildApiApp } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';

const { sql } = await useMigratedDatabase();

async function deposit(id: string, status: string, over: { account?: string; memo?: string; kind?: string; createdAt?: string } = {}) {
  await sql`insert into deposits (deposit_id, kind, status, instrument_admin, instrument_id, sender, memo, account_id, transfer_amount, credited_amount, fee, created_at)
            values (${id}, ${over.kind ?? 'one_step'}, ${status}, 'DSO::1220', 'Amulet', 'alice::1220', ${over.memo ?? null}, ${over.account ?? null},
                    '100', ${status === 'credited' ? '99.5' : null}, ${status === 'credited' ? '0.5' : null}, ${over.createdAt ?? new Date().toISOString()})`;
}

describe('deposit queries', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildApiApp(sql);
    await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acc-1', 'memo-1', 'cust-1')`;
    await deposit('u1:4', 'credited', { account: 'acc-1', memo: 'memo-1', createdAt: '2026-01-01T00:00:01Z' });
    await deposit('u2:4', 'unattributed', { memo: 'typo', createdAt: '2026-01-01T00:00:02Z' });
    await deposit('u3:0', 'unattributed', { createdAt: '2026-01-01T00:00:03Z' });
    await deposit('00abc', 'offered', { kind: 'two_step', account: 'acc-1', memo: 'memo-1', createdAt: '2026-01-01T00:00:04Z' });
  });
  afterAll(() => app.close());

  it('lists unattributed deposits for manual assignment', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/deposits?status=unattributed', headers: auth('read') });
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((d: { depositId: string }) => d.depositId)).toEqual(['u3:0', 'u2:4']);
  });

  it('filters by account, kind and memo and pages with a cursor', async () => {
    const byAccount = (await app.inject({ method: 'GET', url: '/v1/deposits?account=acc-1', headers: auth('read') })).json();
    expect(byAccount.items.map((d: { depositId: string }) => d.depositId)).toEqual(['00abc', 'u1:4']);
    const twoStep = (await app.inject({ method: 'GET', url: '/v1/deposits?kind=two_step', headers: auth('read') })).json();
    expect(twoStep.items).toHaveLength(1);
    const page1 = (await app.inject({ method: 'GET', url: '/v1/deposits?limit=3', headers: auth('read') })).json();
    const page2 = (
      await app.inject({ method: 'GET', url: `/v1/deposits?limit=3&cursor=${page1.nextCursor}`, headers: auth('read') })
    ).json();
    expect([...page1.items, ...page2.items].map((d: { depositId: string }) => d.depositId)).toEqual(['00abc', 'u3:0', 'u2:4', 'u1:4']);
    expect(page2.nextCursor).toBeNull();
  });

  it('shows one deposit with transferred and credited amounts and fee', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/deposits/u1:4', headers: auth('read') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      depositId: 'u1:4',
      transferAmount: '100.0000000000',
      creditedAmount: '99.5000000000',
      fee: '0.5000000000',
      history: [],
    });
    expect((await app.inject({ method: 'GET', url: '/v1/deposits/none', headers: auth('read') })).statusCode).toBe(404);
  });

  it('includes the latest deposits in the account view', async () => {
    const res = (await app.inject({ method: 'GET', url: '/v1/accounts/acc-1', headers: auth('read') })).json();
    expect(res.recentDeposits.map((d: { depositId: string }) => d.depositId)).toEqual(['00abc', 'u1:4']);
    expect(res.credited).toEqual([{ instrument: { admin: 'DSO::1220', id: 'Amulet' }, credited: '99.5000000000', deposits: 1 }]);
  });
});

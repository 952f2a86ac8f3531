import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/server.js';
import { auth, buildApiApp } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';

const { sql } = await useMigratedDatabase();

describe('deposit accounts', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildApiApp(sql);
  });
  afterAll(() => app.close());

  it('opens an account with a fresh memo per call', async () => {
    const a = await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth('write'), payload: { customerRef: 'cust-1' } });
    const b = await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth('write'), payload: { customerRef: 'cust-1' } });
    expect(a.statusCode).toBe(201);
    expect(b.statusCode).toBe(201);
    expect(a.json().memo).toMatch(/^dep-[a-z0-9]{12}$/);
    expect(a.json().memo).not.toBe(b.json().memo);
  });

  it('is idempotent on a given memo for the same customer and refuses it for another', async () => {
    const first = await app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: auth('write'),
      payload: { customerRef: 'cust-2', memo: 'vip-42' },
    });
    const again = await app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: auth('write'),
      payload: { customerRef: 'cust-2', memo: 'vip-42' },
    });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.json().accountId).toBe(first.json().accountId);
    const other = await app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: auth('write'),
      payload: { customerRef: 'cust-3', memo: 'vip-42' },
    });
    expect(other.statusCode).toBe(409);
    expect(other.json().code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('rejects hostile memos and needs write', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/accounts',
      headers: auth('write'),
      payload: { customerRef: 'c', memo: 'x\u0000y' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details.issues[0].field).toBe('memo');
    expect(
      (await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth('read'), payload: { customerRef: 'c' } })).statusCode,
    ).toBe(403);
  });

  it('shows the account with credited totals per instrument, summed exactly', async () => {
    const created = (
      await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth('write'), payload: { customerRef: 'cust-9' } })
    ).json();
    for (const [id, amount, status] of [
      ['d1', '0.1', 'credited'],
      ['d2', '0.2', 'credited'],
      ['d3', '5', 'unattributed'],
    ] as const) {
      await sql`insert into deposits (deposit_id, kind, status, instrument_admin, instrument_id, account_id, transfer_amount, credited_amount)
                values (${id}, 'one_step', ${status}, 'DSO::1220', 'Amulet', ${status === 'credited' ? created.accountId : null}, ${amount}, ${amount})`;
    }
    const res = await app.inject({ method: 'GET', url: `/v1/accounts/${created.accountId}`, headers: auth('read') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      accountId: created.accountId,
      credited: [{ instrument: { admin: 'DSO::1220', id: 'Amulet' }, credited: '0.3000000000', deposits: 2 }],
    });
    expect((await app.inject({ method: 'GET', url: '/v1/accounts/nope', headers: auth('read') })).statusCode).toBe(404);
  });

  it('lists accounts newest first, paged, found by exact memo or customer reference or a prefix of either (wildcards literal)', async () => {
    for (const [customerRef, memo] of [
      ['shop-7', 'find-a'],
      ['shop-7', 'find-b'],
      ['other', 'find_c'],
      ['x', 'findXc'],
    ]) {
      await app.inject({ method: 'POST', url: '/v1/accounts', headers: auth('write'), payload: { customerRef, memo } });
    }
    const get = async (q: string) =>
      (await app.inject({ method: 'GET', url: `/v1/accounts?${q}`, headers: auth('read') })).json() as {
        items: { memo: string }[];
        nextCursor: string | null;
      };
    expect((await get('customerRef=shop-7')).items.map((a) => a.memo)).toEqual(['find-b', 'find-a']);
    expect((await get('memo=find-a')).items.map((a) => a.memo)).toEqual(['find-a']);
    expect((await get('search=SHOP')).items.map((a) => a.memo)).toEqual(['find-b', 'find-a']);
    // "_" is a character here, not LIKE's any-one-character.
    expect((await get('search=find_')).items.map((a) => a.memo)).toEqual(['find_c']);
    const page = await get('search=find&limit=2');
    expect(page.items).toHaveLength(2);
    const rest = await get(`search=find&limit=2&cursor=${page.nextCursor}`);
    expect([...page.items, ...rest.items].map((a) => a.memo)).toEqual(['findXc', 'find_c', 'find-b', 'find-a']);
    expect(rest.nextCursor).toBeNull();
    expect((await app.inject({ method: 'GET', url: '/v1/accounts' })).statusCode).toBe(401);
  });
});

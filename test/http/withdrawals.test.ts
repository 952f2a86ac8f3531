import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/server.js';
import { upsertInstrument } from '../../src/store/instruments.js';
import { auth, buildApiApp } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';

const { sql } = await useMigratedDatabase();

const DSO = `DSO::1220${'d'.repeat(64)}`;
const ALICE = `alice::1220${'a'.repeat(64)}`;
const amulet = { admin: DSO, id: 'Amulet' };
const request = (over: Record<string, unknown> = {}) => ({
  withdrawalId: 'wd-1',
  account: 'cust-1',
  instrument: amulet,
  amount: '12.5',
  receiver: ALICE,
  ...over,
});

async function counts() {
  const [w] = await sql<{ n: number }[]>`select count(*)::int as n from withdrawals`;
  const [o] = await sql<{ n: number }[]>`select count(*)::int as n from outbox_events where topic = 'withdrawal.requested'`;
  return { withdrawals: w!.n, events: o!.n };
}

describe('POST /v1/withdrawals', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildApiApp(sql);
    await upsertInstrument(sql, {
      admin: DSO,
      id: 'Amulet',
      registryUrl: 'http://registry.example/dso',
      displayDecimals: 10,
      transferPolicy: 'direct-or-offer',
      enabled: true,
    });
    await upsertInstrument(sql, {
      admin: DSO,
      id: 'Retired',
      registryUrl: 'http://registry.example/dso',
      displayDecimals: 10,
      transferPolicy: 'offer-only',
      enabled: false,
    });
  });
  afterAll(() => app.close());

  it('records a request once, with its withdrawal.requested event, and returns it', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/withdrawals', headers: auth('write'), payload: request() });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      withdrawalId: 'wd-1',
      amount: '12.5000000000',
      status: 'requested',
      attempt: 0,
      instrument: amulet,
      receiver: ALICE,
    });
    expect(await counts()).toEqual({ withdrawals: 1, events: 1 });
    const [event] = await sql`select payload from outbox_events where topic = 'withdrawal.requested'`;
    expect(event!.payload).toMatchObject({ withdrawalId: 'wd-1', amount: '12.5000000000', receiver: ALICE });
  });

  it('returns the existing withdrawal for the same id and body (equal amounts in another notation)', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/withdrawals', headers: auth('write'), payload: request({ amount: '12.50' }) });
    expect(res.statusCode).toBe(200);
    expect(res.json().withdrawalId).toBe('wd-1');
    expect(await counts()).toEqual({ withdrawals: 1, events: 1 });
  });

  it('refuses the same id with a different body with 409 naming the fields', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/withdrawals',
      headers: auth('write'),
      payload: request({ amount: '13', account: 'cust-2' }),
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', details: { differingFields: ['account', 'amount'] } });
    expect(await counts()).toEqual({ withdrawals: 1, events: 1 });
  });

  it.each([
    ['a party id without fingerprint', { receiver: 'alice' }, 'receiver'],
    // Canton's rule (Identifier.scala): the hint is a Daml-LF party string, no '.', no "::".
    ['a hint with a dot, which Canton refuses', { receiver: `alice.smith::1220${'a'.repeat(64)}` }, 'receiver'],
    ['a hint ending in a colon', { receiver: `alice:::1220${'a'.repeat(64)}` }, 'receiver'],
    ['a hint longer than 185 characters', { receiver: `${'a'.repeat(186)}::1220${'a'.repeat(64)}` }, 'receiver'],
    ['a namespace that is no key fingerprint', { receiver: 'alice::1220abcd' }, 'receiver'],
    ['a float amount', { amount: 12.5 }, 'amount'],
    ['an exponent amount', { amount: '1e3' }, 'amount'],
    ['eleven decimals', { amount: '1.00000000001' }, 'amount'],
    ['a decimal comma', { amount: '1,5' }, 'amount'],
    ['a NaN amount', { amount: 'NaN' }, 'amount'],
    ['a zero amount', { amount: '0' }, 'amount'],
    ['a negative amount', { amount: '-5' }, 'amount'],
    ['a withdrawal id with spaces', { withdrawalId: 'wd 2' }, 'withdrawalId'],
    ['an unknown field', { withdrawalId: 'wd-3', extra: true }, '(root)'],
    ['an unknown instrument', { withdrawalId: 'wd-4', instrument: { admin: DSO, id: 'Nope' } }, 'instrument'],
    ['a disabled instrument', { withdrawalId: 'wd-5', instrument: { admin: DSO, id: 'Retired' } }, 'instrument'],
  ])('rejects %s with 400 naming the field, writing nothing', async (_label, over, field) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/withdrawals',
      headers: auth('write'),
      payload: request({ withdrawalId: 'wd-x', ...over }),
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.details.issues.map((i: { field: string }) => i.field)).toContain(field);
    expect(await counts()).toEqual({ withdrawals: 1, events: 1 });
  });

  it("refuses an amount finer than the instrument's display decimals: 400 AMOUNT_PRECISION_EXCEEDED, nothing written", async () => {
    await upsertInstrument(sql, {
      admin: DSO,
      id: 'Cents',
      registryUrl: 'http://registry.example/dso',
      displayDecimals: 2,
      transferPolicy: 'direct-or-offer',
      enabled: true,
    });
    const cents = { admin: DSO, id: 'Cents' };
    const res = await app.inject({
      method: 'POST',
      url: '/v1/withdrawals',
      headers: auth('write'),
      payload: request({ withdrawalId: 'wd-cents', instrument: cents, amount: '1.005' }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'AMOUNT_PRECISION_EXCEEDED', details: { displayDecimals: 2, issues: [{ field: 'amount' }] } });
    expect(await counts()).toEqual({ withdrawals: 1, events: 1 });
    // Trailing zeros are no precision: 1.0100000 is 1.01.
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/withdrawals',
      headers: auth('write'),
      payload: request({ withdrawalId: 'wd-cents', instrument: cents, amount: '1.0100000' }),
    });
    expect(ok.statusCode).toBe(201);
    await sql`delete from outbox_events where aggregate_id = 'wd-cents'`;
    await sql`delete from withdrawals where withdrawal_id = 'wd-cents'`;
  });

  it('accepts every party id Canton can allocate: spaces, single colons, 185-character hints', async () => {
    for (const [i, hint] of ['Alice Smith', 'exchange:customer-7', '_x-y', 'h'.repeat(185)].entries()) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/withdrawals',
        headers: auth('write'),
        payload: request({ withdrawalId: `wd-party-${i}`, receiver: `${hint}::1220${'a'.repeat(64)}` }),
      });
      expect(res.statusCode, hint).toBe(201);
      await sql`delete from outbox_events where aggregate_id = ${`wd-party-${i}`}`;
      await sql`delete from withdrawals where withdrawal_id = ${`wd-party-${i}`}`;
    }
  });

  it('treats a concurrent burst of the same request as one withdrawal', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        app.inject({ method: 'POST', url: '/v1/withdrawals', headers: auth('write'), payload: request({ withdrawalId: 'wd-burst' }) }),
      ),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(await counts()).toEqual({ withdrawals: 2, events: 2 });
  });

  it('needs the write scope', async () => {
    expect((await app.inject({ method: 'POST', url: '/v1/withdrawals', headers: auth('read'), payload: request() })).statusCode).toBe(403);
    expect((await app.inject({ method: 'POST', url: '/v1/withdrawals', payload: request() })).statusCode).toBe(401);
  });
});

describe('GET /v1/withdrawals', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildApiApp(sql);
  });
  afterAll(() => app.close());

  it('shows one withdrawal with holdings and history, and 404 for an unknown id', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/withdrawals/wd-1', headers: auth('read') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ withdrawalId: 'wd-1', holdings: [], history: [] });
    const missing = await app.inject({ method: 'GET', url: '/v1/withdrawals/nope', headers: auth('read') });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('NOT_FOUND');
  });

  it('pages through withdrawals newest first with a stable cursor and filters', async () => {
    for (let i = 0; i < 7; i++) {
      await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, requested_at)
                values (${`page-${i}`}, 'pager', ${DSO}, 'Amulet', '1', ${ALICE}, ${new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()})`;
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/withdrawals?account=pager&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await app.inject({ method: 'GET', url, headers: auth('read') })).json();
      seen.push(...page.items.map((w: { withdrawalId: string }) => w.withdrawalId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['page-6', 'page-5', 'page-4', 'page-3', 'page-2', 'page-1', 'page-0']);

    const ranged = (
      await app.inject({
        method: 'GET',
        url: '/v1/withdrawals?account=pager&from=2026-01-01T00:00:02Z&to=2026-01-01T00:00:04Z',
        headers: auth('read'),
      })
    ).json();
    expect(ranged.items.map((w: { withdrawalId: string }) => w.withdrawalId)).toEqual(['page-3', 'page-2']);
    const byStatus = (await app.inject({ method: 'GET', url: '/v1/withdrawals?status=completed', headers: auth('read') })).json();
    expect(byStatus.items).toEqual([]);
    const badCursor = await app.inject({ method: 'GET', url: '/v1/withdrawals?cursor=garbage', headers: auth('read') });
    expect(badCursor.statusCode).toBe(400);
    // A cursor of the right shape whose time Postgres cannot read: still the client's mistake, never a 500.
    for (const tampered of [
      { t: 'yesterday', id: 'page-3' },
      { t: '2026-01-01T00:00:03Z', id: 'page-3', extra: 1 },
      { t: '2026-01-01T00:00:03Z', id: '' },
    ]) {
      const cursor = Buffer.from(JSON.stringify(tampered)).toString('base64url');
      for (const path of ['/v1/withdrawals', '/v1/deposits']) {
        const r = await app.inject({ method: 'GET', url: `${path}?cursor=${cursor}`, headers: auth('read') });
        expect([path, r.statusCode, r.json().code]).toEqual([path, 400, 'VALIDATION_FAILED']);
      }
    }
  });
});

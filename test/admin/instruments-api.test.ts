import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryCheckError, type InstrumentRegistryCheck, type InstrumentToCheck } from '../../src/admin/registry-check.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { readOutboxEvents } from '../../src/store/outbox.js';
import { auth, TEST_TOKENS } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

const { sql } = await useMigratedDatabase();

const DSO = `DSO::1220${'d'.repeat(64)}`;
const ACME = `acme::1220${'a'.repeat(64)}`;
const ALICE = `alice::1220${'b'.repeat(64)}`;

/** Registries by base URL: who runs them and which instruments (with decimals) they know. */
const registries: Record<string, { admin: string; instruments: Record<string, number>; down?: boolean }> = {
  'http://cc.registry': { admin: DSO, instruments: { Amulet: 10 } },
  'http://acme.registry': { admin: ACME, instruments: { ACME: 6, ACME2: 6 } },
};
const calls: InstrumentToCheck[] = [];
const fakeRegistry: InstrumentRegistryCheck = {
  async check(i) {
    calls.push(i);
    const r = registries[i.registryUrl];
    if (!r || r.down) throw new RegistryCheckError(`cannot read the registry's metadata at ${i.registryUrl}: network error`, true);
    if (r.admin !== i.admin)
      throw new RegistryCheckError(`the registry at ${i.registryUrl} belongs to admin ${r.admin}, not ${i.admin}`, false);
    const decimals = r.instruments[i.id];
    if (decimals === undefined) throw new RegistryCheckError(`the registry at ${i.registryUrl} does not know instrument "${i.id}"`, false);
    return { adminId: r.admin, name: i.id, symbol: i.id, decimals, supportedApis: { 'splice-api-token-transfer-instruction-v1': 1 } };
  },
};

const path = (admin: string, id: string) => `/v1/instruments/${encodeURIComponent(admin)}/${encodeURIComponent(id)}`;

describe('instrument onboarding API', () => {
  let app: App;
  beforeAll(async () => {
    app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
    registerApiRoutes(app, { sql, instrumentRegistry: fakeRegistry, registryPolicy: TEST_REGISTRY_POLICY });
    await app.ready();
  });
  afterAll(() => app.close());

  const add = (payload: Record<string, unknown>, scope: keyof typeof TEST_TOKENS = 'admin') =>
    app.inject({ method: 'POST', url: '/v1/instruments', headers: auth(scope), payload });

  it('adds an instrument after the registry vouched for it, with the registry decimals by default and an audit event', async () => {
    const res = await add({
      admin: ACME,
      id: 'ACME',
      registryUrl: 'http://acme.registry',
      transferPolicy: 'offer-only',
      utxoPolicy: { mergeThreshold: 50, poolSize: 3, poolTargetAmount: '100' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      admin: ACME,
      id: 'ACME',
      displayDecimals: 6,
      transferPolicy: 'offer-only',
      enabled: true,
      utxoPolicy: { mergeThreshold: 50, poolSize: 3, poolTargetAmount: '100.0000000000', maxInputs: 100, maxTransfersPerRun: 10 },
      registry: { adminId: ACME, decimals: 6 },
    });
    const [event] = (await readOutboxEvents(sql, { afterId: 0, limit: 100, topics: ['instrument.configured'] })).slice(-1);
    expect(event).toMatchObject({
      aggregateId: `${ACME}/ACME`,
      payload: { action: 'added', by: 'ops', config: { id: 'ACME', enabled: true } },
    });
    const list = await app.inject({ method: 'GET', url: '/v1/instruments', headers: auth('read') });
    expect(list.json().items.map((i: { id: string }) => i.id)).toEqual(['ACME']);
  });

  it('refuses what the registry does not vouch for, writing nothing', async () => {
    const before = await sql`select count(*)::int as n from instruments`;
    const wrongAdmin = await add({ admin: DSO, id: 'ACME2', registryUrl: 'http://acme.registry' });
    expect(wrongAdmin.statusCode).toBe(400);
    expect(wrongAdmin.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { issues: [{ field: 'registryUrl', reason: expect.stringMatching(/belongs to admin acme::/) }], retryable: false },
    });
    expect((await add({ admin: ACME, id: 'NOPE', registryUrl: 'http://acme.registry' })).json().details.issues[0].reason).toMatch(
      /does not know instrument "NOPE"/,
    );
    expect((await add({ admin: ACME, id: 'ACME2', registryUrl: 'http://nowhere.registry' })).json().details).toMatchObject({
      retryable: true,
    });
    expect(
      (await add({ admin: ACME, id: 'ACME2', registryUrl: 'http://acme.registry', displayDecimals: 8 })).json().details.issues[0],
    ).toMatchObject({ field: 'displayDecimals' });
    expect((await sql`select count(*)::int as n from instruments`)[0]).toEqual(before[0]);
  });

  it('validates the body and the UTXO policy with field names', async () => {
    const bad = await add({ admin: ACME, id: 'ACME2', registryUrl: 'http://acme.registry', utxoPolicy: { maxInputs: 150 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details.issues[0].field).toBe('utxoPolicy.maxInputs');
    expect((await add({ admin: ACME, id: 'ACME2', registryUrl: 'ftp://acme.registry' })).statusCode).toBe(400);
    expect((await add({ admin: 'not-a-party', id: 'ACME2', registryUrl: 'http://acme.registry' })).statusCode).toBe(400);
    expect((await add({ admin: ACME, id: 'ACME2', registryUrl: 'http://acme.registry', colour: 'red' })).statusCode).toBe(400);
    expect(
      (await add({ admin: ACME, id: 'ACME2', registryUrl: 'http://acme.registry', utxoPolicy: { poolSize: 2 } })).json().details.issues[0]
        .field,
    ).toBe('utxoPolicy.poolTargetAmount');
  });

  it('needs the admin scope to change and the read scope to read', async () => {
    expect((await add({ admin: ACME, id: 'ACME2', registryUrl: 'http://acme.registry' }, 'write')).statusCode).toBe(403);
    expect(
      (await app.inject({ method: 'PUT', url: path(ACME, 'ACME'), headers: auth('read'), payload: { enabled: false } })).statusCode,
    ).toBe(403);
    expect((await app.inject({ method: 'POST', url: `${path(ACME, 'ACME')}/disable`, headers: auth('write') })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: path(ACME, 'ACME') })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: path(ACME, 'ACME'), headers: auth('read') })).json()).toMatchObject({
      id: 'ACME',
      enabled: true,
    });
  });

  it('refuses a second add of the same instrument (409) and unknown ones (404)', async () => {
    expect((await add({ admin: ACME, id: 'ACME', registryUrl: 'http://acme.registry' })).statusCode).toBe(409);
    expect((await app.inject({ method: 'GET', url: path(ACME, 'ZZZ'), headers: auth('read') })).statusCode).toBe(404);
    expect(
      (await app.inject({ method: 'PUT', url: path(ACME, 'ZZZ'), headers: auth('admin'), payload: { enabled: false } })).statusCode,
    ).toBe(404);
  });

  it('changes only the fields given; asks the registry only when what it vouched for changes', async () => {
    calls.length = 0;
    const policy = await app.inject({
      method: 'PUT',
      url: path(ACME, 'ACME'),
      headers: auth('admin'),
      payload: { utxoPolicy: { mergeThreshold: 10 } },
    });
    expect(policy.statusCode).toBe(200);
    expect(policy.json()).toMatchObject({
      changed: ['utxoPolicy'],
      registry: null,
      transferPolicy: 'offer-only',
      utxoPolicy: { mergeThreshold: 10, poolSize: 0 },
    });
    expect(calls).toEqual([]);
    const same = await app.inject({
      method: 'PUT',
      url: path(ACME, 'ACME'),
      headers: auth('admin'),
      payload: { utxoPolicy: { mergeThreshold: 10 } },
    });
    expect(same.json().changed).toEqual([]);
    const moved = await app.inject({
      method: 'PUT',
      url: path(ACME, 'ACME'),
      headers: auth('admin'),
      payload: { registryUrl: 'http://cc.registry' },
    });
    expect(moved.statusCode).toBe(400);
    expect(calls).toHaveLength(1);
    expect((await app.inject({ method: 'PUT', url: path(ACME, 'ACME'), headers: auth('admin'), payload: {} })).statusCode).toBe(400);
  });

  it('disables without the registry (even when it is down) and re-enables only after a fresh check', async () => {
    registries['http://acme.registry']!.down = true;
    calls.length = 0;
    const off = await app.inject({ method: 'POST', url: `${path(ACME, 'ACME')}/disable`, headers: auth('admin') });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ enabled: false, changed: ['enabled'] });
    expect(calls).toEqual([]);
    const [event] = (await readOutboxEvents(sql, { afterId: 0, limit: 100, topics: ['instrument.configured'] })).slice(-1);
    expect(event?.payload).toMatchObject({ action: 'disabled', changed: ['enabled'] });

    // Withdrawals of a disabled instrument are refused.
    const w = await app.inject({
      method: 'POST',
      url: '/v1/withdrawals',
      headers: auth('write'),
      payload: { withdrawalId: 'w-off', account: 'a', instrument: { admin: ACME, id: 'ACME' }, amount: '1', receiver: ALICE },
    });
    expect(w.json()).toMatchObject({ code: 'VALIDATION_FAILED', message: 'Instrument disabled' });

    expect(
      (await app.inject({ method: 'PUT', url: path(ACME, 'ACME'), headers: auth('admin'), payload: { enabled: true } })).statusCode,
    ).toBe(400);
    registries['http://acme.registry']!.down = false;
    const on = await app.inject({ method: 'POST', url: `${path(ACME, 'ACME')}/enable`, headers: auth('admin') });
    expect(on.json()).toMatchObject({ enabled: true, registry: { adminId: ACME } });
    const list = await app.inject({ method: 'GET', url: '/v1/instruments?enabled=false', headers: auth('read') });
    expect(list.json().items).toEqual([]);
  });

  it('keeps a fee reserve: none by default, set on add, changed part by part, validated naming the part', async () => {
    const none = await app.inject({ method: 'GET', url: path(ACME, 'ACME'), headers: auth('read') });
    expect(none.json().feeReserve).toEqual({ rate: '0.0000000000', flat: '0.0000000000' });

    const added = await add({ admin: ACME, id: 'ACME2', registryUrl: 'http://acme.registry', feeReserve: { flat: '0.5', rate: '0.001' } });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toMatchObject({
      feeReserve: { rate: '0.0010000000', flat: '0.5000000000' },
      changed: expect.arrayContaining(['feeReserve']),
    });
    const [row] =
      await sql`select fee_reserve_rate::text as rate, fee_reserve_flat::text as flat from instruments where instrument_id = 'ACME2'`;
    expect(row).toEqual({ rate: '0.0010000000', flat: '0.5000000000' });

    calls.length = 0;
    const flat = await app.inject({
      method: 'PUT',
      url: path(ACME, 'ACME2'),
      headers: auth('admin'),
      payload: { feeReserve: { flat: '0.25' } },
    });
    expect(flat.json()).toMatchObject({
      changed: ['feeReserve'],
      registry: null,
      feeReserve: { rate: '0.0010000000', flat: '0.2500000000' },
    });
    expect(calls).toEqual([]);
    const [event] = (await readOutboxEvents(sql, { afterId: 0, limit: 100, topics: ['instrument.configured'] })).slice(-1);
    expect(event?.payload).toMatchObject({
      action: 'changed',
      changed: ['feeReserve'],
      config: { feeReserve: { rate: '0.0010000000', flat: '0.2500000000' } },
    });
    // The same value in another notation changes nothing.
    expect(
      (
        await app.inject({ method: 'PUT', url: path(ACME, 'ACME2'), headers: auth('admin'), payload: { feeReserve: { rate: '0.00100' } } })
      ).json().changed,
    ).toEqual([]);

    for (const [feeReserve, field] of [
      [{ rate: '2' }, 'feeReserve.rate'],
      [{ rate: '-0.001' }, 'feeReserve.rate'],
      [{ flat: '1,5' }, 'feeReserve.flat'],
      [{ flat: 0.5 }, 'feeReserve.flat'],
      [{ fixed: '1' }, 'feeReserve'],
    ] as const) {
      const bad = await app.inject({ method: 'PUT', url: path(ACME, 'ACME2'), headers: auth('admin'), payload: { feeReserve } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().details.issues.map((i: { field: string }) => i.field)).toEqual([field]);
    }
    const [after] =
      await sql`select fee_reserve_rate::text as rate, fee_reserve_flat::text as flat from instruments where instrument_id = 'ACME2'`;
    expect(after).toEqual({ rate: '0.0010000000', flat: '0.2500000000' });
  });
});

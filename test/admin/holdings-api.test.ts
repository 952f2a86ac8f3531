import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reconciler, ReconciliationReport } from '../../src/admin/reconciliation/run.js';
import { ReconciliationError } from '../../src/admin/reconciliation/run.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { readReconciliationSnapshot } from '../../src/store/reconciliation.js';
import { auth, TEST_TOKENS } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';
import { AMULET, insertHolding, insertInstrument, insertWithdrawal, TREASURY } from '../machines/support/fixtures.js';

const { sql } = await useMigratedDatabase();
const UTK = { admin: `reg::1220${'b'.repeat(64)}`, id: 'UTK' };

async function buildApp(reconciliation?: Reconciler): Promise<App> {
  const app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
  registerApiRoutes(app, { sql, ...(reconciliation ? { reconciliation } : {}) });
  await app.ready();
  return app;
}

describe('GET /v1/holdings', () => {
  let app: App;
  beforeAll(async () => {
    app = await buildApp();
  });
  afterAll(() => app.close());

  it('counts every active holding in exactly one of locked, reserved, planned, free', async () => {
    await insertInstrument(sql, { admin: AMULET.admin, id: AMULET.id });
    for (const [cid, amount] of [
      ['free-1', '1'],
      ['free-2', '2'],
      ['res-1', '4'],
      ['plan-1', '8'],
      ['plan-2', '16'],
    ] as const)
      await insertHolding(sql, { contractId: cid, amount });
    await insertHolding(sql, { contractId: 'locked-1', amount: '32', locked: true });
    await insertHolding(sql, { contractId: 'gone-1', amount: '64', archived: true });
    await insertHolding(sql, { contractId: 'utk-1', amount: '5', instrument: UTK });
    await insertWithdrawal(sql, { id: 'pay-1', amount: '3' });
    await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values ('res-1', 'pay-1', 1)`;
    await insertWithdrawal(sql, { id: 'utxo-merge-1', amount: '24', purpose: 'self_transfer', receiver: TREASURY });
    await sql`update withdrawals set input_holding_cids = ${['plan-1', 'plan-2']} where withdrawal_id = 'utxo-merge-1'`;

    const res = await app.inject({ method: 'GET', url: '/v1/holdings', headers: auth('read') });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.items).toEqual([
      {
        owner: TREASURY,
        instrument: AMULET,
        config: { enabled: true, displayDecimals: 10 },
        count: 6,
        total: '63.0000000000',
        locked: { count: 1, amount: '32.0000000000' },
        reserved: { count: 1, amount: '4.0000000000' },
        plannedForSelfTransfer: { count: 2, amount: '24.0000000000' },
        free: { count: 2, amount: '3.0000000000' },
        selfTransfersInFlight: 1,
      },
      expect.objectContaining({
        instrument: UTK,
        config: null,
        count: 1,
        free: { count: 1, amount: '5.0000000000' },
        selfTransfersInFlight: 0,
      }),
    ]);

    // Once the self-transfer reserved its inputs they count as reserved, not planned.
    await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values ('plan-1', 'utxo-merge-1', 1), ('plan-2', 'utxo-merge-1', 1)`;
    const after = (await app.inject({ method: 'GET', url: '/v1/holdings', headers: auth('read') })).json();
    expect(after.items[0]).toMatchObject({ reserved: { count: 3, amount: '28.0000000000' }, plannedForSelfTransfer: { count: 0 } });
    expect((await app.inject({ method: 'GET', url: '/v1/holdings' })).statusCode).toBe(401);
  });
});

describe('GET /v1/reconciliation', () => {
  const report: ReconciliationReport = {
    treasuryParty: TREASURY,
    offset: 7,
    recordTime: null,
    checkedAt: new Date().toISOString(),
    ignoredLedgerHoldings: 0,
    clean: false,
    instruments: [],
    differences: [
      { kind: 'missing', contractId: 'a', instrument: AMULET, ledgerAmount: '1.0000000000' },
      { kind: 'extra', contractId: 'b', instrument: AMULET, dbAmount: '2.0000000000' },
    ],
  };

  it('returns the report (read scope), shares one run between concurrent requests, truncates on request', async () => {
    let runs = 0;
    const app = await buildApp({
      run: async () => {
        runs++;
        await new Promise((r) => setTimeout(r, 50));
        return report;
      },
    });
    const [a, b] = await Promise.all([0, 1].map(() => app.inject({ method: 'GET', url: '/v1/reconciliation', headers: auth('read') })));
    expect(runs).toBe(1);
    expect(a!.json()).toMatchObject({ clean: false, differencesTotal: 2, truncated: false, differences: report.differences });
    expect(b!.json().differences).toHaveLength(2);
    expect((await app.inject({ method: 'GET', url: '/v1/reconciliation?maxDifferences=1', headers: auth('read') })).json()).toMatchObject({
      differencesTotal: 2,
      truncated: true,
      differences: [report.differences[0]],
    });
    await app.close();
  });

  it('is 503 without a ledger connection or when it cannot run', async () => {
    const none = await buildApp();
    expect((await none.inject({ method: 'GET', url: '/v1/reconciliation', headers: auth('read') })).json()).toMatchObject({
      code: 'NOT_READY',
    });
    await none.close();
    const failing = await buildApp({ run: () => Promise.reject(new ReconciliationError('nothing to reconcile yet')) });
    const res = await failing.inject({ method: 'GET', url: '/v1/reconciliation', headers: auth('read') });
    expect(res.statusCode).toBe(503);
    expect(res.json().message).toMatch(/nothing to reconcile yet/);
    await failing.close();
  });
});

describe('the reconciliation snapshot', () => {
  it('reads the checkpoint, the active treasury holdings and the ingested movements, counting a re-created holding once', async () => {
    const { sql: db } = { sql };
    const T2 = `t2::1220${'f'.repeat(64)}`;
    const facts = (n: number, created: { cid: string; amount: string }[], archived: { cid: string; amount: string }[]) => ({
      updateId: `u${n}`,
      offset: n,
      recordTime: '2026-01-01T00:00:00Z',
      synchronizerId: 's',
      import: false,
      holdingsCreated: created.map((c) => ({
        nodeId: 0,
        contractId: c.cid,
        templateId: 't',
        instrument: UTK,
        amount: c.amount,
        lock: null,
        meta: {},
      })),
      holdingsArchived: archived.map((a) => ({ nodeId: 1, contractId: a.cid, instrument: UTK, amount: a.amount, locked: false })),
      activities: [],
    });
    const rows = [
      facts(
        101,
        [
          { cid: 's1', amount: '10' },
          { cid: 's2', amount: '5' },
        ],
        [],
      ),
      facts(102, [{ cid: 's3', amount: '4' }], [{ cid: 's1', amount: '10' }]),
      facts(103, [{ cid: 's2', amount: '5' }], []),
    ];
    for (const f of rows) {
      await db`insert into ingested_updates (update_id, ledger_offset, record_time, synchronizer_id, facts) values (${f.updateId}, ${f.offset}, ${f.recordTime}, 's', ${db.json(f)})`;
    }
    await db`insert into ingestion_checkpoint (treasury_party, ledger_offset, record_time, update_id) values (${T2}, 103, '2026-01-01T00:00:00Z', 'u103')`;
    await insertHolding(db, { contractId: 's2', amount: '5', instrument: UTK, owner: T2 });
    await insertHolding(db, { contractId: 's3', amount: '4', instrument: UTK, owner: T2, locked: true });
    const snap = await readReconciliationSnapshot(db, T2);
    expect(snap.checkpoint).toEqual({ offset: 103, recordTime: '2026-01-01T00:00:00Z', updateId: 'u103' });
    expect(snap.holdings.sort((a, b) => a.contractId.localeCompare(b.contractId))).toEqual([
      { contractId: 's2', instrument: UTK, amount: '5.0000000000', locked: false },
      { contractId: 's3', instrument: UTK, amount: '4.0000000000', locked: true },
    ]);
    expect(snap.movements).toEqual([{ instrument: UTK, created: '19', archived: '10' }]);
    expect(await readReconciliationSnapshot(db, `none::1220${'0'.repeat(64)}`)).toEqual({
      checkpoint: null,
      holdings: [],
      movements: [],
      onboarded: new Set(),
    });
    // A holding adopted when its token was onboarded counts as created, once.
    await insertHolding(db, { contractId: 's4', amount: '6', instrument: UTK, owner: T2 });
    await db`insert into holding_adoptions (contract_id, instrument_admin, instrument_id, amount, adopted_offset, adopted_by) values ('s4', ${UTK.admin}, ${UTK.id}, 6, 103, 'ops')`;
    expect((await readReconciliationSnapshot(db, T2)).movements).toEqual([{ instrument: UTK, created: '25', archived: '10' }]);
  });
});

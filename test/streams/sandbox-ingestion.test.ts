import fc from 'fast-check';
import { Decimal } from 'decimal.js';
import { afterEach, describe, expect, it } from 'vitest';
import { staticToken } from '../../src/ledger/auth.js';
import { LedgerHttp } from '../../src/ledger/http.js';
import { LedgerReadClient } from '../../src/ledger/read-client.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { listActiveHoldings } from '../../src/store/holdings.js';
import { createIngestionComponent, type IngestionComponent, type IngestionOptions } from '../../src/streams/index.js';
import type { LedgerAuthConfig } from '../../src/config.js';
import { untilLockAwaited, useMigratedDatabase } from '../support/db.js';
import { depositsOf, eventsOf, ingestionSnapshot, onboardInstruments, resetIngestionTables, withdrawalsOf } from './support/db-state.js';
import { customerActivity } from './support/customer-activity.js';
import { testLogger } from '../support/silent-logger.js';
import { OUTBOX_LOCK_KEY } from '../../src/store/outbox.js';
import { createWithdrawalRequest } from '../../src/store/withdrawals.js';

/**
 * Ingestion against the ledger double (src/sandbox) over its websocket: the same wire, auth and
 * transactions a validator produces, customers scripted through its control handle.
 */

const { sql } = await useMigratedDatabase({ max: 10 });
const logger = testLogger();

let sb: Sandbox | undefined;
const running: IngestionComponent[] = [];

afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
  await sb?.stop();
  sb = undefined;
});

async function sandbox(): Promise<Sandbox> {
  await resetIngestionTables(sql);
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a'), ('acct-2', 'memo-2', 'b')`;
  sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' }, checkpointIntervalMs: 50 });
  await onboardInstruments(sql, sb.instruments);
  return sb;
}

function treasury(s: Sandbox): string {
  return s.treasury!.party;
}

async function ingestion(s: Sandbox, options: IngestionOptions = {}, auth?: LedgerAuthConfig): Promise<IngestionComponent> {
  const c = createIngestionComponent({
    sql,
    logger,
    ledger: {
      apiUrl: s.jsonApiUrl,
      auth: auth ?? { kind: 'static', token: await s.tokenFor(s.treasury!.userId) },
      treasuryParty: treasury(s),
    },
    options: { retry: { baseDelayMs: 10, maxDelayMs: 100, maxAttempts: 30 }, batchMaxWaitMs: 10, leaderPollMs: 50, ...options },
  });
  running.push(c);
  await c.start();
  return c;
}

async function ledgerEnd(s: Sandbox): Promise<number> {
  return new LedgerReadClient(
    new LedgerHttp({ baseUrl: s.jsonApiUrl, auth: staticToken(await s.tokenFor(s.treasury!.userId)) }),
  ).ledgerEnd();
}

async function caughtUp(s: Sandbox, c: IngestionComponent, timeoutMs = 20_000): Promise<void> {
  const end = await ledgerEnd(s);
  const started = Date.now();
  while ((c.progress().committedOffset ?? -1) < end) {
    if (c.status().state === 'failed') throw new Error(`ingestion failed: ${c.status().detail}`);
    if (Date.now() - started > timeoutMs) throw new Error(`ingestion at ${c.progress().committedOffset}, ledger end ${end}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function failed(c: IngestionComponent, timeoutMs = 10_000): Promise<string> {
  const started = Date.now();
  while (c.status().state !== 'failed') {
    if (Date.now() - started > timeoutMs) throw new Error(`still ${c.status().state}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return c.status().detail ?? '';
}

describe('ingestion against the ledger double', () => {
  it('deposits 1-step and 2-step with known, unknown and missing memos', async () => {
    const s = await sandbox();
    const T = treasury(s);
    const c = await ingestion(s);
    const bob = s.control.createCustomer({
      fund: [
        { instrument: 'Amulet', amount: '1000' },
        { instrument: 'UTK', amount: '1000' },
      ],
    }).party;
    const d1 = s.control.transfer({ from: bob, to: T, instrument: 'Amulet', amount: '10', memo: 'memo-1' });
    const d2 = s.control.transfer({ from: bob, to: T, instrument: 'Amulet', amount: '11', memo: 'who-is-this' });
    const d3 = s.control.transfer({ from: bob, to: T, instrument: 'Amulet', amount: '12', memo: null });
    expect([d1.kind, d2.kind, d3.kind]).toEqual(['direct', 'direct', 'direct']);
    const o1 = s.control.transfer({ from: bob, to: T, instrument: 'UTK', amount: '20', memo: 'memo-2' });
    const o2 = s.control.transfer({ from: bob, to: T, instrument: 'UTK', amount: '21', memo: 'who-is-this' });
    const o3 = s.control.transfer({ from: bob, to: T, instrument: 'UTK', amount: '22', memo: null });
    expect([o1.kind, o2.kind, o3.kind]).toEqual(['offer', 'offer', 'offer']);
    await caughtUp(s, c);
    let deps = await depositsOf(sql);
    expect(deps.filter((d) => d.kind === 'two_step').map((d) => [d.status, d.account_id])).toEqual(
      expect.arrayContaining([
        ['offered', 'acct-2'],
        ['offered', null],
        ['offered', null],
      ]),
    );
    // The deposit automation accepts only the known account; an admin accepts the memo-less one.
    s.control.accept(o1.transferInstructionCid!);
    s.control.accept(o3.transferInstructionCid!);
    await caughtUp(s, c);
    deps = await depositsOf(sql);
    const byId = new Map(deps.map((d) => [d.deposit_id, d]));
    expect(byId.get(`${d1.updateId}:0`) ?? deps.find((d) => d.credit_update_id === d1.updateId)).toMatchObject({
      status: 'credited',
      account_id: 'acct-1',
      credited_amount: '10.0000000000',
    });
    expect(deps.find((d) => d.credit_update_id === d2.updateId)).toMatchObject({
      status: 'unattributed',
      memo: 'who-is-this',
      credited_amount: '11.0000000000',
    });
    expect(deps.find((d) => d.credit_update_id === d3.updateId)).toMatchObject({
      status: 'unattributed',
      memo: null,
      credited_amount: '12.0000000000',
    });
    expect(byId.get(o1.transferInstructionCid!)).toMatchObject({
      status: 'credited',
      account_id: 'acct-2',
      credited_amount: '20.0000000000',
    });
    expect(byId.get(o2.transferInstructionCid!)).toMatchObject({ status: 'offered', credited_amount: null });
    expect(byId.get(o3.transferInstructionCid!)).toMatchObject({ status: 'unattributed', credited_amount: '22.0000000000' });
    const topics = (await eventsOf(sql)).map((e) => e.topic);
    expect(topics.filter((t) => t === 'deposit.credited')).toHaveLength(2);
    expect(topics.filter((t) => t === 'deposit.unattributed')).toHaveLength(3);
    expect(topics.filter((t) => t === 'deposit.offer_received')).toHaveLength(3);
    // Holdings = the ledger's treasury holdings.
    expect((await listActiveHoldings(sql, T)).map((h) => h.amount).sort()).toEqual(
      s.engine.ledger
        .holdingsOf(T)
        .map((h) => (h.payload as { amount: string }).amount)
        .map((a) => new Decimal(a).toFixed(10))
        .sort(),
    );
  });

  it('restart mid-stream (between batches, and killed inside a batch transaction) gives the same database as an uninterrupted run', async () => {
    const s = await sandbox();
    customerActivity(s, 40);
    const ref = await ingestion(s);
    await caughtUp(s, ref);
    await ref.stop();
    const reference = await ingestionSnapshot(sql);
    expect(reference.updates.length).toBeGreaterThan(50);

    await resetIngestionTables(sql);
    await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a'), ('acct-2', 'memo-2', 'b')`;
    const a = await ingestion(s, { batchMaxSize: 4, faults: () => new Promise((r) => setTimeout(r, 3)) });
    while ((a.progress().committedOffset ?? 0) < 20) await new Promise((r) => setTimeout(r, 5));
    await a.stop(); // between batches
    let batches = 0;
    const b = await ingestion(s, {
      batchMaxSize: 4,
      faults: (p) => {
        if (p === 'written' && ++batches === 3) throw new Error('killed inside the batch transaction');
      },
    });
    expect(await failed(b)).toContain('killed inside the batch transaction');
    await b.stop();
    const c = await ingestion(s, { batchMaxSize: 4 });
    await caughtUp(s, c);
    await c.stop();
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });

  it('websocket drops (injected and while tailing) and duplicate delivery change nothing', async () => {
    const s = await sandbox();
    customerActivity(s, 20);
    const ref = await ingestion(s);
    await caughtUp(s, ref);
    await ref.stop();
    const reference = await ingestionSnapshot(sql);

    await resetIngestionTables(sql);
    await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a'), ('acct-2', 'memo-2', 'b')`;
    s.control.addFault({ match: { path: '/v2/updates' }, action: { kind: 'dropWebsocket', afterFrames: 7 }, times: 5 });
    const c = await ingestion(s, { transport: 'websocket' });
    await caughtUp(s, c);
    expect(s.control.faults()[0]!.fired).toBe(5);
    expect(await ingestionSnapshot(sql)).toEqual(reference);

    // Tailing: drop every stream, then more deposits arrive.
    s.control.dropWebsockets();
    const alice = s.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '100' }] }).party;
    s.control.transfer({ from: alice, to: treasury(s), instrument: 'Amulet', amount: '5', memo: 'memo-1' });
    await caughtUp(s, c);
    await c.stop();
    const after = await ingestionSnapshot(sql);
    expect(after.updates.length).toBe(reference.updates.length + 1); // the deposit (the customer's funding is not ours to see)

    // Duplicate delivery: the ledger sends everything again from the start.
    await sql`update ingestion_checkpoint set ledger_offset = 0`;
    const again = await ingestion(s);
    await caughtUp(s, again);
    await again.stop();
    const replayed = await ingestionSnapshot(sql);
    expect({ ...replayed, checkpoint: [] }).toEqual({ ...after, checkpoint: [] });
    expect(replayed.checkpoint).toEqual(after.checkpoint);
  });

  it('withdrawals seen on the ledger: known ids transferred (1-step, offer accepted), unknown recovered; definite failure from record time', async () => {
    const s = await sandbox();
    const T = treasury(s);
    const carol = s.control.createCustomer({ preapproval: true, fund: [{ instrument: 'Amulet', amount: '1000' }] }).party;
    const dave = s.control.createCustomer({ fund: [{ instrument: 'UTK', amount: '1000' }] }).party;
    s.control.transfer({ from: carol, to: T, instrument: 'Amulet', amount: '300', memo: 'memo-1' });
    s.control.transfer({ from: dave, to: T, instrument: 'UTK', amount: '300', memo: 'memo-2', mode: 'offer' });
    const offer = s.engine.activeInstructions(T)[0]!.contract.contractId;
    s.control.accept(offer);
    const utk = s.control.instrument('UTK');
    const cc = s.control.instrument('Amulet');
    const now = s.control.clockNow().time;
    for (const [id, inst, deadline] of [
      ['wd-1', cc, '2099-01-01T00:00:00Z'],
      ['wd-2', utk, '2099-01-01T00:00:00Z'],
      ['wd-lost', cc, new Date(Date.parse(now) + 30_000).toISOString()],
    ] as const) {
      await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status, attempt, deadline)
                values (${id}, 'acct-1', ${inst.admin}, ${inst.config.id}, 10, ${carol}, 'awaitingLedger', 1, ${deadline})`;
    }
    const c = await ingestion(s);
    s.engine.transferAs({ sender: T, receiver: carol, instrument: cc, amount: '10', memo: 'wd-1' });
    const wd2 = s.engine.transferAs({ sender: T, receiver: dave, instrument: utk, amount: '10', memo: 'wd-2' });
    s.engine.transferAs({ sender: T, receiver: carol, instrument: cc, amount: '7', memo: 'from-before-the-restore' });
    s.control.accept(wd2.transferInstructionCid!, dave);
    await caughtUp(s, c);
    expect(await eventsOf(sql, 'withdrawal.attempt_expired')).toEqual([]);
    s.control.advanceClock(60_000); // an OffsetCheckpoint carries the new record time
    await caughtUp(s, c);
    await expect
      .poll(async () => (await eventsOf(sql, 'withdrawal.attempt_expired')).map((e) => e.aggregate_id), { timeout: 5000 })
      .toEqual(['wd-lost']);
    const ws = Object.fromEntries((await withdrawalsOf(sql)).map((w) => [w.withdrawal_id, w]));
    expect(ws['wd-1']!.transfer_update_id).not.toBeNull();
    expect(ws['wd-2']).toMatchObject({ transfer_instruction_cid: wd2.transferInstructionCid, outcome_update_id: expect.any(String) });
    expect(ws['from-before-the-restore']).toMatchObject({ status: 'recovered', recovered: true, amount: '7.0000000000' });
    const events = (await eventsOf(sql))
      .filter((e) => e.topic.startsWith('withdrawal.'))
      .map((e) => [e.topic, e.aggregate_id, e.payload['outcome'] ?? null]);
    expect(events).toEqual([
      ['withdrawal.transferred', 'wd-1', 'completed'],
      ['withdrawal.offered', 'wd-2', null],
      ['withdrawal.recovered', 'from-before-the-restore', 'completed'],
      ['withdrawal.instruction_closed', 'wd-2', 'accepted'],
      ['withdrawal.attempt_expired', 'wd-lost', null],
    ]);
  });

  it('a withdrawal request committed between the batch reading its rows and writing them: the batch runs again and attaches the transfer to it', async () => {
    // The order a request re-sent after a database restore can take against ingestion reading its
    // transfer again, pinned by two locks: the request's insert waits for the outbox lock (held here)
    // with its row uncommitted, ingestion's insert of a recovered row waits for that row.
    const s = await sandbox();
    const T = treasury(s);
    const carol = s.control.createCustomer({ preapproval: true }).party;
    s.control.mint(T, 'Amulet', '100');
    let hold: Promise<void> | undefined;
    let reachedParsed!: () => void;
    const parsed = new Promise<void>((r) => (reachedParsed = r));
    const c = await ingestion(s, { faults: (p) => (p === 'parsed' && hold ? (reachedParsed(), hold) : undefined) });
    const restarts: unknown[] = [];
    c.restarts$.subscribe((r) => restarts.push(r));
    await caughtUp(s, c);

    let releaseBatch!: () => void;
    hold = new Promise((r) => (releaseBatch = r));
    const outboxLock = await sql.reserve();
    await outboxLock`select pg_advisory_lock(${OUTBOX_LOCK_KEY})`;
    const cc = s.control.instrument('Amulet');
    const paid = s.engine.transferAs({ sender: T, receiver: carol, instrument: cc, amount: '10', memo: 'w-race' });
    await parsed;
    const request = createWithdrawalRequest(sql, {
      withdrawalId: 'w-race',
      account: 'acct-1',
      instrument: { admin: cc.admin, id: cc.config.id },
      amount: '10.0000000000',
      receiver: carol,
    });
    await untilLockAwaited(sql, 'advisory');
    hold = undefined;
    releaseBatch();
    await untilLockAwaited(sql, 'transactionid');
    await outboxLock`select pg_advisory_unlock(${OUTBOX_LOCK_KEY})`;
    outboxLock.release();
    expect((await request).created).toBe(true);
    await caughtUp(s, c);

    expect(restarts).toEqual([]);
    const [w] = (await withdrawalsOf(sql)).filter((r) => r.withdrawal_id === 'w-race');
    expect(w).toMatchObject({ status: 'requested', recovered: false, transfer_update_id: paid.tx.updateId });
    const events = (await eventsOf(sql)).filter((e) => e.aggregate_id === 'w-race').map((e) => e.topic);
    expect(events).toEqual(['withdrawal.requested', 'withdrawal.transferred']);
  });

  it('an offer the registry expires (record time past executeBefore) is closed as expired by that transaction', async () => {
    const s = await sandbox();
    const T = treasury(s);
    const erin = s.control.createCustomer({ fund: [{ instrument: 'UTK', amount: '100' }] }).party;
    const execBefore = new Date(Date.parse(s.control.clockNow().time) + 10_000).toISOString();
    const o = s.control.transfer({ from: erin, to: T, instrument: 'UTK', amount: '9', memo: 'memo-1', executeBefore: execBefore });
    const c = await ingestion(s);
    s.control.advanceClock(20_000); // the double's registry automation returns the locked funds
    await caughtUp(s, c);
    await expect
      .poll(async () => (await depositsOf(sql)).find((d) => d.deposit_id === o.transferInstructionCid)?.status, { timeout: 5000 })
      .toBe('expired');
    const closed = await eventsOf(sql, 'deposit.offer_closed');
    expect(closed.map((e) => [e.payload['outcome'], typeof e.payload['updateId']])).toEqual([['expired', 'string']]);
  });

  it('a pruned offset stops with what the operator must do; OAuth2 client credentials work', async () => {
    const s = await sandbox();
    customerActivity(s, 3);
    const c = await ingestion(
      s,
      {},
      {
        kind: 'oauth2',
        tokenUrl: s.oauth.tokenUrl,
        clientId: s.oauth.clientId,
        clientSecret: s.oauth.clientSecret,
        audience: s.oauth.audience,
      },
    );
    await caughtUp(s, c);
    await c.stop();
    customerActivity(s, 3);
    s.control.prune((await ledgerEnd(s)) - 1);
    const d = await ingestion(s);
    expect(await failed(d)).toMatch(/pruned .* re-bootstrap the treasury from an ACS snapshot/);
    expect((await readCheckpoint(sql, treasury(s)))!.offset).toBeLessThan(await ledgerEnd(s));
  });

  it('a token the ledger refuses stops ingestion at once (401 is not retried)', async () => {
    const s = await sandbox();
    const c = await ingestion(s, {}, { kind: 'static', token: 'not-a-jwt' });
    expect(await failed(c)).toMatch(/refused our credentials/);
  });
});

describe('property against the double: interleavings with random crash points credit what the ledger moved', () => {
  type Op =
    | { t: 'dep1' | 'offer'; memo: number; amount: number }
    | { t: 'accept' | 'withdrawOffer'; pick: number }
    | { t: 'wd'; amount: number; offer: boolean }
    | { t: 'custAccept'; pick: number };
  const memoArb = fc.integer({ min: 0, max: 3 }); // memo-1, memo-2, unknown, none
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constantFrom('dep1' as const, 'offer' as const), memo: memoArb, amount: fc.integer({ min: 1, max: 50 }) }),
    fc.record({ t: fc.constantFrom('accept' as const, 'withdrawOffer' as const), pick: fc.nat() }),
    fc.record({ t: fc.constant('wd' as const), amount: fc.integer({ min: 1, max: 20 }), offer: fc.boolean() }),
    fc.record({ t: fc.constant('custAccept' as const), pick: fc.nat() }),
  );

  it('credited totals per memo equal the ledger (holdings deltas), whatever the crash points', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 3, maxLength: 25 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }),
        async (ops, crashAt) => {
          const s = await sandbox();
          const T = treasury(s);
          const cust = s.control.createCustomer({
            preapproval: true,
            fund: [
              { instrument: 'Amulet', amount: '100000' },
              { instrument: 'UTK', amount: '100000' },
            ],
          }).party;
          const memo = (i: number) => (['memo-1', 'memo-2', 'unknown'] as const)[i] ?? null;
          const expected = new Map<string, Decimal>();
          const credit = (m: string | null, a: string) => expected.set(m ?? '', (expected.get(m ?? '') ?? new Decimal(0)).plus(a));
          const offers: { cid: string; memo: string | null; amount: string }[] = [];
          const ours: string[] = [];
          let wd = 0;
          for (const op of ops) {
            if (op.t === 'dep1') {
              s.control.transfer({ from: cust, to: T, instrument: 'Amulet', amount: String(op.amount), memo: memo(op.memo) });
              credit(memo(op.memo), String(op.amount));
            } else if (op.t === 'offer') {
              const r = s.control.transfer({ from: cust, to: T, instrument: 'UTK', amount: String(op.amount), memo: memo(op.memo) });
              offers.push({ cid: r.transferInstructionCid!, memo: memo(op.memo), amount: String(op.amount) });
            } else if ((op.t === 'accept' || op.t === 'withdrawOffer') && offers.length > 0) {
              const [o] = offers.splice(op.pick % offers.length, 1);
              if (op.t === 'accept') {
                s.control.accept(o!.cid);
                credit(o!.memo, o!.amount);
              } else s.control.withdraw(o!.cid);
            } else if (op.t === 'wd') {
              const inst = s.control.instrument(op.offer ? 'UTK' : 'Amulet');
              const have = s.engine.spendableHoldings(T, inst).reduce((a, h) => a.plus(h.amount), new Decimal(0));
              if (have.lt(op.amount + 1)) continue;
              const r = s.engine.transferAs({ sender: T, receiver: cust, instrument: inst, amount: String(op.amount), memo: `wd-${++wd}` });
              if (r.transferInstructionCid) ours.push(r.transferInstructionCid);
            } else if (op.t === 'custAccept' && ours.length > 0) {
              s.control.accept(ours.splice(op.pick % ours.length, 1)[0]!, cust);
            }
          }
          // Ingest with a crash inside the batch transaction at each of the chosen batch numbers.
          let batch = 0;
          const crashes = new Set(crashAt);
          for (let attempt = 0; attempt < crashes.size + 2; attempt++) {
            const c = await ingestion(s, {
              batchMaxSize: 3,
              faults: (p) => {
                if (p === 'written' && crashes.has(++batch)) throw new Error('crash');
              },
            });
            const end = await ledgerEnd(s);
            const started = Date.now();
            while ((c.progress().committedOffset ?? -1) < end && c.status().state !== 'failed' && Date.now() - started < 20_000)
              await new Promise((r) => setTimeout(r, 5));
            await c.stop();
            if ((await readCheckpoint(sql, T))?.offset === end) break;
          }
          expect((await readCheckpoint(sql, T))?.offset).toBe(await ledgerEnd(s));
          const rows = await sql<
            { memo: string | null; total: string }[]
          >`select memo, sum(credited_amount)::text as total from deposits where credit_update_id is not null group by memo`;
          const got = new Map(rows.map((r) => [r.memo ?? '', new Decimal(r.total).toFixed(10)]));
          // The customer's own funding arrives as minted holdings, not through the treasury.
          expect(got).toEqual(new Map([...expected].map(([m, d]) => [m, d.toFixed(10)])));
          const ledgerHoldings = s.engine.ledger
            .holdingsOf(T)
            .map((h) => h.contractId)
            .sort();
          expect((await listActiveHoldings(sql, T)).map((h) => h.contractId).sort()).toEqual(ledgerHoldings);
          await sb?.stop();
          sb = undefined;
        },
      ),
      { numRuns: 8 },
    );
  }, 300_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import type { DepositActors } from '../../src/machines/deposit.actors.js';
import { ActorError } from '../../src/machines/failure.js';
import type { WithdrawalActors } from '../../src/machines/withdrawal.actors.js';
import { STACK_API_TOKEN, startStack, type Stack } from '../support/stack.js';
import { waitForMachine } from '../deposits/support.js';
import { auth, buildApiApp, TEST_TOKENS } from '../support/api-app.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * Operator actions over HTTP against the whole stack (ledger double, real effects, runtimes):
 * each action where the machine allows it, and refused with the machine's reason where it does not.
 * Faults are injected per withdrawal / deposit id through the effects, so one stack serves all tests.
 */

/** Withdrawal ids whose prepare never answers (until the machine abandons it): "before submission". */
const hangPrepare = new Set<string>();
/** Withdrawal ids whose next prepare fails non-retryably (403): the withdrawal stalls. */
const stallPrepare = new Set<string>();
/** Deposit ids whose next accept fails non-retryably (403): the deposit ends accept_failed. */
const failAccept = new Set<string>();

const denied = () => new ActorError({ code: 'PERMISSION_DENIED', message: 'injected by the test', retryable: false, status: 403 });

const withdrawalFaults = (a: WithdrawalActors): WithdrawalActors => ({
  ...a,
  async prepareTransfer(input, signal) {
    if (hangPrepare.has(input.withdrawalId)) {
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('abandoned'))));
    }
    if (stallPrepare.delete(input.withdrawalId)) throw denied();
    return a.prepareTransfer(input, signal);
  },
});

const depositFaults = (a: DepositActors): DepositActors => ({
  ...a,
  async prepareAccept(input, signal) {
    if (failAccept.delete(input.depositId)) throw denied();
    return a.prepareAccept(input, signal);
  },
});

const amt = (s: string) => `${s}.0000000000`;

let s: Stack;
let bob: string;
let carol: string;

beforeAll(async () => {
  s = await startStack({
    intercept: { withdrawal: withdrawalFaults, deposit: depositFaults },
    // Funds are rechecked rarely, so a withdrawal that got them moves on only when an operator retries.
    withdrawalPolicy: { fundsRecheckMs: 600_000 },
  });
  await s.fundTreasury('Amulet', '1000', 6);
  await s.fundTreasury('UTK', '1000', 2);
  bob = s.customer({ preapproval: true });
  carol = s.customer();
});
afterAll(() => s?.close());

type Body = Record<string, unknown>;
const post = (path: string, body?: unknown) => s.api('POST', path, body);

async function liveReservations(id: string): Promise<number> {
  const [r] = await s.sql<
    { n: number }[]
  >`select count(*)::int as n from holding_reservations where withdrawal_id = ${id} and released_at is null`;
  return r!.n;
}

async function outbox(aggregateType: string, id: string, topic: string): Promise<Body[]> {
  const rows = await s.sql<{ payload: Body }[]>`
    select payload from outbox_events where aggregate_type = ${aggregateType} and aggregate_id = ${id} and topic = ${topic} order by event_id`;
  return rows.map((r) => r.payload);
}

/** Who sent each operator command to a machine, from its transition history. */
async function operatorCommands(type: string, id: string): Promise<{ eventType: string; by: string }[]> {
  return s.sql<{ eventType: string; by: string }[]>`
    select event_type as "eventType", event->>'by' as by from machine_transitions
    where machine_type = ${type} and machine_id = ${id} and event ? 'by' order by seq`;
}

async function request(id: string, o: { receiver?: string; instrument?: string; amount?: string } = {}): Promise<void> {
  const r = await s.requestWithdrawal({
    withdrawalId: id,
    receiver: o.receiver ?? bob,
    instrument: o.instrument ?? 'Amulet',
    amount: o.amount ?? '10',
  });
  expect(r.status).toBe(201);
}

/** A 1-step deposit from a customer of the double; returns its deposit id once ingested. */
async function oneStepDeposit(memo: string, amount: string): Promise<string> {
  const dan = s.customer({ fund: [{ instrument: 'Amulet', amount: '1000' }] });
  const r = s.sandbox.control.transfer({ from: dan, to: s.treasury, instrument: 'Amulet', amount, memo });
  expect(r.transferInstructionCid).toBeUndefined();
  await s.caughtUp();
  const [row] = await s.sql<
    { deposit_id: string }[]
  >`select deposit_id from deposits where credit_update_id = ${r.updateId} and kind = 'one_step'`;
  return row!.deposit_id;
}

describe('withdrawal actions', () => {
  it('cancel before submission: cancelled, holdings released, re-credit announced; cancelling again is refused', async () => {
    hangPrepare.add('op-cancel');
    await request('op-cancel');
    await s.waitForWithdrawal('op-cancel', 'preparing');
    expect(await liveReservations('op-cancel')).toBeGreaterThan(0);

    const res = await post('/v1/withdrawals/op-cancel/cancel', { reason: 'customer asked' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      command: 'CANCEL',
      by: STACK_API_TOKEN.name,
      machineState: expect.stringMatching(/^releasing/),
      withdrawal: { withdrawalId: 'op-cancel', status: 'cancelling' },
    });
    expect(await s.waitForWithdrawal('op-cancel', ['cancelled', 'failed', 'completed'])).toMatchObject({
      status: 'cancelled',
      statusCode: 'OPERATOR_CANCEL',
    });
    expect(await liveReservations('op-cancel')).toBe(0);
    expect(s.sandbox.control.books.transfers('op-cancel')).toEqual([]);
    expect(await outbox('withdrawal', 'op-cancel', 'withdrawal.failed')).toEqual([
      expect.objectContaining({ cancelled: true, recredit: true, reasonCode: 'OPERATOR_CANCEL' }),
    ]);
    expect(await operatorCommands('withdrawal', 'op-cancel')).toEqual([{ eventType: 'CANCEL', by: STACK_API_TOKEN.name }]);

    const again = await post('/v1/withdrawals/op-cancel/cancel', { reason: 'twice' });
    expect(again).toMatchObject({
      status: 409,
      body: { code: 'STATE_CONFLICT', message: expect.stringContaining('is cancelled: it is final'), details: { status: 'cancelled' } },
    });
    hangPrepare.delete('op-cancel');
  });

  it('fail before submission: failed with the operator reason, holdings released', async () => {
    hangPrepare.add('op-fail');
    await request('op-fail');
    await s.waitForWithdrawal('op-fail', 'preparing');
    const res = await post('/v1/withdrawals/op-fail/fail', { reason: 'sanctions hit' });
    expect(res).toMatchObject({ status: 202, body: { command: 'FAIL', withdrawal: { status: 'failing' } } });
    const w = await s.waitForWithdrawal('op-fail', ['failed', 'cancelled', 'completed']);
    expect(w.status).toBe('failed');
    expect(w.statusReason).toContain('sanctions hit');
    expect(await liveReservations('op-fail')).toBe(0);
    expect(await outbox('withdrawal', 'op-fail', 'withdrawal.failed')).toEqual([
      expect.objectContaining({ cancelled: false, recredit: true }),
    ]);
    hangPrepare.delete('op-fail');
  });

  it('after the execute: cancel is refused (409), fail is accepted but the committed transfer still completes it', async () => {
    s.sandbox.control.holdCommits();
    try {
      await request('op-executed');
      await s.waitForWithdrawal('op-executed', 'executing');
      const cancel = await post('/v1/withdrawals/op-executed/cancel', { reason: 'too late' });
      expect(cancel).toMatchObject({
        status: 409,
        body: {
          code: 'STATE_CONFLICT',
          message: expect.stringContaining('an execute was submitted for the current attempt'),
          details: { status: 'executing' },
        },
      });
      const fail = await post('/v1/withdrawals/op-executed/fail', { reason: 'stop it' });
      expect(fail).toMatchObject({ status: 202, body: { command: 'FAIL' } });
    } finally {
      await s.sandbox.control.releaseCommits();
    }
    // Failing after submission only stops further submissions: the ledger's outcome decides.
    expect(await s.waitForWithdrawal('op-executed', ['completed', 'failed'])).toMatchObject({ status: 'completed' });
    expect(s.sandbox.control.books.transfers('op-executed')).toHaveLength(1);
  });

  it('an offer awaiting the receiver cannot be cancelled; failing it withdraws the offer: funds back, re-credited (issue 19)', async () => {
    await request('op-offer', { receiver: carol, instrument: 'UTK' });
    const pending = await s.waitForWithdrawal('op-offer', 'pending_acceptance');
    for (const [action, body] of [
      ['cancel', { reason: 'no' }],
      ['retry', undefined],
    ] as const) {
      const res = await post(`/v1/withdrawals/op-offer/${action}`, body);
      expect(res).toMatchObject({
        status: 409,
        body: {
          code: 'STATE_CONFLICT',
          message: expect.stringContaining('awaiting the receiver: FAIL withdraws it'),
          details: { status: 'pending_acceptance' },
        },
      });
    }
    expect(await post('/v1/withdrawals/op-offer/fail', { reason: 'customer closed the account' })).toMatchObject({
      status: 202,
      body: { command: 'FAIL' },
    });
    const failed = await s.waitForWithdrawal('op-offer', ['failed', 'completed']);
    expect(failed).toMatchObject({
      status: 'failed',
      statusCode: 'OPERATOR_FAIL',
      statusReason: expect.stringMatching(
        /^failed by operator stack: customer closed the account; the offer closed \(withdrawn\) in update /,
      ),
    });
    expect(s.sandbox.engine.activeInstructions(s.treasury).map((i) => i.contract.contractId)).not.toContain(
      pending.transfer!.transferInstructionCid,
    );
    expect(await outbox('withdrawal', 'op-offer', 'withdrawal.failed')).toEqual([
      expect.objectContaining({ recredit: true, cancelled: false }),
    ]);
  });

  it('retry of a withdrawal waiting for funds: rechecks at once and pays', async () => {
    await request('op-funds', { amount: '20000' });
    await s.waitForWithdrawal('op-funds', 'waiting_for_funds');
    await s.fundTreasury('Amulet', '20000', 1);
    const res = await post('/v1/withdrawals/op-funds/retry');
    expect(res).toMatchObject({ status: 202, body: { command: 'RETRY', by: STACK_API_TOKEN.name } });
    // The next scheduled recheck is 10 minutes away: only the retry can have moved it.
    expect(await s.waitForWithdrawal('op-funds', ['completed', 'failed', 'stalled'], 10_000)).toMatchObject({
      status: 'completed',
      attempt: 1,
    });
  });

  it('retry of a stalled withdrawal: a fresh attempt that pays; retry of a completed one is refused', async () => {
    stallPrepare.add('op-stalled');
    await request('op-stalled');
    const stalled = await s.waitForWithdrawal('op-stalled', ['stalled', 'completed', 'failed']);
    expect(stalled.status).toBe('stalled');
    expect(await liveReservations('op-stalled')).toBe(0);

    expect((await post('/v1/withdrawals/op-stalled/retry', {})).status).toBe(202);
    expect(await s.waitForWithdrawal('op-stalled', ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 2 });
    expect(s.sandbox.control.books.transfers('op-stalled')).toHaveLength(1);

    const again = await post('/v1/withdrawals/op-stalled/retry');
    expect(again).toMatchObject({
      status: 409,
      body: { code: 'STATE_CONFLICT', message: expect.stringContaining('is completed: it is final'), details: { status: 'completed' } },
    });
  });

  it('unknown withdrawal: 404; missing reason: 400', async () => {
    expect(await post('/v1/withdrawals/nope/retry')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(await post('/v1/withdrawals/op-cancel/cancel', {})).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(await post('/v1/withdrawals/op-cancel/fail', { reason: '  ' })).toMatchObject({
      status: 400,
      body: { code: 'VALIDATION_FAILED' },
    });
  });
});

describe('deposit actions', () => {
  let accountId: string;
  beforeAll(async () => {
    accountId = await s.depositAccount('memo-ops');
  });

  it('assign an unattributed 1-step deposit: credited once; a second assign is refused; the account shows it once', async () => {
    const id = await oneStepDeposit('nobody-has-this', '10');
    await s.waitForDeposit(id, 'unattributed');
    // The row is ingestion's; the machine an operator command needs follows from the outbox.
    await waitForMachine(s, id, 'unattributed');

    const unknown = await post(`/v1/deposits/${encodeURIComponent(id)}/assign`, { account: 'acc-nope' });
    expect(unknown).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED', details: { issues: [{ field: 'account' }] } } });

    const res = await post(`/v1/deposits/${encodeURIComponent(id)}/assign`, { account: accountId });
    expect(res).toMatchObject({
      status: 202,
      body: {
        command: 'ASSIGN',
        by: STACK_API_TOKEN.name,
        machineState: 'credited',
        deposit: { depositId: id, status: 'credited', accountId, creditedAmount: amt('10') },
      },
    });

    const again = await post(`/v1/deposits/${encodeURIComponent(id)}/assign`, { account: accountId });
    expect(again).toMatchObject({
      status: 409,
      body: { code: 'STATE_CONFLICT', message: expect.stringContaining('already credited'), details: { status: 'credited' } },
    });
    const retry = await post(`/v1/deposits/${encodeURIComponent(id)}/retry-accept`);
    expect(retry).toMatchObject({ status: 409, body: { code: 'STATE_CONFLICT' } });

    expect(await outbox('deposit', id, 'deposit.credited')).toEqual([expect.objectContaining({ accountId })]);
    const account = await s.api('GET', `/v1/accounts/${accountId}`);
    expect(account.body['credited']).toEqual([{ instrument: { admin: s.cc.admin, id: s.cc.id }, credited: amt('10'), deposits: 1 }]);
  });

  it('assign an unattributed 2-step offer: accepted, then credited', async () => {
    const erin = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    const offer = s.sandbox.control.transfer({
      from: erin,
      to: s.treasury,
      instrument: 'UTK',
      amount: '15',
      memo: 'nobody-either',
      mode: 'offer',
    });
    const cid = offer.transferInstructionCid!;
    await s.caughtUp();
    await s.waitForDeposit(cid, (d) => d.statusReason !== null);

    const res = await post(`/v1/deposits/${encodeURIComponent(cid)}/assign`, { account: accountId });
    expect(res).toMatchObject({
      status: 202,
      body: { command: 'ASSIGN', machineState: expect.stringMatching(/^accepting/), deposit: { accountId } },
    });
    expect(await s.waitForDeposit(cid, ['credited', 'accept_failed', 'failed'])).toMatchObject({
      status: 'credited',
      accountId,
      creditedAmount: amt('15'),
    });
    expect(s.sandbox.control.books.isActiveInstruction(cid)).toBe(false);
    const account = await s.api('GET', `/v1/accounts/${accountId}`);
    expect(account.body['credited']).toEqual(
      expect.arrayContaining([{ instrument: { admin: s.utk.admin, id: s.utk.id }, credited: amt('15'), deposits: 1 }]),
    );
  });

  it('retry-accept of an offer whose accept failed: accepted and credited', async () => {
    const fay = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    const offer = s.sandbox.control.transfer({
      from: fay,
      to: s.treasury,
      instrument: 'UTK',
      amount: '7',
      memo: 'memo-ops',
      mode: 'offer',
    });
    const cid = offer.transferInstructionCid!;
    failAccept.add(cid);
    expect(await s.waitForDeposit(cid, ['accept_failed', 'credited'])).toMatchObject({ status: 'accept_failed' });

    const res = await post(`/v1/deposits/${encodeURIComponent(cid)}/retry-accept`, {});
    expect(res).toMatchObject({ status: 202, body: { command: 'RETRY_ACCEPT', machineState: expect.stringMatching(/^accepting/) } });
    expect(await s.waitForDeposit(cid, ['credited', 'accept_failed'])).toMatchObject({
      status: 'credited',
      accountId,
      creditedAmount: amt('7'),
    });
    expect(await operatorCommands('deposit', cid)).toEqual([{ eventType: 'RETRY_ACCEPT', by: STACK_API_TOKEN.name }]);
  });

  it('unknown deposit: 404', async () => {
    expect(await post('/v1/deposits/nope/assign', { account: accountId })).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(await post('/v1/deposits/nope/retry-accept')).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
  });
});

describe('access and availability', () => {
  let plain: App;
  let standby: App;
  beforeAll(async () => {
    // Routes without machine runtimes (as buildApiApp registers them), and with a standby's answer.
    plain = await buildApiApp(s.sql);
    standby = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
    registerApiRoutes(standby, {
      sql: s.sql,
      operator: { send: () => Promise.resolve({ accepted: false, code: 'NOT_ACTIVE', reason: 'standing by' }) },
    });
    await standby.ready();
  });
  afterAll(async () => {
    await plain?.close();
    await standby?.close();
  });

  it('needs a token (401) with the admin scope (403)', async () => {
    const url = '/v1/withdrawals/op-cancel/retry';
    expect((await plain.inject({ method: 'POST', url })).json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await plain.inject({ method: 'POST', url })).statusCode).toBe(401);
    for (const scope of ['read', 'write'] as const) {
      const res = await plain.inject({ method: 'POST', url, headers: auth(scope) });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'admin' } });
    }
    const assign = await plain.inject({ method: 'POST', url: '/v1/deposits/x/assign', headers: auth('write'), payload: { account: 'a' } });
    expect(assign.statusCode).toBe(403);
  });

  it('503 without machine runtimes, and on a standby', async () => {
    const none = await plain.inject({ method: 'POST', url: '/v1/withdrawals/op-cancel/retry', headers: auth('admin') });
    expect(none.statusCode).toBe(503);
    expect(none.json()).toMatchObject({ code: 'NOT_READY' });
    const idle = await standby.inject({ method: 'POST', url: '/v1/withdrawals/op-cancel/retry', headers: auth('admin') });
    expect(idle.statusCode).toBe(503);
    expect(idle.json()).toMatchObject({ code: 'NOT_ACTIVE', message: expect.stringContaining('standing by') });
  });
});

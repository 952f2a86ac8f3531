import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createSwitches } from '../../src/gates/switches.js';
import { healthOf } from '../../src/lifecycle.js';
import { createMetrics } from '../../src/metrics.js';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { readOutboxEvents } from '../../src/store/outbox.js';
import { auth, buildApiApp, TEST_TOKENS } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';
import { startStack, type Stack } from '../support/stack.js';
import { checkCreditedOnce } from '../deposits/support.js';
import { checkPaidAtMostOnce } from '../withdrawals/support/money.js';

/**
 * Operator pause switches (issue 8) end to end against the ledger double: what each switch holds,
 * what still happens while it is paused, that a pause survives a restart, and that resuming picks
 * up exactly where things stood — nothing lost, nothing done twice.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start(): Promise<Stack> {
  stack = await startStack();
  return stack;
}

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pause(s: Stack, name: string, reason: string): Promise<Record<string, unknown>> {
  const r = await s.api('POST', `/v1/admin/switches/${name}/pause`, { reason });
  expect(r.status).toBe(200);
  return r.body;
}

async function resume(s: Stack, name: string): Promise<Record<string, unknown>> {
  const r = await s.api('POST', `/v1/admin/switches/${name}/resume`, {});
  expect(r.status).toBe(200);
  return r.body;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const health = (s: Stack) => healthOf([s.daemon.switches, s.daemon.ingestion, s.daemon.withdrawals, s.daemon.deposits]);

describe('pause ingestion', () => {
  it('stops reading after the batch in flight, reports paused (health stays green), survives a restart, resumes from the checkpoint', async () => {
    const s = await start();
    await s.fundTreasury('Amulet', '100', 1);
    const body = await pause(s, 'ingestion', 'validator upgrade');
    expect(body).toMatchObject({ name: 'ingestion', paused: true, reason: 'validator upgrade', changedBy: 'stack' });
    await until('ingestion paused', () => s.daemon.ingestion.status().state === 'paused');
    const checkpoint = (await readCheckpoint(s.sql, s.treasury))!.offset;

    // The ledger moves on; the checkpoint does not.
    for (let i = 0; i < 3; i++) s.sandbox.control.mint(s.treasury, 'Amulet', '50');
    await sleep(600);
    expect(s.sandbox.control.books.ledgerEnd().offset).toBeGreaterThan(checkpoint);
    expect((await readCheckpoint(s.sql, s.treasury))!.offset).toBe(checkpoint);
    expect(s.daemon.ingestion.status()).toEqual({
      state: 'paused',
      detail: expect.stringMatching(/ingestion paused by operator stack .*: validator upgrade/),
    });
    expect(health(s).healthy).toBe(true);
    expect(health(s).components['switches']).toEqual({
      state: 'running',
      detail: expect.stringMatching(/^ingestion paused by operator stack .*: validator upgrade$/),
    });
    const metrics = await createMetrics(s.sql).registry.getSingleMetricAsString('cxi_paused');
    expect(metrics).toContain('cxi_paused{switch="ingestion"} 1');
    expect(metrics).toContain('cxi_paused{switch="withdrawals"} 0');

    // A new process reads the stored pause before ingestion starts.
    await s.crash();
    await s.restart();
    expect(s.daemon.ingestion.status().state).toBe('paused');
    await sleep(300);
    expect((await readCheckpoint(s.sql, s.treasury))!.offset).toBe(checkpoint);

    expect(await resume(s, 'ingestion')).toMatchObject({ paused: false, changedBy: 'stack' });
    await s.caughtUp();
    expect(s.daemon.ingestion.status().state).toBe('running');
    const [row] = await s.sql<{ n: number; total: string }[]>`
      select count(*)::int as n, sum(amount)::text as total from holdings where owner = ${s.treasury} and archived_offset is null`;
    expect(row).toMatchObject({ n: 4, total: expect.stringMatching(/^250(\.0+)?$/) });
  });
});

describe('pause withdrawals', () => {
  it('accepts requests but submits nothing until resumed, across a restart; outcomes of earlier transfers still apply; each paid exactly once', async () => {
    const s = await start();
    await s.fundTreasury('Amulet', '1000', 2);
    await s.fundTreasury('UTK', '500', 1);
    const bob = s.customer({ preapproval: true });
    const carol = s.customer();

    // Submitted before the pause: a 2-step offer whose acceptance arrives while paused.
    await s.requestWithdrawal({ withdrawalId: 'w-before', receiver: carol, instrument: 'UTK', amount: '40' });
    const pending = await s.waitForWithdrawal('w-before', ['pending_acceptance', 'completed', 'failed', 'stalled']);
    expect(pending.status).toBe('pending_acceptance');

    await pause(s, 'withdrawals', 'treasury audit');
    const created = await s.requestWithdrawal({ withdrawalId: 'w-held', receiver: bob, instrument: 'Amulet', amount: '25' });
    expect(created).toMatchObject({ status: 201, body: { status: 'requested' } });

    s.sandbox.control.accept(pending.transfer!.transferInstructionCid!);
    expect(await s.waitForWithdrawal('w-before', ['completed', 'failed'])).toMatchObject({ status: 'completed' });

    // The machine is held, not stuck: its status reason says by what, who and why (one and list).
    const held = /^held: the withdrawals switch is paused by operator \S+ since .*: treasury audit/;
    await until('w-held held at the switch', async () =>
      held.test(String((await s.api('GET', '/v1/withdrawals/w-held')).body['statusReason'])),
    );
    expect(s.sandbox.control.books.transfers('w-held')).toEqual([]);
    expect((await s.waitForWithdrawal('w-held', () => true)).status).toBe('reserving');
    expect((await s.api('GET', '/v1/withdrawals/w-held')).body['statusReason']).toMatch(held);
    const listed = (await s.api('GET', '/v1/withdrawals?status=reserving')).body['items'] as {
      withdrawalId: string;
      statusReason: string;
    }[];
    expect(listed.find((w) => w.withdrawalId === 'w-held')?.statusReason).toMatch(held);
    await s.crash();
    await s.restart();
    await sleep(800);
    expect(s.sandbox.control.books.transfers('w-held')).toEqual([]);
    expect((await s.api('GET', '/v1/admin/switches')).body).toMatchObject({
      items: expect.arrayContaining([expect.objectContaining({ name: 'withdrawals', paused: true, reason: 'treasury audit' })]),
    });
    expect(health(s).healthy).toBe(true);

    await resume(s, 'withdrawals');
    expect(await s.waitForWithdrawal('w-held', ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed' });
    expect((await s.api('GET', '/v1/withdrawals/w-held')).body['statusReason']).toBeNull();
    expect(s.sandbox.control.books.transfers('w-held')).toHaveLength(1);
    await checkPaidAtMostOnce(s, ['w-before', 'w-held']);
  });
});

describe('pause acceptance', () => {
  it('ingests a 2-step deposit but leaves the offer open until resumed; then accepted and credited once', async () => {
    const s = await start();
    const acct = await s.depositAccount('memo-paused');
    await pause(s, 'acceptance', 'compliance hold');
    const dan = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    const sent = s.sandbox.control.transfer({ from: dan, to: s.treasury, instrument: 'UTK', amount: '30', memo: 'memo-paused' });
    const cid = sent.transferInstructionCid!;
    expect(cid).toBeDefined();
    await s.caughtUp();
    const offered = await s.waitForDeposit(cid, () => true);
    expect(offered).toMatchObject({ kind: 'two_step', accountId: acct });

    const heldReason = /^held: the acceptance switch is paused by operator \S+ since .*: compliance hold; accept attempt 1/;
    const shownNow = async () => (await s.api('GET', `/v1/deposits/${encodeURIComponent(cid)}`)).body;
    await until('the accept held at the switch', async () => heldReason.test(String((await shownNow())['statusReason'])));
    expect(s.sandbox.control.books.isActiveInstruction(cid)).toBe(true);
    expect(await shownNow()).toMatchObject({ status: 'accepting', statusReason: expect.stringMatching(heldReason) });
    // A held effect is not in flight: a graceful stop does not wait for it (stopTimeoutMs is 2 s here).
    const stopping = Date.now();
    await s.daemon.stop();
    expect(Date.now() - stopping).toBeLessThan(1_500);
    await s.restart();
    await sleep(500);
    expect(s.sandbox.control.books.isActiveInstruction(cid)).toBe(true);

    await resume(s, 'acceptance');
    expect(await s.waitForDeposit(cid, ['credited', 'accept_failed', 'failed'])).toMatchObject({ status: 'credited', accountId: acct });
    expect(s.sandbox.control.books.isActiveInstruction(cid)).toBe(false);
    await checkCreditedOnce(s, [cid]);
  });
});

describe('HTTP', () => {
  const dbPromise = useMigratedDatabase();

  it('reads need the read scope, changes the admin scope; bad names and missing reasons are 400; only real changes are audited', async () => {
    const { sql } = await dbPromise;
    const app = await buildApiApp(sql);
    try {
      const get = await app.inject({ method: 'GET', url: '/v1/admin/switches', headers: auth('read') });
      expect(get.statusCode).toBe(200);
      expect(get.json<{ items: unknown[] }>().items).toEqual([
        expect.objectContaining({ name: 'ingestion', paused: false }),
        expect.objectContaining({ name: 'withdrawals', paused: false }),
        expect.objectContaining({ name: 'acceptance', paused: false }),
      ]);
      expect((await app.inject({ method: 'GET', url: '/v1/admin/switches' })).statusCode).toBe(401);

      const pauseAs = (headers: Record<string, string>, name = 'withdrawals', payload: unknown = { reason: 'incident 42' }) =>
        app.inject({ method: 'POST', url: `/v1/admin/switches/${name}/pause`, headers, payload: payload as Record<string, unknown> });
      expect((await pauseAs(auth('read'))).statusCode).toBe(403);
      expect((await pauseAs(auth('write'))).statusCode).toBe(403);
      expect(await pauseAs(auth('admin'), 'everything')).toMatchObject({ statusCode: 400 });
      expect((await pauseAs(auth('admin'), 'withdrawals', {})).json()).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect((await pauseAs(auth('admin'), 'withdrawals', { reason: '  ' })).statusCode).toBe(400);

      const paused = await pauseAs(auth('admin'));
      expect(paused.statusCode).toBe(200);
      expect(paused.json()).toMatchObject({ name: 'withdrawals', paused: true, reason: 'incident 42', changedBy: 'ops' });
      // Pausing again replaces the reason; not a new change of state.
      expect((await pauseAs(auth('admin'), 'withdrawals', { reason: 'incident 43' })).json()).toMatchObject({
        paused: true,
        reason: 'incident 43',
      });

      const resumeAs = (headers: Record<string, string>) =>
        app.inject({ method: 'POST', url: '/v1/admin/switches/withdrawals/resume', headers });
      expect((await resumeAs(auth('read'))).statusCode).toBe(403);
      expect((await resumeAs(auth('admin'))).json()).toMatchObject({ name: 'withdrawals', paused: false, changedBy: 'ops' });
      expect((await resumeAs(auth('admin'))).json()).toMatchObject({ paused: false });

      const events = await readOutboxEvents(sql, { afterId: 0, limit: 100, topics: ['operator.switch_changed'] });
      expect(events.map((e) => e.payload)).toEqual([
        expect.objectContaining({ name: 'withdrawals', paused: true, reason: 'incident 42', by: 'ops' }),
        expect.objectContaining({ name: 'withdrawals', paused: false, by: 'ops' }),
      ]);
    } finally {
      await app.close();
    }
  });

  it('another instance sees a change at its next poll; a held wait resumes or aborts', async () => {
    const { sql } = await dbPromise;
    const a = createSwitches({ sql, logger: testLogger(), pollMs: 50 });
    const b = createSwitches({ sql, logger: testLogger(), pollMs: 50 });
    await a.start();
    await b.start();
    try {
      await a.pause('ingestion', 'maintenance', 'alice');
      expect(a.isPaused('ingestion')).toBe(true);
      await until('instance b to see the pause', () => b.isPaused('ingestion'), 2_000);
      expect(b.state('ingestion')).toMatchObject({ paused: true, reason: 'maintenance', changedBy: 'alice' });

      let opened = false;
      const held = b.whenOpen('ingestion').then(() => (opened = true));
      const aborter = new AbortController();
      const aborted = b.whenOpen('ingestion', aborter.signal).then(
        () => 'opened',
        () => 'aborted',
      );
      aborter.abort();
      expect(await aborted).toBe('aborted');
      await sleep(150);
      expect(opened).toBe(false);
      await a.resume('ingestion', 'alice');
      await held;
      expect(b.isPaused('ingestion')).toBe(false);
      await expect(b.whenOpen('ingestion')).resolves.toBeUndefined();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('cxi switches, pause and resume', async () => {
    const { sql } = await dbPromise;
    const app = await buildApiApp(sql);
    try {
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const cxi = (token: string, ...args: string[]) =>
        run(process.execPath, ['bin/cxi.js', ...args], { env: { ...process.env, CXI_URL: url, CXI_TOKEN: token } });
      const paused = JSON.parse(
        (await cxi(TEST_TOKENS.admin.token, '--json', 'pause', 'acceptance', '--reason', 'cli test')).stdout,
      ) as Record<string, unknown>;
      expect(paused).toMatchObject({ name: 'acceptance', paused: true, reason: 'cli test', changedBy: 'ops' });
      const table = (await cxi(TEST_TOKENS.read.token, 'switches')).stdout;
      expect(table).toMatch(/acceptance.*PAUSED.*cli test/);
      const refused = await cxi(TEST_TOKENS.read.token, 'resume', 'acceptance').catch((e: { code: number; stderr: string }) => e);
      expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/FORBIDDEN/) });
      const unknown = await cxi(TEST_TOKENS.admin.token, 'pause', 'everything', '--reason', 'x').catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(unknown).toMatchObject({ code: 1, stderr: expect.stringMatching(/unknown switch "everything"/) });
      expect(JSON.parse((await cxi(TEST_TOKENS.admin.token, '--json', 'resume', 'acceptance')).stdout)).toMatchObject({
        name: 'acceptance',
        paused: false,
      });
    } finally {
      await app.close();
    }
  });
});

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportMachine, toMermaid } from '../../src/machines/definition-export.js';
import { ActorError } from '../../src/machines/failure.js';
import type { WithdrawalActors } from '../../src/machines/withdrawal.actors.js';
import { waitForMachine } from '../deposits/support.js';
import { auth, buildApiApp } from '../support/api-app.js';
import { createTestDatabase } from '../support/db.js';
import { STACK_API_TOKEN, startStack, type Stack } from '../support/stack.js';
import { connect } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';

/**
 * The machines as data over HTTP: each type's definition (as the CLI exports it), and which
 * operator commands a withdrawal's or deposit's machine accepts in its stored state, with the
 * machine's reasons for the others: what the console turns into buttons.
 */

const run = promisify(execFile);
const stallOnce = new Set<string>();
const faults = (a: WithdrawalActors): WithdrawalActors => ({
  ...a,
  async prepareTransfer(input, signal) {
    if (stallOnce.delete(input.withdrawalId))
      throw new ActorError({ code: 'PERMISSION_DENIED', message: 'injected by the test', retryable: false, status: 403 });
    return a.prepareTransfer(input, signal);
  },
});

let s: Stack;
beforeAll(async () => {
  s = await startStack({ intercept: { withdrawal: faults } });
  await s.fundTreasury('Amulet', '1000', 3);
});
afterAll(() => s?.close());

type Commands = {
  machineState: string | null;
  isFinal: boolean;
  commands: { command: string; allowed: boolean; reason: string | null; path: string; body: string }[];
};
const commandsOf = async (path: string) => (await s.api('GET', path)).body as unknown as Commands;

describe('GET /v1/machines/{type}/definition', () => {
  it('is the exported definition with its Mermaid text, to read-scoped tokens; an unknown type is a 400', async () => {
    for (const type of ['withdrawal', 'deposit'] as const) {
      const res = await s.api('GET', `/v1/machines/${type}/definition`);
      expect(res.status).toBe(200);
      const e = exportMachine(type);
      expect(res.body).toEqual({ ...JSON.parse(JSON.stringify(e)), mermaid: toMermaid(e) });
    }
    expect((await s.api('GET', '/v1/machines/payout/definition')).status).toBe(400);

    const db = await createTestDatabase();
    const sql = connect({ url: db.url, max: 2 });
    try {
      await migrate(sql);
      const app = await buildApiApp(sql);
      expect((await app.inject({ url: '/v1/machines/withdrawal/definition' })).statusCode).toBe(401);
      expect((await app.inject({ url: '/v1/machines/withdrawal/definition', headers: auth('read') })).statusCode).toBe(200);
      await app.close();
    } finally {
      await sql.end();
      await db.drop();
    }
  });

  it('cxi machines export prints the same, from its own definitions or from the daemon', async () => {
    const env = { ...process.env, CXI_URL: s.daemon.apiUrl, CXI_TOKEN: STACK_API_TOKEN.token };
    const cxi = async (...args: string[]) => (await run(process.execPath, ['bin/cxi.js', ...args], { env })).stdout;
    const local = JSON.parse(await cxi('machines', 'export', 'withdrawal')) as unknown;
    expect(local).toEqual(JSON.parse(JSON.stringify(exportMachine('withdrawal').config)));
    expect(JSON.parse(await cxi('machines', 'export', 'withdrawal', '--from-daemon'))).toEqual(local);
    expect(await cxi('machines', 'export', 'deposit', '--format', 'mermaid', '--from-daemon')).toBe(toMermaid(exportMachine('deposit')));
    const both = await cxi('machines', 'export', '--format', 'mermaid');
    expect(both).toContain('%% withdrawal machine, version');
    expect(both).toContain('%% deposit machine, version');
    expect(Object.keys(JSON.parse(await cxi('machines', 'export')) as object)).toEqual(['withdrawal', 'deposit']);
  });
});

describe('GET /v1/withdrawals/{id}/commands and /v1/deposits/{id}/commands', () => {
  it('a stalled withdrawal accepts RETRY, CANCEL and FAIL; a completed one none, with the reason', async () => {
    const bob = s.customer({ preapproval: true });
    stallOnce.add('m-stalled');
    expect((await s.requestWithdrawal({ withdrawalId: 'm-stalled', receiver: bob, instrument: 'Amulet', amount: '5' })).status).toBe(201);
    await s.waitForWithdrawal('m-stalled', 'stalled');
    const stalled = await commandsOf('/v1/withdrawals/m-stalled/commands');
    expect(stalled).toMatchObject({ machineState: 'stalled', isFinal: false });
    expect(stalled.commands).toEqual([
      { command: 'RETRY', allowed: true, reason: null, method: 'POST', path: '/v1/withdrawals/m-stalled/retry', body: 'none' },
      { command: 'CANCEL', allowed: true, reason: null, method: 'POST', path: '/v1/withdrawals/m-stalled/cancel', body: 'reason' },
      { command: 'FAIL', allowed: true, reason: null, method: 'POST', path: '/v1/withdrawals/m-stalled/fail', body: 'reason' },
    ]);

    // What the machine said is what the runtime does.
    expect((await s.api('POST', stalled.commands[0]!.path)).status).toBe(202);
    await s.waitForWithdrawal('m-stalled', 'completed');
    const done = await commandsOf('/v1/withdrawals/m-stalled/commands');
    expect(done).toMatchObject({ machineState: 'completed', isFinal: true });
    for (const c of done.commands) expect(c).toMatchObject({ allowed: false, reason: 'withdrawal m-stalled is completed: it is final' });
    const refused = await s.api('POST', done.commands[0]!.path);
    expect(refused).toMatchObject({ status: 409, body: { message: 'withdrawal m-stalled is completed: it is final' } });

    expect((await s.api('GET', '/v1/withdrawals/nope/commands')).status).toBe(404);
  });

  it('an unattributed deposit accepts ASSIGN, not RETRY_ACCEPT', async () => {
    const dan = s.customer({ fund: [{ instrument: 'Amulet', amount: '100' }] });
    const t = s.sandbox.control.transfer({ from: dan, to: s.treasury, instrument: 'Amulet', amount: '3', memo: 'nobody-knows-this-memo' });
    await s.caughtUp();
    const [row] = await s.sql<{ deposit_id: string }[]>`select deposit_id from deposits where credit_update_id = ${t.updateId}`;
    const id = row!.deposit_id;
    await waitForMachine(s, id, 'unattributed');
    const view = await commandsOf(`/v1/deposits/${encodeURIComponent(id)}/commands`);
    expect(view.machineState).toBe('unattributed');
    expect(view.commands.map((c) => [c.command, c.allowed, c.body])).toEqual([
      ['RETRY_ACCEPT', false, 'none'],
      ['ASSIGN', true, 'account'],
    ]);
    expect(view.commands[0]!.reason).toContain('is unattributed: assign it to an account first');
  });
});

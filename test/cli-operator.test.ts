import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WithdrawalActors } from '../src/machines/withdrawal.actors.js';
import { STACK_API_TOKEN, startStack, type Stack } from './support/stack.js';
import { waitForMachine } from './deposits/support.js';

/** The operator CLI against a running stack: assign a deposit, cancel a withdrawal, and refusals. */

const run = promisify(execFile);

/** Withdrawals whose prepare never answers until abandoned: they stay before submission. */
const hangPrepare = new Set<string>();
const hold = (a: WithdrawalActors): WithdrawalActors => ({
  ...a,
  async prepareTransfer(input, signal) {
    if (hangPrepare.has(input.withdrawalId))
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('abandoned'))));
    return a.prepareTransfer(input, signal);
  },
});

let s: Stack;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  s = await startStack({ intercept: { withdrawal: hold } });
  await s.fundTreasury('Amulet', '1000', 2);
  env = { ...process.env, CXI_URL: s.daemon.apiUrl, CXI_TOKEN: STACK_API_TOKEN.token };
});
afterAll(() => s?.close());

const cxi = (...args: string[]) => run(process.execPath, ['bin/cxi.js', ...args], { env });
const refused = (...args: string[]) =>
  cxi(...args).then(
    () => {
      throw new Error(`cxi ${args.join(' ')} succeeded`);
    },
    (e: { code: number; stderr: string }) => e,
  );

describe('cxi accounts, holdings and reconcile', () => {
  it('accounts list finds an account by memo, customer or a prefix; accounts assign takes a memo', async () => {
    const accountId = await s.depositAccount('memo-list-1');
    await s.depositAccount('memo-list-2');
    const all = JSON.parse((await cxi('--json', 'accounts', 'list', '--search', 'MEMO-LIST')).stdout) as { items: { memo: string }[] };
    expect(all.items.map((a) => a.memo)).toEqual(['memo-list-2', 'memo-list-1']);
    const one = JSON.parse((await cxi('--json', 'accounts', 'list', '--memo', 'memo-list-1')).stdout) as { items: { accountId: string }[] };
    expect(one.items).toEqual([expect.objectContaining({ accountId })]);
    // A page of one, then the next page from its cursor.
    const first = JSON.parse((await cxi('--json', 'accounts', 'list', '--search', 'memo-list', '--limit', '1')).stdout) as {
      items: { memo: string }[];
      nextCursor: string;
    };
    const second = JSON.parse(
      (await cxi('--json', 'accounts', 'list', '--search', 'memo-list', '--limit', '1', '--cursor', first.nextCursor)).stdout,
    ) as { items: { memo: string }[] };
    expect([...first.items, ...second.items].map((a) => a.memo)).toEqual(['memo-list-2', 'memo-list-1']);
    expect((await cxi('accounts', 'list', '--search', 'memo-list')).stdout).toContain(accountId);

    const erin = s.customer({ fund: [{ instrument: 'Amulet', amount: '100' }] });
    const t = s.sandbox.control.transfer({ from: erin, to: s.treasury, instrument: 'Amulet', amount: '7', memo: 'memo-typo' });
    await s.caughtUp();
    const [row] = await s.sql<{ deposit_id: string }[]>`select deposit_id from deposits where credit_update_id = ${t.updateId}`;
    await waitForMachine(s, row!.deposit_id, 'unattributed');
    const assigned = await cxi('accounts', 'assign', row!.deposit_id, 'memo-list-1');
    expect(assigned.stdout).toContain(accountId);
    expect(assigned.stdout).toContain('credited');
  });

  it('holdings and reconcile print the treasury per instrument; reconcile exits 0 when clean', async () => {
    await s.caughtUp();
    const holdings = await cxi('holdings');
    expect(holdings.stdout).toMatch(/Amulet/);
    expect(holdings.stdout).toMatch(/as of offset \d+/);
    const json = JSON.parse((await cxi('--json', 'holdings')).stdout) as {
      items: { instrument: { id: string }; free: { count: number } }[];
    };
    expect(json.items.find((i) => i.instrument.id === 'Amulet')?.free.count).toBeGreaterThan(0);
    const reconciled = await cxi('reconcile');
    expect(reconciled.stdout).toMatch(/CLEAN: the database matches the ledger at offset \d+/);
  });
});

describe('cxi operator actions', () => {
  it('deposits list / assign / show: an unattributed deposit credited to an account once', async () => {
    const accountId = await s.depositAccount('memo-cli');
    const dan = s.customer({ fund: [{ instrument: 'Amulet', amount: '100' }] });
    const t = s.sandbox.control.transfer({ from: dan, to: s.treasury, instrument: 'Amulet', amount: '12.5', memo: 'who-is-this' });
    await s.caughtUp();
    const [row] = await s.sql<{ deposit_id: string }[]>`select deposit_id from deposits where credit_update_id = ${t.updateId}`;
    const id = row!.deposit_id;
    await s.waitForDeposit(id, 'unattributed');
    // The row is ingestion's; the machine an operator command needs follows from the outbox.
    await waitForMachine(s, id, 'unattributed');

    const listed = JSON.parse((await cxi('--json', 'deposits', 'list', '--status', 'unattributed')).stdout) as { depositId: string }[];
    // The stack's funding mints show up as unattributed too (funds without a readable transfer).
    expect(listed.map((d) => d.depositId)).toContain(id);
    expect((await cxi('deposits', 'list', '--status', 'unattributed')).stdout).toContain('who-is-this');

    const unknown = await refused('deposits', 'assign', id, '--account', 'acc-nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/VALIDATION_FAILED: Unknown deposit account acc-nope/);

    const assigned = await cxi('deposits', 'assign', id, '--account', accountId);
    expect(assigned.stdout).toContain('ASSIGN');
    expect(assigned.stdout).toContain('credited');
    expect(assigned.stdout).toContain('12.5000000000');

    const again = await refused('deposits', 'assign', id, '--account', accountId);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/STATE_CONFLICT: deposit .* is already credited/);

    const shown = JSON.parse((await cxi('--json', 'deposits', 'show', id)).stdout) as {
      status: string;
      accountId: string;
      history: { eventType: string }[];
    };
    expect(shown).toMatchObject({ status: 'credited', accountId });
    expect(shown.history.map((h) => h.eventType)).toContain('ASSIGN');
    expect((await cxi('deposits', 'show', id)).stdout).toContain('ASSIGN');
  });

  it('withdrawals cancel before submission; later actions are refused with the API error code', async () => {
    const bob = s.customer({ preapproval: true });
    hangPrepare.add('cli-w1');
    expect((await s.requestWithdrawal({ withdrawalId: 'cli-w1', receiver: bob, instrument: 'Amulet', amount: '3' })).status).toBe(201);
    await s.waitForWithdrawal('cli-w1', 'preparing');

    const missing = await refused('withdrawals', 'cancel', 'cli-w1');
    expect(missing.stderr).toMatch(/--reason/);

    const out = JSON.parse((await cxi('--json', 'withdrawals', 'cancel', 'cli-w1', '--reason', 'customer asked')).stdout) as Record<
      string,
      unknown
    >;
    expect(out).toMatchObject({ command: 'CANCEL', by: STACK_API_TOKEN.name, withdrawal: { withdrawalId: 'cli-w1' } });
    await s.waitForWithdrawal('cli-w1', 'cancelled');

    const late = await refused('withdrawals', 'fail', 'cli-w1', '--reason', 'too late');
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/STATE_CONFLICT: withdrawal cli-w1 is cancelled: it is final/);
    expect((await refused('withdrawals', 'retry', 'nope')).stderr).toMatch(/NOT_FOUND: No withdrawal nope/);
    hangPrepare.delete('cli-w1');
  });
});

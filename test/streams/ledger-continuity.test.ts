import { afterEach, describe, expect, it } from 'vitest';
import { createReconcilerFrom, ledgerHoldingsSourceFor } from '../../src/admin/reconciliation/run.js';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { findWithdrawal } from '../../src/store/withdrawals.js';
import { checkPaidAtMostOnce } from '../withdrawals/support/money.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Ledger identity and continuity (issue 20), end to end against the double: the ledger going
 * back behind the daemon's checkpoint (the embedded default's SIGKILL), a validator restored from
 * a backup with its offsets renumbered, and a major upgrade. Each is detected at start-up, stops
 * ingestion and every ledger effect with one error naming what differs and the command to run,
 * and the runbook's command (resync, migrate) brings the books back to the double's.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function until<T>(what: string, read: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Deposits credited for a ledger update (a 1-step deposit's id is `<updateId>:<nodeId>`). */
async function creditsOf(s: Stack, updateId: string): Promise<{ deposit_id: string; status: string; amount: string }[]> {
  return s.sql<{ deposit_id: string; status: string; amount: string }[]>`
    select deposit_id, status, transfer_amount::text as amount from deposits where deposit_id like ${`${updateId}:%`}`;
}

async function failedIngestion(s: Stack): Promise<string> {
  return until('ingestion to fail', () => {
    const st = s.daemon.ingestion.status();
    return st.state === 'failed' ? (st.detail ?? '') : undefined;
  });
}

async function reconcile(s: Stack) {
  return createReconcilerFrom({ sql: s.sql, treasuryParty: s.treasury, ledger: ledgerHoldingsSourceFor(s.ledger) }).run();
}

/** What the double's books and the daemon's database say the treasury holds, per instrument. */
function ledgerBalances(s: Stack): Record<string, string> {
  return Object.fromEntries(Object.entries(s.sandbox.control.books.balances(s.treasury)).map(([k, b]) => [k, b.total]));
}

describe('ledger continuity: detected, fails closed, and the runbooks recover', () => {
  it('the ledger went back behind the checkpoint (SIGKILL of the embedded double): failed closed, effects held, nothing skipped; resync credits the later deposit once', async () => {
    const s = (stack = await startStack({ metrics: true }));
    await s.fundTreasury('Amulet', '1000', 3);
    await s.depositAccount('memo-alice');
    const alice = s.customer({ preapproval: true, fund: [{ instrument: 'Amulet', amount: '1000' }] });
    const backup = s.sandbox.control.backupNode();
    // What the double loses: ten updates the daemon ingests before it dies (UTK holdings the
    // ledger will no longer have: the Canton Coin payout below cannot pick them).
    for (let i = 0; i < 10; i++) s.sandbox.control.mint(s.treasury, 'UTK', '1');
    await s.caughtUp();
    const oldCheckpoint = (await readCheckpoint(s.sql, s.treasury))!.offset;
    await s.crash();
    s.sandbox.control.restoreNode({ backupId: backup.backupId });
    expect(s.sandbox.control.books.ledgerEnd().offset).toBeLessThan(oldCheckpoint);

    await s.restart();
    const detail = await failedIngestion(s);
    expect(detail).toMatch(/ledger continuity broken \(ledger_end_behind\).*below ingestion's checkpoint at offset/);
    expect(detail).toContain('cxi ingestion resync');
    const metrics = await (await fetch(`${s.daemon.apiUrl}/metrics`)).text();
    expect(metrics).toMatch(/cxi_ledger_continuity_ok\{reason="ledger_end_behind"\} 0/);

    // A deposit at an offset below the old checkpoint, then the ledger grows past it.
    const deposit = s.sandbox.control.transfer({ from: alice, to: s.treasury, instrument: 'Amulet', amount: '77.7', memo: 'memo-alice' });
    expect(deposit.offset).toBeLessThanOrEqual(oldCheckpoint);
    while (s.sandbox.control.books.ledgerEnd().offset <= oldCheckpoint + 2) s.sandbox.control.mint(s.treasury, 'Amulet', '2');
    // Withdrawals are held: the machine waits before reserving anything.
    const payee = s.customer({ preapproval: true });
    expect((await s.requestWithdrawal({ withdrawalId: 'w-held', receiver: payee, instrument: 'Amulet', amount: '5' })).status).toBe(201);
    // A restart does not clear it: the ledger is past the old checkpoint, and still not the one ingested.
    await s.restart();
    expect(await failedIngestion(s)).toMatch(/ledger_end_behind/);
    await until('ledger effects held', () => s.daemon.switches.ledgerHold());
    // The runtimes hold their effects at the start gate: ingestion cannot catch up with this ledger.
    await until('the withdrawal runtime holding its effects', () => /effects held/.test(s.daemon.withdrawals.status().detail ?? ''));
    expect((await findWithdrawal(s.sql, 'w-held'))?.status).toBe('requested');
    expect(await creditsOf(s, deposit.updateId)).toEqual([]);
    expect(s.sandbox.control.books.transfers('w-held')).toEqual([]);
    expect(await s.sql`select 1 from holding_reservations where withdrawal_id = 'w-held'`).toHaveLength(0);

    // Migrate is refused: the synchronizer did not change.
    const refused = await s.api('POST', '/v1/ingestion/migrate', {});
    expect(refused.status).toBe(409);
    expect(refused.body['message']).toMatch(/did not change.*run `cxi ingestion resync`/);

    const r = await s.api('POST', '/v1/ingestion/resync', {});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: 'resync', method: 'record-time search', clearedFailure: { reason: 'ledger_end_behind' } });
    await until('the deposit credited', async () => (await creditsOf(s, deposit.updateId)).find((d) => d.status === 'credited'));
    expect(await creditsOf(s, deposit.updateId)).toEqual([expect.objectContaining({ status: 'credited', amount: '77.7000000000' })]);
    await s.waitForWithdrawal('w-held', 'completed', 30_000);
    await checkPaidAtMostOnce(s, ['w-held']);
    expect(s.daemon.switches.ledgerHold()).toBeUndefined();
  });

  it('validator restored from a backup (offsets renumbered, updates redelivered): detected; resync resumes by record time, nothing credited or paid twice, nothing lost, reconciliation clean', async () => {
    const s = (stack = await startStack());
    await s.fundTreasury('Amulet', '1000', 3);
    await s.depositAccount('memo-bob');
    const bob = s.customer({ preapproval: true, fund: [{ instrument: 'Amulet', amount: '1000' }] });
    const backup = s.sandbox.control.backupNode();
    // After the backup: a deposit credited and a withdrawal paid, both redelivered by the restore.
    const before = s.sandbox.control.transfer({ from: bob, to: s.treasury, instrument: 'Amulet', amount: '11', memo: 'memo-bob' });
    const payee = s.customer({ preapproval: true });
    expect((await s.requestWithdrawal({ withdrawalId: 'w-before', receiver: payee, instrument: 'Amulet', amount: '7' })).status).toBe(201);
    await s.waitForWithdrawal('w-before', 'completed', 30_000);
    await s.caughtUp();
    expect(await creditsOf(s, before.updateId)).toHaveLength(1);
    await s.crash();
    s.sandbox.control.restoreNode({ backupId: backup.backupId, redeliver: true, offsetShift: 9 });

    await s.restart();
    const detail = await failedIngestion(s);
    expect(detail).toMatch(/ledger continuity broken \(update_differs\)/);
    expect(detail).toContain('cxi ingestion resync');
    const after = s.sandbox.control.transfer({ from: bob, to: s.treasury, instrument: 'Amulet', amount: '13', memo: 'memo-bob' });

    const r = await s.api('POST', '/v1/ingestion/resync', {});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: 'resync', method: 'record-time search', clearedFailure: { reason: 'update_differs' } });
    await until('the later deposit credited', async () => (await creditsOf(s, after.updateId)).find((d) => d.status === 'credited'));
    await s.caughtUp();
    // Idempotent: a second resync re-points where ingestion already is; nothing is credited again.
    expect((await s.api('POST', '/v1/ingestion/resync', {})).status).toBe(200);
    expect((await s.requestWithdrawal({ withdrawalId: 'w-after', receiver: payee, instrument: 'Amulet', amount: '3' })).status).toBe(201);
    await s.waitForWithdrawal('w-after', 'completed', 30_000);
    await s.caughtUp();

    expect(await creditsOf(s, before.updateId)).toHaveLength(1);
    expect(await creditsOf(s, after.updateId)).toHaveLength(1);
    await checkPaidAtMostOnce(s, ['w-before', 'w-after']);
    const report = await reconcile(s);
    expect(report.differences).toEqual([]);
    expect(report.clean).toBe(true);
    const db = Object.fromEntries(report.instruments.map((i) => [`${i.instrument.admin}/${i.instrument.id}`, i.db.total]));
    for (const [k, v] of Object.entries(ledgerBalances(s))) expect(Number(db[k])).toBe(Number(v));
  });

  it('major upgrade (new synchronizer, offsets from the start, imports): detected; resync refused; migrate follows the new synchronizer, imports credit nobody, reconciliation clean', async () => {
    const s = (stack = await startStack());
    await s.fundTreasury('Amulet', '1000', 3);
    await s.depositAccount('memo-carol');
    const carol = s.customer({ preapproval: true, fund: [{ instrument: 'Amulet', amount: '1000' }] });
    const first = s.sandbox.control.transfer({ from: carol, to: s.treasury, instrument: 'Amulet', amount: '21', memo: 'memo-carol' });
    expect(
      (await s.requestWithdrawal({ withdrawalId: 'w-old', receiver: s.customer({ preapproval: true }), instrument: 'Amulet', amount: '4' }))
        .status,
    ).toBe(201);
    await s.waitForWithdrawal('w-old', 'completed', 30_000);
    await s.caughtUp();
    const oldSynchronizer = (await readCheckpoint(s.sql, s.treasury))!.synchronizerId;
    const depositsBefore = (await s.sql<{ n: number }[]>`select count(*)::int as n from deposits`)[0]!.n;
    await s.crash();
    const upgrade = s.sandbox.control.majorUpgrade();

    await s.restart();
    const detail = await failedIngestion(s);
    expect(detail).toMatch(/ledger continuity broken \(synchronizer_differs\).*follows synchronizer/);
    expect(detail).toContain('cxi ingestion migrate');
    const refused = await s.api('POST', '/v1/ingestion/resync', {});
    expect(refused.status).toBe(409);
    expect(refused.body['message']).toMatch(/major upgrade, not a restore. Run `cxi ingestion migrate`/);

    const m = await s.api('POST', '/v1/ingestion/migrate', {});
    expect(m.status).toBe(200);
    expect(m.body).toMatchObject({
      action: 'migrate',
      clearedFailure: { reason: 'synchronizer_differs' },
      after: { offset: 0, synchronizerId: upgrade.synchronizerId },
      before: { synchronizerId: oldSynchronizer },
    });
    await s.caughtUp();
    // The imports re-created holdings already known and credited nobody.
    const depositsAfter = (await s.sql<{ n: number }[]>`select count(*)::int as n from deposits`)[0]!.n;
    expect(depositsAfter).toBe(depositsBefore);
    expect(await creditsOf(s, first.updateId)).toHaveLength(1);
    // Life goes on on the new synchronizer: a deposit credited once, a withdrawal paid once.
    const next = s.sandbox.control.transfer({ from: carol, to: s.treasury, instrument: 'Amulet', amount: '5', memo: 'memo-carol' });
    await until('the deposit on the new synchronizer credited', async () =>
      (await creditsOf(s, next.updateId)).find((d) => d.status === 'credited'),
    );
    expect(
      (await s.requestWithdrawal({ withdrawalId: 'w-new', receiver: s.customer({ preapproval: true }), instrument: 'Amulet', amount: '6' }))
        .status,
    ).toBe(201);
    await s.waitForWithdrawal('w-new', 'completed', 30_000);
    await s.caughtUp();
    await checkPaidAtMostOnce(s, ['w-new']);
    const report = await reconcile(s);
    expect(report.differences).toEqual([]);
    expect(report.clean).toBe(true);
    // Again: refused, nothing changes.
    const again = await s.api('POST', '/v1/ingestion/migrate', {});
    expect(again.status).toBe(409);
    expect(again.body['message']).toMatch(/nothing to migrate/);
  });
});

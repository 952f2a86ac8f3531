import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHoldingsJob } from '../../src/admin/holdings-job.js';
import { createReconciler } from '../../src/admin/reconciliation/run.js';
import { UtxoPolicy } from '../../src/admin/utxo-policy.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer } from '../../src/http/server.js';
import { auth, TEST_TOKENS } from '../support/api-app.js';
import { urlForDatabase } from '../support/pg-admin.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Invariant 5 end to end: clean after a mixed workload; an injected difference is reported by the
 * command, the endpoint and the library.
 */

const run = promisify(execFile);
let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(() => s.close());

/** `npm run reconcile` as an operator runs it: the daemon's environment, a separate process. */
async function reconcileCommand(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [db] = await s.sql<{ name: string }[]>`select current_database() as name`;
  const env = {
    ...process.env,
    DATABASE_URL: urlForDatabase(db!.name),
    LEDGER_API_URL: s.ledger.apiUrl,
    LEDGER_USER_ID: s.ledger.userId,
    LEDGER_TOKEN: s.ledger.auth.kind === 'static' ? s.ledger.auth.token : '',
    TREASURY_PARTY: s.treasury,
    TREASURY_KEY_FILE: s.keyFile,
    CONFIG_FILE: '',
  };
  return run(process.execPath, ['--import', 'tsx', 'src/cli/reconcile.ts', ...args], { env }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('reconciliation against the ledger double', () => {
  it('is clean after a mixed workload of deposits, withdrawals and merges', async () => {
    await s.fundTreasury('Amulet', '100', 3);
    await s.fundTreasury('UTK', '100', 2);
    const bob = s.customer({ preapproval: true, fund: [{ instrument: 'Amulet', amount: '500' }] });
    const carol = s.customer({ fund: [{ instrument: 'UTK', amount: '500' }] });
    await s.depositAccount('memo-bob');
    await s.depositAccount('memo-carol');

    // Deposits: 1-step Canton Coin, 2-step UTK, one with an unknown memo (unattributed, still ours).
    s.sandbox.control.transfer({ from: bob, to: s.treasury, instrument: 'Amulet', amount: '20', memo: 'memo-bob' });
    s.sandbox.control.transfer({ from: bob, to: s.treasury, instrument: 'Amulet', amount: '3', memo: 'nobody' });
    const offer = s.sandbox.control.transfer({
      from: carol,
      to: s.treasury,
      instrument: 'UTK',
      amount: '15',
      memo: 'memo-carol',
      mode: 'offer',
    });
    await s.waitForDeposit(offer.transferInstructionCid!, 'credited', 30_000);

    // Withdrawals: 1-step CC, a UTK offer accepted, a UTK offer rejected.
    await s.requestWithdrawal({ withdrawalId: 'r-cc', receiver: bob, instrument: 'Amulet', amount: '30' });
    await s.requestWithdrawal({ withdrawalId: 'r-utk-ok', receiver: carol, instrument: 'UTK', amount: '10' });
    await s.requestWithdrawal({ withdrawalId: 'r-utk-no', receiver: carol, instrument: 'UTK', amount: '12' });
    await s.waitForWithdrawal('r-cc', 'completed', 30_000);
    for (const [id, act] of [
      ['r-utk-ok', 'accept'],
      ['r-utk-no', 'reject'],
    ] as const) {
      const w = await s.waitForWithdrawal(id, 'pending_acceptance', 30_000);
      s.sandbox.control[act](w.transfer!.transferInstructionCid!);
    }
    await s.waitForWithdrawal('r-utk-ok', 'completed', 30_000);
    await s.waitForWithdrawal('r-utk-no', 'failed', 30_000);

    // Merges of small Canton Coin holdings by the holdings job (minted now: payouts prefer small holdings and would spend them).
    await s.fundTreasury('Amulet', '0.5', 30);
    const cc = s.cc;
    await s.sql`update instruments set utxo_policy = ${s.sql.json(UtxoPolicy.parse({ mergeThreshold: 5, smallAmount: '1' }))} where admin_party = ${cc.admin} and instrument_id = ${cc.id}`;
    const job = createHoldingsJob({ sql: s.sql, logger: s.logger, treasuryParty: s.treasury, withdrawals: s.daemon.withdrawals });
    const outcome = (await job.runOnce()).instruments.find((x) => x.instrument.id === 'Amulet')?.outcome;
    expect(outcome?.kind).toBe('created');
    const merges = await s.sql<{ withdrawal_id: string }[]>`select withdrawal_id from withdrawals where input_holding_cids is not null`;
    for (const m of merges) await s.waitForWithdrawal(m.withdrawal_id, 'completed', 30_000);
    await s.caughtUp();

    const report = await createReconciler({ sql: s.sql, ledger: s.ledger }).run();
    expect(report.differences).toEqual([]);
    expect(report.clean).toBe(true);
    const ccLine = report.instruments.find((i) => i.instrument.id === 'Amulet')!;
    expect(ccLine.db).toEqual(ccLine.ledger);
    expect(ccLine.movements.net).toBe(ccLine.db.total);
    const cli = await reconcileCommand();
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`CLEAN: the database matches the ledger at offset ${report.offset}`);
  });

  it('reports an injected difference — missing, extra, amount, movements — and exits non-zero', async () => {
    await s.caughtUp();
    const [bumped] = await s.sql<{ contract_id: string }[]>`
      select contract_id from holdings where owner = ${s.treasury} and instrument_id = 'Amulet' and archived_offset is null and lock is null order by contract_id limit 1`;
    const [hidden] = await s.sql<{ contract_id: string; amount: string }[]>`
      select contract_id, amount::text from holdings where owner = ${s.treasury} and instrument_id = 'UTK' and archived_offset is null and lock is null order by contract_id limit 1`;
    // What a buggy writer or a hand edit could leave behind.
    await s.sql`update holdings set amount = amount + 1 where contract_id = ${bumped!.contract_id}`;
    await s.sql`update holdings set archived_offset = created_offset, archived_update_id = 'edited', archived_record_time = now() where contract_id = ${hidden!.contract_id}`;
    await s.sql`
      insert into holdings (contract_id, owner, instrument_admin, instrument_id, amount, template_id, created_offset, created_update_id, created_record_time)
      values ('00forged', ${s.treasury}, ${s.cc.admin}, ${s.cc.id}, 5, 'forged', 1, 'forged', now())`;

    const report = await createReconciler({ sql: s.sql, ledger: s.ledger }).run();
    expect(report.clean).toBe(false);
    expect(report.differences).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'amount', contractId: bumped!.contract_id }),
        expect.objectContaining({ kind: 'extra', contractId: '00forged', dbAmount: '5.0000000000' }),
        expect.objectContaining({ kind: 'missing', contractId: hidden!.contract_id, ledgerAmount: hidden!.amount }),
        expect.objectContaining({ kind: 'movements', instrument: { admin: s.cc.admin, id: s.cc.id } }),
        expect.objectContaining({ kind: 'movements', instrument: { admin: s.utk.admin, id: s.utk.id } }),
      ]),
    );
    expect(report.differences).toHaveLength(5);

    const cli = await reconcileCommand();
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('5 DIFFERENCE(S)');
    for (const cid of [bumped!.contract_id, hidden!.contract_id, '00forged']) expect(cli.stdout).toContain(cid);
    expect(cli.stderr).toMatch(/ledger: \d+ active contracts read/);
    const json = JSON.parse((await reconcileCommand('--json', '--quiet')).stdout) as { clean: boolean; differences: unknown[] };
    expect(json).toMatchObject({ clean: false });
    expect(json.differences).toHaveLength(5);

    const app = await createHttpServer({ logger: s.logger, apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
    registerApiRoutes(app, { sql: s.sql, reconciliation: createReconciler({ sql: s.sql, ledger: s.ledger }) });
    const res = await app.inject({ method: 'GET', url: '/v1/reconciliation', headers: auth('read') });
    expect(res.json()).toMatchObject({ clean: false, differencesTotal: 5, truncated: false });
    await app.close();
  });

  it('cannot reconcile without the database and ledger settings (exit 2)', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/reconcile.ts'], { env: { PATH: process.env.PATH ?? '' } }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(/reconcile needs DATABASE_URL and LEDGER_API_URL/) });
  });
});

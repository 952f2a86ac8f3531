import { afterEach, describe, expect, it } from 'vitest';
import { compareAmounts } from '../../src/lib/decimal.js';
import { listActiveHoldings } from '../../src/store/holdings.js';
import { startStack, type Stack } from '../support/stack.js';
import { checkPaidAtMostOnce, committedInputsByMemo } from './support/money.js';

/** Many withdrawals at once, over HTTP, against the ledger double: no holding shared, no double spend. */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** The database's treasury holdings equal the ledger's active ones (invariant 5). */
async function expectReconciled(s: Stack): Promise<void> {
  await s.caughtUp();
  const db = (await listActiveHoldings(s.sql, s.treasury)).map((h) => h.contractId).sort();
  const ledger = s.sandbox.control.books
    .holdings(s.treasury)
    .map((h) => h.contractId)
    .sort();
  expect(db).toEqual(ledger);
}

describe('concurrent withdrawals', () => {
  it('never share a holding: 20 at once each reserve their own holdings, spend exactly those, and pay on the first attempt', async () => {
    const s = (stack = await startStack());
    await s.fundTreasury('Amulet', '100', 20);
    const receivers = Array.from({ length: 4 }, () => s.customer({ preapproval: true }));
    const ids = Array.from({ length: 20 }, (_, i) => `w-par-${i}`);
    const responses = await Promise.all(
      ids.map((id, i) => s.requestWithdrawal({ withdrawalId: id, receiver: receivers[i % 4]!, instrument: 'Amulet', amount: '60' })),
    );
    expect(responses.every((r) => r.status === 201)).toBe(true);
    for (const id of ids)
      expect(await s.waitForWithdrawal(id, ['completed', 'failed', 'stalled'], 30_000)).toMatchObject({ status: 'completed', attempt: 1 });

    // Each holding was reserved by exactly one withdrawal, once, and that withdrawal spent it.
    const reservations = await s.sql<
      { contract_id: string; withdrawal_id: string }[]
    >`select contract_id, withdrawal_id from holding_reservations where withdrawal_id like 'w-par-%'`;
    const owners = new Map<string, Set<string>>();
    for (const r of reservations) owners.set(r.contract_id, new Set([...(owners.get(r.contract_id) ?? []), r.withdrawal_id]));
    expect([...owners.values()].every((o) => o.size === 1)).toBe(true);
    // What each withdrawal reserved is exactly what its transfer spent (change holdings get reused as they appear).
    const spent = committedInputsByMemo(s);
    for (const id of ids) {
      const mine = reservations.filter((r) => r.withdrawal_id === id).map((r) => r.contract_id);
      expect([...mine].sort()).toEqual([...(spent.get(id) ?? [])].sort());
    }
    await checkPaidAtMostOnce(s, ids);
    await expectReconciled(s);
  });

  it('100 at once — 1-step, CC offers and UTK offers, fewer holdings than withdrawals (change is reused) — all complete, none paid twice', async () => {
    const s = (stack = await startStack({ withdrawalPolicy: { fundsRecheckMs: 50 } }));
    await s.fundTreasury('Amulet', '1000', 25);
    await s.fundTreasury('UTK', '1000', 10);
    const preapproved = Array.from({ length: 5 }, () => s.customer({ preapproval: true }));
    const plain = Array.from({ length: 5 }, () => s.customer());
    const requests = Array.from({ length: 100 }, (_, i) => {
      const kind = i % 10 < 6 ? 'direct' : i % 10 < 8 ? 'cc-offer' : 'utk-offer';
      return {
        withdrawalId: `w-100-${i}`,
        receiver: kind === 'direct' ? preapproved[i % 5]! : plain[i % 5]!,
        instrument: kind === 'utk-offer' ? 'UTK' : 'Amulet',
        amount: String(5 + (i % 17)),
      };
    });
    const ids = requests.map((r) => r.withdrawalId);
    const responses = await Promise.all(requests.map((r) => s.requestWithdrawal(r)));
    expect(responses.map((r) => r.status)).toEqual(requests.map(() => 201));

    // The receivers accept every offer as it appears.
    const accepted = new Set<string>();
    const until = Date.now() + 60_000;
    for (;;) {
      const rows = await s.sql<{ withdrawal_id: string; status: string; transfer_instruction_cid: string | null }[]>`
        select withdrawal_id, status, transfer_instruction_cid from withdrawals where withdrawal_id like 'w-100-%'`;
      for (const r of rows) {
        if (r.status === 'pending_acceptance' && r.transfer_instruction_cid && !accepted.has(r.transfer_instruction_cid)) {
          accepted.add(r.transfer_instruction_cid);
          s.sandbox.control.accept(r.transfer_instruction_cid);
        }
      }
      const open = rows.filter((r) => !['completed', 'failed', 'cancelled', 'stalled'].includes(r.status));
      if (open.length === 0) {
        expect(rows.filter((r) => r.status !== 'completed')).toEqual([]);
        break;
      }
      if (Date.now() > until) throw new Error(`still open: ${JSON.stringify(open.slice(0, 5))} (${open.length})`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(accepted.size).toBe(40);

    const report = await checkPaidAtMostOnce(s, ids);
    expect(report.rows.every((r) => r.status === 'completed')).toBe(true);
    // Reservations only ever went to attempts that committed, or were released unsubmitted.
    const [stray] = await s.sql<{ n: number }[]>`select count(*)::int as n from holding_reservations where released_at is null`;
    expect(stray!.n).toBe(0);
    // Nothing was minted or lost: treasury + receivers + fees burned = what was minted.
    const balance = (party: string, key: string) => s.sandbox.control.books.balances(party)[key]?.total ?? '0';
    const utkKey = `${s.utk.admin}/${s.utk.id}`;
    const utkTotal = [s.treasury, ...plain].reduce((sum, p) => sum + Number(balance(p, utkKey)), 0);
    expect(utkTotal).toBe(10_000);
    expect(compareAmounts(balance(s.treasury, `${s.cc.admin}/${s.cc.id}`), '0')).toBe(1);
    await expectReconciled(s);
  });
});

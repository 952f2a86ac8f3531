import { expect } from 'vitest';
import { addAmounts, compareAmounts, normalizeAmount } from '../../../src/lib/decimal.js';
import type { CommittedTransferRow } from '../../../src/sandbox/control/books.js';
import { findWithdrawal, type WithdrawalRow } from '../../../src/store/withdrawals.js';
import type { Stack } from '../../support/stack.js';

/**
 * Money invariants checked against the ledger double's own books — what actually committed, not
 * what our database believes:
 * - every withdrawal id is the memo of at most one committed TransferFactory_Transfer;
 * - a completed withdrawal has exactly one, to its receiver, of its amount and instrument;
 * - what each receiver holds of an instrument is exactly the sum of its completed withdrawals
 *   (receivers start empty; the double charges receivers no fee by default);
 * - no two committed transfers of these withdrawals spent the same holding.
 */

export interface MoneyReport {
  rows: WithdrawalRow[];
  transfers: Map<string, CommittedTransferRow[]>;
}

export async function checkPaidAtMostOnce(stack: Stack, withdrawalIds: readonly string[]): Promise<MoneyReport> {
  const byMemo = new Map<string, CommittedTransferRow[]>();
  for (const t of stack.sandbox.control.books.transfers()) {
    if (t.memo === null) continue;
    byMemo.set(t.memo, [...(byMemo.get(t.memo) ?? []), t]);
  }
  const rows: WithdrawalRow[] = [];
  const expectedByReceiver = new Map<string, string>();
  for (const id of withdrawalIds) {
    const row = await findWithdrawal(stack.sql, id);
    expect(row, `withdrawal ${id} exists`).toBeDefined();
    rows.push(row!);
    const paid = byMemo.get(id) ?? [];
    expect(paid.length, `withdrawal ${id} committed ${paid.length} transfers`).toBeLessThanOrEqual(1);
    if (row!.status === 'completed') {
      expect(paid, `completed withdrawal ${id} has exactly one transfer`).toHaveLength(1);
      const t = paid[0]!;
      expect([t.receiver, normalizeAmount(t.amount), t.admin, t.instrumentId]).toEqual([
        row!.receiver,
        normalizeAmount(row!.amount),
        row!.instrument.admin,
        row!.instrument.id,
      ]);
      const key = `${row!.receiver}|${row!.instrument.admin}/${row!.instrument.id}`;
      expectedByReceiver.set(key, addAmounts(expectedByReceiver.get(key) ?? '0', row!.amount));
    }
  }
  for (const [key, total] of expectedByReceiver) {
    const [receiver, instrument] = key.split('|') as [string, string];
    const held = stack.sandbox.control.books.balances(receiver)[instrument]?.total ?? '0';
    expect(compareAmounts(held, total), `${receiver} holds ${held} of ${instrument}, completed withdrawals paid it ${total}`).toBe(0);
  }
  const spent = new Map<string, string>();
  for (const [memo, cids] of committedInputsByMemo(stack)) {
    if (!withdrawalIds.includes(memo)) continue;
    for (const cid of cids) {
      expect(spent.get(cid), `holding ${cid} spent by ${memo} and ${spent.get(cid) ?? ''}`).toBeUndefined();
      spent.set(cid, memo);
    }
  }
  return { rows, transfers: byMemo };
}

/** Input holdings of every committed TransferFactory_Transfer, by memo, read from the double's update log. */
export function committedInputsByMemo(stack: Stack): Map<string, string[]> {
  const ledger = stack.sandbox.engine.ledger;
  const out = new Map<string, string[]>();
  for (const e of ledger.entriesBetween(ledger.prunedUpTo, ledger.ledgerEnd)) {
    if (e.kind !== 'transaction') continue;
    for (const n of e.nodes) {
      if (n.kind !== 'exercise' || n.choice !== 'TransferFactory_Transfer') continue;
      const t = (n.choiceArgument as { transfer?: { inputHoldingCids: string[]; meta?: { values?: Record<string, string> } } }).transfer;
      const memo = t?.meta?.values?.['splice.lfdecentralizedtrust.org/reason'];
      if (t && memo !== undefined) out.set(memo, [...(out.get(memo) ?? []), ...t.inputHoldingCids]);
    }
  }
  return out;
}

/** The outbox events of a withdrawal (what exchange systems read), oldest first. */
export async function withdrawalEvents(stack: Stack, id: string): Promise<{ topic: string; payload: Record<string, unknown> }[]> {
  return stack.sql<{ topic: string; payload: Record<string, unknown> }[]>`
    select topic, payload from outbox_events where aggregate_type = 'withdrawal' and aggregate_id = ${id} order by event_id`;
}

/** Live (unreleased) reservations of a withdrawal. */
export async function liveReservationCount(stack: Stack, id: string): Promise<number> {
  const [r] = await stack.sql<
    { n: number }[]
  >`select count(*)::int as n from holding_reservations where withdrawal_id = ${id} and released_at is null`;
  return r!.n;
}

import { expect } from 'vitest';
import { addAmounts, compareAmounts, normalizeAmount } from '../../src/lib/decimal.js';
import type { DepositActors } from '../../src/machines/deposit.actors.js';
import { findDeposit, type DepositRow } from '../../src/store/deposits.js';
import type { Stack } from '../support/stack.js';

/**
 * Deposits end to end: customers of the ledger double send 1-step transfers and 2-step offers to
 * the treasury; ingestion records them, the deposit runtime accepts offers with the real ledger
 * effects. The helpers here check the money invariants against the double's own books.
 */

export const FINAL_DEPOSIT_STATES = ['credited', 'unattributed', 'rejected', 'withdrawn', 'expired', 'failed', 'accept_failed'];

export interface SentDeposit {
  /** The deposit id ingestion derives: the instruction cid (2-step) or `<updateId>:<nodeId>` (1-step). */
  depositId: string;
  updateId: string;
  transferInstructionCid: string | null;
}

/**
 * A customer sends `amount` of `instrument` to the treasury. `offer` forces a 2-step offer (the
 * treasury has a Canton Coin preapproval, so CC is otherwise 1-step; UTK is always an offer).
 * Waits until ingestion has the update and returns the deposit id it derived.
 */
export async function customerDeposits(
  stack: Stack,
  o: { from: string; instrument: string; amount: string; memo: string | null; offer?: boolean; executeBefore?: string; ingested?: boolean },
): Promise<SentDeposit> {
  const r = stack.sandbox.control.transfer({
    from: o.from,
    to: stack.treasury,
    instrument: o.instrument,
    amount: o.amount,
    memo: o.memo,
    mode: o.offer === true ? 'offer' : 'auto',
    ...(o.executeBefore !== undefined ? { executeBefore: o.executeBefore } : {}),
  });
  const cid = r.transferInstructionCid ?? null;
  if (o.ingested === false) return { depositId: cid ?? '', updateId: r.updateId, transferInstructionCid: cid };
  await stack.caughtUp();
  if (cid !== null) return { depositId: cid, updateId: r.updateId, transferInstructionCid: cid };
  const [row] = await stack.sql<
    { deposit_id: string }[]
  >`select deposit_id from deposits where credit_update_id = ${r.updateId} and kind = 'one_step'`;
  expect(row, `a 1-step deposit row for update ${r.updateId}`).toBeDefined();
  return { depositId: row!.deposit_id, updateId: r.updateId, transferInstructionCid: null };
}

/** The 1-step deposit id of an update, once ingestion has it. */
export async function oneStepDepositId(stack: Stack, updateId: string): Promise<string> {
  await stack.caughtUp();
  const [row] = await stack.sql<
    { deposit_id: string }[]
  >`select deposit_id from deposits where credit_update_id = ${updateId} and kind = 'one_step'`;
  expect(row, `a 1-step deposit row for update ${updateId}`).toBeDefined();
  return row!.deposit_id;
}

/** Outbox events of a deposit (what exchange systems read), oldest first. */
export async function depositEvents(stack: Stack, id: string): Promise<{ topic: string; payload: Record<string, unknown> }[]> {
  return stack.sql<{ topic: string; payload: Record<string, unknown> }[]>`
    select topic, payload from outbox_events where aggregate_type = 'deposit' and aggregate_id = ${id} order by event_id`;
}

/** Committed TransferInstruction_Accept exercises on `cid`, read from the double's update log. */
export function acceptsOnLedger(stack: Stack, cid: string): { updateId: string; actingParties: readonly string[] }[] {
  const ledger = stack.sandbox.engine.ledger;
  const out: { updateId: string; actingParties: readonly string[] }[] = [];
  for (const e of ledger.entriesBetween(ledger.prunedUpTo, ledger.ledgerEnd)) {
    if (e.kind !== 'transaction') continue;
    for (const n of e.nodes) {
      if (n.kind === 'exercise' && n.choice === 'TransferInstruction_Accept' && n.target.contractId === cid)
        out.push({ updateId: e.updateId, actingParties: n.actingParties });
    }
  }
  return out;
}

/** The treasury's total holdings of an instrument on the double. */
export function treasuryTotal(stack: Stack, instrument: string): string {
  const i = stack.instrument(instrument);
  return stack.sandbox.control.books.balances(stack.treasury)[`${i.admin}/${i.id}`]?.total ?? '0.0000000000';
}

/**
 * Money invariants of credited deposits, checked in the database and against the double:
 * - each deposit has at most one `deposit.credited` event, and one exactly when its row is credited;
 * - a credited 2-step deposit's instruction was accepted on the ledger exactly once, by the treasury,
 *   in the update the row names; an uncredited offer was never accepted by us;
 * - the account's credited totals (GET /v1/accounts/:id) are the sum of its credited rows.
 */
export async function checkCreditedOnce(stack: Stack, depositIds: readonly string[]): Promise<DepositRow[]> {
  const rows: DepositRow[] = [];
  const byAccount = new Map<string, Map<string, string>>();
  for (const id of depositIds) {
    const row = await findDeposit(stack.sql, id);
    expect(row, `deposit ${id} exists`).toBeDefined();
    rows.push(row!);
    const credits = (await depositEvents(stack, id)).filter((e) => e.topic === 'deposit.credited');
    expect(credits.length, `deposit ${id} (${row!.status}) has ${credits.length} deposit.credited events`).toBe(
      row!.status === 'credited' ? 1 : 0,
    );
    if (row!.kind === 'two_step') {
      const accepts = acceptsOnLedger(stack, row!.transferInstructionCid!);
      const creditedByAccept = row!.status === 'credited' && row!.creditUpdateId !== null && row!.closedUpdateId === row!.creditUpdateId;
      expect(accepts.length, `offer ${id} accepted ${accepts.length} times on the ledger`).toBe(creditedByAccept ? 1 : 0);
      if (creditedByAccept) expect(accepts[0]).toEqual({ updateId: row!.creditUpdateId, actingParties: [stack.treasury] });
    }
    if (row!.status === 'credited') {
      const acct = byAccount.get(row!.accountId!) ?? new Map<string, string>();
      const key = `${row!.instrument.admin}/${row!.instrument.id}`;
      acct.set(key, addAmounts(acct.get(key) ?? '0', row!.creditedAmount ?? row!.transferAmount));
      byAccount.set(row!.accountId!, acct);
    }
  }
  for (const [accountId, totals] of byAccount) {
    const { status, body } = await stack.api('GET', `/v1/accounts/${encodeURIComponent(accountId)}`);
    expect(status).toBe(200);
    const credited = body['credited'] as { instrument: { admin: string; id: string }; credited: string; deposits: number }[];
    for (const [key, total] of totals) {
      const line = credited.find((c) => `${c.instrument.admin}/${c.instrument.id}` === key);
      expect(line, `account ${accountId} has a credited total of ${key}`).toBeDefined();
      // Other deposits of the account (outside depositIds) may add to it, never take away.
      expect(
        compareAmounts(line!.credited, total),
        `account ${accountId} credited ${line!.credited} of ${key}, these deposits ${total}`,
      ).toBeGreaterThanOrEqual(0);
    }
  }
  return rows;
}

/** Amounts as the API and the database print them (10 fractional digits). */
export const amt = (a: string): string => normalizeAmount(a);

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Never settles until the effect is abandoned (its signal aborts): the process is gone. */
export function hang(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) =>
    signal.addEventListener('abort', () => reject(new Error('abandoned: the process crashed')), { once: true }),
  );
}

export type DepositStep = keyof DepositActors;

/** The deposit an effect's input is about (every deposit effect names it, directly or via the command id). */
export function depositOf(step: DepositStep, input: unknown): string | undefined {
  const i = input as Record<string, unknown>;
  switch (step) {
    case 'fetchAcceptContext':
    case 'prepareAccept':
      return String(i['depositId']);
    case 'verifyAndSign':
      return fromCommandId(String((i['expected'] as { commandId: string }).commandId));
    case 'executeSubmission':
      return fromCommandId(String((i['signed'] as { commandId: string }).commandId));
  }
}

/** commandId = deposit-accept-<id> (deposit.machine.ts). */
function fromCommandId(commandId: string): string | undefined {
  const m = /^deposit-accept-(.+)$/.exec(commandId);
  return m ? m[1] : undefined;
}

/** Wraps every deposit effect with `around(step, depositId, input, real, signal)`. */
export function wrapDepositActors(
  around: (
    step: DepositStep,
    depositId: string | undefined,
    input: unknown,
    real: (input: unknown, signal: AbortSignal) => Promise<unknown>,
    signal: AbortSignal,
  ) => Promise<unknown>,
): (actors: DepositActors) => DepositActors {
  return (actors) => {
    const wrapped = { ...actors };
    for (const step of Object.keys(actors) as DepositStep[]) {
      const real = (actors[step] as (input: unknown, signal: AbortSignal) => Promise<unknown>).bind(actors);
      (wrapped as Record<DepositStep, (input: unknown, signal: AbortSignal) => Promise<unknown>>)[step] = (input, signal) =>
        around(step, depositOf(step, input), input, real, signal);
    }
    return wrapped;
  };
}

/** Until the deposit machine's persisted state is `state`. */
export async function waitForMachine(s: Stack, id: string, state: string | Record<string, string>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const [snap] = await s.sql<
      { state_value: unknown }[]
    >`select state_value from machine_snapshots where machine_type = 'deposit' and machine_id = ${id}`;
    if (snap !== undefined && JSON.stringify(snap.state_value) === JSON.stringify(state)) return;
    if (Date.now() > until) throw new Error(`deposit machine ${id} is ${JSON.stringify(snap?.state_value)}, not ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

import type postgres from 'postgres';
import { z } from 'zod';
import { addAmounts, compareAmounts, normalizeAmount } from '../src/lib/decimal.js';
import type { DaemonApi } from './daemon-api.js';
import type { DoubleControl, HoldingRow, TransferRow } from './double.js';
import { checkRestores, lostByRestores, type EventRow, type RestoreRecord } from './restore.js';
import type { WorkloadRecord } from './workload.js';

/**
 * The end of a campaign: the state the daemon left in its database, checked against the double's
 * own books (what really happened on the ledger) and against what the workload did.
 */

const FINAL_WITHDRAWAL = new Set(['completed', 'failed', 'cancelled']);
/** Deposit statuses ingestion treats as final. */
// `ignored`: a holding of a token not yet onboarded when it arrived (the chaos treasury is funded
// before the daemon onboards), adopted as the treasury's funds at onboarding, never a deposit.
const FINAL_DEPOSIT = new Set(['credited', 'unattributed', 'rejected', 'withdrawn', 'expired', 'failed', 'ignored']);

const WithdrawalRow = z.object({
  withdrawal_id: z.string(),
  purpose: z.string(),
  status: z.string(),
  status_reason: z.string().nullable(),
  amount: z.string(),
  receiver: z.string(),
  instrument_id: z.string(),
  transfer_update_id: z.string().nullable(),
  transfer_instruction_cid: z.string().nullable(),
  recovered: z.boolean(),
});
type WithdrawalRow = z.infer<typeof WithdrawalRow>;

const DepositRow = z.object({
  deposit_id: z.string(),
  kind: z.string(),
  status: z.string(),
  status_reason: z.string().nullable(),
  memo: z.string().nullable(),
  account_id: z.string().nullable(),
  sender: z.string().nullable(),
  instrument_id: z.string(),
  transfer_amount: z.string(),
  credited_amount: z.string().nullable(),
  transfer_instruction_cid: z.string().nullable(),
  offer_update_id: z.string().nullable(),
  credit_update_id: z.string().nullable(),
});
type DepositRow = z.infer<typeof DepositRow>;

const DbHolding = z.object({ contract_id: z.string(), instrument_id: z.string(), amount: z.string(), locked: z.boolean() });
const EventCount = z.object({ topic: z.string(), aggregate_id: z.string(), n: z.coerce.number().int() });
const Snapshot = z.object({ machine_type: z.string(), machine_id: z.string(), state_value: z.unknown() });

export interface DbState {
  withdrawals: WithdrawalRow[];
  deposits: DepositRow[];
  holdings: z.infer<typeof DbHolding>[];
  checkpointOffset: number | undefined;
  events: Map<string, number>;
  openMachines: z.infer<typeof Snapshot>[];
}

export async function readDb(sql: postgres.Sql, treasury: string): Promise<DbState> {
  const withdrawals = z.array(WithdrawalRow).parse(
    await sql`select withdrawal_id, purpose, status, status_reason, amount::text as amount, receiver, instrument_id,
                     transfer_update_id, transfer_instruction_cid, recovered from withdrawals`,
  );
  const deposits = z.array(DepositRow).parse(
    await sql`select deposit_id, kind, status, status_reason, memo, account_id, sender, instrument_id, transfer_amount::text as transfer_amount,
                     credited_amount::text as credited_amount, transfer_instruction_cid, offer_update_id, credit_update_id from deposits`,
  );
  const holdings = z.array(DbHolding).parse(
    await sql`select contract_id, instrument_id, amount::text as amount, lock is not null as locked from holdings
              where owner = ${treasury} and archived_offset is null`,
  );
  const cp = z
    .array(z.object({ ledger_offset: z.coerce.number().int() }))
    .parse(await sql`select ledger_offset from ingestion_checkpoint where treasury_party = ${treasury}`);
  const events = z.array(EventCount).parse(
    await sql`select topic, aggregate_id, count(*) as n from outbox_events
              where topic in ('withdrawal.completed', 'withdrawal.failed', 'deposit.credited', 'deposit.unattributed') group by topic, aggregate_id`,
  );
  const openMachines = z
    .array(Snapshot)
    .parse(await sql`select machine_type, machine_id, state_value from machine_snapshots where not is_final`);
  return {
    withdrawals,
    deposits,
    holdings,
    checkpointOffset: cp[0]?.ledger_offset,
    events: new Map(events.map((e) => [`${e.topic}/${e.aggregate_id}`, e.n])),
    openMachines,
  };
}

/** Withdrawals and deposits that still wait for the daemon (not final, not waiting on a customer or an operator). */
export function pendingWork(db: DbState): string[] {
  const out: string[] = [];
  for (const w of db.withdrawals) {
    // A recovered row (a transfer the daemon found on the ledger without its request) has no machine.
    if (FINAL_WITHDRAWAL.has(w.status) || w.status === 'recovered' || w.status === 'stalled' || w.status === 'pending_acceptance') continue;
    out.push(`withdrawal ${w.withdrawal_id} ${w.status}`);
  }
  for (const d of db.deposits) {
    if (FINAL_DEPOSIT.has(d.status) || d.status === 'accept_failed') continue;
    if (d.status === 'offered' && d.account_id === null) continue; // unknown memo: waits on its sender
    out.push(`deposit ${d.deposit_id} ${d.status}`);
  }
  return out;
}

export interface Finding {
  invariant: string;
  detail: string;
}

export interface CheckResult {
  violations: Finding[];
  /** Worth a look, not a broken invariant (stuck with a reason, waiting on an operator). */
  notes: Finding[];
  /** Failed or cancelled withdrawals by status reason (numbers in reasons blanked). */
  failures: Map<string, number>;
  counts: {
    withdrawals: number;
    selfTransfers: number;
    deposits: number;
    completed: number;
    failed: number;
    credited: number;
    unattributed: number;
  };
}

function holdingKey(h: { contractId: string; amount: string; locked: boolean; instrumentId: string }): string {
  return `${h.instrumentId} ${normalizeAmount(h.amount)}${h.locked ? ' locked' : ''}`;
}

export async function checkInvariants(opts: {
  db: DbState;
  double: DoubleControl;
  api: DaemonApi;
  record: WorkloadRecord;
  treasury: string;
  /** The campaign's restores, and the final outbox from the lowest id any of them rolled back to. */
  restores?: { records: readonly RestoreRecord[]; events: readonly EventRow[] };
}): Promise<CheckResult> {
  const { db, double, record, treasury } = opts;
  const restores = opts.restores?.records ?? [];
  const lost = lostByRestores(restores);
  const violations: Finding[] = [];
  const notes: Finding[] = [];
  const v = (invariant: string, detail: string) => violations.push({ invariant, detail });
  const events = (topic: string, id: string) => db.events.get(`${topic}/${id}`) ?? 0;

  const transfers = await double.transfers();
  const byMemo = new Map<string, TransferRow[]>();
  for (const t of transfers) {
    if (t.sender !== treasury || t.memo === null) continue;
    const list = byMemo.get(t.memo) ?? [];
    list.push(t);
    byMemo.set(t.memo, list);
  }
  const active = new Set((await double.instructions()).map((i) => i.contractId));
  // Paid = funds reached the receiver: a direct transfer, or an offer the customer accepted.
  const offerOf = new Map(db.withdrawals.map((w) => [w.withdrawal_id, w.transfer_instruction_cid]));
  const sentByMemo = new Map(byMemo);
  const paidOnLedger = (id: string): TransferRow | undefined => {
    const t = sentByMemo.get(id)?.[0];
    const cid = offerOf.get(id) ?? null;
    return t !== undefined && (t.outcome === 'completed' || (t.outcome === 'pending' && cid !== null && record.accepted.has(cid)))
      ? t
      : undefined;
  };
  const restoreFindings = checkRestores({ records: restores, db, events: opts.restores?.events ?? [], paidOnLedger });

  // ---- withdrawals: paid at most once, each completed one exactly once ----
  const rows = new Map(db.withdrawals.map((w) => [w.withdrawal_id, w]));
  const refusedRecovered: string[] = [];
  for (const [id, w] of record.withdrawals) {
    // Lost by a restore after its transfer committed: ingestion recovered it before the exchange
    // re-sent the request, which then meets a row of another account ("(recovered)").
    if (w.refused !== undefined && lost.has(id) && rows.get(id)?.recovered === true) refusedRecovered.push(id);
    else if (w.refused !== undefined) v('withdrawal-request', `${id}: the daemon refused a request: ${w.refused}`);
    else if (w.acknowledged && !rows.has(id)) v('withdrawal-request', `${id}: acknowledged but not in the database`);
  }
  if (refusedRecovered.length > 0) {
    notes.push({
      invariant: 'restore-recovered',
      detail: `${refusedRecovered.length} request(s) re-sent after a restore were refused (409) because ingestion had recovered them first: ${refusedRecovered.join(', ')}`,
    });
  }
  // Outcomes the exchange read before a restore rolled them back.
  const announcedFailed = new Set(
    restores.flatMap((r) =>
      r.eventsBefore.filter((e) => e.event_id > r.maxEventIdAfter && e.topic === 'withdrawal.failed').map((e) => e.aggregate_id),
    ),
  );
  const recoveredAfterRestore: string[] = [];
  let completed = 0;
  let failed = 0;
  const failures = new Map<string, number>();
  for (const w of db.withdrawals) {
    const sent = byMemo.get(w.withdrawal_id) ?? [];
    byMemo.delete(w.withdrawal_id);
    if (sent.length > 1)
      v(
        'paid-at-most-once',
        `${w.withdrawal_id}: ${sent.length} transfers committed (${sent.map((t) => `${t.updateId}@${t.offset} ${t.outcome}`).join(', ')})`,
      );
    const t = sent[0];
    const cid = w.transfer_instruction_cid;
    const payment = paidOnLedger(w.withdrawal_id);
    const selfTransfer = w.purpose === 'self_transfer';
    if (t !== undefined && w.transfer_update_id !== null && w.transfer_update_id !== t.updateId) {
      v('completed-exactly-once', `${w.withdrawal_id}: the database names transfer ${w.transfer_update_id}, the ledger's is ${t.updateId}`);
    }
    if (w.recovered) {
      // Legitimate only when a restore took the row away after the transfer committed: ingestion re-read it.
      if (!lost.has(w.withdrawal_id))
        v('withdrawal-recovered', `${w.withdrawal_id}: a transfer the daemon did not know of (status ${w.status})`);
      else if (t === undefined) v('withdrawal-recovered', `${w.withdrawal_id}: recovered, but no transfer with its memo on the ledger`);
      else recoveredAfterRestore.push(`${w.withdrawal_id} ${t.outcome}${payment !== undefined ? ' paid' : ''}`);
      // The exchange debited the customer for the request: an offer that comes back must be
      // announced failed, before the restore (rolled back since) or by the recovered offer's own
      // machine after it.
      const failureAnnounced = announcedFailed.has(w.withdrawal_id) || events('withdrawal.failed', w.withdrawal_id) > 0;
      if (!selfTransfer && t !== undefined && payment === undefined && !failureAnnounced) {
        v(
          'recovered-unpaid',
          `${w.withdrawal_id}: recovered after a restore, its ${t.outcome} transfer ${t.updateId} did not pay (offer ${cid ?? '?'} ${cid !== null && record.rejected.has(cid) ? 'rejected' : 'not accepted'}) and no withdrawal.failed tells the exchange to re-credit`,
        );
      }
      const asked = record.withdrawals.get(w.withdrawal_id)?.request;
      if (t !== undefined && asked !== undefined && (compareAmounts(t.amount, asked.amount) !== 0 || t.receiver !== asked.receiver)) {
        v(
          'completed-exactly-once',
          `${w.withdrawal_id}: paid ${t.amount} to ${t.receiver}, requested ${asked.amount} to ${asked.receiver}`,
        );
      }
      continue;
    }
    if (w.status === 'completed') {
      completed += 1;
      if (t === undefined)
        v('completed-exactly-once', `${w.withdrawal_id}: completed in the database, no transfer with its memo on the ledger`);
      else if (!selfTransfer && payment === undefined)
        v(
          'completed-exactly-once',
          `${w.withdrawal_id}: completed in the database, but its ${t.outcome} transfer ${t.updateId} did not pay (offer ${cid ?? '?'} not accepted)`,
        );
      if (t !== undefined && (compareAmounts(t.amount, w.amount) !== 0 || t.receiver !== w.receiver)) {
        v('completed-exactly-once', `${w.withdrawal_id}: paid ${t.amount} to ${t.receiver}, requested ${w.amount} to ${w.receiver}`);
      }
      if (events('withdrawal.completed', w.withdrawal_id) !== 1)
        v('outbox-exactly-once', `${w.withdrawal_id}: ${events('withdrawal.completed', w.withdrawal_id)} withdrawal.completed events`);
    } else if (w.status === 'failed' || w.status === 'cancelled') {
      failed += 1;
      const reason = `${w.purpose === 'self_transfer' ? 'self-transfer: ' : ''}${(w.status_reason ?? w.status).replace(/[0-9a-f]{16,}/g, '…').replace(/\d+/g, 'N')}`;
      failures.set(reason, (failures.get(reason) ?? 0) + 1);
      if (payment !== undefined && !selfTransfer)
        v(
          'failed-means-unpaid',
          `${w.withdrawal_id}: ${w.status} in the database but paid on the ledger (${payment.updateId}); the exchange would re-credit it`,
        );
      if (events('withdrawal.failed', w.withdrawal_id) !== 1)
        v('outbox-exactly-once', `${w.withdrawal_id}: ${events('withdrawal.failed', w.withdrawal_id)} withdrawal.failed events`);
    } else {
      if (payment !== undefined && !selfTransfer)
        v('paid-is-completed', `${w.withdrawal_id}: paid on the ledger (${payment.updateId}) but ${w.status} in the database`);
      const detail = `${w.withdrawal_id}: ${w.status}${w.status_reason ? ` (${w.status_reason})` : ''}`;
      if (w.status_reason === null && w.status !== 'pending_acceptance') v('not-stuck', `${detail} with no reason`);
      else notes.push({ invariant: 'not-final', detail });
    }
    if (events('withdrawal.completed', w.withdrawal_id) > 0 && events('withdrawal.failed', w.withdrawal_id) > 0) {
      v('outbox-exactly-once', `${w.withdrawal_id}: both withdrawal.completed and withdrawal.failed were emitted`);
    }
  }
  for (const [memo, ts] of byMemo) {
    if (memo.startsWith('chaos-w-'))
      v('paid-at-most-once', `${memo}: ${ts.length} transfer(s) from the treasury with this memo but no withdrawal row`);
  }

  // ---- deposits: each credited exactly once or unattributed, never lost ----
  const byCredit = new Map<string, DepositRow[]>();
  const byCid = new Map<string, DepositRow>();
  for (const d of db.deposits) {
    if (d.transfer_instruction_cid !== null) byCid.set(d.transfer_instruction_cid, d);
    const key = d.kind === 'one_step' ? (d.credit_update_id ?? d.deposit_id.split(':')[0] ?? '') : '';
    if (key !== '') byCredit.set(key, [...(byCredit.get(key) ?? []), d]);
  }
  const accountOf = (memo: string | null) => (memo !== null && record.memos.includes(memo) ? memo : undefined);
  const seen = new Set<string>();
  let credited = 0;
  let unattributed = 0;
  for (const dep of record.deposits) {
    const label = `deposit ${dep.kind} ${dep.instrument} ${dep.amount} memo=${dep.memo ?? '∅'} (${dep.updateId})`;
    if (dep.kind === 'direct') {
      const found = byCredit.get(dep.updateId) ?? [];
      if (found.length !== 1) {
        v('deposit-never-lost', `${label}: ${found.length} deposit rows for it`);
        continue;
      }
      const d = found[0]!;
      seen.add(d.deposit_id);
      const expected = accountOf(dep.memo) !== undefined ? 'credited' : 'unattributed';
      if (d.status !== expected) v('deposit-credited-once', `${label}: status ${d.status}, expected ${expected}`);
      if (expected === 'credited' && d.account_id === null) v('deposit-credited-once', `${label}: credited to no account`);
    } else {
      const d = dep.transferInstructionCid !== undefined ? byCid.get(dep.transferInstructionCid) : undefined;
      if (!d) {
        v('deposit-never-lost', `${label}: offer ${dep.transferInstructionCid ?? '?'} has no deposit row`);
        continue;
      }
      seen.add(d.deposit_id);
      const stillOffered = active.has(d.transfer_instruction_cid ?? '');
      const withdrawn = record.withdrawnOffers.has(d.transfer_instruction_cid ?? '');
      if (accountOf(dep.memo) === undefined) {
        if (d.status === 'credited' || d.credited_amount !== null)
          v('unknown-memo-never-accepted', `${label}: ${d.status}, credited ${d.credited_amount ?? '∅'}`);
        if (!stillOffered && !withdrawn && d.status !== 'expired')
          v(
            'unknown-memo-never-accepted',
            `${label}: the offer is gone from the ledger though its sender did not withdraw it (${d.status})`,
          );
      } else if (withdrawn) {
        if (d.status !== 'withdrawn') v('deposit-credited-once', `${label}: its sender withdrew the offer, status ${d.status}`);
      } else if (stillOffered) {
        const detail = `${label}: known memo, offer still open on the ledger (${d.status}${d.status_reason ? `: ${d.status_reason}` : ''})`;
        if (d.status === 'accept_failed' && d.status_reason !== null) notes.push({ invariant: 'not-final', detail });
        else v('not-stuck', detail);
      } else if (d.status !== 'credited' && d.status !== 'expired') {
        v('deposit-credited-once', `${label}: the offer was closed on the ledger but the deposit is ${d.status}`);
      }
    }
  }
  for (const d of db.deposits) {
    const creditEvents = events('deposit.credited', d.deposit_id);
    if (d.status === 'credited') {
      credited += 1;
      if (creditEvents !== 1) v('deposit-credited-once', `${d.deposit_id}: ${creditEvents} deposit.credited events`);
      if (d.credited_amount === null) v('deposit-credited-once', `${d.deposit_id}: credited with no amount`);
    } else if (creditEvents !== 0) v('deposit-credited-once', `${d.deposit_id}: ${d.status} but ${creditEvents} deposit.credited events`);
    if (d.status === 'unattributed') unattributed += 1;
    if (seen.has(d.deposit_id)) continue;
    // Not a customer's: a mint to the treasury (funding), or change coming back to it.
    const mint = d.credit_update_id !== null && record.treasuryMints.has(d.credit_update_id);
    const fromCustomer = d.sender !== null && record.customers.some((c) => c.party === d.sender);
    if (fromCustomer || (!mint && d.status === 'credited'))
      v('deposit-never-lost', `${d.deposit_id}: a ${d.status} deposit no scripted deposit accounts for (sender ${d.sender ?? '∅'})`);
  }
  // Customers' transfers into the treasury on the ledger that the workload did not record (e.g. a timeout on its side).
  const customers = new Set(record.customers.map((c) => c.party));
  const made = new Set(record.deposits.map((d) => d.updateId));
  for (const t of transfers) {
    if (t.receiver !== treasury || !customers.has(t.sender) || made.has(t.updateId)) continue;
    const rowsFor = byCredit.get(t.updateId) ?? db.deposits.filter((d) => d.offer_update_id === t.updateId);
    if (rowsFor.length !== 1)
      v('deposit-never-lost', `transfer ${t.updateId} from ${t.sender} (${t.amount} ${t.instrumentId}): ${rowsFor.length} deposit rows`);
  }

  // ---- holdings: the database equals the ledger ----
  const ledgerHoldings: HoldingRow[] = await double.holdings(treasury);
  const dbHoldings = new Map(
    db.holdings.map((h) => [
      h.contract_id,
      holdingKey({ contractId: h.contract_id, amount: h.amount, locked: h.locked, instrumentId: h.instrument_id }),
    ]),
  );
  const ledgerMap = new Map(ledgerHoldings.map((h) => [h.contractId, holdingKey(h)]));
  for (const [cid, k] of ledgerMap) {
    const mine = dbHoldings.get(cid);
    if (mine === undefined) v('holdings-reconcile', `missing in the database: ${cid} ${k}`);
    else if (mine !== k) v('holdings-reconcile', `${cid}: database ${mine}, ledger ${k}`);
  }
  for (const [cid, k] of dbHoldings)
    if (!ledgerMap.has(cid)) v('holdings-reconcile', `in the database, not active on the ledger: ${cid} ${k}`);
  const ledgerTotals = new Map<string, string>();
  for (const h of ledgerHoldings)
    ledgerTotals.set(`${h.admin}/${h.instrumentId}`, addAmounts(ledgerTotals.get(`${h.admin}/${h.instrumentId}`) ?? '0', h.amount));
  const summary = await opts.api.holdings();
  const apiTotals = new Map(
    summary.items.filter((i) => i.owner === treasury).map((i) => [`${i.instrument.admin}/${i.instrument.id}`, i.total]),
  );
  for (const key of new Set([...ledgerTotals.keys(), ...apiTotals.keys()])) {
    const l = ledgerTotals.get(key) ?? '0';
    const a = apiTotals.get(key) ?? '0';
    if (compareAmounts(l, a) !== 0) v('holdings-reconcile', `${key}: GET /v1/holdings total ${a}, the ledger's ${l}`);
  }

  // ---- machines: nothing left running without a reason ----
  const waiting = new Set([
    ...db.withdrawals.filter((w) => w.status === 'pending_acceptance' || w.status === 'stalled').map((w) => w.withdrawal_id),
  ]);
  // An unattributed deposit's machine stays open for an operator's ASSIGN: that is its purpose.
  const depositWaiting = new Set(
    db.deposits
      .filter((d) => d.status === 'offered' || d.status === 'accept_failed' || d.status === 'unattributed')
      .map((d) => d.deposit_id),
  );
  for (const m of db.openMachines) {
    if (m.machine_type === 'withdrawal' && waiting.has(m.machine_id)) continue;
    if (m.machine_type === 'deposit' && depositWaiting.has(m.machine_id)) continue;
    const w = m.machine_type === 'withdrawal' ? rows.get(m.machine_id) : undefined;
    const d = m.machine_type === 'deposit' ? db.deposits.find((x) => x.deposit_id === m.machine_id) : undefined;
    const reason = w?.status_reason ?? d?.status_reason ?? null;
    const detail = `${m.machine_type} ${m.machine_id} in ${JSON.stringify(m.state_value)} (status ${w?.status ?? d?.status ?? '?'})`;
    if (reason === null) v('not-stuck', `${detail}, no reason`);
    else notes.push({ invariant: 'not-final', detail: `${detail}: ${reason}` });
  }

  if (recoveredAfterRestore.length > 0) {
    notes.push({
      invariant: 'restore-recovered',
      detail: `${recoveredAfterRestore.length} withdrawal(s) lost by a restore after their transfer committed, recovered from the ledger: ${recoveredAfterRestore.join(', ')}`,
    });
  }
  violations.push(...restoreFindings.violations);
  notes.push(...restoreFindings.notes);
  const payouts = db.withdrawals.filter((w) => w.purpose === 'payout').length;
  return {
    violations,
    notes,
    failures,
    counts: {
      withdrawals: payouts,
      selfTransfers: db.withdrawals.length - payouts,
      deposits: record.deposits.length,
      completed,
      failed,
      credited,
      unattributed,
    },
  };
}

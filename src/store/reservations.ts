import { Failure, type FailureCode } from '../failures.js';
import { addAmounts, compareAmounts, isZeroAmount, normalizeAmount, subAmounts } from '../lib/decimal.js';
import { amountWithFeeReserve, NO_FEE_RESERVE } from '../lib/fee-reserve.js';
import type { Queryable, Sql, Tx } from './db.js';
import { readFeeReserve } from './instruments.js';
import { selectInputs, type Candidate } from './reservations-selection.js';

/**
 * Holding reservations: which treasury holdings a withdrawal attempt spends. A holding is claimed
 * by at most one live reservation (unique index); candidates are read with FOR UPDATE SKIP LOCKED
 * so concurrent reservers, in this process or another, never wait for each other nor pick the same
 * holding. The withdrawal row is locked first, which serialises reservations of one withdrawal and
 * orders them against its status changes (a final withdrawal reserves nothing).
 *
 * The withdrawal machine's DB actors (src/machines/effects/reservations.ts) call these: the
 * requests and answers below are those actors' inputs and outputs (src/machines/withdrawal.actors.ts).
 */

/** Claim free treasury holdings for one attempt. Idempotent per (withdrawalId, attempt). */
export interface ReserveHoldingsInput {
  withdrawalId: string;
  attempt: number;
  owner: string;
  instrument: { admin: string; id: string };
  amount: string;
  maxInputs: number;
  /** The attempt's deadline is now + ttlMs, persisted on the withdrawal row and the reservations. */
  ttlMs: number;
}
export interface ReservedHolding {
  contractId: string;
  amount: string;
}
export type ReserveHoldingsOutput =
  | { kind: 'reserved'; attempt: number; holdings: ReservedHolding[]; total: string; deadline: string }
  /** `needed`: what the inputs must hold, the amount plus the instrument's fee reserve (src/lib/fee-reserve.ts). */
  | { kind: 'insufficient'; needed: string; available: string; reason: string };

/** Free the live reservations of one attempt, or of every attempt when `attempt` is null. */
export interface ReleaseReservationInput {
  withdrawalId: string;
  attempt: number | null;
  reason: string;
}

/**
 * Where the ledger has left an attempt, read from ingestion once it has caught up with the ledger
 * end read after the call began: asked when the ledger says a reserved input is gone, before
 * anything else is decided. An input that is gone on the ledger but active in the database is
 * never by itself a reason to reserve other holdings: after a database restore it may have been
 * spent by this very withdrawal.
 */
export interface CheckAttemptInput {
  withdrawalId: string;
  attempt: number;
  holdingCids: string[];
}
/**
 * - `transferred`: ingestion has a transfer with this withdrawal's memo (its TRANSFERRED event is in the outbox);
 * - `expired`: ingestion reported the attempt past its deadline with no transfer;
 * - `inputsSpent`: an input is archived by an update that carried no transfer of this withdrawal;
 * - `open`: every input is still active at the ledger end: nothing has decided the attempt.
 */
export type AttemptStanding = 'transferred' | 'expired' | 'inputsSpent' | 'open';

/**
 * A request the database refuses for good: the withdrawal's row or reservations forbid it, and
 * asking again cannot help. `failure` has the shape of the machines' ActorFailure, which the DB
 * actors (src/machines/effects/reservations.ts) raise with it.
 */
export class ReservationRefused extends Error {
  override readonly name = 'ReservationRefused';
  readonly failure: { code: FailureCode; message: string; retryable: false };
  constructor(refusal: { code: FailureCode; message: string }) {
    super(`${refusal.code}: ${refusal.message}`);
    this.failure = { ...refusal, retryable: false };
  }
}

/** Statuses after which a withdrawal never reserves again (written by the runtime's status mirror). */
export const FINAL_WITHDRAWAL_STATUSES = ['completed', 'failed', 'cancelled'] as const;

/** Concurrent reservers can still collide on the unique index (see reserveInTx); retry a few times. */
const UNIQUE_RETRIES = 5;

/**
 * A selection that came up short while the free funds cover it: concurrent reservers hold
 * candidates locked (SKIP LOCKED hid them) for the few milliseconds of their transactions. Asked
 * again after a pause, outside the transaction so its own locks do not hide holdings from others,
 * rather than leaving the withdrawal waiting for funds that exist.
 */
const CONTENDED_RETRIES = 3;
/** Holdings read (and locked) by a reservation's first pass. */
const FIRST_CANDIDATES = 8;
const CONTENDED_PAUSE_MS = 20;

export async function reserveHoldings(sql: Sql, req: ReserveHoldingsInput): Promise<ReserveHoldingsOutput> {
  for (let tries = 1, contended = 0; ; tries++) {
    let out: ReserveHoldingsOutput | 'contended';
    try {
      out = await sql.begin((tx) => reserveInTx(tx, req, contended >= CONTENDED_RETRIES));
    } catch (e) {
      if (isPgError(e, '23505') && tries < UNIQUE_RETRIES) continue;
      throw e;
    }
    if (out !== 'contended') return out;
    contended++;
    await new Promise((r) => setTimeout(r, CONTENDED_PAUSE_MS * contended));
  }
}

interface WithdrawalLockRow {
  status: string;
  attempt: number;
  purpose: 'payout' | 'self_transfer';
  /** A self-transfer planned by the holdings job: the only holdings any of its attempts may take. */
  input_holding_cids: string[] | null;
}

/**
 * Holdings a withdrawal may take besides being free: a planned self-transfer only its planned
 * inputs; anything else none of the inputs of a live planned self-transfer (sql/004), so a payout
 * does not snatch the small holdings a merge is about to spend. Stalled ones hold nothing.
 */
function allowedInputs(tx: Tx, planned: string[] | null) {
  if (planned !== null) return tx`and h.contract_id = any(${planned}::text[])`;
  return tx`and not exists (
    select 1 from withdrawals p
    where p.instrument_admin = h.instrument_admin and p.instrument_id = h.instrument_id
      and p.input_holding_cids is not null and p.status not in ('completed', 'failed', 'cancelled', 'recovered', 'stalled')
      and h.contract_id = any(p.input_holding_cids))`;
}

/** release_reason of a reservation whose deadline passed before the machine ever used it. */
export const STALE_RELEASE_REASON = 'expired before use';

/**
 * Which attempt a reservation request claims, or the reservation it already has. A re-run of the
 * same attempt (the machine restarted while reserving, or the answer was lost) returns what was
 * reserved — unless its deadline has passed: a transaction with that maxRecordTime can never
 * commit, so reusing it would only make every execute fail (issue 19, item 2). Such a reservation
 * was never submitted (the machine never learned of it), so it is released here and the next
 * attempt is claimed in the same transaction; a re-run after that replacement finds the stale
 * attempt released for that reason and follows on to the next one.
 */
async function attemptToReserve(tx: Tx, req: ReserveHoldingsInput, rowAttempt: number): Promise<number | ReserveHoldingsOutput> {
  for (let attempt = req.attempt; ; attempt++) {
    const existing = await tx<
      {
        contract_id: string;
        amount: string;
        deadline: string | null;
        stale: boolean | null;
        released_at: string | null;
        release_reason: string | null;
        submitted_at: string | null;
      }[]
    >`
      select r.contract_id, h.amount::text as amount, r.deadline, r.deadline <= now() as stale, r.released_at, r.release_reason, r.submitted_at
      from holding_reservations r join holdings h using (contract_id)
      where r.withdrawal_id = ${req.withdrawalId} and r.attempt = ${attempt}
      order by r.reservation_id`;
    if (existing.length === 0) {
      if (rowAttempt >= attempt) {
        throw new ReservationRefused({
          code: Failure.STALE_ATTEMPT,
          message: `withdrawal ${req.withdrawalId} is at attempt ${rowAttempt}; refusing to reserve attempt ${attempt}`,
        });
      }
      return attempt;
    }
    const used = () =>
      new ReservationRefused({
        code: Failure.ATTEMPT_ALREADY_USED,
        message: `attempt ${attempt} of ${req.withdrawalId} was already reserved and released`,
      });
    if (existing.some((r) => r.deadline === null)) throw used();
    if (existing.every((r) => r.released_at === null)) {
      if (existing.every((r) => r.stale === false))
        return reserved(
          attempt,
          existing.map((r) => ({ contractId: r.contract_id, amount: r.amount })),
          existing[0]!.deadline!,
        );
      if (existing.some((r) => r.submitted_at !== null)) {
        // Never released here: only the ledger (expiry or transfer) settles a submitted attempt.
        throw new ReservationRefused({
          code: Failure.STALE_ATTEMPT_SUBMITTED,
          message: `attempt ${attempt} of ${req.withdrawalId} is past its deadline ${existing[0]!.deadline} and was submitted: waiting for ingestion to report it`,
        });
      }
      await tx`
        update holding_reservations set released_at = now(), release_reason = ${STALE_RELEASE_REASON}
        where withdrawal_id = ${req.withdrawalId} and attempt = ${attempt} and released_at is null`;
      continue;
    }
    if (existing.every((r) => r.release_reason === STALE_RELEASE_REASON)) continue;
    throw used();
  }
}

/** `lastTry`: report a contended selection as insufficient (with its reason) instead of asking again. */
async function reserveInTx(tx: Tx, req: ReserveHoldingsInput, lastTry: boolean): Promise<ReserveHoldingsOutput | 'contended'> {
  const [w] = await tx<
    WithdrawalLockRow[]
  >`select status, attempt, purpose, input_holding_cids from withdrawals where withdrawal_id = ${req.withdrawalId} for update`;
  if (!w) throw new ReservationRefused({ code: Failure.WITHDRAWAL_NOT_FOUND, message: `no withdrawal ${req.withdrawalId}` });
  if ((FINAL_WITHDRAWAL_STATUSES as readonly string[]).includes(w.status)) {
    throw new ReservationRefused({ code: Failure.WITHDRAWAL_FINAL, message: `withdrawal ${req.withdrawalId} is ${w.status}` });
  }

  const attempt = await attemptToReserve(tx, req, w.attempt);
  if (typeof attempt !== 'number') return attempt;

  const needed = await coverage(tx, req, w.purpose);

  // The smallest and the largest free holdings are all a selection can need (selectInputs).
  // `claim`: lock them, passing over those another reserver holds locked right now.
  // Both keys in one direction, so the index is read forwards or backwards and nothing is sorted:
  // with `amount desc, contract_id asc` every holding tied at the largest amount was read and
  // sorted before the limit applied (all of them, when dust holdings share one amount).
  const free = (order: 'asc' | 'desc', claim: boolean, limit: number) => {
    const direction = order === 'asc' ? tx`asc` : tx`desc`;
    return tx<{ contract_id: string; amount: string }[]>`
      select h.contract_id, h.amount::text as amount from holdings h
      where h.owner = ${req.owner} and h.instrument_admin = ${req.instrument.admin} and h.instrument_id = ${req.instrument.id}
        and h.archived_offset is null and h.lock is null and not h.reserved
        ${allowedInputs(tx, w.input_holding_cids)}
      order by h.amount ${direction}, h.contract_id ${direction}
      limit ${limit}
      ${claim ? tx`for update of h skip locked` : tx``}`;
  };
  const toCandidates = (rows: { contract_id: string; amount: string }[]): Candidate[] =>
    rows.map((r) => ({ contractId: r.contract_id, amount: r.amount }));
  // A few of the smallest first: most withdrawals need one or two holdings, and every row read
  // here is locked until commit, hidden from every concurrent reserver. Only when they fall short
  // are up to maxInputs read (the same choice: smallest first).
  const select = async (claim: boolean) => {
    const few = toCandidates(await free('asc', claim, Math.min(FIRST_CANDIDATES, req.maxInputs)));
    const fromFew = selectInputs(few, needed, req.maxInputs);
    if (fromFew !== null || few.length < FIRST_CANDIDATES)
      return fromFew ?? selectInputs([...few, ...toCandidates(await free('desc', claim, req.maxInputs))], needed, req.maxInputs);
    const small = toCandidates(await free('asc', claim, req.maxInputs));
    return (
      selectInputs(small, needed, req.maxInputs) ??
      selectInputs([...small, ...toCandidates(await free('desc', claim, req.maxInputs))], needed, req.maxInputs)
    );
  };
  const chosen = await select(true);
  if (chosen === null) {
    // Counted with the holdings others hold locked, the funds suffice: they are being claimed
    // right now and may be released. As cheap as the selection itself (the full sum is not).
    if (!lastTry && (await select(false)) !== null) return 'contended';
    return insufficient(tx, req, w.input_holding_cids, needed);
  }

  const [row] = await tx<{ deadline: string }[]>`
    update withdrawals
    set attempt = ${attempt},
        deadline = date_trunc('milliseconds', now()) + ${req.ttlMs} * interval '1 millisecond',
        updated_at = now()
    where withdrawal_id = ${req.withdrawalId}
    returning deadline`;
  const deadline = row!.deadline;
  await tx`
    insert into holding_reservations ${tx(chosen.map((c) => ({ contract_id: c.contractId, withdrawal_id: req.withdrawalId, attempt, deadline })))}`;
  return reserved(attempt, chosen, deadline);
}

/**
 * What the inputs must hold: the amount plus the instrument's fee reserve, read in this transaction
 * (a reserve changed a moment ago applies to this reservation). Self-transfers move funds to the
 * treasury itself, which the ledger does not charge (src/sandbox/engine/instruments.ts: only funds
 * reaching another party pay); a merge's amount is the whole of its inputs, so a reserve on top
 * would leave it waiting for funds for ever.
 */
async function coverage(tx: Tx, req: ReserveHoldingsInput, purpose: WithdrawalLockRow['purpose']): Promise<string> {
  if (purpose === 'self_transfer') return normalizeAmount(req.amount);
  const reserve = (await readFeeReserve(tx, req.instrument.admin, req.instrument.id)) ?? NO_FEE_RESERVE;
  return amountWithFeeReserve(req.amount, reserve);
}

function reserved(attempt: number, holdings: Candidate[], deadline: string): ReserveHoldingsOutput {
  return {
    kind: 'reserved',
    attempt,
    holdings: holdings.map((h) => ({ contractId: h.contractId, amount: normalizeAmount(h.amount) })),
    total: addAmounts(...holdings.map((h) => h.amount)),
    deadline,
  };
}

async function insufficient(tx: Tx, req: ReserveHoldingsInput, planned: string[] | null, needed: string): Promise<ReserveHoldingsOutput> {
  const [s] = await tx<{ total: string; n: number }[]>`
    select coalesce(sum(h.amount), 0)::text as total, count(*)::int as n from holdings h
    where h.owner = ${req.owner} and h.instrument_admin = ${req.instrument.admin} and h.instrument_id = ${req.instrument.id}
      and h.archived_offset is null and h.lock is null and not h.reserved
      ${allowedInputs(tx, planned)}`;
  const available = normalizeAmount(s!.total);
  const amount = normalizeAmount(req.amount);
  const reserve = subAmounts(needed, amount);
  // The operator must see that the fee is what the free funds fall short of, not the amount.
  const what = isZeroAmount(reserve) ? needed : `${needed} (amount ${amount} + fee reserve ${reserve})`;
  if (planned !== null) {
    // The holdings job watches for this reason's state (waiting for funds) and cancels the self-transfer.
    const reason = `planned inputs no longer all free: ${s!.n} of ${planned.length} holdings (${available}) can be claimed, ${what} needed`;
    return { kind: 'insufficient', needed, available, reason };
  }
  if (compareAmounts(available, needed) >= 0) {
    const reason = `free funds ${available} cover ${what} only with more than ${req.maxInputs} holdings, or some are being claimed right now: merge holdings`;
    return { kind: 'insufficient', needed, available, reason };
  }
  // Short of free funds, but are the funds there? Holdings other withdrawals hold come back (as
  // change, or released) when those finish: a burst waiting its turn, not a treasury to refill.
  const [r] = await tx<{ total: string; n: number; withdrawals: number }[]>`
    select coalesce(sum(h.amount), 0)::text as total, count(*)::int as n, count(distinct r.withdrawal_id)::int as withdrawals
    from holdings h join holding_reservations r on r.contract_id = h.contract_id and r.released_at is null
    where h.owner = ${req.owner} and h.instrument_admin = ${req.instrument.admin} and h.instrument_id = ${req.instrument.id}
      and h.archived_offset is null and h.lock is null and r.withdrawal_id <> ${req.withdrawalId}`;
  const inUse = normalizeAmount(r!.total);
  const reason =
    r!.withdrawals > 0 && compareAmounts(addAmounts(available, inUse), needed) >= 0
      ? `all free holdings are in use by ${r!.withdrawals} withdrawals: need ${what}, free ${available} in ${s!.n} holdings, ${inUse} in ${r!.n} holdings reserved by withdrawals in flight (their change comes back when they finish)`
      : `insufficient free funds: need ${what}, free ${available} in ${s!.n} holdings`;
  return { kind: 'insufficient', needed, available, reason };
}

export interface ReleaseResult {
  released: string[];
  /** Live reservations of a submitted attempt that may still commit: never released. */
  refused: string[];
}

/**
 * Releases live reservations of a withdrawal (one attempt, or all when `attempt` is null). A
 * reservation whose attempt was submitted is released only when the ledger has settled it: its
 * holding is archived (spent or gone) or the ingested record time is past its deadline. The
 * machine only asks in those cases; this check is the database's own line of defence.
 * `strict`: refuse everything when anything is refused (the actor); otherwise release what may be.
 */
export async function releaseReservations(tx: Tx, req: ReleaseReservationInput, opts: { strict: boolean }): Promise<ReleaseResult> {
  const rows = await tx<{ reservation_id: number; contract_id: string; allowed: boolean }[]>`
    select r.reservation_id, r.contract_id,
      (r.submitted_at is null
        or h.archived_offset is not null
        or (r.deadline is not null and r.deadline < ${ingestedTimeOfAttempt(tx)})) as allowed
    from holding_reservations r left join holdings h using (contract_id)
    where r.withdrawal_id = ${req.withdrawalId} and r.released_at is null
      ${req.attempt === null ? tx`` : tx`and r.attempt = ${req.attempt}`}
    order by r.reservation_id
    for update of r`;
  const allowed = rows.filter((r) => r.allowed);
  const refused = rows.filter((r) => !r.allowed).map((r) => r.contract_id);
  if (opts.strict && refused.length > 0) {
    throw new ReservationRefused({
      code: Failure.RELEASE_REFUSED,
      message: `withdrawal ${req.withdrawalId}: holdings ${refused.join(', ')} belong to a submitted attempt that is neither spent nor past its deadline`,
    });
  }
  if (allowed.length > 0) {
    await tx`
      update holding_reservations set released_at = now(), release_reason = ${req.reason}
      where reservation_id = any(${allowed.map((r) => r.reservation_id)})`;
  }
  return { released: allowed.map((r) => r.contract_id), refused };
}

/**
 * The ingested record time a submitted reservation `r` (joined with its holding `h`) is decided
 * against: that of the synchronizer its transaction was prepared for, as ingestion of the
 * holding's owner saw it. Record time is ordered only within one synchronizer: another's may be
 * past the deadline while this one's is not. A reservation marked without a synchronizer takes
 * the synchronizer ingestion follows (its checkpoint's record time).
 */
function ingestedTimeOfAttempt(tx: Tx) {
  return tx`(select case when r.synchronizer_id is null then c.record_time else (c.synchronizer_times ->> r.synchronizer_id)::timestamptz end
    from ingestion_checkpoint c where c.treasury_party = h.owner)`;
}

/**
 * Records that an execute is about to be tried for the attempt, and the synchronizer its
 * transaction was prepared for (its deadline is decided against that synchronizer's record time
 * only). Written in the transaction that persists the machine entering `executing`, which commits
 * before the execute is sent.
 */
export async function markAttemptSubmitted(tx: Tx, withdrawalId: string, attempt: number, synchronizerId?: string): Promise<void> {
  await tx`
    update holding_reservations set submitted_at = now(), synchronizer_id = ${synchronizerId ?? null}
    where withdrawal_id = ${withdrawalId} and attempt = ${attempt} and released_at is null and submitted_at is null`;
}

/** Live reservations of a withdrawal, for reads and tests. */
export async function liveReservations(
  db: Queryable,
  withdrawalId: string,
): Promise<{ contractId: string; attempt: number; submitted: boolean; deadline: string | null }[]> {
  const rows = await db<{ contract_id: string; attempt: number; submitted_at: string | null; deadline: string | null }[]>`
    select contract_id, attempt, submitted_at, deadline from holding_reservations
    where withdrawal_id = ${withdrawalId} and released_at is null order by reservation_id`;
  return rows.map((r) => ({ contractId: r.contract_id, attempt: r.attempt, submitted: r.submitted_at !== null, deadline: r.deadline }));
}

/**
 * Where ingestion has left an attempt (read once it has caught up with the ledger: see
 * CheckAttemptInput). A transfer with this withdrawal's memo and the archive of the inputs it spent
 * are written in one batch transaction, so "an input archived and no transfer of ours" means
 * something else spent it.
 */
export async function attemptStanding(db: Queryable, input: CheckAttemptInput): Promise<{ standing: AttemptStanding; detail: string }> {
  const [w] = await db<{ transfer_update_id: string | null; expiry_emitted_attempt: number | null; deadline: string | null }[]>`
    select transfer_update_id, expiry_emitted_attempt, deadline from withdrawals where withdrawal_id = ${input.withdrawalId}`;
  if (!w) throw new ReservationRefused({ code: Failure.WITHDRAWAL_NOT_FOUND, message: `no withdrawal ${input.withdrawalId}` });
  if (w.transfer_update_id !== null)
    return { standing: 'transferred', detail: `ingestion has this withdrawal's transfer, update ${w.transfer_update_id}` };
  if ((w.expiry_emitted_attempt ?? 0) >= input.attempt) {
    return {
      standing: 'expired',
      detail: `ingestion reported attempt ${w.expiry_emitted_attempt ?? input.attempt} past its deadline with no transfer`,
    };
  }
  const gone = await db<{ contract_id: string; archived_update_id: string | null }[]>`
    select contract_id, archived_update_id from holdings
    where contract_id = any(${input.holdingCids}) and archived_offset is not null order by contract_id`;
  if (gone.length > 0) {
    return {
      standing: 'inputsSpent',
      detail: `inputs ${gone.map((g) => `${g.contract_id} (update ${g.archived_update_id ?? '?'})`).join(', ')} were spent by updates that carried no transfer of this withdrawal`,
    };
  }
  return { standing: 'open', detail: `all ${input.holdingCids.length} reserved holdings are still active` };
}

function isPgError(e: unknown, sqlState: string): boolean {
  return e !== null && typeof e === 'object' && 'code' in e && (e as { code: unknown }).code === sqlState;
}

/**
 * Withdrawal attempts submitted for `synchronizerId` that are undecided: no transfer ingested, no
 * expiry reported, the reservation not released. After a major upgrade nothing decides them (the
 * old synchronizer's record time stops): `cxi ingestion migrate` reports how many.
 */
export async function countUndecidedAttempts(db: Queryable, synchronizerId: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    select count(distinct (w.withdrawal_id, w.attempt))::int as n
    from withdrawals w join holding_reservations r on r.withdrawal_id = w.withdrawal_id and r.attempt = w.attempt
    where r.synchronizer_id = ${synchronizerId} and r.submitted_at is not null and r.released_at is null
      and w.transfer_update_id is null and (w.expiry_emitted_attempt is null or w.expiry_emitted_attempt < w.attempt)`;
  return row?.n ?? 0;
}

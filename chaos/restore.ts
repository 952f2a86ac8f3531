import { spawn, spawnSync } from 'node:child_process';
import type postgres from 'postgres';
import { z } from 'zod';
import { compareAmounts } from '../src/lib/decimal.js';
import type { TransferRow } from './double.js';
import type { DbState, Finding } from './invariants.js';
import { createDatabase, dropDatabase, urlFor } from './processes.js';

/**
 * The restore fault: a `pg_dump` of the daemon's database taken while withdrawals are in flight,
 * and later (the daemon SIGKILLed and gone) the database dropped, re-created and loaded from that
 * dump. What the restore rolled back is recorded so that the end of the campaign can tell a
 * legitimate consequence (a withdrawal paid after the backup comes back as `recovered`) from a
 * broken promise (the exchange was told an outcome before the restore that the end contradicts).
 */

/** Payout statuses that mean "between reserving holdings and the ledger's answer". */
export const IN_FLIGHT = ['reserving', 'preparing', 'signing', 'executing', 'awaiting_ledger', 'retrying', 'failing'];

/** pg_dump and pg_restore are on the PATH. */
export function restoreToolsAvailable(): boolean {
  return ['pg_dump', 'pg_restore'].every((tool) => spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0);
}

/** Runs a Postgres client tool without blocking the event loop (the workload and faults go on meanwhile). */
function run(tool: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${tool} ended with ${signal ?? code}: ${stderr.trim().slice(0, 1000)}`));
    });
  });
}

/**
 * A consistent backup of the running daemon's database: pg_dump reads every table in one
 * repeatable-read snapshot, so the dump is the database as of one moment, whatever commits
 * meanwhile. Custom format, for pg_restore.
 */
export async function backupDatabase(database: string, file: string): Promise<void> {
  await run(
    'pg_dump',
    ['--format=custom', '--no-owner', '--lock-wait-timeout=30s', `--file=${file}`, `--dbname=${urlFor(database)}`],
    120_000,
  );
}

/**
 * Replaces the database by the backup. The caller has stopped the daemon (its process has exited);
 * `drop … with (force)` also ends any server backend of it still finishing a statement. The load
 * is one transaction: all of the backup or (on error) nothing, and the campaign stops.
 */
export async function restoreDatabase(database: string, file: string): Promise<void> {
  await dropDatabase(database);
  await createDatabase(database);
  await run('pg_restore', ['--exit-on-error', '--single-transaction', '--no-owner', `--dbname=${urlFor(database)}`, file], 300_000);
}

const EventRow = z.object({ event_id: z.coerce.number().int(), topic: z.string(), aggregate_id: z.string() });
export type EventRow = z.infer<typeof EventRow>;

export async function readEvents(sql: postgres.Sql, afterId = 0): Promise<EventRow[]> {
  return z
    .array(EventRow)
    .parse(await sql`select event_id, topic, aggregate_id from outbox_events where event_id > ${afterId} order by event_id`);
}

/** Payout withdrawals in flight now, as `id status`. */
export async function inFlightPayouts(sql: postgres.Sql): Promise<string[]> {
  const rows = z
    .array(z.object({ withdrawal_id: z.string(), status: z.string() }))
    .parse(
      await sql`select withdrawal_id, status from withdrawals where purpose = 'payout' and status in ${sql(IN_FLIGHT)} order by withdrawal_id`,
    );
  return rows.map((r) => `${r.withdrawal_id} ${r.status}`);
}

/** One restore: the database just before it (daemon stopped) and what the backup brought back. */
export interface RestoreRecord {
  index: number;
  /** The life (kill number) during which the backup was taken, and the kill that ended in the restore. */
  backupLife: number;
  restoreKill: number;
  /** Payouts in flight when the dump started (the dump's snapshot is taken right after). */
  inFlightAtBackup: string[];
  /** The double's ledger end once the daemon had stopped: what committed before the restore. */
  ledgerEndAtRestore: number;
  /** The database as the daemon left it: what the exchange may have read. */
  before: DbState;
  eventsBefore: EventRow[];
  /** The restored database. */
  after: DbState;
  maxEventIdAfter: number;
}

export interface RestoreDiff {
  lostWithdrawals: string[];
  revertedWithdrawals: string[];
  lostDeposits: string[];
  revertedDeposits: string[];
  rolledBackEvents: number;
}

export function restoreDiff(r: RestoreRecord): RestoreDiff {
  const wAfter = new Map(r.after.withdrawals.map((w) => [w.withdrawal_id, w.status]));
  const dAfter = new Map(r.after.deposits.map((d) => [d.deposit_id, d.status]));
  const lostWithdrawals: string[] = [];
  const revertedWithdrawals: string[] = [];
  for (const w of r.before.withdrawals) {
    const s = wAfter.get(w.withdrawal_id);
    if (s === undefined) lostWithdrawals.push(`${w.withdrawal_id} (${w.status})`);
    else if (s !== w.status) revertedWithdrawals.push(`${w.withdrawal_id} ${w.status}→${s}`);
  }
  const lostDeposits: string[] = [];
  const revertedDeposits: string[] = [];
  for (const d of r.before.deposits) {
    const s = dAfter.get(d.deposit_id);
    if (s === undefined) lostDeposits.push(`${d.deposit_id} (${d.status})`);
    else if (s !== d.status) revertedDeposits.push(`${d.deposit_id} ${d.status}→${s}`);
  }
  return {
    lostWithdrawals,
    revertedWithdrawals,
    lostDeposits,
    revertedDeposits,
    rolledBackEvents: r.eventsBefore.filter((e) => e.event_id > r.maxEventIdAfter).length,
  };
}

/** Withdrawal ids whose rows a restore took away (a `recovered` row for them is the daemon doing its job). */
export function lostByRestores(records: readonly RestoreRecord[]): Set<string> {
  const out = new Set<string>();
  for (const r of records) {
    const kept = new Set(r.after.withdrawals.map((w) => w.withdrawal_id));
    for (const w of r.before.withdrawals) if (!kept.has(w.withdrawal_id)) out.add(w.withdrawal_id);
  }
  return out;
}

/**
 * What the exchange was told before a restore (the outcome events the restore rolled back: it may
 * have read them at GET /v1/events) against how the campaign ends. The daemon may redo work after a
 * restore, but it must not contradict an outcome it announced: a withdrawal announced completed
 * ends paid, one announced failed (the exchange re-credited the customer) is never paid, a
 * deposit announced credited ends credited the same (same id, account and amount).
 *
 * Event ids: an event written after the restore must not reuse an id a consumer may already have
 * passed (it would skip it for good): a violation.
 */
export function checkRestores(opts: {
  records: readonly RestoreRecord[];
  db: DbState;
  events: readonly EventRow[];
  /** The treasury's transfer with this memo if it reached its receiver (direct, or an offer accepted). */
  paidOnLedger: (withdrawalId: string) => TransferRow | undefined;
}): { violations: Finding[]; notes: Finding[] } {
  const violations: Finding[] = [];
  const notes: Finding[] = [];
  const withdrawals = new Map(opts.db.withdrawals.map((w) => [w.withdrawal_id, w]));
  const deposits = new Map(opts.db.deposits.map((d) => [d.deposit_id, d]));
  for (const r of opts.records) {
    const tag = `restore ${r.index}`;
    const rolledBack = r.eventsBefore.filter((e) => e.event_id > r.maxEventIdAfter);
    const depositsBefore = new Map(r.before.deposits.map((d) => [d.deposit_id, d]));
    for (const e of rolledBack) {
      if (e.topic === 'withdrawal.completed') {
        const w = withdrawals.get(e.aggregate_id);
        if (
          w === undefined ||
          (w.status !== 'completed' && !(w.status === 'recovered' && opts.paidOnLedger(w.withdrawal_id) !== undefined))
        ) {
          violations.push({
            invariant: 'completed-exactly-once',
            detail: `${e.aggregate_id}: announced completed before ${tag} (event ${e.event_id}), ends ${w?.status ?? 'without a row'}`,
          });
        }
      } else if (e.topic === 'withdrawal.failed') {
        const w = withdrawals.get(e.aggregate_id);
        const paid = opts.paidOnLedger(e.aggregate_id);
        const payout = r.before.withdrawals.find((x) => x.withdrawal_id === e.aggregate_id)?.purpose === 'payout';
        if (payout && paid !== undefined) {
          violations.push({
            invariant: 'failed-means-unpaid',
            detail:
              `${e.aggregate_id}: announced failed before ${tag} (event ${e.event_id}; the exchange re-credits), yet paid on the ledger ` +
              `(${paid.updateId}, ${paid.outcome}, offset ${paid.offset}: ${paid.offset <= r.ledgerEndAtRestore ? 'before' : 'after'} the restore, whose ledger end was ${r.ledgerEndAtRestore}); ends ${w?.status ?? 'without a row'}`,
          });
        }
      } else if (e.topic === 'deposit.credited') {
        const was = depositsBefore.get(e.aggregate_id);
        const d = deposits.get(e.aggregate_id);
        const same =
          d !== undefined &&
          was !== undefined &&
          d.status === 'credited' &&
          d.account_id === was.account_id &&
          d.credited_amount !== null &&
          was.credited_amount !== null &&
          compareAmounts(d.credited_amount, was.credited_amount) === 0;
        if (!same) {
          violations.push({
            invariant: 'deposit-credited-once',
            detail: `${e.aggregate_id}: announced credited before ${tag} (${was?.credited_amount ?? '?'} to ${was?.account_id ?? '?'}), ends ${d === undefined ? 'without a row' : `${d.status} ${d.credited_amount ?? '∅'} to ${d.account_id ?? '∅'}`}`,
          });
        }
      }
    }
    // A consumer that read up to the last event before the restore asks for ids above it next: an
    // event written after the restore with an id at or below that would never reach it. Ids are
    // at least the writing time in microseconds (sql/020_database_restore.sql), so there is none.
    const lastRead = r.eventsBefore.at(-1)?.event_id ?? 0;
    const reused = opts.events.filter((e) => e.event_id > r.maxEventIdAfter && e.event_id <= lastRead);
    if (reused.length > 0) {
      violations.push({
        invariant: 'restore-event-ids',
        detail: `${tag} rolled the outbox back from event ${lastRead} to ${r.maxEventIdAfter}; ${reused.length} event(s) written after it reuse ids ≤ ${lastRead}, so a consumer reading GET /v1/events?after=${lastRead} never sees them: ${reused
          .slice(0, 10)
          .map((e) => `${e.event_id} ${e.topic} ${e.aggregate_id}`)
          .join('; ')}${reused.length > 10 ? '; …' : ''}`,
      });
    }
  }
  return { violations, notes };
}

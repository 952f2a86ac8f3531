import { afterEach } from 'vitest';
import { createDepositRuntime } from '../../../src/machines/runtime/deposit.js';
import type { MachineRuntime } from '../../../src/machines/runtime/runtime.js';
import type { RuntimeHooks } from '../../../src/machines/runtime/types.js';
import { createWithdrawalRuntime } from '../../../src/machines/runtime/withdrawal.js';
import { connect, type Sql } from '../../../src/store/db.js';
import { appendOutboxEvents } from '../../../src/store/outbox.js';
import { createReservationActors } from '../../../src/machines/effects/reservations.js';
import { migrate } from '../../../src/store/migrate.js';
import { stateName } from '../../../src/machines/state-path.js';
import { createTestDatabase } from '../../support/db.js';
import { testLogger } from '../../support/silent-logger.js';
import type { FakeLedger } from './fake-ledger.js';
import { AMULET, insertInstrument, insertWithdrawal, TREASURY } from './fixtures.js';
import { sampleEvent } from '../../support/outbox-events.js';

/** Runtime tests: a fresh database per test (machines of one test never meet another's), fast timings. */

const cleanups: (() => Promise<void>)[] = [];
const runtimes: MachineRuntime[] = [];

// Each test's runtimes stop and its database goes away with it: pools must not pile up.
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.abort();
  for (const c of cleanups.splice(0).reverse()) await c();
});

export async function freshDatabase(): Promise<Sql> {
  const db = await createTestDatabase();
  const sql = connect({ url: db.url, max: 12 });
  await migrate(sql);
  cleanups.push(async () => {
    await sql.end({ timeout: 5 });
    await db.drop();
  });
  await insertInstrument(sql, { ...AMULET, policy: 'direct-or-offer' });
  return sql;
}

export const TIMINGS = {
  pollIntervalMs: 15,
  discoverIntervalMs: 40,
  leaderRetryMs: 40,
  leaderCheckMs: 200,
  stopTimeoutMs: 2_000,
  reloadDelayMs: 60,
};

export const WITHDRAWAL_POLICY = {
  attemptTtlMs: 60_000,
  maxAttempts: 3,
  maxTransientRetries: 4,
  backoff: { initialMs: 400, maxMs: 2_000, factor: 2 },
  fundsRecheckMs: 150,
  fundsTimeoutMs: 600_000,
};

export function startWithdrawals(sql: Sql, ledger: FakeLedger, opts: { hooks?: RuntimeHooks } = {}): Promise<MachineRuntime> {
  const rt = createWithdrawalRuntime({
    sql,
    logger: testLogger(),
    actors: { ...ledger.withdrawalActors(), ...ledger.wrapDb(createReservationActors(sql)) },
    config: { treasuryParty: TREASURY, policy: WITHDRAWAL_POLICY },
    runtime: TIMINGS,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
  });
  runtimes.push(rt);
  return rt.start().then(() => rt);
}

export function startDeposits(sql: Sql, ledger: FakeLedger, opts: { hooks?: RuntimeHooks } = {}): Promise<MachineRuntime> {
  const rt = createDepositRuntime({
    sql,
    logger: testLogger(),
    actors: ledger.depositActors(),
    config: {
      treasuryParty: TREASURY,
      policy: { maxAcceptAttempts: 3, backoff: { initialMs: 400, maxMs: 2_000, factor: 2 }, acceptConfirmMs: 60_000 },
    },
    runtime: TIMINGS,
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
  });
  runtimes.push(rt);
  return rt.start().then(() => rt);
}

export async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T = await read();
  while (!ok(last)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 10));
    last = await read();
  }
  return last;
}

/** "awaitingLedger.waiting", or "-" when the machine does not exist. */
export async function stateOf(sql: Sql, type: string, id: string): Promise<string> {
  const [row] = await sql<
    { state_value: unknown }[]
  >`select state_value from machine_snapshots where machine_type = ${type} and machine_id = ${id}`;
  return row ? stateName(row.state_value) : '-';
}

export function waitForState(
  sql: Sql,
  type: string,
  id: string,
  state: string | ((s: string) => boolean),
  timeoutMs?: number,
): Promise<string> {
  const ok = typeof state === 'string' ? (s: string) => s === state : state;
  return waitFor(`${type} ${id} in ${String(state)}`, () => stateOf(sql, type, id), ok, timeoutMs);
}

/** A withdrawal request as the HTTP layer writes it: row and withdrawal.requested event in one transaction. */
export async function requestWithdrawal(
  sql: Sql,
  id: string,
  amount: string,
  extra: { purpose?: 'payout' | 'self_transfer'; receiver?: string } = {},
): Promise<void> {
  await sql.begin(async (tx) => {
    await insertWithdrawal(tx, { id, amount, ...extra });
    await appendOutboxEvents(tx, [sampleEvent('withdrawal.requested', id, { amount, purpose: extra.purpose ?? 'payout' })]);
  });
}

export async function outboxOf(sql: Sql, topic: string, aggregateId: string): Promise<Record<string, unknown>[]> {
  const rows = await sql<
    { payload: Record<string, unknown> }[]
  >`select payload from outbox_events where topic = ${topic} and aggregate_id = ${aggregateId} order by event_id`;
  return rows.map((r) => r.payload);
}

export async function transitionsOf(
  sql: Sql,
  type: string,
  id: string,
): Promise<{ seq: number; event_type: string; to: string; outbox_event_id: number | null }[]> {
  const rows = await sql<{ seq: number; event_type: string; to_state: unknown; outbox_event_id: number | null }[]>`
    select seq, event_type, to_state, outbox_event_id from machine_transitions where machine_type = ${type} and machine_id = ${id} order by seq`;
  return rows.map((r) => ({ seq: r.seq, event_type: r.event_type, to: stateName(r.to_state), outbox_event_id: r.outbox_event_id }));
}

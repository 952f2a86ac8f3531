import { describe, expect, it } from 'vitest';
import { MachineVersionError } from '../../src/machines/runtime/runtime.js';
import { WITHDRAWAL_CONSUMER } from '../../src/machines/runtime/withdrawal.js';
import type { Sql } from '../../src/store/db.js';
import { getMachineView, listMachineTransitions } from '../../src/store/machines.js';
import { findUnmanagedWithdrawals } from '../../src/store/machines-withdrawals.js';
import { appendOutboxEvents, readCursor } from '../../src/store/outbox.js';
import { liveReservations } from '../../src/store/reservations.js';
import { FakeLedger, TRANSIENT, UNAUTHENTICATED, AMBIGUOUS } from './support/fake-ledger.js';
import { insertHolding, insertWithdrawal } from './support/fixtures.js';
import {
  freshDatabase,
  outboxOf,
  requestWithdrawal,
  startWithdrawals,
  stateOf,
  transitionsOf,
  waitFor,
  waitForState,
} from './support/runtime.js';
import { sampleEvent } from '../support/outbox-events.js';

const W = 'withdrawal';
const FINAL = ['completed', 'failed', 'cancelled'];

async function withdrawalRow(sql: Sql, id: string) {
  const [row] = await sql<
    { status: string; status_reason: string | null; attempt: number }[]
  >`select status, status_reason, attempt from withdrawals where withdrawal_id = ${id}`;
  return row;
}

/** Ingestion keeps running until the withdrawal is final (as it would in the daemon). */
async function ingestUntilFinal(sql: Sql, ledger: FakeLedger, id: string, timeoutMs = 15_000): Promise<string> {
  return waitFor(
    `${id} final`,
    async () => {
      await ledger.ingest();
      return stateOf(sql, W, id);
    },
    (s) => FINAL.includes(s),
    timeoutMs,
  );
}

describe('withdrawal runtime: persistence', () => {
  it('end to end: persists every transition with its event, mirrors status, announces the outcome, releases bookkeeping', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '6' });
    await insertHolding(sql, { contractId: 'h2', amount: '7' });
    await startWithdrawals(sql, ledger);
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
    expect(await withdrawalRow(sql, 'w1')).toMatchObject({ status: 'awaiting_ledger', attempt: 1 });
    expect(await liveReservations(sql, 'w1')).toEqual([
      expect.objectContaining({ contractId: 'h1', attempt: 1, submitted: true }),
      expect.objectContaining({ contractId: 'h2', attempt: 1, submitted: true }),
    ]);
    await ledger.ingest();
    await waitForState(sql, W, 'w1', 'completed');
    expect(await withdrawalRow(sql, 'w1')).toEqual({ status: 'completed', status_reason: null, attempt: 1 });
    expect(await outboxOf(sql, 'withdrawal.completed', 'w1')).toEqual([
      expect.objectContaining({ withdrawalId: 'w1', updateId: 'upd-1', attempt: 1, purpose: 'payout' }),
    ]);
    expect((await transitionsOf(sql, W, 'w1')).map((t) => [t.event_type, t.to])).toEqual([
      ['xstate.init', 'reserving'],
      ['xstate.done.actor.reserveHoldings', 'preparing.fetchingFactory'],
      ['xstate.done.actor.fetchTransferFactory', 'preparing.preparingTransaction'],
      ['xstate.done.actor.prepareTransfer', 'signing'],
      ['xstate.done.actor.verifyAndSign', 'executing'],
      ['xstate.done.actor.executeSubmission', 'awaitingLedger.waiting'],
      ['TRANSFERRED', 'completed'],
    ]);
    // The read helpers the HTTP layer uses.
    const view = await getMachineView(sql, W, 'w1');
    expect(view).toMatchObject({
      machineType: W,
      machineId: 'w1',
      machineVersion: 1,
      stateName: 'completed',
      isFinal: true,
      seq: 7,
      context: expect.objectContaining({ withdrawalId: 'w1', attempt: 1 }),
    });
    const page = await listMachineTransitions(sql, W, 'w1', { afterSeq: 5, limit: 1 });
    expect(page).toEqual([
      expect.objectContaining({
        seq: 6,
        eventType: 'xstate.done.actor.executeSubmission',
        from: 'executing',
        to: { awaitingLedger: 'waiting' },
        outboxEventId: null,
      }),
    ]);
    expect(await getMachineView(sql, W, 'nope')).toBeUndefined();
    expect(await liveReservations(sql, 'w1')).toEqual([]);
    const [last] = await sql<
      { max: number }[]
    >`select max(event_id)::bigint as max from outbox_events where topic like 'withdrawal.%' and topic <> 'withdrawal.completed'`;
    // The cursor moves in its own commit once the batch's transitions are committed.
    await waitFor(
      'cursor past the last withdrawal event',
      () => readCursor(sql, WITHDRAWAL_CONSUMER),
      (c) => c === Number(last!.max),
    );
  });

  it('picks up request rows inserted directly with SQL (no outbox event), never recovered or transferred ones', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '5' });
    await insertHolding(sql, { contractId: 'h2', amount: '5' });
    await insertWithdrawal(sql, { id: 'sql-1', amount: '4' });
    await insertWithdrawal(sql, { id: 'recovered-1', amount: '4' });
    await sql`update withdrawals set recovered = true, status = 'recovered', transfer_update_id = 'u-old' where withdrawal_id = 'recovered-1'`;
    await startWithdrawals(sql, ledger);
    await waitForState(sql, W, 'sql-1', 'awaitingLedger.waiting');
    await insertWithdrawal(sql, { id: 'sql-2', amount: '4' });
    await waitForState(sql, W, 'sql-2', 'awaitingLedger.waiting');
    expect(await stateOf(sql, W, 'recovered-1')).toBe('-');
    expect(ledger.count('prepareTransfer')).toBe(2);
  });

  it('discovery leaves a request to its withdrawal.requested event until the runtime has read past it', async () => {
    const sql = await freshDatabase();
    await requestWithdrawal(sql, 'e1', '5');
    await insertWithdrawal(sql, { id: 's1', amount: '5' });
    const [event] = await sql<{ event_id: number }[]>`select event_id from outbox_events where aggregate_id = 'e1'`;
    expect(await findUnmanagedWithdrawals(sql, 10, event!.event_id - 1)).toEqual(['s1']);
    expect(await findUnmanagedWithdrawals(sql, 10, event!.event_id)).toEqual(['e1', 's1']);
  });

  it('a failure after the send and before commit leaves nothing half-written: snapshot, transition, cursor, mirror, outbox all roll back; the event is applied once on retry', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    let failures = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let observed: unknown;
    await startWithdrawals(sql, ledger, {
      hooks: {
        beforeCommit: async ({ eventType }) => {
          if (eventType !== 'TRANSFERRED' || failures >= 2) return;
          failures++;
          // Second failure: look at the database after the first rolled back, before this one does.
          if (failures === 2) {
            observed = await snapshotOfWorld(sql);
            release();
          }
          throw new Error('injected crash between send and commit');
        },
      },
    });
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
    const before = await snapshotOfWorld(sql);
    await ledger.ingest();
    await held;
    expect(observed).toEqual(before);
    await waitForState(sql, W, 'w1', 'completed');
    expect(failures).toBe(2);
    const transferred = (await transitionsOf(sql, W, 'w1')).filter((t) => t.event_type === 'TRANSFERRED');
    expect(transferred).toHaveLength(1);
    expect(transferred[0]!.outbox_event_id).not.toBeNull();
    expect(await outboxOf(sql, 'withdrawal.completed', 'w1')).toHaveLength(1);
    // The cursor moves in its own commit once the batch's transitions are committed.
    await waitFor(
      'cursor at the transfer',
      () => readCursor(sql, WITHDRAWAL_CONSUMER),
      (c) => c === Number(transferred[0]!.outbox_event_id),
    );
  });

  it('a failed persist of an effect result reloads the last committed snapshot and re-runs the effect safely', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    let failed = false;
    await startWithdrawals(sql, ledger, {
      hooks: {
        beforeCommit: ({ eventType }) => {
          if (eventType === 'xstate.done.actor.executeSubmission' && !failed) {
            failed = true;
            throw new Error('injected: the execute result is lost');
          }
        },
      },
    });
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
    expect(ledger.count('executeSubmission')).toBe(2);
    expect(ledger.commitsOf('w1')).toHaveLength(1);
    expect(await ingestUntilFinal(sql, ledger, 'w1')).toBe('completed');
  });

  it('write-ahead: when an execute starts, the database already shows the machine executing and the attempt submitted', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    const seen: unknown[] = [];
    ledger.onExecute = async () => {
      seen.push({
        state: await stateOf(sql, W, 'w1'),
        reservations: (await liveReservations(sql, 'w1')).map((r) => r.submitted),
        status: (await withdrawalRow(sql, 'w1'))?.status,
      });
    };
    await startWithdrawals(sql, ledger);
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
    expect(seen).toEqual([{ state: 'executing', reservations: [true], status: 'executing' }]);
  });
});

interface CrashCase {
  name: string;
  /** The state the first runtime is in when it crashes. */
  state: string;
  setup?: (c: { sql: Sql; ledger: FakeLedger }) => Promise<void> | void;
  /** Steps after the state is reached (still before the crash). */
  reach?: (c: { sql: Sql; ledger: FakeLedger }) => Promise<void>;
  afterCrash?: (c: { sql: Sql; ledger: FakeLedger }) => Promise<void> | void;
  finish?: (c: { sql: Sql; ledger: FakeLedger; rt: Awaited<ReturnType<typeof startWithdrawals>> }) => Promise<void>;
  committedAttempt?: number;
}

const expireCurrentAttempt = async ({ sql, ledger }: { sql: Sql; ledger: FakeLedger }) => {
  const [row] = await sql<{ deadline: string }[]>`select deadline from withdrawals where withdrawal_id = 'w1'`;
  ledger.recordTime = Date.parse(row!.deadline) + 1;
  await ledger.ingest();
};

const CRASHES: CrashCase[] = [
  { name: 'reserving', state: 'reserving', setup: ({ ledger }) => ledger.plan('reserveHoldings', 'hang') },
  { name: 'reserve backoff', state: 'reserveBackoff', setup: ({ ledger }) => ledger.plan('reserveHoldings', { throw: TRANSIENT }) },
  {
    name: 'waiting for funds',
    state: 'waitingForFunds',
    setup: async ({ sql }) => {
      await sql`delete from holdings`;
    },
    afterCrash: ({ sql }) => insertHolding(sql, { contractId: 'h-late', amount: '20' }),
  },
  {
    name: 'fetching the transfer factory',
    state: 'preparing.fetchingFactory',
    setup: ({ ledger }) => ledger.plan('fetchTransferFactory', 'hang'),
  },
  { name: 'preparing', state: 'preparing.preparingTransaction', setup: ({ ledger }) => ledger.plan('prepareTransfer', 'hang') },
  { name: 'prepare backoff', state: 'prepareBackoff', setup: ({ ledger }) => ledger.plan('fetchTransferFactory', { throw: TRANSIENT }) },
  { name: 'signing', state: 'signing', setup: ({ ledger }) => ledger.plan('verifyAndSign', 'hang') },
  { name: 'executing, before the ledger saw it', state: 'executing', setup: ({ ledger }) => ledger.plan('executeSubmission', 'hang') },
  {
    name: 'executing, committed but the answer lost',
    state: 'executing',
    setup: ({ ledger }) => ledger.plan('executeSubmission', 'commitThenHang'),
  },
  { name: 'awaiting the ledger', state: 'awaitingLedger.waiting' },
  {
    name: 'resubmit backoff after an ambiguous answer',
    state: 'awaitingLedger.resubmitBackoff',
    setup: ({ ledger }) => ledger.plan('executeSubmission', 'commitThenAmbiguous'),
  },
  {
    name: 'resubmitting',
    state: 'awaitingLedger.resubmitting',
    setup: ({ ledger }) => ledger.plan('executeSubmission', { throw: AMBIGUOUS }, 'hang'),
  },
  {
    name: 'releasing an expired attempt',
    state: 'releasing',
    setup: ({ ledger }) => ledger.plan('executeSubmission', 'drop'),
    reach: async (c) => {
      await waitForState(c.sql, W, 'w1', 'awaitingLedger.waiting');
      c.ledger.plan('releaseReservation', 'hang');
      await expireCurrentAttempt(c);
    },
    committedAttempt: 2,
  },
  {
    name: 'release backoff',
    state: 'releaseBackoff',
    setup: ({ ledger }) => ledger.plan('executeSubmission', 'drop'),
    reach: async (c) => {
      await waitForState(c.sql, W, 'w1', 'awaitingLedger.waiting');
      c.ledger.plan('releaseReservation', { throw: TRANSIENT });
      await expireCurrentAttempt(c);
    },
    committedAttempt: 2,
  },
  {
    name: 'stalled',
    state: 'stalled',
    setup: ({ ledger }) => ledger.plan('fetchTransferFactory', { throw: UNAUTHENTICATED }),
    finish: async ({ rt }) => {
      expect(await rt.sendOperatorCommand('w1', { type: 'RETRY', by: 'ops' })).toMatchObject({ accepted: true });
    },
    committedAttempt: 2,
  },
  {
    name: 'pending acceptance',
    state: 'pendingAcceptance',
    setup: ({ ledger }) => {
      ledger.transferKindFor = () => 'offer';
    },
    reach: async ({ sql, ledger }) => {
      await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
      await ledger.ingest();
    },
    finish: async ({ ledger }) => ledger.closeWithdrawalOffer('w1', 'accepted'),
  },
];

describe('withdrawal runtime: crash in every state, restart, same outcome', () => {
  it.each(CRASHES)('crash while $name', async (c) => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '6' });
    await insertHolding(sql, { contractId: 'h2', amount: '7' });
    await c.setup?.({ sql, ledger });
    const first = await startWithdrawals(sql, ledger);
    await requestWithdrawal(sql, 'w1', '10');
    if (c.reach) await c.reach({ sql, ledger });
    await waitForState(sql, W, 'w1', c.state);
    await first.abort();
    const crashedAt = await stateOf(sql, W, 'w1');
    expect(crashedAt).toBe(c.state);

    ledger.clearPlans();
    await c.afterCrash?.({ sql, ledger });
    const second = await startWithdrawals(sql, ledger);
    await c.finish?.({ sql, ledger, rt: second });
    expect(await ingestUntilFinal(sql, ledger, 'w1')).toBe('completed');

    // Exactly one payment, from the expected attempt; everything mirrored and announced once.
    expect(ledger.commits.map((x) => [x.withdrawalId, x.attempt])).toEqual([['w1', c.committedAttempt ?? 1]]);
    expect(await withdrawalRow(sql, 'w1')).toMatchObject({ status: 'completed' });
    expect(await outboxOf(sql, 'withdrawal.completed', 'w1')).toHaveLength(1);
    expect(await liveReservations(sql, 'w1')).toEqual([]);
    const seqs = (await transitionsOf(sql, W, 'w1')).map((t) => t.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });
});

describe('withdrawal runtime: outbox, leadership, versions, stop', () => {
  it('consumes every outbox event exactly once across repeated crashes', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    const ids = Array.from({ length: 8 }, (_, i) => `w${i}`);
    for (const [i] of ids.entries()) await insertHolding(sql, { contractId: `h${i}`, amount: '5' });
    let rt = await startWithdrawals(sql, ledger);
    for (const [i, id] of ids.entries()) {
      await requestWithdrawal(sql, id, '5');
      await ledger.ingest();
      if (i % 2 === 1) {
        // Crash at an arbitrary point: mid-processing of whatever is in flight.
        await new Promise((r) => setTimeout(r, 7 * i));
        await rt.abort();
        rt = await startWithdrawals(sql, ledger);
      }
    }
    await waitFor(
      'all completed',
      async () => {
        await ledger.ingest();
        return Promise.all(ids.map((id) => stateOf(sql, W, id)));
      },
      (s) => s.every((x) => x === 'completed'),
      20_000,
    );
    for (const id of ids) expect(ledger.commitsOf(id)).toHaveLength(1);
    const applied = await sql<{ outbox_event_id: number; n: number }[]>`
      select outbox_event_id, count(*)::int as n from machine_transitions where outbox_event_id is not null group by outbox_event_id`;
    expect(applied.every((a) => a.n === 1)).toBe(true);
    const transferred = await sql<{ event_id: number }[]>`select event_id from outbox_events where topic = 'withdrawal.transferred'`;
    expect(transferred).toHaveLength(ids.length);
    const appliedIds = new Set(applied.map((a) => a.outbox_event_id));
    expect(transferred.every((t) => appliedIds.has(t.event_id))).toBe(true);
    const [last] = await sql<
      { max: number }[]
    >`select max(event_id)::bigint as max from outbox_events where topic = any(${['withdrawal.requested', 'withdrawal.transferred']})`;
    await waitFor(
      'cursor caught up',
      () => readCursor(sql, WITHDRAWAL_CONSUMER),
      (c) => c === last!.max,
    );
  });

  it('a crash after a batch committed and before the cursor moved: the batch is replayed and every machine skips what it applied', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    ledger.transferKindFor = () => 'offer';
    const ids = ['w0', 'w1', 'w2', 'w3'];
    for (const [i] of ids.entries()) await insertHolding(sql, { contractId: `h${i}`, amount: '5' });
    const rt = await startWithdrawals(sql, ledger);
    for (const id of ids) await requestWithdrawal(sql, id, '5');
    for (const id of ids) await waitForState(sql, W, id, 'awaitingLedger.waiting');
    await ledger.ingest();
    for (const id of ids) await waitForState(sql, W, id, 'pendingAcceptance');
    const [last] = await sql<
      { max: number }[]
    >`select max(event_id)::bigint as max from outbox_events where topic = any(${['withdrawal.requested', 'withdrawal.offered']})`;
    await waitFor(
      'cursor caught up',
      () => readCursor(sql, WITHDRAWAL_CONSUMER),
      (c) => c === last!.max,
    );
    await rt.stop();
    const before = await sql`select machine_id, seq, event_type, outbox_event_id from machine_transitions order by machine_id, seq`;
    // The crash window: every machine's transitions are committed, the cursor is not.
    await sql`update outbox_cursors set last_event_id = 0 where consumer = ${WITHDRAWAL_CONSUMER}`;
    const again = await startWithdrawals(sql, ledger);
    await waitFor(
      'cursor caught up again',
      () => readCursor(sql, WITHDRAWAL_CONSUMER),
      (c) => c === last!.max,
    );
    await again.settled();
    expect(again.status().state).toBe('running');
    expect(await sql`select machine_id, seq, event_type, outbox_event_id from machine_transitions order by machine_id, seq`).toEqual(
      before,
    );
    for (const id of ids) {
      expect(await stateOf(sql, W, id)).toBe('pendingAcceptance');
      expect(await outboxOf(sql, 'withdrawal.pending_acceptance', id)).toHaveLength(1);
      expect(ledger.commitsOf(id)).toHaveLength(1);
    }
  });

  it('group commit: transitions of many machines share transactions, and each machine keeps its own order', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    const ids = Array.from({ length: 12 }, (_, i) => `g${i}`);
    for (const [i] of ids.entries()) await insertHolding(sql, { contractId: `h${i}`, amount: '5' });
    await startWithdrawals(sql, ledger);
    // One batch of requests, as an exchange's bulk insert would make.
    await sql.begin(async (tx) => {
      for (const id of ids) await insertWithdrawal(tx, { id, amount: '5' });
      await appendOutboxEvents(
        tx,
        ids.map((id) => sampleEvent('withdrawal.requested', id, { amount: '5' })),
      );
    });
    for (const id of ids) await waitForState(sql, W, id, 'awaitingLedger.waiting');
    // Rows written by one transaction share its id (xmin).
    const rows = await sql<
      { machine_id: string; seq: number; tx: string }[]
    >`select machine_id, seq, xmin::text as tx from machine_transitions order by machine_id, seq`;
    const machinesPerTx = new Map<string, Set<string>>();
    for (const r of rows) machinesPerTx.set(r.tx, (machinesPerTx.get(r.tx) ?? new Set()).add(r.machine_id));
    expect(Math.max(...[...machinesPerTx.values()].map((m) => m.size))).toBeGreaterThan(1);
    for (const id of ids) {
      const seqs = rows.filter((r) => r.machine_id === id).map((r) => r.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
  });

  it('a machine that cannot be persisted does not take the others in its commit group down: they commit one by one', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    const ids = Array.from({ length: 6 }, (_, i) => `p${i}`);
    for (const [i] of ids.entries()) await insertHolding(sql, { contractId: `h${i}`, amount: '5' });
    const PREPARED = 'xstate.done.actor.prepareTransfer';
    // Every machine gets to preparing before the first prepared result comes back.
    ledger.plan('prepareTransfer', ...ids.map(() => ({ delayMs: 400 })));
    const hookCalls = new Map<string, number>();
    let blocked = false;
    let heldGroupOpen = false;
    let poisoned = false;
    const afterBlock: string[] = [];
    let target: string | undefined;
    await startWithdrawals(sql, ledger, {
      hooks: {
        beforeCommit: async ({ machineId, eventType }) => {
          if (eventType !== PREPARED) return;
          hookCalls.set(machineId, (hookCalls.get(machineId) ?? 0) + 1);
          // Hold the first prepared result's commit while the others' results queue up behind it
          // (one group); then the second record of that group fails, and again on its own. Every
          // prepare must have answered (not only started) before the hold ends, however slowly
          // the machine runs: a result arriving later would commit in a group of its own.
          if (!blocked) {
            blocked = true;
            await waitFor(
              'all prepares answered',
              async () => ledger.answered.get('prepareTransfer') ?? 0,
              (n) => n >= ids.length,
            );
            await new Promise((r) => setTimeout(r, 50));
            // Results that came back with the held one share its group: its remaining hooks run
            // right after this one, before any I/O; that group commits as it is.
            heldGroupOpen = true;
            setImmediate(() => (heldGroupOpen = false));
            return;
          }
          if (heldGroupOpen) return;
          if (!afterBlock.includes(machineId)) afterBlock.push(machineId);
          target ??= afterBlock[1];
          if (machineId === target && hookCalls.get(machineId)! <= 2) {
            poisoned = true;
            throw new Error(`injected: ${machineId} cannot be persisted`);
          }
        },
      },
    });
    for (const id of ids) await requestWithdrawal(sql, id, '5');
    for (const id of ids) await waitForState(sql, W, id, 'awaitingLedger.waiting');
    expect(poisoned).toBe(true);
    // The machine before it in the failed group was committed again on its own...
    expect(hookCalls.get(afterBlock[0]!)).toBe(2);
    // ...without being reloaded: only the failing machine was reloaded, and prepared again.
    expect(ledger.count('prepareTransfer')).toBe(ids.length + 1);
    for (const id of ids) expect(ledger.commitsOf(id)).toHaveLength(1);
  });

  it('one active runtime per database: a second instance stands by and takes over when the first stops', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '5' });
    await insertHolding(sql, { contractId: 'h2', amount: '5' });
    const a = await startWithdrawals(sql, ledger);
    const b = await startWithdrawals(sql, ledger);
    expect(a.status().state).toBe('running');
    expect(b.status()).toEqual({ state: 'paused', detail: 'standby: another instance runs the withdrawal machines' });
    expect(await b.sendOperatorCommand('x', { type: 'RETRY', by: 'ops' })).toMatchObject({ accepted: false, code: 'NOT_ACTIVE' });
    await requestWithdrawal(sql, 'w1', '5');
    await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
    await a.stop();
    await waitFor(
      'b active',
      async () => b.status().state,
      (s) => s === 'running',
    );
    await requestWithdrawal(sql, 'w2', '5');
    await waitForState(sql, W, 'w2', 'awaitingLedger.waiting');
    expect(await ingestUntilFinal(sql, ledger, 'w1')).toBe('completed');
    expect(await ingestUntilFinal(sql, ledger, 'w2')).toBe('completed');
  });

  it('a runtime whose lock connection dies stops touching machines, stands by, and takes over again from the database', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '5' });
    ledger.plan('prepareTransfer', 'hang');
    const rt = await startWithdrawals(sql, ledger);
    await requestWithdrawal(sql, 'w1', '5');
    await waitForState(sql, W, 'w1', 'preparing.preparingTransaction');
    // This database's holder only: test files running alongside hold the same key in theirs.
    const [holder] = await sql<{ pid: number }[]>`
      select pid from pg_locks where locktype = 'advisory' and classid = 72450193 and objid = 1 and objsubid = 2 and granted
        and database = (select oid from pg_database where datname = current_database())`;
    await sql`select pg_terminate_backend(${holder!.pid})`;
    await waitFor(
      'lock loss noticed',
      async () => rt.status(),
      (s) => s.state === 'paused' || ledger.count('prepareTransfer') > 1,
    );
    // It re-acquires (nobody else holds the lock) and restores the machine from the database: the hung prepare re-runs.
    await waitFor(
      'running again',
      async () => rt.status().state,
      (s) => s === 'running',
    );
    await waitFor(
      'prepare re-run',
      async () => ledger.count('prepareTransfer'),
      (n) => n === 2,
    );
    expect(await ingestUntilFinal(sql, ledger, 'w1')).toBe('completed');
    expect(ledger.commitsOf('w1')).toHaveLength(1);
  });

  it('fails closed on an outbox event it cannot read: stops consuming, says which event, never skips it', async () => {
    const sql = await freshDatabase();
    const rt = await startWithdrawals(sql, new FakeLedger(sql));
    // Written past the append check, as an older release or a hand-made insert could have.
    const [{ id } = { id: 0 }] = await sql<{ id: number }[]>`
      insert into outbox_events (topic, aggregate_type, aggregate_id, payload)
      values ('withdrawal.transferred', 'withdrawal', 'w9', ${sql.json({ withdrawalId: 'w9', outcome: 'completed' })}) returning event_id as id`;
    const status = await waitFor(
      'failed',
      async () => rt.status(),
      (s) => s.state === 'failed',
    );
    expect(status.detail).toMatch(
      new RegExp(`outbox event ${id} \\(withdrawal.transferred, withdrawal w9\\) does not parse: .*updateId`, 's'),
    );
    expect(await readCursor(sql, WITHDRAWAL_CONSUMER)).toBe(0);
  });

  it('refuses loudly to start on a snapshot of a machine version it cannot read, and on a context that does not parse', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    const rt = await startWithdrawals(sql, ledger);
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'waitingForFunds');
    await rt.stop();
    await sql`update machine_snapshots set machine_version = 99 where machine_id = 'w1'`;
    const next = startWithdrawals(sql, ledger);
    await expect(next).rejects.toThrow(MachineVersionError);
    await expect(next).rejects.toThrow(/refuses 1 stored machine\(s\): w1: stored with machine version 99, this code reads version 1/);
    await sql`update machine_snapshots set machine_version = 1, snapshot = jsonb_set(snapshot, '{context,attempt}', '"one"') where machine_id = 'w1'`;
    await expect(startWithdrawals(sql, ledger)).rejects.toThrow(/w1: [^]*"attempt"[^]*expected number/);
    expect(ledger.count('reserveHoldings')).toBe(1);
  });

  it('graceful stop lets effects in flight settle and persists them, but starts no new effect; the next runtime runs it', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    ledger.plan('prepareTransfer', { delayMs: 300 });
    const rt = await startWithdrawals(sql, ledger);
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'preparing.preparingTransaction');
    // The prepare has started (its snapshot was committed first); stop while it is in flight.
    await waitFor(
      'prepare started',
      async () => ledger.count('prepareTransfer'),
      (n) => n === 1,
    );
    await rt.stop();
    expect(rt.status().state).toBe('stopped');
    expect(await stateOf(sql, W, 'w1')).toBe('signing');
    expect(ledger.count('verifyAndSign')).toBe(0);
    await startWithdrawals(sql, ledger);
    expect(await ingestUntilFinal(sql, ledger, 'w1')).toBe('completed');
    expect(ledger.count('verifyAndSign')).toBe(1);
  });
});

describe('withdrawal runtime: operator commands', () => {
  it('CANCEL while waiting for funds: accepted, cancelled, announced for re-credit', async () => {
    const sql = await freshDatabase();
    const rt = await startWithdrawals(sql, new FakeLedger(sql));
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'waitingForFunds');
    expect(await withdrawalRow(sql, 'w1')).toMatchObject({
      status: 'waiting_for_funds',
      status_reason: expect.stringMatching(/insufficient free funds: need 10.0000000000, free 0.0000000000/),
    });
    expect(await rt.sendOperatorCommand('w1', { type: 'CANCEL', by: 'ops', reason: 'customer request' })).toEqual({
      accepted: true,
      state: 'releasing',
    });
    await waitForState(sql, W, 'w1', 'cancelled');
    expect(await withdrawalRow(sql, 'w1')).toMatchObject({ status: 'cancelled', status_reason: 'cancelled by ops: customer request' });
    expect(await outboxOf(sql, 'withdrawal.failed', 'w1')).toEqual([
      expect.objectContaining({ recredit: true, cancelled: true, reason: 'cancelled by ops: customer request' }),
    ]);
    const operator = (
      await sql<{ event: { operator?: string } }[]>`select event from machine_transitions where machine_id = 'w1' and event_type = 'CANCEL'`
    )[0];
    expect(operator?.event.operator).toBe('ops');
  });

  it('after an execute: CANCEL refused with the reason (409 material), FAIL accepted and applied once the attempt expires', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    ledger.plan('executeSubmission', 'drop');
    const rt = await startWithdrawals(sql, ledger);
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
    const refused = await rt.sendOperatorCommand('w1', { type: 'CANCEL', by: 'ops', reason: 'too late' });
    expect(refused).toMatchObject({
      accepted: false,
      code: 'STATE_CONFLICT',
      reason: expect.stringMatching(/cancel is only possible before submission/),
    });
    expect(await rt.sendOperatorCommand('w1', { type: 'FAIL', by: 'ops', reason: 'stuck' })).toMatchObject({ accepted: true });
    expect(await stateOf(sql, W, 'w1')).toBe('awaitingLedger.waiting');
    expect(await liveReservations(sql, 'w1')).toHaveLength(1);
    await expireCurrentAttempt({ sql, ledger });
    await waitForState(sql, W, 'w1', 'failed');
    expect(await outboxOf(sql, 'withdrawal.failed', 'w1')).toEqual([
      expect.objectContaining({ recredit: true, cancelled: false, reason: 'failed by operator ops: stuck' }),
    ]);
    expect(ledger.commits).toEqual([]);
    expect(await rt.sendOperatorCommand('w1', { type: 'RETRY', by: 'ops' })).toEqual({
      accepted: false,
      code: 'STATE_CONFLICT',
      reason: 'withdrawal w1 is failed: it is final',
    });
    expect(await rt.sendOperatorCommand('nope', { type: 'RETRY', by: 'ops' })).toEqual({
      accepted: false,
      code: 'NOT_FOUND',
      reason: 'no withdrawal nope',
    });
    expect(await rt.sendOperatorCommand('w1', { type: 'EXPLODE' })).toMatchObject({ accepted: false, code: 'INVALID' });
  });
});

/** Everything one transition writes, to compare before/after a rolled-back transaction. */
async function snapshotOfWorld(sql: Sql): Promise<unknown> {
  return {
    snapshots: await sql`select machine_id, seq, state_value, is_final from machine_snapshots order by machine_id`,
    transitions: await sql`select count(*)::int as n from machine_transitions`,
    cursor: await readCursor(sql, WITHDRAWAL_CONSUMER),
    withdrawals: await sql`select withdrawal_id, status, status_reason, attempt from withdrawals order by withdrawal_id`,
    outbox: await sql`select count(*)::int as n from outbox_events where topic in ('withdrawal.completed', 'withdrawal.failed')`,
    reservations: await sql`select contract_id, released_at is null as live from holding_reservations order by contract_id`,
  };
}

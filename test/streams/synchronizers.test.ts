import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { createIngestionComponent, type IngestionComponent } from '../../src/streams/index.js';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { listActiveHoldings } from '../../src/store/holdings.js';
import { ingestBatch } from '../../src/store/ingestion.js';
import { markAttemptSubmitted, releaseReservations } from '../../src/store/reservations.js';
import { parseElements } from '../../src/ingestion/elements.js';
import { UnexpectedSynchronizerError } from '../../src/ingestion/errors.js';
import { useMigratedDatabase } from '../support/db.js';
import { startStack } from '../support/stack.js';
import { eventsOf, ingestionSnapshot, onboardInstruments, resetIngestionTables } from './support/db-state.js';
import { CC, customer, ScriptedLedger, SYNC, TREASURY, type Json } from './support/scripted-ledger.js';

/**
 * Record time is ordered only within one synchronizer (issue 19, item 3): a deadline is decided
 * against the record time of the synchronizer its attempt was prepared for, never against another
 * synchronizer's (which may be ahead while the transfer is still undelivered on a lagging one),
 * and an update of a synchronizer other than the one ingestion follows stops ingestion.
 */

const { sql } = await useMigratedDatabase();
const opts = { treasuryParty: TREASURY };
const OTHER = `private-synchronizer::1220${'9'.repeat(64)}`;

let sb: Sandbox | undefined;
let component: IngestionComponent | undefined;

beforeEach(async () => {
  await resetIngestionTables(sql);
  await onboardInstruments(sql, [CC]); // only an onboarded token's holdings are the treasury's
});

afterEach(async () => {
  await component?.stop();
  component = undefined;
  await sb?.stop();
  sb = undefined;
});

// As the database gives timestamps back (no zero milliseconds).
const at = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString().replace(/\.000Z$/, 'Z');

/** An OffsetCheckpoint naming the given synchronizer times. */
function checkpoint(offset: number, times: Record<string, string>): Json {
  return {
    update: {
      OffsetCheckpoint: {
        value: { offset, synchronizerTimes: Object.entries(times).map(([synchronizerId, recordTime]) => ({ synchronizerId, recordTime })) },
      },
    },
  };
}

/** A withdrawal whose attempt 1 reserved `holding` with `deadline` and was submitted for `synchronizerId`. */
async function submittedAttempt(id: string, holding: string, deadline: string, synchronizerId: string): Promise<void> {
  await sql`
    insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status, attempt, deadline)
    values (${id}, 'acct-1', ${CC.admin}, ${CC.id}, 1, ${customer(9)}, 'awaitingLedger', 1, ${deadline})`;
  await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt, deadline) values (${holding}, ${id}, 1, ${deadline})`;
  await sql.begin((tx) => markAttemptSubmitted(tx, id, 1, synchronizerId));
}

const release = (id: string) =>
  sql.begin((tx) => releaseReservations(tx, { withdrawalId: id, attempt: null, reason: 'test' }, { strict: false }));
const expiredAttempts = async () =>
  (await eventsOf(sql, 'withdrawal.attempt_expired')).map((e) => [e.aggregate_id, e.payload['synchronizerId'], e.payload['recordTime']]);

describe('deadlines per synchronizer', () => {
  it('an attempt is decided against its own synchronizer’s record time only, whichever synchronizer runs ahead', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: null });
    l.deposit1Step({ sender: customer(2), amount: '20', memo: null });
    await ingestBatch(sql, parseElements(l.elements), opts);
    const [h1, h2] = (await listActiveHoldings(sql, TREASURY)).map((h) => h.contractId);
    const deadline = at(l.recordTime, 60_000);
    // wd-main was prepared for the synchronizer ingestion follows, wd-other for another one.
    await submittedAttempt('wd-main', h1!, deadline, SYNC);
    await submittedAttempt('wd-other', h2!, deadline, OTHER);

    // The other synchronizer is an hour past the deadline, ours a second before it: nothing is decided for wd-main.
    await ingestBatch(
      sql,
      parseElements([checkpoint(l.offset + 1, { [SYNC]: at(deadline, -1000), [OTHER]: at(deadline, 3_600_000) })]),
      opts,
    );
    expect(await readCheckpoint(sql, TREASURY)).toMatchObject({ synchronizerId: SYNC, recordTime: at(deadline, -1000) });
    expect(await expiredAttempts()).toEqual([['wd-other', OTHER, at(deadline, 3_600_000)]]);
    expect(await release('wd-main')).toEqual({ released: [], refused: [h1] });
    expect(await release('wd-other')).toEqual({ released: [h2], refused: [] });

    // Once our synchronizer passes it, it is.
    await ingestBatch(
      sql,
      parseElements([checkpoint(l.offset + 2, { [SYNC]: at(deadline, 1000), [OTHER]: at(deadline, 3_601_000) })]),
      opts,
    );
    expect(await expiredAttempts()).toEqual([
      ['wd-other', OTHER, at(deadline, 3_600_000)],
      ['wd-main', SYNC, at(deadline, 1000)],
    ]);
    expect(await release('wd-main')).toEqual({ released: [h1], refused: [] });
  });

  it('the other way round: the synchronizer followed runs ahead, an attempt prepared for a lagging one waits for it', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: null });
    await ingestBatch(sql, parseElements(l.elements), opts);
    const [h1] = (await listActiveHoldings(sql, TREASURY)).map((h) => h.contractId);
    const deadline = at(l.recordTime, 60_000);
    await submittedAttempt('wd-lagging', h1!, deadline, OTHER);
    await ingestBatch(sql, parseElements([checkpoint(l.offset + 1, { [SYNC]: at(deadline, 3_600_000), [OTHER]: at(deadline, -1) })]), opts);
    expect(await expiredAttempts()).toEqual([]);
    expect(await release('wd-lagging')).toEqual({ released: [], refused: [h1] });
    // A synchronizer the stream never named decides nothing either: its time is unknown.
    await sql`update holding_reservations set synchronizer_id = 'never-seen::1220' where withdrawal_id = 'wd-lagging'`;
    await ingestBatch(
      sql,
      parseElements([checkpoint(l.offset + 2, { [SYNC]: at(deadline, 3_700_000), [OTHER]: at(deadline, 3_700_000) })]),
      opts,
    );
    expect(await expiredAttempts()).toEqual([]);
    expect(await release('wd-lagging')).toEqual({ released: [], refused: [h1] });
  });
});

describe('one synchronizer followed', () => {
  it('the first update sets the synchronizer followed; an update of another one stops the batch, naming both, and nothing of it is written', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: null });
    // An OffsetCheckpoint naming several synchronizers is no update: it adopts nothing and stops nothing.
    const first = [checkpoint(0, { [OTHER]: '2025-12-31T00:00:00Z', [SYNC]: '2025-12-31T00:00:01Z' }), ...l.elements];
    await ingestBatch(sql, parseElements(first), opts);
    expect(await readCheckpoint(sql, TREASURY)).toMatchObject({
      synchronizerId: SYNC,
      synchronizerTimes: { [OTHER]: '2025-12-31T00:00:00Z', [SYNC]: l.recordTime },
    });
    const before = await ingestionSnapshot(sql);

    const n = l.elements.length;
    l.deposit1Step({ sender: customer(2), amount: '20', memo: null });
    l.deposit1Step({ sender: customer(3), amount: '30', memo: null });
    const batch = structuredClone(l.elements.slice(n)) as {
      update: { Transaction: { value: { updateId: string; offset: number; synchronizerId: string } } };
    }[];
    const foreign = batch[1]!.update.Transaction.value;
    foreign.synchronizerId = OTHER;
    const e = await ingestBatch(sql, parseElements(batch), opts).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnexpectedSynchronizerError);
    expect((e as Error).message).toContain(
      `update ${foreign.updateId} at offset ${foreign.offset} is on synchronizer ${OTHER}, but ingestion follows synchronizer ${SYNC} only`,
    );
    expect(await ingestionSnapshot(sql)).toEqual(before);
  });
});

describe('against the ledger double connected to a second synchronizer', () => {
  it('a deposit sequenced on the second synchronizer stops ingestion: component failed, one error naming it, nothing of it ingested', async () => {
    sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' }, checkpointIntervalMs: 50 });
    const s = sb;
    const T = s.treasury!.party;
    const alice = s.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '1000' }] }).party;
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _e, done) => {
        for (const line of chunk.toString().split('\n'))
          if (line.trim() !== '') lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    const logger = pino({ level: 'warn' }, sink);
    component = createIngestionComponent({
      sql,
      logger,
      ledger: { apiUrl: s.jsonApiUrl, auth: { kind: 'static', token: await s.tokenFor(s.treasury!.userId) }, treasuryParty: T },
      // Restarts soon, if at all: the stop must be for good.
      options: {
        retry: { baseDelayMs: 10, maxDelayMs: 100, maxAttempts: 30 },
        batchMaxWaitMs: 10,
        restart: { baseDelayMs: 20, maxDelayMs: 20, maxRestarts: 5 },
      },
    });
    const c = component;
    await c.start();
    const first = s.control.transfer({ from: alice, to: T, instrument: 'Amulet', amount: '10', memo: null });
    while ((c.progress().committedOffset ?? 0) < first.offset) await new Promise((r) => setTimeout(r, 10));
    const followed = (await readCheckpoint(sql, T))!.synchronizerId!;

    const { synchronizerId: second } = s.control.connectSynchronizer('private');
    const foreign = s.control.transfer({ from: alice, to: T, instrument: 'Amulet', amount: '20', memo: null, synchronizerId: second });
    const started = Date.now();
    while (c.status().state !== 'failed') {
      if (Date.now() - started > 10_000) throw new Error(`still ${c.status().state}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(c.status().detail).toContain(
      `update ${foreign.updateId} at offset ${foreign.offset} is on synchronizer ${second}, but ingestion follows synchronizer ${followed} only`,
    );
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toContain(second);
    expect((await readCheckpoint(sql, T))!.offset).toBeLessThan(foreign.offset);
    expect(await sql`select 1 from ingested_updates where update_id = ${foreign.updateId}`).toHaveLength(0);
    // It stays stopped, not restarted: the update is on the ledger for good, and a restart would meet it again.
    await new Promise((r) => setTimeout(r, 300));
    expect(c.status().state).toBe('failed');
    expect(lines.filter((l) => l.level >= 50)).toHaveLength(1);
  });
});

describe('the withdrawal runtime', () => {
  it('records on a submitted attempt’s reservations the synchronizer its transaction was prepared for', async () => {
    const s = await startStack();
    try {
      await s.fundTreasury('Amulet', '100', 1);
      const bob = s.customer({ preapproval: true });
      expect((await s.requestWithdrawal({ withdrawalId: 'w-sync', receiver: bob, instrument: 'Amulet', amount: '5' })).status).toBe(201);
      await s.waitForWithdrawal('w-sync', 'completed');
      const rows = await s.sql<{ synchronizer_id: string | null; submitted: boolean }[]>`
        select synchronizer_id, submitted_at is not null as submitted from holding_reservations where withdrawal_id = 'w-sync'`;
      expect(rows.length).toBeGreaterThan(0);
      expect(rows).toEqual(rows.map(() => ({ synchronizer_id: s.sandbox.synchronizerId, submitted: true })));
      expect((await readCheckpoint(s.sql, s.treasury))!.synchronizerId).toBe(s.sandbox.synchronizerId);
    } finally {
      await s.close();
    }
  });
});

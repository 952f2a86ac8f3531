import { beforeEach, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { listActiveHoldings } from '../../src/store/holdings.js';
import { ingestBatch } from '../../src/store/ingestion.js';
import type { PreparedBatch } from '../../src/ingestion/batch-parse.js';
import { prepareBatch } from '../../src/store/ingestion-reads.js';
import { CheckpointConflictError, UpdateParseError } from '../../src/ingestion/errors.js';
import { parseElements } from '../../src/ingestion/elements.js';
import { useMigratedDatabase } from '../support/db.js';
import { depositsOf, eventsOf, ingestionSnapshot, onboardInstruments, resetIngestionTables, withdrawalsOf } from './support/db-state.js';
import { CC, customer, DSO, ScriptedLedger, SYNC, TREASURY } from './support/scripted-ledger.js';

const { sql } = await useMigratedDatabase();
const opts = { treasuryParty: TREASURY };

beforeEach(async () => {
  await resetIngestionTables(sql);
  await onboardInstruments(sql, [CC]);
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'alice'), ('acct-2', 'memo-2', 'bob')`;
});

async function ingestAll(l: ScriptedLedger, from = 0) {
  return ingestBatch(sql, parseElements(l.elements.slice(from)), opts);
}

async function addWithdrawal(id: string, o: { amount?: string; deadline?: string | null; attempt?: number; purpose?: string } = {}) {
  await sql`
    insert into withdrawals (withdrawal_id, purpose, account, instrument_admin, instrument_id, amount, receiver, status, attempt, deadline)
    values (${id}, ${o.purpose ?? 'payout'}, 'acct-1', ${CC.admin}, ${CC.id}, ${o.amount ?? '10'}, ${customer(9)}, 'awaitingLedger', ${o.attempt ?? 1}, ${o.deadline ?? null})`;
}

/** A copy of a transaction whose treasury holding has an amount that is not a number. */
function withUnparsableAmount(element: unknown) {
  const bad = structuredClone(element) as {
    update: {
      Transaction: {
        value: {
          updateId: string;
          offset: number;
          events: { CreatedEvent?: { interfaceViews: { viewValue: { amount: unknown; owner: string } }[] } }[];
        };
      };
    };
  };
  bad.update.Transaction.value.events.find(
    (e) => e.CreatedEvent?.interfaceViews[0]?.viewValue.owner === TREASURY,
  )!.CreatedEvent!.interfaceViews[0]!.viewValue.amount = 'ten';
  return bad;
}

describe('ingestion store: one transaction per batch', () => {
  it('1-step deposits: known memo credited to its account, unknown and missing memo unattributed; holdings and checkpoint', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    l.deposit1Step({ sender: customer(2), amount: '20', memo: 'not-an-account' });
    l.deposit1Step({ sender: customer(3), amount: '30', memo: null, receiverFee: '1' });
    const r = await ingestAll(l);
    expect(r.facts).toHaveLength(3);
    const deps = await depositsOf(sql);
    expect(deps.map((d) => [d.status, d.memo, d.account_id, d.credited_amount, d.fee])).toEqual(
      expect.arrayContaining([
        ['credited', 'memo-1', 'acct-1', '10.0000000000', null],
        ['unattributed', 'not-an-account', null, '20.0000000000', null],
        ['unattributed', null, null, '29.0000000000', '1.0000000000'],
      ]),
    );
    const events = await eventsOf(sql);
    expect(events.map((e) => e.topic)).toEqual(['deposit.credited', 'deposit.unattributed', 'deposit.unattributed']);
    expect(events[0]!.payload).toMatchObject({
      accountId: 'acct-1',
      creditedAmount: '10.0000000000',
      transferAmount: '10.0000000000',
      kind: 'one_step',
    });
    expect((await listActiveHoldings(sql, TREASURY)).map((h) => h.amount)).toEqual(['10.0000000000', '20.0000000000', '29.0000000000']);
    const last = l.elements[2] as { update: { Transaction: { value: { updateId: string; offset: number; recordTime: string } } } };
    expect(await readCheckpoint(sql, TREASURY)).toEqual({
      treasuryParty: TREASURY,
      offset: last.update.Transaction.value.offset,
      updateId: last.update.Transaction.value.updateId,
      // Where continuity checks look the last transaction up again; the participant is recorded by the component (none here).
      updateOffset: last.update.Transaction.value.offset,
      participantId: null,
      recordTime: last.update.Transaction.value.recordTime,
      synchronizerId: SYNC,
      synchronizerTimes: { [SYNC]: last.update.Transaction.value.recordTime },
    });
  });

  it('re-ingesting updates is a no-op: nothing changes, nothing is credited twice', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    l.deposit1Step({ sender: customer(1), amount: '11', memo: 'memo-1' });
    await ingestAll(l);
    const before = await ingestionSnapshot(sql);
    const again = await ingestAll(l);
    expect(again.skipped).toBe(2);
    expect(again.facts).toEqual([]);
    expect(await ingestionSnapshot(sql)).toEqual(before);
    // Even if the offset were forgotten (restored participant with new offsets), the update ids are known.
    await sql`update ingestion_checkpoint set ledger_offset = 0`;
    const third = await ingestAll(l);
    expect(third.facts).toEqual([]);
    expect((await eventsOf(sql)).length).toBe(2);
  });

  it('2-step deposit: offer recorded (no credit), the accept credits the delta once; offer with unknown memo not credited to anyone', async () => {
    const l = new ScriptedLedger();
    const o1 = l.offerDeposit({ sender: customer(1), amount: '100', memo: 'memo-2' });
    l.offerDeposit({ sender: customer(2), amount: '5', memo: 'stranger' });
    await ingestAll(l);
    let deps = await depositsOf(sql);
    expect(deps.map((d) => [d.deposit_id, d.kind, d.status, d.account_id, d.credited_amount])).toEqual(
      expect.arrayContaining([
        [o1, 'two_step', 'offered', 'acct-2', null],
        [expect.any(String), 'two_step', 'offered', null, null],
      ]),
    );
    const offers = await eventsOf(sql, 'deposit.offer_received');
    expect(offers.map((e) => e.payload['accountId'] ?? null)).toEqual(['acct-2', null]);
    expect(offers[0]!.payload).toMatchObject({ depositId: o1, transferInstructionCid: o1, amount: '100.0000000000', memo: 'memo-2' });

    const n = l.elements.length;
    l.acceptOffer(o1, { fee: '0.25' });
    await ingestAll(l, n);
    deps = await depositsOf(sql);
    expect(deps.find((d) => d.deposit_id === o1)).toMatchObject({
      status: 'credited',
      credited_amount: '99.7500000000',
      transfer_amount: '100.0000000000',
      fee: '0.2500000000',
    });
    const tail = (await eventsOf(sql)).slice(2);
    expect(tail.map((e) => e.topic)).toEqual(['deposit.offer_closed', 'deposit.credited']);
    expect(tail[1]!.payload).toMatchObject({
      depositId: o1,
      accountId: 'acct-2',
      creditedAmount: '99.7500000000',
      transferAmount: '100.0000000000',
      fee: '0.2500000000',
    });
    const [ins] = await sql<{ status: string }[]>`select status from transfer_instructions where contract_id = ${o1}`;
    expect(ins!.status).toBe('accepted');
  });

  it('offers rejected, withdrawn by the sender, and expired by record time (once, after the grace)', async () => {
    const l = new ScriptedLedger();
    const a = l.offerDeposit({ sender: customer(1), amount: '1', memo: 'memo-1' });
    const b = l.offerDeposit({ sender: customer(1), amount: '2', memo: 'memo-1' });
    const c = l.offerDeposit({ sender: customer(1), amount: '3', memo: 'memo-1', executeBeforeMs: 10_000 });
    l.rejectOffer(a);
    l.withdrawOffer(b);
    l.checkpoint(5_000); // not yet past executeBefore
    await ingestAll(l);
    expect((await depositsOf(sql)).find((d) => d.deposit_id === c)!.status).toBe('offered');
    let n = l.elements.length;
    l.checkpoint(60_000); // past executeBefore, within the grace
    await ingestAll(l, n);
    expect((await depositsOf(sql)).find((d) => d.deposit_id === c)!.status).toBe('offered');
    n = l.elements.length;
    l.checkpoint(10_000); // past executeBefore + 60 s
    l.checkpoint(10_000);
    await ingestAll(l, n);
    const deps = await depositsOf(sql);
    expect(Object.fromEntries(deps.map((d) => [d.deposit_id, d.status]))).toEqual({ [a]: 'rejected', [b]: 'withdrawn', [c]: 'expired' });
    const closed = await eventsOf(sql, 'deposit.offer_closed');
    expect(closed.map((e) => [e.aggregate_id, e.payload['outcome']])).toEqual([
      [a, 'rejected'],
      [b, 'withdrawn'],
      [c, 'expired'],
    ]);
  });

  it('withdrawals: transfer seen → transferred; attempt without transfer past its deadline → attempt_expired once per attempt', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '100', memo: 'memo-1' });
    l.advance(1000);
    const deadline = l.recordTime; // record time of the next transaction is 1 s later: past it
    await addWithdrawal('wd-paid', { deadline });
    await addWithdrawal('wd-lost', { deadline });
    await addWithdrawal('wd-later', { deadline: '2099-01-01T00:00:00Z' });
    await ingestAll(l);
    expect(await eventsOf(sql, 'withdrawal.attempt_expired')).toEqual([]);
    const n = l.elements.length;
    l.treasuryTransfer({ withdrawalId: 'wd-paid', receiver: customer(9), amount: '10', kind: '1-step', fee: '0.1' });
    await ingestAll(l, n);
    const ws = Object.fromEntries((await withdrawalsOf(sql)).map((w) => [w.withdrawal_id, w]));
    expect(ws['wd-paid']!.transfer_update_id).not.toBeNull();
    expect(ws['wd-lost']!.expiry_emitted_attempt).toBe(1);
    const events = (await eventsOf(sql)).slice(1);
    expect(events.map((e) => [e.topic, e.aggregate_id])).toEqual([
      ['withdrawal.transferred', 'wd-paid'],
      ['withdrawal.attempt_expired', 'wd-lost'],
    ]);
    expect(events[0]!.payload).toMatchObject({ outcome: 'completed', amount: '10.0000000000', fee: '0.1000000000', self: false });
    expect(events[1]!.payload).toMatchObject({ withdrawalId: 'wd-lost', attempt: 1, deadline });

    // Later batches do not repeat it; a new attempt with a new deadline gets its own.
    let m = l.elements.length;
    l.checkpoint();
    await ingestAll(l, m);
    expect(await eventsOf(sql, 'withdrawal.attempt_expired')).toHaveLength(1);
    await sql`update withdrawals set attempt = 2, deadline = ${l.recordTime} where withdrawal_id = 'wd-lost'`;
    m = l.elements.length;
    l.checkpoint();
    await ingestAll(l, m);
    const expired = await eventsOf(sql, 'withdrawal.attempt_expired');
    expect(expired.map((e) => e.payload['attempt'])).toEqual([1, 2]);
  });

  it('a transfer with an unknown withdrawal id (DB restored) is recorded as a recovered withdrawal', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '100', memo: 'memo-1' });
    l.treasuryTransfer({ withdrawalId: 'wd-from-before-restore', receiver: customer(9), amount: '10', kind: '1-step' });
    l.treasuryTransfer({ withdrawalId: null, receiver: customer(9), amount: '5', kind: '1-step' });
    await ingestAll(l);
    const ws = await withdrawalsOf(sql);
    expect(ws.map((w) => [w.withdrawal_id.replace(/:.*:/, ':…:'), w.status, w.recovered, w.amount, w.receiver])).toEqual([
      ['ledger:…:0', 'recovered', true, '5.0000000000', customer(9)],
      ['wd-from-before-restore', 'recovered', true, '10.0000000000', customer(9)],
    ]);
    expect((await eventsOf(sql, 'withdrawal.recovered')).map((e) => e.payload['outcome'])).toEqual(['completed', 'completed']);
  });

  it('2-step withdrawal: pending, then accepted by the customer; another rejected; an expired one reported expired', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '100', memo: 'memo-1' });
    await addWithdrawal('wd-a');
    await addWithdrawal('wd-b');
    await addWithdrawal('wd-c');
    const a = l.treasuryTransfer({ withdrawalId: 'wd-a', receiver: customer(7), amount: '10', kind: 'offer' })!;
    const b = l.treasuryTransfer({ withdrawalId: 'wd-b', receiver: customer(8), amount: '20', kind: 'offer' })!;
    l.treasuryTransfer({ withdrawalId: 'wd-c', receiver: customer(8), amount: '5', kind: 'offer', executeBeforeMs: 1000 });
    l.customerDecides(a.instructionCid!, true);
    l.customerDecides(b.instructionCid!, false);
    l.checkpoint(120_000);
    await ingestAll(l);
    const ws = Object.fromEntries((await withdrawalsOf(sql)).map((w) => [w.withdrawal_id, w]));
    expect(ws['wd-a']).toMatchObject({ transfer_instruction_cid: a.instructionCid, outcome_update_id: expect.any(String) });
    const events = (await eventsOf(sql)).slice(1).map((e) => [e.topic, e.aggregate_id, e.payload['outcome']]);
    expect(events).toEqual([
      ['withdrawal.offered', 'wd-a', undefined],
      ['withdrawal.offered', 'wd-b', undefined],
      ['withdrawal.offered', 'wd-c', undefined],
      ['withdrawal.instruction_closed', 'wd-a', 'accepted'],
      ['withdrawal.instruction_closed', 'wd-b', 'rejected'],
      ['withdrawal.instruction_closed', 'wd-c', 'expired'],
    ]);
    // The rejected offer's funds came back; the accepted one's left: holdings match the ledger.
    const db = (await listActiveHoldings(sql, TREASURY)).map((h) => h.amount).sort();
    expect(db).toEqual(
      l
        .treasuryHoldings()
        .map((h) => h.amount)
        .sort(),
    );
  });

  it('an update that does not parse stops the batch: nothing of it is written, the error names update id and offset', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    const bad = withUnparsableAmount(l.elements[1]);
    const els = parseElements([l.elements[0], bad]);
    const err = await ingestBatch(sql, els, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpdateParseError);
    expect((err as Error).message).toContain(
      `update ${bad.update.Transaction.value.updateId} at offset ${bad.update.Transaction.value.offset}`,
    );
    const snap = await ingestionSnapshot(sql);
    expect(snap.updates).toEqual([]);
    expect(snap.deposits).toEqual([]);
    expect(snap.checkpoint).toEqual([]);
  });

  it('a batch of several hundred updates (parsed and sent in chunks) writes what small batches write; a bad update late in it leaves nothing', async () => {
    // Deposits, then withdrawals that spend the holdings those deposits created: later parse
    // chunks depend on holdings created by earlier ones.
    const l = new ScriptedLedger();
    for (let i = 0; i < 180; i++)
      l.deposit1Step({ sender: customer(1 + (i % 3)), amount: String(1 + (i % 7)), memo: i % 5 === 0 ? 'stranger' : 'memo-1' });
    for (let i = 0; i < 150; i++) l.treasuryTransfer({ withdrawalId: `wd-${i}`, receiver: customer(9), amount: '1', kind: '1-step' });
    const seed = async () => {
      for (let i = 0; i < 150; i++) await addWithdrawal(`wd-${i}`, { amount: '1' });
    };
    await seed();
    const before = await ingestionSnapshot(sql);
    const bad = withUnparsableAmount(l.elements[300]);
    const poisoned = parseElements([...l.elements.slice(0, 300), bad, ...l.elements.slice(301)]);
    const err = await ingestBatch(sql, poisoned, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpdateParseError);
    expect(await ingestionSnapshot(sql)).toEqual(before);

    const all = parseElements(l.elements);
    let cp = 0;
    for (let i = 0; i < all.length; i += 7)
      cp = (await ingestBatch(sql, all.slice(i, i + 7), { ...opts, expectedOffset: cp })).checkpoint.offset;
    const small = { snap: await ingestionSnapshot(sql), events: (await eventsOf(sql)).map((e) => [e.topic, e.aggregate_id, e.payload]) };
    expect(small.snap.updates).toHaveLength(330);
    expect(small.events.filter(([topic]) => topic === 'withdrawal.transferred')).toHaveLength(150);
    await resetIngestionTables(sql);
    await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'alice'), ('acct-2', 'memo-2', 'bob')`;
    await seed();
    await ingestBatch(sql, all, opts);
    expect({ snap: await ingestionSnapshot(sql), events: (await eventsOf(sql)).map((e) => [e.topic, e.aggregate_id, e.payload]) }).toEqual(
      small,
    );
  });

  it('a batch reads the rows it needs by key, not by scanning tables that hold many rows', async () => {
    // Tens of thousands of earlier deposits, holdings and updates (statistics up to date, as
    // autovacuum keeps them), then a batch of a few hundred: its lookups must use the indexes.
    // Postgres' default costs (random_page_cost 4) priced 400 key lookups above a sequential
    // scan of 20,000 deposits, and every batch then read the whole table.
    await sql`
      insert into deposits (deposit_id, kind, status, instrument_admin, instrument_id, sender, memo, transfer_amount)
      select 'old-' || md5(g::text) || ':1', 'one_step', 'credited', ${CC.admin}, ${CC.id}, ${customer(1)}, 'memo-1', 5
      from generate_series(1, 20000) g`;
    await sql`
      insert into holdings (contract_id, owner, instrument_admin, instrument_id, amount, template_id, created_offset, created_update_id, created_record_time)
      select 'old-' || md5(g::text), ${TREASURY}, ${CC.admin}, ${CC.id}, 5, 't', g, 'old-' || g, now() from generate_series(1, 20000) g`;
    await sql`
      insert into ingested_updates (update_id, ledger_offset, record_time, synchronizer_id, facts)
      select 'old-' || g, g, now(), ${SYNC}, '{}' from generate_series(1, 20000) g`;
    await sql`analyze deposits, holdings, ingested_updates`;
    const tables = ['deposits', 'holdings', 'ingested_updates'];
    const counters = async () => {
      const rows = await sql<{ relname: string; seq_scan: string; n_tup_ins: string }[]>`
        select relname, seq_scan::text, n_tup_ins::text from pg_stat_user_tables where relname = any(${tables}::text[]) order by relname`;
      return Object.fromEntries(rows.map((r) => [r.relname, { seqScans: Number(r.seq_scan), inserted: Number(r.n_tup_ins) }]));
    };
    // Cumulative statistics reach other sessions when a backend flushes them (within a second
    // or so of going idle): wait until this test's own inserts show.
    const settled = async (deposits: number) => {
      for (let i = 0; i < 100; i++) {
        const c = await counters();
        if ((c.deposits?.inserted ?? 0) >= deposits) return c;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('table statistics did not arrive');
    };
    const before = await settled(20000);

    const l = new ScriptedLedger();
    for (let i = 0; i < 400; i++) l.deposit1Step({ sender: customer(1 + (i % 3)), amount: '1', memo: 'memo-1' });
    const r = await ingestAll(l);
    expect(r.facts).toHaveLength(400);
    const after = await settled((before.deposits?.inserted ?? 0) + 400);
    for (const t of tables) expect({ table: t, seqScans: after[t]?.seqScans }).toEqual({ table: t, seqScans: before[t]?.seqScans });
  });

  it('a batch parsed ahead (while the one before it is written) is used when it holds, parsed again when it does not', async () => {
    // Batch A: deposits creating treasury holdings. Batch B: withdrawals spending them — parsed
    // while A's transaction is still open, so only A's parse says those holdings exist.
    const l = new ScriptedLedger();
    for (let i = 0; i < 6; i++) l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    const a = parseElements(l.elements);
    for (let i = 0; i < 3; i++)
      l.treasuryTransfer({ withdrawalId: `wd-${i}`, receiver: customer(9), amount: '4', fee: '0.5', kind: '1-step' });
    // A token nobody has onboarded yet: ignored, unless it is onboarded before B's transaction.
    const other = { admin: DSO, id: 'Other' };
    l.deposit1Step({ sender: customer(2), amount: '5', memo: 'memo-1', instrument: other });
    const b = parseElements(l.elements.slice(a.length));
    const run = async (tamper?: () => Promise<void>) => {
      await resetIngestionTables(sql);
      await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'alice')`;
      let ahead: Promise<PreparedBatch | undefined> | undefined;
      const first = await ingestBatch(sql, a, { ...opts, onParsed: (parsed) => (ahead = prepareBatch(sql, b, TREASURY, parsed)) });
      const prepared = await ahead;
      expect(prepared?.updateIds).toHaveLength(4);
      await tamper?.();
      const second = await ingestBatch(sql, b, { ...opts, expectedOffset: first.checkpoint.offset, prepared });
      return { parsedAhead: second.parsedAhead, snapshot: await ingestionSnapshot(sql) };
    };
    const reference = async (tamper?: () => Promise<void>) => {
      await resetIngestionTables(sql);
      await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'alice')`;
      const first = await ingestBatch(sql, a, opts);
      await tamper?.();
      await ingestBatch(sql, b, { ...opts, expectedOffset: first.checkpoint.offset });
      return ingestionSnapshot(sql);
    };

    const ahead = await run();
    expect(ahead.parsedAhead).toBe(true);
    expect(ahead.snapshot).toEqual(await reference());

    // The database no longer says what the parse ahead assumed (here: a holding's amount changed
    // behind ingestion's back): the batch is parsed again, against what its transaction reads.
    const tamper = async () => {
      await sql`update holdings set amount = amount + 1`;
    };
    const stale = await run(tamper);
    expect(stale.parsedAhead).toBe(false);
    expect(stale.snapshot).toEqual(await reference(tamper));
    expect(stale.snapshot).not.toEqual(ahead.snapshot);

    // An instrument onboarded meanwhile: parsed again, so its deposit counts.
    const onboard = () => onboardInstruments(sql, [other]);
    const onboarded = await run(onboard);
    expect(onboarded.parsedAhead).toBe(false);
    expect(onboarded.snapshot).toEqual(await reference(onboard));
    expect((await depositsOf(sql)).filter((d) => d.status === 'credited')).toHaveLength(7);
    await sql`delete from instruments where instrument_id = 'Other'`;
  });

  it('a crash inside the batch transaction (any point) leaves no trace', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    for (const point of ['parsed', 'written', 'before-commit', 'after-outbox'] as const) {
      const err = await ingestBatch(sql, parseElements(l.elements), {
        ...opts,
        faults: (p) => {
          if (p === point) throw new Error(`killed at ${p}`);
        },
      }).catch((e: unknown) => e);
      expect((err as Error).message).toBe(`killed at ${point}`);
      const snap = await ingestionSnapshot(sql);
      expect(Object.values(snap).flat()).toEqual([]);
    }
  });

  it('an OffsetCheckpoint at the same offset still advances the record time', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    l.checkpoint();
    await ingestAll(l);
    const cp1 = (await readCheckpoint(sql, TREASURY))!;
    const later = {
      update: {
        OffsetCheckpoint: {
          value: { offset: cp1.offset, synchronizerTimes: [{ synchronizerId: SYNC, recordTime: '2026-06-01T00:00:00.000001Z' }] },
        },
      },
    };
    await ingestBatch(sql, parseElements([later]), opts);
    const cp2 = (await readCheckpoint(sql, TREASURY))!;
    expect(cp2).toMatchObject({ offset: cp1.offset, updateId: cp1.updateId, recordTime: '2026-06-01T00:00:00.000001Z' });
    // and an older one never moves it back
    await ingestBatch(
      sql,
      parseElements([
        {
          update: {
            OffsetCheckpoint: {
              value: { offset: cp1.offset, synchronizerTimes: [{ synchronizerId: SYNC, recordTime: '2026-01-01T00:00:00Z' }] },
            },
          },
        },
      ]),
      opts,
    );
    expect((await readCheckpoint(sql, TREASURY))!.recordTime).toBe('2026-06-01T00:00:00.000001Z');
  });

  it('refuses a batch when the stored offset is not the one the writer expects (another writer)', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    await ingestAll(l);
    const n = l.elements.length;
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    const err = await ingestBatch(sql, parseElements(l.elements.slice(n)), { ...opts, expectedOffset: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointConflictError);
  });

  it('a retry whose first run may have committed recognises its own commit, and only its own (issue 19, item 4)', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    await ingestAll(l);
    const start = (await readCheckpoint(sql, TREASURY))!.offset;
    const n = l.elements.length;
    l.deposit1Step({ sender: customer(2), amount: '20', memo: 'memo-2' });
    l.deposit1Step({ sender: customer(3), amount: '30', memo: 'memo-1' });
    l.checkpoint();
    const batch = parseElements(l.elements.slice(n));
    const first = await ingestBatch(sql, batch, { ...opts, expectedOffset: start });
    expect(first.alreadyCommitted).toBe(false);
    const after = await ingestionSnapshot(sql);
    // The answer to that COMMIT was lost: the retry runs from the same expected offset.
    const retry = await ingestBatch(sql, batch, { ...opts, expectedOffset: start, mayHaveCommitted: true });
    expect(retry).toMatchObject({ alreadyCommitted: true, facts: [], eventIds: [], checkpoint: { offset: first.checkpoint.offset } });
    expect(await ingestionSnapshot(sql)).toEqual(after);
    // Not a first run, nor a batch that ends elsewhere or whose transactions are not all stored: another writer's.
    const refused = (els: typeof batch, mayHaveCommitted = true) =>
      ingestBatch(sql, els, { ...opts, expectedOffset: start, mayHaveCommitted }).then(
        () => 'accepted',
        (e: unknown) => (e instanceof CheckpointConflictError ? 'refused' : e),
      );
    expect(await refused(batch, false)).toBe('refused');
    expect(await refused(batch.slice(0, 2))).toBe('refused');
    l.deposit1Step({ sender: customer(4), amount: '40', memo: 'memo-1' });
    expect(await refused(parseElements(l.elements.slice(n)))).toBe('refused');
    expect(await ingestionSnapshot(sql)).toEqual(after);
  });

  it('holdings created and archived within one batch, import transactions credit nobody and re-create nothing twice', async () => {
    const l = new ScriptedLedger();
    l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
    l.treasuryTransfer({ withdrawalId: 'merge', receiver: TREASURY, amount: '10', kind: 'self' });
    await ingestAll(l);
    const active = await listActiveHoldings(sql, TREASURY);
    expect(active.map((h) => h.amount)).toEqual(['10.0000000000']);
    const n = l.elements.length;
    l.importHoldings(['10']);
    // make the import re-create the same contract, as a hard migration does
    const imp = l.elements[n] as { update: { Transaction: { value: { events: { CreatedEvent: { contractId: string } }[] } } } };
    imp.update.Transaction.value.events[0]!.CreatedEvent.contractId = active[0]!.contractId;
    const before = (await eventsOf(sql)).length;
    await ingestAll(l, n);
    expect((await eventsOf(sql)).length).toBe(before);
    expect((await listActiveHoldings(sql, TREASURY)).map((h) => h.contractId)).toEqual([active[0]!.contractId]);
    expect((await readCheckpoint(sql, TREASURY))!.recordTime).not.toBe('0001-01-01T00:00:00Z');
  });
});

import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LedgerDecodeError } from '../../src/ledger/schema/index.js';
import type { Sql } from '../../src/store/db.js';
import type { IngestElement } from '../../src/ingestion/elements.js';
import { ingestBatch } from '../../src/store/ingestion.js';
import { parseElements } from '../../src/ingestion/elements.js';
import { UpdateParseError } from '../../src/ingestion/errors.js';
import { createIngestionComponent, type IngestionComponent } from '../../src/streams/index.js';
import { useMigratedDatabase } from '../support/db.js';
import { ingestionSnapshot, onboardInstruments, resetIngestionTables } from '../streams/support/db-state.js';
import { loadRecorded, RECORDED_INSTRUMENTS, RECORDED_PARTIES } from '../streams/support/fixtures.js';
import { CC, customer, REASON, ScriptedLedger, TREASURY, type Json } from '../streams/support/scripted-ledger.js';
import { elementOffset, startUpdatesStub, type UpdatesStub } from '../streams/support/updates-stub.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * Malformed and adversarial ledger updates, fed to ingestion: real-shaped transactions (the
 * recorded fixtures and scripted ones in the same shapes) mutated — wrong types, missing fields,
 * huge numbers, amounts with more than 10 decimals, unknown templates, a holding of another
 * owner, memos with control characters or 10 KB long, duplicate ids — inside a batch of valid
 * updates. Property: ingestion either handles the update by its rules, or stops with an error
 * naming the update, and then nothing of the batch is written (checkpoint and every table as
 * before). Driven at the wire decoder + batch writer (parseElements, ingestBatch), and once through
 * the real ingestion component against a websocket ledger stub.
 */

const { sql } = await useMigratedDatabase({ max: 6 });
const ACCOUNT_MEMOS = ['deposit-account-id', 'memo-1', 'memo-2'];

async function prepare(db: Sql): Promise<void> {
  await resetIngestionTables(db);
  await onboardInstruments(db, [CC, ...RECORDED_INSTRUMENTS]);
  for (const [i, memo] of ACCOUNT_MEMOS.entries()) {
    await db`insert into deposit_accounts (account_id, memo, customer_ref) values (${`acct-${i}`}, ${memo}, ${`customer-${i}`})`;
  }
}

/** Every table of the schema: row counts, so a write outside the tables ingestion owns shows too. */
async function allCounts(db: Sql): Promise<Record<string, number>> {
  const tables = (await db<{ t: string }[]>`select tablename as t from pg_tables where schemaname = current_schema() order by 1`).map(
    (r) => r.t,
  );
  const rows = await db.unsafe<{ t: string; n: number }[]>(
    tables.map((t) => `select '${t}' as t, count(*)::int as n from "${t}"`).join(' union all '),
  );
  return Object.fromEntries(rows.map((r) => [r.t, r.n]));
}

async function dbState(db: Sql) {
  return { snapshot: await ingestionSnapshot(db), counts: await allCounts(db) };
}

// ---------------------------------------------------------------- sources of real-shaped updates

interface Source {
  name: string;
  party: string;
  /** Committed first, in their own batch. */
  before: Json[];
  /** The batch the mutated update is part of. */
  batch: Json[];
}

const clone = <T>(x: T): T => structuredClone(x);
const asList = (x: unknown): Json[] => (Array.isArray(x) ? (x as Json[]) : [x as Json]);
const isTx = (e: Json) => 'Transaction' in ((e as { update?: Record<string, unknown> }).update ?? {});

function scripted(): Source {
  const l = new ScriptedLedger();
  l.deposit1Step({ sender: customer(1), amount: '10', memo: 'memo-1' });
  const offer = l.offerDeposit({ sender: customer(2), amount: '20', memo: 'memo-2' });
  l.checkpoint();
  const split = l.elements.length;
  l.deposit1Step({ sender: customer(3), amount: '30', memo: 'memo-1', receiverFee: '0.5' });
  l.acceptOffer(offer, { fee: '0.25' });
  l.deposit1Step({ sender: customer(4), amount: '40.123', memo: null });
  l.treasuryTransfer({ withdrawalId: 'wd-1', receiver: customer(9), amount: '5', kind: '1-step', fee: '0.1' });
  l.offerDeposit({ sender: customer(5), amount: '7', memo: 'memo-2' });
  l.checkpoint();
  return { name: 'scripted', party: TREASURY, before: l.elements.slice(0, split), batch: l.elements.slice(split) };
}

const SOURCES: Source[] = [
  scripted(),
  {
    name: 'recorded 1-step transfer',
    party: RECORDED_PARTIES.oneStepTreasury,
    before: [],
    batch: asList(loadRecorded('1-step-transfer.json')),
  },
  {
    name: 'recorded transfer instruction create + accept',
    party: RECORDED_PARTIES.twoStepTreasury,
    before: [],
    batch: [...asList(loadRecorded('transfer-instruction-create.json')), ...asList(loadRecorded('transfer-instruction-accept.json'))],
  },
  {
    name: 'recorded utility token transfer',
    party: RECORDED_PARTIES.utilityReceiver,
    before: [],
    batch: asList(loadRecorded('utility-token-transfer.json')),
  },
];

// ---------------------------------------------------------------- mutations

type Path = (string | number)[];

function paths(v: unknown, prefix: Path = []): Path[] {
  const out: Path[] = prefix.length > 0 ? [prefix] : [];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function parentOf(root: unknown, path: Path): { parent: Record<string | number, unknown>; key: string | number } | undefined {
  let cur: unknown = root;
  for (const k of path.slice(0, -1)) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  if (typeof cur !== 'object' || cur === null) return undefined;
  return { parent: cur as Record<string | number, unknown>, key: path.at(-1)! };
}

const TEN_KB = 'm'.repeat(10 * 1024);
const FORGER = `stranger::1220${'7'.repeat(64)}`;
const hostile = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    0,
    -1,
    1.5,
    2 ** 63,
    -(2 ** 63),
    Number.MAX_SAFE_INTEGER + 2,
    1e300,
    '',
    'x',
    '1.00000000001',
    '-5.0000000000',
    '1e3',
    'NaN',
    `1${'0'.repeat(40)}`,
    `${'9'.repeat(28)}.${'9'.repeat(10)}`,
    '\u0000',
    '\ud800',
    TEN_KB,
    [],
    {},
    { unexpected: 'field' },
    '2026-02-30T25:00:00Z',
    'not::a-party',
  ),
  fc.string({ maxLength: 12, unit: 'binary' }),
  fc.integer(),
);

/** Memos a customer can put in a transfer reason. */
const hostileMemo = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\u0007\u001b[2J\r\n',
    '\u202eevil',
    '💥',
    TEN_KB,
    ' memo-1',
    'memo-1 ',
    'MEMO-1',
    "memo'; drop table deposits; --",
    '\\u0000',
    '%00',
  ),
  fc.string({ minLength: 1, maxLength: 30, unit: 'binary' }),
);

type Mutation =
  | { kind: 'set'; pick: number; value: unknown }
  | { kind: 'delete'; pick: number }
  | { kind: 'memo'; memo: string }
  | { kind: 'owner' }
  | { kind: 'template' }
  | { kind: 'forge' }
  | { kind: 'amount'; value: string }
  | { kind: 'dupElement' }
  | { kind: 'dupUpdateId'; other: number }
  | { kind: 'dupEvent'; pick: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), pick: fc.nat(), value: hostile }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('memo' as const), memo: hostileMemo }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'owner' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'template' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'forge' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('amount' as const),
      value: fc.constantFrom('1.00000000001', `1${'0'.repeat(40)}`, '-1.0000000000', '1e5', '0x10', ' 1'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'dupElement' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dupUpdateId' as const), other: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dupEvent' as const), pick: fc.nat() }) },
);

function eventsOf(el: Json): Json[] {
  const v = (el as { update: { Transaction: { value: { events: Json[] } } } }).update.Transaction.value;
  return Array.isArray(v.events) ? v.events : [];
}

function txValue(el: Json): Record<string, unknown> {
  return (el as { update: { Transaction: { value: Record<string, unknown> } } }).update.Transaction.value;
}

/** Every object in the tree (to rewrite memos, owners, amounts wherever the shapes keep them). */
function objects(v: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(v)) for (const x of v) objects(x, out);
  else if (typeof v === 'object' && v !== null) {
    out.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) objects(x, out);
  }
  return out;
}

interface Mutated {
  elements: Json[];
  /** The mutated update: the id and offset ingestion names if it stops on it. */
  updateId: string;
  offset: number;
  /** Ids of every update of the batch: a later one may be what cannot be ingested (an input it spends is unknown now). */
  batchIds: string[];
  description: string;
  /** rules: must be ingested by the rules; either: ingested, or a stop naming the update. */
  expect: 'rules' | 'either';
  memo?: string;
  otherOwner?: string;
}

function applyMutation(src: Source, targetPick: number, m: Mutation): Mutated {
  const elements = clone(src.batch);
  const txIdx = elements.map((e, i) => (isTx(e) ? i : -1)).filter((i) => i >= 0);
  const ti = txIdx[targetPick % txIdx.length]!;
  const el = elements[ti]!;
  const v = txValue(el);
  const updateId = String(v['updateId']);
  const offset = Number(v['offset']);
  const batchIds = txIdx.map((i) => String(txValue(elements[i]!)['updateId']));
  const out: Mutated = { elements, updateId, offset, batchIds, description: m.kind, expect: 'either' };
  switch (m.kind) {
    case 'set': {
      const ps = paths(v);
      const p = ps[m.pick % ps.length]!;
      const at = parentOf(v, p);
      if (at) at.parent[at.key] = clone(m.value);
      out.description = `set ${p.join('.')} = ${JSON.stringify(m.value)?.slice(0, 40)}`;
      break;
    }
    case 'delete': {
      const ps = paths(v).filter((p) => typeof p.at(-1) === 'string');
      const p = ps[m.pick % ps.length]!;
      const at = parentOf(v, p);
      if (at) delete at.parent[at.key];
      out.description = `delete ${p.join('.')}`;
      break;
    }
    case 'memo': {
      // Wherever the update carries a transfer reason (result meta, transfer meta, views).
      let found = false;
      for (const o of objects(v)) {
        if (REASON in o && typeof o[REASON] === 'string') {
          o[REASON] = m.memo;
          found = true;
        }
      }
      out.memo = found ? m.memo : undefined;
      out.expect = 'rules';
      out.description = `memo ${JSON.stringify(m.memo).slice(0, 40)}`;
      break;
    }
    case 'owner': {
      const other = `someone-else::1220${'9'.repeat(64)}`;
      for (const o of objects(v)) if (o['owner'] === src.party) o['owner'] = other;
      out.otherOwner = other;
      out.expect = 'either'; // a transfer the treasury sent whose inputs are now not its own: stop
      break;
    }
    case 'template': {
      for (const e of eventsOf(el)) {
        const c = (e as { CreatedEvent?: Record<string, unknown> }).CreatedEvent;
        if (c) {
          c['templateId'] = `${'f'.repeat(64)}:Unknown.Module:Thing`;
          c['interfaceViews'] = [];
        }
      }
      out.expect = 'either';
      break;
    }
    case 'forge': {
      // Every contract created in it signed by a stranger instead of its instrument's admin: what
      // a package of the stranger's could create, views unchanged.
      for (const e of eventsOf(el)) {
        const c = (e as { CreatedEvent?: Record<string, unknown> }).CreatedEvent;
        const views = Array.isArray(c?.['interfaceViews']) ? (c['interfaceViews'] as { viewValue?: Record<string, unknown> }[]) : [];
        for (const view of views) {
          const instrument = (view.viewValue?.['instrumentId'] ??
            (view.viewValue?.['transfer'] as Record<string, unknown> | undefined)?.['instrumentId']) as { admin?: unknown } | undefined;
          if (c && Array.isArray(c['signatories']) && typeof instrument?.admin === 'string') {
            c['signatories'] = [...(c['signatories'] as string[]).filter((p) => p !== instrument.admin), FORGER];
          }
        }
      }
      out.expect = 'either'; // a forged change holding the treasury spends later is unknown then: stop
      break;
    }
    case 'amount': {
      for (const o of objects(v)) if (typeof o['amount'] === 'string') o['amount'] = m.value;
      out.description = `amounts = ${m.value.slice(0, 20)}`;
      break;
    }
    case 'dupElement':
      elements.splice(ti + 1, 0, clone(el));
      out.expect = 'rules';
      break;
    case 'dupUpdateId': {
      const others = txIdx.filter((i) => i !== ti);
      if (others.length > 0) {
        const oi = others[m.other % others.length]!;
        txValue(elements[oi]!)['updateId'] = updateId;
      }
      out.expect = 'either';
      break;
    }
    case 'dupEvent': {
      const evs = eventsOf(el);
      if (evs.length > 0) evs.push(clone(evs[m.pick % evs.length]!));
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- the property

/** Decode + write the batch the way ingestion does: decoding errors stop it before any write. */
async function ingestRaw(party: string, raw: readonly Json[], expectedOffset: number): Promise<void> {
  const els: IngestElement[] = parseElements(raw);
  await ingestBatch(sql, els, { treasuryParty: party, expectedOffset });
}

async function checkpointOffset(party: string): Promise<number> {
  const [r] = await sql<{ o: string }[]>`select ledger_offset::text as o from ingestion_checkpoint where treasury_party = ${party}`;
  return r ? Number(r.o) : 0;
}

/** Postgres text cannot hold NUL: ingestion stores it as U+FFFD; everything else as sent. */
const storedMemo = (m: string) => m.replaceAll('\u0000', '\ufffd');

function namesTheUpdate(e: unknown, m: Mutated): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  if (msg.includes(m.updateId)) return true;
  if (e instanceof UpdateParseError && e.updateId !== undefined && m.batchIds.includes(e.updateId) && msg.includes(e.updateId)) return true;
  // The id itself was what got broken: the offset (or what is left of the id) must then be named.
  if (e instanceof LedgerDecodeError || e instanceof UpdateParseError) return msg.includes(String(m.offset)) || e.updateId !== undefined;
  return false;
}

describe('ingestion fuzz: adversarial ledger updates', () => {
  beforeEach(() => prepare(sql));

  it('every source ingests cleanly unmutated (the baseline the mutations start from)', async () => {
    for (const s of SOURCES) {
      await prepare(sql);
      await ingestRaw(s.party, s.before, 0);
      await ingestRaw(s.party, s.batch, await checkpointOffset(s.party));
      expect((await sql`select 1 from ingested_updates`).length, s.name).toBeGreaterThan(0);
    }
  });

  it('a mutated update in a batch: handled by the rules, or a stop naming it with nothing of the batch written', async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: SOURCES.length - 1 }), fc.nat(), mutation, async (si, targetPick, m) => {
        const src = SOURCES[si]!;
        const mut = applyMutation(src, targetPick, m);
        await prepare(sql);
        await ingestRaw(src.party, src.before, 0);
        const before = await dbState(sql);
        const cp = await checkpointOffset(src.party);
        let error: unknown;
        try {
          await ingestRaw(src.party, mut.elements, cp);
        } catch (e) {
          error = e;
        }
        const what = `${src.name}: ${mut.description}: ${error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : 'ingested'}`;
        const key = `${m.kind}:${error === undefined ? 'ingested' : error instanceof Error ? error.name : 'thrown'}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (error !== undefined) {
          expect(mut.expect, `${what} — this input must be handled by the rules, not stop ingestion`).toBe('either');
          expect(error instanceof LedgerDecodeError || error instanceof UpdateParseError, `${what} — not a decode/parse error`).toBe(true);
          expect(namesTheUpdate(error, mut), `${what} — the error does not name the update`).toBe(true);
          expect(await dbState(sql), `${what} — a partial batch was written`).toEqual(before);
          return;
        }
        // Handled: the rules of each semantic mutation.
        if (m.kind === 'memo' && mut.memo !== undefined) {
          const deps = await sql<{ memo: string | null; status: string; account_id: string | null }[]>`
            select memo, status, account_id from deposits
            where (kind = 'one_step' and credit_update_id = ${mut.updateId}) or (kind = 'two_step' and offer_update_id = ${mut.updateId})`;
          for (const d of deps) {
            // null: a deposit that carries no reason of its own (funds with no readable transfer).
            expect([null, storedMemo(mut.memo)], what).toContain(d.memo);
            if (!ACCOUNT_MEMOS.includes(mut.memo)) expect(d.account_id, what).toBeNull();
          }
        }
        if (m.kind === 'owner' && mut.otherOwner) {
          const [r] = await sql<
            { n: number }[]
          >`select count(*)::int as n from holdings where created_update_id = ${mut.updateId} and owner <> ${src.party}`;
          expect(r!.n, `${what}: a holding of another owner was recorded`).toBe(0);
        }
        if (m.kind === 'forge') {
          // Nothing it created counts: no holding recorded, nothing credited by it.
          const [h] = await sql<{ n: number }[]>`select count(*)::int as n from holdings where created_update_id = ${mut.updateId}`;
          expect(h!.n, `${what}: a forged holding was recorded`).toBe(0);
          const [d] = await sql<{ n: number }[]>`select count(*)::int as n from deposits where credit_update_id = ${mut.updateId}`;
          expect(d!.n, `${what}: a forged deposit was credited`).toBe(0);
        }
        if (m.kind === 'dupElement') {
          const [r] = await sql<{ n: number }[]>`select count(*)::int as n from ingested_updates where update_id = ${mut.updateId}`;
          expect(r!.n, what).toBe(1);
        }
        // Whatever was accepted moved the checkpoint forward, never back.
        expect(await checkpointOffset(src.party), what).toBeGreaterThanOrEqual(cp);
      }),
      { numRuns: 60 },
    );
    // The run exercised both sides of the property.
    const keys = [...outcomes.keys()];
    expect(
      keys.some((k) => k.endsWith(':ingested')),
      JSON.stringify(Object.fromEntries(outcomes)),
    ).toBe(true);
    expect(
      keys.some((k) => !k.endsWith(':ingested')),
      JSON.stringify(Object.fromEntries(outcomes)),
    ).toBe(true);
  }, 60_000);

  it('memos with control characters, NUL or 10 KB: an unattributed deposit with the memo stored as sent (NUL as U+FFFD)', async () => {
    for (const memo of ['a\u0000b', '\u0007\u001b[2J\r\n', TEN_KB, '\u202eevil💥']) {
      await prepare(sql);
      const l = new ScriptedLedger();
      const { updateId } = l.deposit1Step({ sender: customer(1), amount: '10', memo });
      let error: unknown;
      try {
        await ingestRaw(TREASURY, l.elements, 0);
      } catch (e) {
        error = e;
      }
      expect(
        error === undefined ? 'ingested' : `${(error as Error).name}: ${(error as Error).message}`,
        JSON.stringify(memo.slice(0, 20)),
      ).toBe('ingested');
      const [d] = await sql<
        { memo: string | null; status: string; account_id: string | null }[]
      >`select memo, status, account_id from deposits where credit_update_id = ${updateId}`;
      expect(d).toMatchObject({ memo: storedMemo(memo), status: 'unattributed', account_id: null });
    }
  });
});

// ---------------------------------------------------------------- through the real component

describe('ingestion fuzz: the real component over a websocket stops on poison, writes no partial batch', () => {
  const logger = testLogger();
  let stub: UpdatesStub | undefined;
  let component: IngestionComponent | undefined;
  afterEach(async () => {
    await component?.stop();
    await stub?.close();
    component = undefined;
    stub = undefined;
  });

  it('a poisoned update among valid ones: failed status naming it; the database equals an ingestion of exactly what was committed', async () => {
    const l = new ScriptedLedger();
    for (let i = 0; i < 30; i++)
      l.deposit1Step({ sender: customer(i % 4), amount: String(10 + i), memo: i % 3 === 0 ? null : `memo-${1 + (i % 2)}` });
    const poisonIdx = 21;
    const elements = clone(l.elements);
    const poison = txValue(elements[poisonIdx]!);
    const poisonId = String(poison['updateId']);
    // A holding amount with 11 decimals: valid JSON, a valid wire shape, not a Daml Numeric 10.
    for (const o of objects(poison)) if (typeof o['amount'] === 'string') o['amount'] = '10.00000000001';
    for (let i = 0; i < 5; i++) l.deposit1Step({ sender: customer(1), amount: '1', memo: 'memo-1' });
    elements.push(...clone(l.elements.slice(30)));

    await prepare(sql);
    // With transport faults on the way: every 3rd frame delivered twice, the socket cut every 17 frames.
    stub = await startUpdatesStub(elements as Record<string, unknown>[], { duplicateEvery: 3, dropAfterFrames: 17 });
    component = createIngestionComponent({
      sql,
      logger,
      ledger: { apiUrl: stub.url, auth: { kind: 'static', token: 'test-token' }, treasuryParty: TREASURY },
      options: {
        transport: 'websocket',
        batchMaxSize: 8,
        batchMaxWaitMs: 5,
        retry: { baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 20 },
        leaderPollMs: 50,
      },
    });
    await component.start();
    const until = Date.now() + 20_000;
    while (component.status().state !== 'failed') {
      if (Date.now() > until)
        throw new Error(`ingestion did not stop: ${JSON.stringify(component.status())}, committed ${component.progress().committedOffset}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(component.status().detail).toContain(poisonId);
    const committed = await checkpointOffset(TREASURY);
    expect(committed).toBeLessThan(elementOffset(elements[poisonIdx]));
    const after = await dbState(sql);

    // Reference: exactly the elements up to the checkpoint, in one batch, on a fresh state.
    await prepare(sql);
    const upTo = elements.filter((e) => elementOffset(e) <= committed);
    if (upTo.length > 0) await ingestRaw(TREASURY, upTo, 0);
    const reference = await dbState(sql);
    expect(after.snapshot).toEqual(reference.snapshot);
    expect(after.counts).toEqual(reference.counts);
    expect(after.snapshot.updates.some((u) => u.includes(poisonId))).toBe(false);
  });
});

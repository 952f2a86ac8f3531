import fc from 'fast-check';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { listActiveHoldings } from '../../src/store/holdings.js';
import type { PreparedBatch } from '../../src/ingestion/batch-parse.js';
import type { IngestElement } from '../../src/ingestion/elements.js';
import { ingestBatch, type FaultPoint } from '../../src/store/ingestion.js';
import { prepareBatch } from '../../src/store/ingestion-reads.js';
import { offsetOf, parseElements } from '../../src/ingestion/elements.js';
import { useMigratedDatabase } from '../support/db.js';
import { ingestionSnapshot, onboardInstruments, resetIngestionTables } from './support/db-state.js';
import { CC, customer, ScriptedLedger, TREASURY } from './support/scripted-ledger.js';

/**
 * Any interleaving of customer deposits (1-step, offers and their accepts/rejects/withdrawals)
 * and treasury withdrawals (1-step and offers), ingested in random batches with crashes at random
 * points inside batch transactions, ends with exactly the ledger's credited totals, holdings and
 * withdrawal outcomes — and with the same facts and events as an uninterrupted run.
 */

const { sql } = await useMigratedDatabase();

const MEMOS = ['memo-1', 'memo-2', 'memo-3'];

type Op =
  | { t: 'dep1'; memo: number; amount: number }
  | { t: 'offer'; memo: number; amount: number }
  | { t: 'accept' | 'reject' | 'senderWithdraws'; pick: number }
  | { t: 'wd'; kind: '1-step' | 'offer'; known: boolean; amount: number }
  | { t: 'custAccept' | 'custReject'; pick: number }
  | { t: 'checkpoint' };

/** memo index: 0-2 known accounts, 3 unknown, 4 none. */
const memoArb = fc.integer({ min: 0, max: 4 });
const amountArb = fc.integer({ min: 1, max: 500 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('dep1' as const), memo: memoArb, amount: amountArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('offer' as const), memo: memoArb, amount: amountArb }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constantFrom('accept' as const, 'reject' as const, 'senderWithdraws' as const), pick: fc.nat() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('wd' as const),
      kind: fc.constantFrom('1-step' as const, 'offer' as const),
      known: fc.boolean(),
      amount: amountArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constantFrom('custAccept' as const, 'custReject' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'checkpoint' as const }) },
);

interface Scenario {
  ledger: ScriptedLedger;
  elements: IngestElement[];
  knownWithdrawals: string[];
}

function play(ops: Op[]): Scenario {
  const l = new ScriptedLedger();
  const incoming: string[] = [];
  const outgoing: string[] = [];
  const knownWithdrawals: string[] = [];
  let wd = 0;
  const memo = (i: number) => (i < 3 ? MEMOS[i]! : i === 3 ? 'unknown-account' : null);
  for (const op of ops) {
    switch (op.t) {
      case 'dep1':
        l.deposit1Step({
          sender: customer(op.memo),
          amount: String(op.amount),
          memo: memo(op.memo),
          receiverFee: op.amount > 100 ? '0.5' : '0',
        });
        break;
      case 'offer':
        incoming.push(l.offerDeposit({ sender: customer(op.memo), amount: String(op.amount), memo: memo(op.memo) }));
        break;
      case 'accept':
      case 'reject':
      case 'senderWithdraws': {
        if (incoming.length === 0) break;
        const [cid] = incoming.splice(op.pick % incoming.length, 1);
        if (op.t === 'accept') l.acceptOffer(cid!, { fee: '0.25' });
        else if (op.t === 'reject') l.rejectOffer(cid!);
        else l.withdrawOffer(cid!);
        break;
      }
      case 'wd': {
        const id = `wd-${++wd}`;
        const r = l.treasuryTransfer({ withdrawalId: id, receiver: customer(9), amount: String(op.amount), kind: op.kind, fee: '0.1' });
        if (!r) break;
        if (op.known) knownWithdrawals.push(id);
        if (r.instructionCid) outgoing.push(r.instructionCid);
        break;
      }
      case 'custAccept':
      case 'custReject': {
        if (outgoing.length === 0) break;
        const [cid] = outgoing.splice(op.pick % outgoing.length, 1);
        l.customerDecides(cid!, op.t === 'custAccept');
        break;
      }
      case 'checkpoint':
        l.checkpoint();
        break;
    }
  }
  return { ledger: l, elements: parseElements(l.elements), knownWithdrawals };
}

async function prepare(s: Scenario): Promise<void> {
  await resetIngestionTables(sql);
  await onboardInstruments(sql, [CC]);
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a'), ('acct-2', 'memo-2', 'b'), ('acct-3', 'memo-3', 'c')`;
  for (const id of s.knownWithdrawals) {
    await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status)
              values (${id}, 'acct-1', ${CC.admin}, ${CC.id}, 1, ${customer(9)}, 'awaitingLedger')`;
  }
}

/** Batches whose parse ahead of their transaction was used, over all runs: the property must have exercised it. */
let parsedAheadBatches = 0;

/**
 * Ingests in batches of the given sizes; a crash aborts a batch, after which ingestion resumes
 * from the stored checkpoint. As the pipeline does, each batch parses the next one ahead while
 * it is written (inside its transaction, before it commits); that parse is offered to the next
 * batch transaction even when a crash came in between, so a stale one must be recognised.
 */
async function ingestWithCrashes(
  elements: IngestElement[],
  sizes: number[],
  crashes: { batch: number; point: FaultPoint }[],
): Promise<number> {
  let batchNo = 0;
  let crashed = 0;
  let ahead: Promise<PreparedBatch | undefined> | undefined;
  for (;;) {
    const cp = await readCheckpoint(sql, TREASURY);
    const rest = elements.filter((e) => offsetOf(e) > (cp?.offset ?? 0));
    const prepared = await ahead;
    ahead = undefined;
    if (rest.length === 0) return crashed;
    const size = sizes[batchNo % sizes.length]!;
    const crash = crashes.find((c) => c.batch === batchNo);
    batchNo++;
    const next = rest.slice(size, size + sizes[batchNo % sizes.length]!);
    try {
      const r = await ingestBatch(sql, rest.slice(0, size), {
        treasuryParty: TREASURY,
        expectedOffset: cp?.offset ?? 0,
        prepared,
        onParsed: (parsed) => {
          if (next.length > 0) ahead = prepareBatch(sql, next, TREASURY, parsed);
        },
        faults: (p) => {
          if (crash && p === crash.point) throw new Error('crash');
        },
      });
      if (r.parsedAhead) parsedAheadBatches++;
    } catch (e) {
      if ((e as Error).message !== 'crash') throw e;
      crashed++;
    }
  }
}

async function creditedByMemo(): Promise<Map<string, string>> {
  const rows = await sql<{ memo: string | null; total: string }[]>`
    select memo, sum(credited_amount)::text as total from deposits where credit_update_id is not null group by memo`;
  return new Map(rows.map((r) => [r.memo ?? '', new Decimal(r.total).toFixed(10)]));
}

describe('ingestion property: crashes and batching never change what is credited', () => {
  it('credited totals, holdings and withdrawal outcomes equal the ledger; facts and events equal an uninterrupted run', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }),
        fc.array(
          fc.record({
            batch: fc.nat({ max: 30 }),
            point: fc.constantFrom<FaultPoint>('parsed', 'written', 'before-commit', 'after-outbox'),
          }),
          { maxLength: 6 },
        ),
        async (ops, sizes, crashes) => {
          const s = play(ops);
          if (s.elements.length === 0) return;

          // Reference: one uninterrupted run.
          await prepare(s);
          await ingestBatch(sql, s.elements, { treasuryParty: TREASURY });
          const reference = await ingestionSnapshot(sql);

          await prepare(s);
          await ingestWithCrashes(s.elements, sizes, crashes);

          // The ledger's account of what was credited, per memo.
          const expected = new Map([...s.ledger.truth.creditedByMemo].map(([m, d]) => [m, d.toFixed(10)]));
          expect(await creditedByMemo()).toEqual(expected);
          // Holdings = the ledger's active treasury holdings.
          const db = (await listActiveHoldings(sql, TREASURY)).map((h) => `${h.contractId}:${h.amount}`).sort();
          expect(db).toEqual(
            s.ledger
              .treasuryHoldings()
              .map((h) => `${h.contractId}:${h.amount}`)
              .sort(),
          );
          // Every committed withdrawal is recorded (known ones updated, unknown ones recovered), once.
          const transferred = await sql<
            { withdrawal_id: string }[]
          >`select withdrawal_id from withdrawals where transfer_update_id is not null order by withdrawal_id`;
          expect(transferred.map((r) => r.withdrawal_id)).toEqual([...s.ledger.truth.withdrawalsTransferred].sort());
          // Byte for byte the same facts, rows and events as without crashes.
          expect(await ingestionSnapshot(sql)).toEqual(reference);
        },
      ),
      { numRuns: 40 },
    );
    expect(parsedAheadBatches).toBeGreaterThan(0);
  }, 240_000);
});

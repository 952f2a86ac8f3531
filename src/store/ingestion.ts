import { compareTimestamps, type JsTransaction } from '../ledger/schema/index.js';
import {
  continuedInstructionCids,
  decideBatchChanges,
  FINAL_DEPOSIT_STATUSES,
  rowKeysOf,
  type InstructionRow,
} from '../ingestion/batch-model.js';
import {
  PARSE_CHUNK,
  parseChunk,
  preparedStillHolds,
  selectFresh,
  type ParsedBatch,
  type PreparedBatch,
} from '../ingestion/batch-parse.js';
import { checkpointToExtend, nextCheckpoint, type Checkpoint } from '../ingestion/checkpoint.js';
import type { IngestElement } from '../ingestion/elements.js';
import type { TransactionFacts } from '../ingestion/facts.js';
import { OverlayLedgerState, type KnownHolding, type KnownInstruction, type LedgerStateChanges } from '../ingestion/ledger-state.js';
import { lockCheckpoint, writeCheckpoint } from './checkpoint.js';
import { keyedStatementsOnly, type Sql, type Tx } from './db.js';
import { archiveHoldings, insertHoldings } from './holdings.js';
import { startBatchLookups } from './ingestion-reads.js';
import { fetchBatchRows, fetchInstructions, flushChanges } from './ingestion-rows.js';
import { appendOutboxEvents, type OutboxEventInput } from './outbox.js';
import { settleAll } from '../lib/settle-all.js';

/**
 * The batch writer: one DB transaction per batch writes the facts of its updates, the holdings,
 * deposits, withdrawals and transfer instructions they change, the definite failures and
 * expiries the new record time decides, the outbox events, and the new checkpoint (invariant 1).
 * Parsing happens inside the transaction, against holdings read in it (or ahead of it, checked
 * against those reads: src/ingestion/batch-parse.ts): an update that does not parse rolls the
 * whole batch back. Re-ingesting an update is a no-op (offset and update id).
 */

export type FaultPoint = 'parsed' | 'written' | 'before-commit' | 'after-outbox';

export interface IngestOptions {
  treasuryParty: string;
  /**
   * The offset the caller believes is committed. If the stored one differs, another writer is
   * active: the batch is refused (CheckpointConflictError) rather than interleaved with it.
   */
  expectedOffset?: number | undefined;
  /**
   * How long after executeBefore (in record time) an instruction counts as expired. executeBefore
   * is checked against ledger time, which may trail record time by up to the participant's
   * ledger-time/record-time tolerance (60 s by default), so an accept can still commit briefly
   * after record time passed executeBefore.
   */
  instructionExpiryGraceMs?: number;
  /** Tests: called at points inside the batch transaction; throwing there aborts the batch. */
  faults?: (point: FaultPoint) => void | Promise<void>;
  /** The batch parsed ahead of this transaction (prepareBatch): used only if it still holds. */
  prepared?: PreparedBatch | undefined;
  /** Called inside the transaction once the batch is parsed: what the next batch can be parsed against. */
  onParsed?: (parsed: ParsedBatch) => void;
  /**
   * This run repeats one whose outcome is unknown (its connection was lost, possibly after its
   * COMMIT landed): if the stored checkpoint is what this batch commits, from `expectedOffset` —
   * its last offset and its last transaction — and every one of its transactions is stored, the
   * batch is taken as committed (IngestResult.alreadyCommitted) instead of refused as another
   * writer's.
   */
  mayHaveCommitted?: boolean;
  /** The participant the ledger is read from: recorded on a checkpoint that does not name one yet. */
  participantId?: string | undefined;
}

export interface IngestResult {
  checkpoint: Checkpoint;
  /** Facts of the transactions newly ingested, in order. */
  facts: TransactionFacts[];
  /** Elements that were already ingested (duplicate delivery, replay after a reconnect). */
  skipped: number;
  eventIds: number[];
  warnings: { message: string; context: Record<string, unknown> }[];
  /** Whether the batch's parse ahead of its transaction was used (IngestOptions.prepared). */
  parsedAhead: boolean;
  /**
   * The batch had committed in an earlier run whose answer was lost (IngestOptions.mayHaveCommitted):
   * nothing was written now, and `facts` and `eventIds` are empty (the earlier run wrote them).
   */
  alreadyCommitted: boolean;
}

export const DEFAULT_INSTRUCTION_EXPIRY_GRACE_MS = 60_000;

export async function ingestBatch(sql: Sql, elements: readonly IngestElement[], opts: IngestOptions): Promise<IngestResult> {
  const party = opts.treasuryParty;
  return sql.begin(async (tx) => {
    const reads = await lockAndReadBatch(tx, party, elements);
    const from = checkpointToExtend(party, reads.stored, elements, reads.already, opts);
    if ('committed' in from) return committedEarlier(from.committed, elements.length);
    const { fresh, txs, skipped } = selectFresh(elements, from.offset, reads.already);
    const next = nextCheckpoint(from, fresh);
    // The participant the session checked the ledger's identity against (ledger continuity).
    if (next.participantId === null && opts.participantId !== undefined) next.participantId = opts.participantId;

    const parsed = await parseBatch(tx, party, txs, reads, opts.prepared);
    opts.onParsed?.({ offset: next.offset, updateIds: new Set(txs.map((t) => t.updateId)), changes: parsed.changes });
    await opts.faults?.('parsed');

    // The rows the facts touch are read, and the facts' own rows (which need nothing those reads
    // return) sent right behind them: the server writes them while the model decides here.
    const instructions = await readInstructionsTouched(tx, parsed.facts, reads);
    const rowsRead = fetchBatchRows(tx, rowKeysOf(parsed.facts, instructions), instructions);
    const factsWritten = inBackground(writeFactRows(tx, party, parsed));
    const changes = decideBatchChanges(await rowsRead, parsed.facts);

    // The model's writes, then the definite-failure and expiry decisions, the checkpoint and the
    // model's outbox events, in this order on the wire, after the facts' rows: the decisions see
    // this batch's transfers, so a transfer is never reported as expired. Events of the decisions follow.
    const [, , expired, , changeEventIds] = await inOneRoundTrip([
      factsWritten,
      flushChanges(tx, changes),
      decideTimeouts(tx, next, opts.instructionExpiryGraceMs ?? DEFAULT_INSTRUCTION_EXPIRY_GRACE_MS),
      fresh.length > 0 || reads.stored === undefined ? writeCheckpoint(tx, next) : undefined,
      appendOutboxEvents(tx, changes.events),
    ]);
    await opts.faults?.('written');
    await opts.faults?.('before-commit');
    const eventIds = [...changeEventIds, ...(await appendOutboxEvents(tx, expired))];
    await opts.faults?.('after-outbox');
    return {
      checkpoint: next,
      facts: parsed.facts,
      skipped,
      eventIds,
      warnings: changes.warnings,
      parsedAhead: parsed.ahead,
      alreadyCommitted: false,
    };
  });
}

/**
 * Pipelining, the batch's main saving: the statements of one round trip. Each is started where it
 * is built (execute(), in the store's functions too), so they go out in argument order without
 * waiting for one another, and the server runs them back to back: a batch costs a few round trips
 * whatever its size. Settles only when all have (settleAll): a failed one must not end the
 * transaction while its siblings still send statements. The first failure is the batch's.
 */
const inOneRoundTrip = settleAll;

/**
 * Statements started now whose outcome is taken later, in a round trip of inOneRoundTrip. Until
 * then a failure must not count as an unhandled rejection (the transaction is rolled back either
 * way: the first error is what the batch reports).
 */
function inBackground(statements: PromiseLike<unknown>[]): Promise<unknown[]> {
  const settled = settleAll(statements);
  settled.catch(() => undefined);
  return settled;
}

/** What the batch's transaction read before it parses. */
interface BatchReads {
  /** The checkpoint, row-locked for the transaction; undefined: none stored yet. */
  stored: Checkpoint | undefined;
  /** Which of the batch's updates are already ingested. */
  already: ReadonlySet<string>;
  holdings: ReadonlyMap<string, KnownHolding>;
  instructionRows: readonly InstructionRow[];
  instructions: ReadonlyMap<string, KnownInstruction>;
  onboarded: ReadonlySet<string>;
}

/**
 * The checkpoint (locked), which updates are known, and what the parser needs to know of the
 * contracts the batch touches: one round trip, the lookups behind the lock, so they see whatever
 * the previous writer committed. Every statement works by key: no sequential scans
 * (keyedStatementsOnly), which lets Postgres use its cached plans (planning each batch's lookups
 * for their actual arrays cost it about a tenth of its time).
 */
async function lockAndReadBatch(tx: Tx, party: string, elements: readonly IngestElement[]): Promise<BatchReads> {
  const [, stored, already, holdings, instructionRows, onboarded] = await inOneRoundTrip([
    keyedStatementsOnly(tx),
    lockCheckpoint(tx, party),
    ...startBatchLookups(tx, party, elements),
  ]);
  return {
    stored,
    already,
    holdings: new Map(holdings.map((h) => [h.contractId, h])),
    instructionRows,
    instructions: new Map(instructionRows.map((i) => [i.contractId, i])),
    onboarded,
  };
}

/** The batch had committed in an earlier run whose answer was lost (IngestOptions.mayHaveCommitted). */
function committedEarlier(stored: Checkpoint, elements: number): IngestResult {
  return { checkpoint: stored, facts: [], skipped: elements, eventIds: [], warnings: [], parsedAhead: false, alreadyCommitted: true };
}

/** A batch's facts, their effects on holdings and instructions, and the statements storing the facts (started). */
interface ParsedFacts {
  facts: TransactionFacts[];
  changes: LedgerStateChanges;
  factsSent: PromiseLike<unknown>[];
  /** Parsed ahead of the transaction (IngestOptions.prepared) rather than in it. */
  ahead: boolean;
}

/**
 * The batch's facts: parsed ahead if that parse is the one this transaction would make (the same
 * transactions, and the same answers to its lookups as read here), else parsed now.
 */
async function parseBatch(
  tx: Tx,
  party: string,
  txs: readonly JsTransaction[],
  reads: BatchReads,
  prepared: PreparedBatch | undefined,
): Promise<ParsedFacts> {
  if (prepared && preparedStillHolds(prepared, txs, reads.holdings, reads.instructions, reads.onboarded))
    return sendParsedAhead(tx, prepared);
  return parseAndSend(tx, party, txs, reads);
}

function sendParsedAhead(tx: Tx, prepared: PreparedBatch): ParsedFacts {
  const facts: TransactionFacts[] = [];
  const factsSent: PromiseLike<unknown>[] = [];
  for (const chunk of prepared.chunks) {
    for (const f of chunk.facts) facts.push(f);
    factsSent.push(insertFacts(tx, chunk.json));
  }
  return { facts, changes: prepared.changes, factsSent, ahead: true };
}

/**
 * Parses a chunk at a time, each chunk's facts sent as soon as it is parsed: Postgres stores them
 * while the next chunk is parsed.
 */
async function parseAndSend(tx: Tx, party: string, txs: readonly JsTransaction[], reads: BatchReads): Promise<ParsedFacts> {
  const state = new OverlayLedgerState({ holding: (cid) => reads.holdings.get(cid), instruction: (cid) => reads.instructions.get(cid) });
  const facts: TransactionFacts[] = [];
  const factsSent: PromiseLike<unknown>[] = [];
  for (let i = 0; i < txs.length; i += PARSE_CHUNK) {
    const chunk = parseChunk(txs, i, party, state, reads.onboarded);
    for (const f of chunk.facts) facts.push(f);
    factsSent.push(insertFacts(tx, chunk.json));
    await letStartedQueriesGoOut();
  }
  return { facts, changes: state.ownChanges(), factsSent, ahead: false };
}

/**
 * postgres.js hands a started query to its connection one microtask later: yielding lets it go
 * out before the next chunk keeps this thread busy.
 */
async function letStartedQueriesGoOut(): Promise<void> {
  await null;
}

/** One chunk's facts (one JSON document rather than text[] columns: no array escaping of JSON on either side). Started at once. */
function insertFacts(tx: Tx, json: string): PromiseLike<unknown> {
  return tx`
    insert into ingested_updates (update_id, ledger_offset, record_time, synchronizer_id, facts)
    select f->>'updateId', (f->>'offset')::bigint, (f->>'recordTime')::timestamptz, f->>'synchronizerId', f
    from jsonb_array_elements(${json}::text::jsonb) as f`.execute();
}

/**
 * The transfer instructions the batch's facts touch: those it read, and the earlier ones its new
 * instructions continue (one more round trip, only when there are any).
 */
async function readInstructionsTouched(tx: Tx, facts: readonly TransactionFacts[], reads: BatchReads): Promise<InstructionRow[]> {
  const continued = continuedInstructionCids(facts);
  const originalRows =
    continued.length === 0
      ? []
      : await fetchInstructions(
          tx,
          continued.filter((c) => !reads.instructions.has(c)),
        );
  return [...reads.instructionRows, ...originalRows];
}

/** The facts' own rows: the updates (sent while parsing), the holdings they create and archive. Started at once. */
function writeFactRows(tx: Tx, party: string, parsed: ParsedFacts): PromiseLike<unknown>[] {
  const { facts } = parsed;
  return [
    ...parsed.factsSent,
    insertHoldings(
      tx,
      party,
      facts.flatMap((f) => f.holdingsCreated.map((holding) => ({ facts: f, holding }))),
    ),
    archiveHoldings(
      tx,
      facts.flatMap((f) => f.holdingsArchived.map((h) => ({ facts: f, contractId: h.contractId }))),
    ),
  ];
}

/**
 * What the ingested record time decides (docs/internals.md): withdrawal attempts whose deadline
 * passed with no transfer seen are definitely failed — reported once per attempt — and pending
 * transfer instructions past executeBefore (plus the grace) have expired. Record time is ordered
 * only within one synchronizer, so each deadline is compared with its own synchronizer's: an
 * attempt's is the synchronizer its transaction was prepared for (holding_reservations, written
 * at submission), else (not submitted) the one followed; an instruction's is the one followed, the
 * only one ingestion takes updates from.
 */
async function decideTimeouts(tx: Tx, cp: Checkpoint, graceMs: number): Promise<OutboxEventInput[]> {
  const times = Object.values(cp.synchronizerTimes);
  if (times.length === 0) return [];
  const latest = times.reduce((a, b) => (compareTimestamps(b, a) > 0 ? b : a));
  const recordTime = cp.recordTime;
  const events: OutboxEventInput[] = [];
  // Both decisions in the caller's round trip: started here (execute()), in the caller's order.
  // Attempts are read by the deadline index up to the latest time of any synchronizer, then each
  // against its own synchronizer's time; the update re-checks the row (a concurrent reservation
  // may have started another attempt meanwhile).
  const [attempts, expired] = await settleAll([
    tx<{ withdrawal_id: string; attempt: number; deadline: string; synchronizer_id: string }[]>`
    update withdrawals w set expiry_emitted_attempt = w.attempt, updated_at = now()
    from (
      select c.withdrawal_id, c.attempt, s.synchronizer_id, (${JSON.stringify(cp.synchronizerTimes)}::text::jsonb ->> s.synchronizer_id)::timestamptz as record_time
      from withdrawals c
      cross join lateral (
        select coalesce(
          (select r.synchronizer_id from holding_reservations r
           where r.withdrawal_id = c.withdrawal_id and r.attempt = c.attempt and r.synchronizer_id is not null limit 1),
          ${cp.synchronizerId}::text) as synchronizer_id) s
      where c.deadline is not null and c.transfer_update_id is null
        and (c.expiry_emitted_attempt is null or c.expiry_emitted_attempt < c.attempt)
        and c.deadline < ${latest}::timestamptz
    ) d
    where w.withdrawal_id = d.withdrawal_id and w.attempt = d.attempt
      and w.deadline is not null and w.transfer_update_id is null
      and (w.expiry_emitted_attempt is null or w.expiry_emitted_attempt < w.attempt)
      and w.deadline < d.record_time
    returning w.withdrawal_id, w.attempt, w.deadline, d.synchronizer_id`.execute(),
    recordTime === null
      ? []
      : tx<{ contract_id: string; direction: string; root_instruction_cid: string; memo: string | null; execute_before: string }[]>`
    update transfer_instructions set status = 'expired', closed_record_time = ${recordTime}::timestamptz
    where status = 'pending' and execute_before < ${recordTime}::timestamptz - make_interval(secs => ${graceMs / 1000})
    returning contract_id, direction, root_instruction_cid, memo, execute_before`.execute(),
  ]);
  attempts.sort((a, b) => compareTimestamps(a.deadline, b.deadline) || (a.withdrawal_id < b.withdrawal_id ? -1 : 1));
  for (const a of attempts) {
    // Every row returned was compared with its synchronizer's time (`w.deadline < d.record_time`): it has one.
    events.push({
      topic: 'withdrawal.attempt_expired',
      aggregateType: 'withdrawal',
      aggregateId: a.withdrawal_id,
      payload: {
        withdrawalId: a.withdrawal_id,
        attempt: a.attempt,
        deadline: a.deadline,
        recordTime: cp.synchronizerTimes[a.synchronizer_id]!,
        synchronizerId: a.synchronizer_id,
      },
    });
  }

  if (expired.length === 0) return events;
  // Only read when there is a record time (above): the time the expiry was decided at.
  const decidedAt = recordTime ?? latest;
  expired.sort((a, b) => compareTimestamps(a.execute_before, b.execute_before) || (a.contract_id < b.contract_id ? -1 : 1));
  const incoming = expired.filter((e) => e.direction === 'incoming');
  const outgoing = expired.filter((e) => e.direction !== 'incoming');
  if (incoming.length > 0) {
    const closed = await tx<{ deposit_id: string; transfer_instruction_cid: string }[]>`
      update deposits set status = 'expired', updated_at = now()
      where transfer_instruction_cid = any(${incoming.map((e) => e.root_instruction_cid)}::text[])
        and status <> all(${[...FINAL_DEPOSIT_STATUSES]}::text[])
      returning deposit_id, transfer_instruction_cid`;
    const byCid = new Map(closed.map((d) => [d.transfer_instruction_cid, d.deposit_id]));
    for (const e of incoming) {
      const depositId = byCid.get(e.root_instruction_cid);
      if (depositId === undefined) continue;
      events.push({
        topic: 'deposit.offer_closed',
        aggregateType: 'deposit',
        aggregateId: depositId,
        payload: {
          depositId,
          outcome: 'expired',
          transferInstructionCid: e.contract_id,
          updateId: null,
          recordTime: decidedAt,
          executeBefore: e.execute_before,
        },
      });
    }
  }
  for (const e of outgoing) {
    const [w] = await tx<{ withdrawal_id: string }[]>`
      select withdrawal_id from withdrawals
      where withdrawal_id = ${e.memo ?? ''} or transfer_instruction_cid = ${e.root_instruction_cid}
      order by (withdrawal_id = ${e.memo ?? ''}) desc limit 1`;
    if (!w) continue;
    events.push({
      topic: 'withdrawal.instruction_closed',
      aggregateType: 'withdrawal',
      aggregateId: w.withdrawal_id,
      payload: {
        withdrawalId: w.withdrawal_id,
        outcome: 'expired',
        transferInstructionCid: e.contract_id,
        updateId: null,
        offset: null,
        recordTime: decidedAt,
        executeBefore: e.execute_before,
        holdingsDelta: [],
        fee: null,
      },
    });
  }
  return events;
}

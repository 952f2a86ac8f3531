import type { JsTransaction } from '../ledger/schema/index.js';
import type { IngestElement } from './elements.js';
import { UpdateParseError } from './errors.js';
import type { TransactionFacts } from './facts.js';
import {
  OverlayLedgerState,
  type KnownHolding,
  type KnownInstruction,
  type LedgerStateChanges,
  type LedgerStateLookup,
} from './ledger-state.js';
import { parseTransaction } from './parser.js';

/**
 * Parsing a batch, in its transaction or ahead of it. The batch writer parses against what its
 * own transaction read; while one batch is being written, the next can be parsed ahead
 * (parseAhead; src/store/ingestion-reads.ts prepareBatch reads for it) against what the database
 * held before plus the effects of the batch being written. A batch parsed ahead records every
 * answer its parse had from outside the batch, and its transaction uses that parse only if it
 * reads the same answers itself (preparedStillHolds): otherwise it parses again. So the ahead
 * parse saves time, never decides anything.
 */

/** Transactions parsed before their facts are sent. */
export const PARSE_CHUNK = 100;

/** Contract ids whose rows the parser or the model may need: everything exercised or archived. */
export function referencedContracts(txs: readonly JsTransaction[]): string[] {
  const cids = new Set<string>();
  for (const tx of txs) {
    for (const e of tx.events) {
      if ('ExercisedEvent' in e) cids.add(e.ExercisedEvent.contractId);
      else if ('ArchivedEvent' in e) cids.add(e.ArchivedEvent.contractId);
    }
  }
  return [...cids];
}

export interface FreshElements {
  /** Elements past the checkpoint, each once. */
  fresh: IngestElement[];
  /** Their transactions not yet ingested: what the batch parses. */
  txs: JsTransaction[];
  /** Elements that were already ingested (duplicate delivery, replay after a reconnect). */
  skipped: number;
}

/**
 * Duplicates: anything at or below the checkpoint offset was ingested (a checkpoint at the same
 * offset may still carry a newer record time), and update ids are unique forever.
 */
export function selectFresh(elements: readonly IngestElement[], checkpointOffset: number, known: ReadonlySet<string>): FreshElements {
  let skipped = 0;
  const seen = new Set<string>();
  const fresh: IngestElement[] = [];
  const txs: JsTransaction[] = [];
  for (const el of elements) {
    const isTx = el.kind === 'transaction';
    const offset = isTx ? el.tx.offset : el.offset;
    if (offset < checkpointOffset || (isTx && offset === checkpointOffset) || (isTx && seen.has(el.tx.updateId))) {
      skipped++;
      continue;
    }
    fresh.push(el);
    if (!isTx) continue;
    seen.add(el.tx.updateId);
    if (known.has(el.tx.updateId)) skipped++;
    else txs.push(el.tx);
  }
  return { fresh, txs, skipped };
}

export interface ParsedChunk {
  facts: TransactionFacts[];
  /** The chunk's facts as stored (one JSON document). */
  json: string;
}

/**
 * Parses the next chunk of `txs` from `from`, applying each transaction's effects to `state`; only
 * instruments in `onboarded` count.
 */
export function parseChunk(
  txs: readonly JsTransaction[],
  from: number,
  party: string,
  state: OverlayLedgerState,
  onboarded: ReadonlySet<string>,
): ParsedChunk {
  const chunk: TransactionFacts[] = [];
  for (const t of txs.slice(from, from + PARSE_CHUNK)) {
    const f = parseTransaction(t, party, state, { onboarded });
    state.apply(f);
    chunk.push(f);
  }
  return storableFacts(chunk);
}

/** What a batch leaves for the next one to be parsed against, known once it is parsed. */
export interface ParsedBatch {
  /** The checkpoint offset once it commits. */
  offset: number;
  /** The transactions it ingests. */
  updateIds: ReadonlySet<string>;
  /** Its effects on holdings and instructions. */
  changes: LedgerStateChanges;
}

/** A batch parsed ahead of its transaction. */
export interface PreparedBatch {
  /** The transactions parsed, in order. */
  updateIds: readonly string[];
  chunks: readonly ParsedChunk[];
  /** Its effects on holdings and instructions (what the batch after it is parsed against). */
  changes: LedgerStateChanges;
  /** Every holding and instruction the parse looked up outside the batch, and the answer. */
  holdingLookups: ReadonlyMap<string, KnownHolding | undefined>;
  instructionLookups: ReadonlyMap<string, KnownInstruction | undefined>;
  /** The onboarded instruments it was parsed with. */
  onboarded: ReadonlySet<string>;
}

/** What the database held for a batch parsed ahead (startBatchLookups, read outside its transaction). */
export interface BatchReads {
  /** Which of its updates are already ingested. */
  already: ReadonlySet<string>;
  holdings: readonly KnownHolding[];
  instructions: readonly KnownInstruction[];
  onboarded: ReadonlySet<string>;
}

/**
 * Parses `elements` ahead of their transaction, as they will be once `after` has committed: what
 * the database held (`reads`, which may or may not show `after` yet) overlaid with `after`'s
 * effects. Throws what the parse throws (bad data): the caller leaves that for the batch's own
 * transaction to meet and report.
 */
export async function parseAhead(
  elements: readonly IngestElement[],
  party: string,
  after: ParsedBatch,
  reads: BatchReads,
): Promise<PreparedBatch> {
  const { already, holdings, instructions, onboarded } = reads;
  const known = new Set([...already, ...after.updateIds]);
  const { txs } = selectFresh(elements, after.offset, known);
  const holdingsById = new Map(holdings.map((h) => [h.contractId, h]));
  const instructionsById = new Map(instructions.map((i) => [i.contractId, i]));
  const holdingLookups = new Map<string, KnownHolding | undefined>();
  const instructionLookups = new Map<string, KnownInstruction | undefined>();
  const base: LedgerStateLookup = {
    holding: (cid) => {
      const changed = after.changes.holdings.get(cid);
      const answer = changed === null ? undefined : (changed ?? holdingsById.get(cid));
      if (!holdingLookups.has(cid)) holdingLookups.set(cid, answer);
      return answer;
    },
    instruction: (cid) => {
      const answer = after.changes.instructions.get(cid) ?? instructionsById.get(cid);
      if (!instructionLookups.has(cid)) instructionLookups.set(cid, answer);
      return answer;
    },
  };
  const state = new OverlayLedgerState(base);
  const chunks: ParsedChunk[] = [];
  for (let i = 0; i < txs.length; i += PARSE_CHUNK) {
    chunks.push(parseChunk(txs, i, party, state, onboarded));
    // Between chunks, let the batch being written go on: its next statements wait on this thread.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { updateIds: txs.map((t) => t.updateId), chunks, changes: state.ownChanges(), holdingLookups, instructionLookups, onboarded };
}

/**
 * Whether a batch parsed ahead is the parse its transaction would make: the same transactions to
 * parse, the same onboarded instruments, and the same answer, read in the transaction, to every
 * lookup the parse made.
 */
export function preparedStillHolds(
  prepared: PreparedBatch,
  txs: readonly JsTransaction[],
  holdings: ReadonlyMap<string, KnownHolding>,
  instructions: ReadonlyMap<string, KnownInstruction>,
  onboarded: ReadonlySet<string>,
): boolean {
  if (prepared.updateIds.length !== txs.length || txs.some((t, i) => t.updateId !== prepared.updateIds[i])) return false;
  if (prepared.onboarded.size !== onboarded.size || [...onboarded].some((k) => !prepared.onboarded.has(k))) return false;
  for (const [cid, seen] of prepared.holdingLookups) if (!sameHolding(seen, holdings.get(cid))) return false;
  for (const [cid, seen] of prepared.instructionLookups) if (!sameInstruction(seen, instructions.get(cid))) return false;
  return true;
}

function sameHolding(a: KnownHolding | undefined, b: KnownHolding | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.contractId === b.contractId &&
    a.instrument.admin === b.instrument.admin &&
    a.instrument.id === b.instrument.id &&
    a.amount === b.amount &&
    a.locked === b.locked
  );
}

function sameInstruction(a: KnownInstruction | undefined, b: KnownInstruction | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.contractId === b.contractId &&
    a.sender === b.sender &&
    a.receiver === b.receiver &&
    a.instrument.admin === b.instrument.admin &&
    a.instrument.id === b.instrument.id &&
    a.amount === b.amount &&
    a.memo === b.memo &&
    a.executeBefore === b.executeBefore
  );
}

/**
 * JSON.stringify escapes exactly the lone surrogates (well-formed pairs stay raw): such an escape,
 * not preceded by an escaped backslash, is text that is not Unicode.
 */
const LONE_SURROGATE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i;

/**
 * Daml text is Unicode, so a lone surrogate can only come from a broken node or proxy, and
 * Postgres refuses it: bad data, which stops ingestion naming the update (never skipped, never
 * silently rewritten).
 */
function notUnicode(facts: readonly TransactionFacts[]): UpdateParseError {
  const bad = facts.find((f) => LONE_SURROGATE.test(JSON.stringify(f))) ?? facts[0]!;
  return new UpdateParseError(bad.updateId, bad.offset, 'a text value is not valid Unicode (it holds a lone UTF-16 surrogate)');
}

/** A JSON \u0000 escape that is not itself an escaped backslash followed by "u0000". */
const JSON_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * Facts as Postgres can store them. Text and jsonb cannot hold U+0000, and a customer chooses the
 * memo (transfer reason) and other metadata: a NUL there would stop ingestion for good. It is
 * replaced by U+FFFD (no account memo can contain either, so such a deposit stays unattributed).
 * The check costs one scan of the JSON that is written anyway.
 */
function storableFacts(facts: TransactionFacts[]): ParsedChunk {
  const json = JSON.stringify(facts);
  if (LONE_SURROGATE.test(json)) throw notUnicode(facts);
  if (!json.includes('\\u0000')) return { facts, json };
  const safe = json.replace(JSON_NUL, '$1\\ufffd');
  return { facts: JSON.parse(safe) as TransactionFacts[], json: safe };
}

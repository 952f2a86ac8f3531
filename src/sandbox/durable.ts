import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { SandboxEngine } from './engine/engine.js';
import type { LedgerChange, LedgerJournal } from './engine/ledger.js';
import {
  completionIn,
  completionOut,
  dedupIn,
  dedupOut,
  entryIn,
  entryOut,
  type SavedCompletion,
  type SavedDedup,
  type SavedEntry,
  type Snapshot,
  type SnapshotMeta,
} from './engine/snapshot.js';

/**
 * A saved double that a crash (SIGKILL included) never rolls back behind anything it told anyone
 * (issue 20: the embedded default's daemon had ingested offsets the restarted double no longer
 * had). `<file>` is a snapshot of the whole state; `<file>.journal` holds every change made since,
 * one JSON line each, written and flushed to disk (fdatasync) before the ledger tells a reader
 * about it (Ledger.notify) and in any case before the next I/O callback, so before an HTTP answer,
 * a stream element or a completion can leave. A commit, its completion and its dedup entry go out
 * in one write and one flush. The journal is folded into a fresh snapshot (written to a temporary
 * file, flushed, renamed, directory flushed) when it passes `compactBytes`, at start and at stop;
 * the snapshot names the last journal line it holds, so a crash between the rename and emptying
 * the journal replays nothing twice. A last line cut short by a crash was never flushed, so never
 * answered: it is dropped. A write that fails throws out of the commit: the double stops rather
 * than answer what it could not keep.
 */

type JournalLine = { s: number } & (
  | { k: 'entry'; e: SavedEntry }
  | { k: 'completion'; c: SavedCompletion }
  | { k: 'dedup'; d: SavedDedup }
  | { k: 'prune'; offset: number }
  | { k: 'synchronizer'; id: string; alias: string }
  | { k: 'meta'; m: SnapshotMeta }
);

export interface SavedLedger {
  snapshot: Snapshot;
  /** Journal lines after the snapshot, in order. */
  journal: JournalLine[];
  /** The last journal line number seen (the snapshot's when the journal adds none). */
  lastSeq: number;
}

export const journalFileOf = (stateFile: string): string => `${stateFile}.journal`;

/** Fold the journal into a snapshot once it is this large (default 16 MiB). */
export const DEFAULT_COMPACT_BYTES = 16 * 1024 * 1024;

/** The saved ledger in `stateFile` and its journal; undefined when none was saved. */
export function readSavedLedger(stateFile: string): SavedLedger | undefined {
  const journalFile = journalFileOf(stateFile);
  if (!existsSync(stateFile)) {
    if (existsSync(journalFile) && readFileSync(journalFile, 'utf8').trim() !== '') {
      throw new Error(`${journalFile} holds ledger changes but its snapshot ${stateFile} is missing: restore the snapshot or delete both`);
    }
    return undefined;
  }
  const snapshot = JSON.parse(readFileSync(stateFile, 'utf8')) as Snapshot;
  const after = snapshot.journalSeq ?? 0;
  const text = existsSync(journalFile) ? readFileSync(journalFile, 'utf8') : '';
  const raw = text.split('\n');
  // A crash in the middle of a write leaves a last line without its newline: never flushed.
  if (raw.at(-1) !== '') raw.pop();
  const journal: JournalLine[] = [];
  let lastSeq = after;
  raw.forEach((line, i) => {
    if (line === '') return;
    let parsed: JournalLine;
    try {
      parsed = JSON.parse(line) as JournalLine;
    } catch (e) {
      throw new Error(`${journalFile}: line ${i + 1} is not JSON`, { cause: e });
    }
    if (parsed.s <= after) return;
    if (parsed.s !== lastSeq + 1) throw new Error(`${journalFile}: line ${i + 1} is record ${parsed.s}, expected ${lastSeq + 1}`);
    lastSeq = parsed.s;
    journal.push(parsed);
  });
  return { snapshot, journal, lastSeq };
}

/** Applies journal lines to an engine restored from their snapshot. */
export function replayJournal(engine: SandboxEngine, lines: readonly JournalLine[]): void {
  const ledger = engine.ledger;
  for (const l of lines) {
    switch (l.k) {
      case 'entry':
        ledger.replayEntry(entryIn(l.e));
        break;
      case 'completion':
        ledger.completions.push(completionIn(l.c));
        break;
      case 'dedup':
        ledger.dedup.set(...dedupIn(l.d));
        break;
      case 'prune':
        ledger.prune(l.offset);
        break;
      case 'synchronizer':
        ledger.connectSynchronizer(l.alias, l.id);
        break;
      case 'meta':
        engine.restoreMeta(l.m);
        break;
    }
  }
}

/** Writes a file so that after a crash it is either the old one or the whole new one. */
function replaceDurably(file: string, data: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeAll(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

function writeAll(fd: number, data: string): void {
  const buf = Buffer.from(data, 'utf8');
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
}

export interface DurableLedgerStats {
  /** Disk flushes of the journal (one per step a reader could see). */
  syncs: number;
  /** Snapshots written. */
  compactions: number;
  journalBytes: number;
}

export class DurableLedger implements LedgerJournal {
  private fd: number | undefined;
  private pending: string[] = [];
  private metaDirty = false;
  private resetPending = false;
  private bytes = 0;
  readonly stats: DurableLedgerStats = { syncs: 0, compactions: 0, journalBytes: 0 };

  constructor(
    private readonly engine: SandboxEngine,
    private readonly file: string,
    private readonly log: Logger,
    private seq: number,
    private readonly compactBytes = DEFAULT_COMPACT_BYTES,
  ) {}

  /** Folds everything into a fresh snapshot, empties the journal, and journals every change from now on. */
  start(): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    this.fd = openSync(journalFileOf(this.file), 'a', 0o600);
    this.compact();
    this.engine.ledger.journal = this;
  }

  append(change: LedgerChange): void {
    if (this.fd === undefined) return;
    if (change.kind === 'reset') {
      // Lines cannot replay a replaced state onto the snapshot before it: the next sync writes a
      // snapshot of the state as it is then (everything of this step included) instead.
      this.resetPending = true;
      return;
    }
    if (change.kind === 'meta') {
      // Written whole at the sync, so what the same step changes after this is in it.
      this.metaDirty = true;
      return;
    }
    this.pending.push(JSON.stringify(this.line(change)));
  }

  private line(change: Exclude<LedgerChange, { kind: 'meta' | 'reset' }>): JournalLine {
    const s = ++this.seq;
    switch (change.kind) {
      case 'entry':
        return { s, k: 'entry', e: entryOut(change.entry) };
      case 'completion':
        return { s, k: 'completion', c: completionOut(change.completion) };
      case 'dedup':
        return { s, k: 'dedup', d: dedupOut(change.key, change.entry) };
      case 'prune':
        return { s, k: 'prune', offset: change.offset };
      case 'synchronizer':
        return { s, k: 'synchronizer', id: change.id, alias: change.alias };
    }
  }

  sync(): void {
    if (this.fd === undefined) return;
    if (this.resetPending) {
      this.resetPending = false;
      this.pending = [];
      this.metaDirty = false;
      this.compact();
      return;
    }
    if (this.metaDirty) {
      this.metaDirty = false;
      this.pending.push(JSON.stringify({ s: ++this.seq, k: 'meta', m: this.engine.meta() } satisfies JournalLine));
    }
    if (this.pending.length === 0) return;
    const data = `${this.pending.join('\n')}\n`;
    this.pending = [];
    writeAll(this.fd, data);
    fdatasyncSync(this.fd);
    this.bytes += Buffer.byteLength(data);
    this.stats.syncs++;
    this.stats.journalBytes = this.bytes;
    if (this.bytes >= this.compactBytes) this.compact();
  }

  /** A snapshot of everything (the journal flushed first), then an empty journal. */
  compact(): void {
    if (this.fd === undefined) return;
    this.sync();
    const started = Date.now();
    replaceDurably(this.file, JSON.stringify({ ...this.engine.snapshot(), journalSeq: this.seq } satisfies Snapshot));
    ftruncateSync(this.fd, 0);
    fsyncSync(this.fd);
    this.bytes = 0;
    this.stats.compactions++;
    this.stats.journalBytes = 0;
    this.log.debug({ file: this.file, ms: Date.now() - started, seq: this.seq }, 'sandbox: ledger snapshot written');
  }

  /** A last snapshot, and the ledger goes back to memory only. */
  stop(): void {
    if (this.fd === undefined) return;
    try {
      this.compact();
    } catch (e) {
      // The journal still holds everything: the next start replays it.
      this.log.error({ err: e, file: this.file }, 'sandbox: writing the ledger snapshot at stop failed');
    }
    if (this.engine.ledger.journal === this) this.engine.ledger.journal = undefined;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

import { LedgerError } from '../engine/errors.js';
import type { Micros } from '../util/time.js';

/** What a stream needs to know about the ledger's progress (live ledger or replayed history). */
export interface Timeline {
  readonly synchronizerId: string;
  /** Synchronizers the participant connected to after the first (a live ledger only). */
  otherSynchronizers?(): readonly { id: string; alias: string }[];
  ledgerEnd(): number;
  prunedUpTo(): number;
  /** Record time of the update at `offset`, or of the latest one before it. */
  recordTimeAt(offset: number): Micros | undefined;
  /** The current synchronizer time, published (no later commit will be at or before it). */
  publishTime(): Micros;
  /** Increments whenever the clock is stepped by hand. */
  clockSteps(): number;
  isRealTime(): boolean;
  onChange(listener: () => void): () => void;
}

export interface StreamSpec<E> {
  readonly beginExclusive: number;
  readonly endInclusive?: number;
  /** Elements with beginExclusive < offset <= endInclusive that the reader may see, in order. */
  collect(beginExclusive: number, endInclusive: number): { offset: number; element: E }[];
  checkpoint(offset: number, recordTime: Micros): E;
}

export interface StreamOptions {
  readonly signal: AbortSignal;
  /** Idle OffsetCheckpoint interval (real-time clock). */
  readonly checkpointIntervalMs: number;
  /** Publish a checkpoint each time the stream catches up (HTTP list reads), not only when idle. */
  readonly checkpointOnCatchUp: boolean;
}

/** Canton's checks of a requested offset range. */
export function validateRange(tl: Timeline, beginExclusive: number, endInclusive: number | undefined, what: string): void {
  const pruned = tl.prunedUpTo();
  const end = tl.ledgerEnd();
  if (beginExclusive < pruned) {
    throw LedgerError.of(
      'PARTICIPANT_PRUNED_DATA_ACCESSED',
      `${what} request from ${beginExclusive + 1} to ${endInclusive ?? end} precedes pruned offset ${pruned}`,
      { context: { earliest_offset: String(pruned) }, definiteAnswer: false },
    );
  }
  if (beginExclusive > end) {
    throw LedgerError.of('OFFSET_AFTER_LEDGER_END', `Begin offset (${beginExclusive}) is after ledger end (${end})`, {
      definiteAnswer: false,
    });
  }
  if (endInclusive !== undefined) {
    if (endInclusive < beginExclusive) {
      throw LedgerError.of('OFFSET_OUT_OF_RANGE', `Begin offset ${beginExclusive} is after end offset ${endInclusive}`, {
        definiteAnswer: false,
      });
    }
    if (endInclusive > end) {
      throw LedgerError.of('OFFSET_AFTER_LEDGER_END', `End offset (${endInclusive}) is after ledger end (${end})`, {
        definiteAnswer: false,
      });
    }
  }
}

/**
 * Offsets read per step while catching up: a stream from far behind builds its frames a slice at
 * a time, so the double's memory and GC cost stay flat however long the backlog is. Small, because
 * a slice's frames wait for a slow reader: at 256 they lived long enough to be promoted, and major
 * collections of the double's large heap made it cost up to 1.6x as much per update to a reader
 * that writes to Postgres as to one that only reads (bench:ingest).
 */
const CATCH_UP_SLICE = 32;

function waitForChange(tl: Timeline, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let off = () => {};
    const done = () => {
      clearTimeout(timer);
      off();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    off = tl.onChange(done);
    signal.addEventListener('abort', done);
  });
}

/**
 * The elements of a stream: everything in range, then (unbounded) the live tail with
 * OffsetCheckpoints. A checkpoint says "everything up to this offset has been delivered, and the
 * synchronizer time is now T": it is sent when the stream caught up past updates the reader
 * cannot see, right after the clock was stepped by hand, and whenever the stream has been idle
 * for checkpointIntervalMs, counted from its start (on a manual clock only once per new offset,
 * as its time stands still). A bounded stream carries no checkpoints: Canton adds them only to
 * tailing streams (`checkpointFlow(cond = isTailingStream)` in
 * community/ledger/ledger-api-core/src/main/scala/com/digitalasset/canton/platform/index/IndexServiceImpl.scala).
 */
export async function* streamElements<E>(tl: Timeline, spec: StreamSpec<E>, opts: StreamOptions): AsyncGenerator<E> {
  let cursor = spec.beginExclusive;
  let lastYielded = spec.beginExclusive;
  let lastCheckpointOffset = -1;
  // Wall-clock time of the last frame (or of the start): a stream quiet for checkpointIntervalMs is "idle".
  let lastActivityWall = Date.now();
  let lastSteps = tl.clockSteps();
  const bounded = spec.endInclusive !== undefined;

  while (!opts.signal.aborted) {
    const end = Math.min(tl.ledgerEnd(), cursor + CATCH_UP_SLICE);
    const upTo = spec.endInclusive !== undefined ? Math.min(spec.endInclusive, end) : end;
    for (const { offset, element } of spec.collect(cursor, upTo)) {
      if (opts.signal.aborted) return;
      yield element;
      lastYielded = offset;
      lastActivityWall = Date.now();
    }
    cursor = Math.max(cursor, upTo);
    if (spec.endInclusive !== undefined && cursor >= spec.endInclusive) return;
    if (bounded) continue;
    // Updates committed while we were yielding: serve them before anything else.
    if (tl.ledgerEnd() > cursor) continue;

    const steps = tl.clockSteps();
    const gap = cursor > lastYielded && cursor > lastCheckpointOffset;
    const stepped = steps !== lastSteps;
    // Idle: a real-time clock has moved on, so publish it; a manual one only if this offset is new.
    const idle = Date.now() - lastActivityWall >= opts.checkpointIntervalMs && (tl.isRealTime() || cursor > lastCheckpointOffset);
    // A read that has not moved (it began at the ledger end) has nothing to publish.
    const catchUp = opts.checkpointOnCatchUp && cursor > lastCheckpointOffset && cursor > spec.beginExclusive;
    if (cursor > 0 && (gap || stepped || idle || catchUp)) {
      yield spec.checkpoint(cursor, tl.publishTime());
      lastCheckpointOffset = cursor;
      lastActivityWall = Date.now();
      lastSteps = steps;
    }
    await waitForChange(tl, opts.checkpointIntervalMs, opts.signal);
  }
}

import { compareTimestamps } from '../ledger/schema/index.js';
import type { IngestElement } from './elements.js';
import { CheckpointConflictError, UnexpectedSynchronizerError } from './errors.js';

/**
 * Where ingestion stands for one treasury party: the last fully processed offset and what it
 * knew then. Written only in the transaction of the batch it covers (invariant 1).
 */
export interface Checkpoint {
  treasuryParty: string;
  offset: number;
  /** Last ingested transaction; null while only offset checkpoints were seen. */
  updateId: string | null;
  /** The offset `updateId` was ingested at: where continuity checks look it up again. */
  updateOffset: number | null;
  /** The participant the ledger was read from (GET /v2/parties/participant-id); null until known. */
  participantId: string | null;
  /**
   * The synchronizer ingestion follows: the only one whose updates it accepts (an update of
   * another stops it). Adopted from the first update, or from the first OffsetCheckpoint when that
   * names a single synchronizer; null until then.
   */
  synchronizerId: string | null;
  /** Latest record time of that synchronizer (transactions and OffsetCheckpoints). */
  recordTime: string | null;
  /**
   * Latest record time of every synchronizer the stream reported, by synchronizer id. Record time
   * is ordered only within one synchronizer: a deadline is compared with its own synchronizer's.
   */
  synchronizerTimes: Record<string, string>;
}

/** What a writer expects of the stored checkpoint (IngestOptions in src/store/ingestion.ts). */
export interface CheckpointExpectation {
  /** The offset the writer believes is committed; undefined: any. */
  expectedOffset?: number | undefined;
  /** This run repeats one whose outcome is unknown: its own commit is recognised (committedBy). */
  mayHaveCommitted?: boolean | undefined;
}

/**
 * The checkpoint a batch extends: the stored one (none yet: offset 0), which must be at the offset
 * the writer expects, or another writer is active and the batch is refused
 * (CheckpointConflictError) rather than interleaved with it. The one exception: a repeated run
 * whose stored checkpoint is exactly what the batch commits (committedBy) finds the batch
 * `committed` already.
 */
export function checkpointToExtend(
  party: string,
  stored: Checkpoint | undefined,
  elements: readonly IngestElement[],
  known: ReadonlySet<string>,
  expect: CheckpointExpectation,
): Checkpoint | { committed: Checkpoint } {
  if (expect.expectedOffset !== undefined && (stored?.offset ?? 0) !== expect.expectedOffset) {
    if (expect.mayHaveCommitted && stored && committedBy(elements, expect.expectedOffset, stored, known)) return { committed: stored };
    throw new CheckpointConflictError(
      `the stored checkpoint of ${party} is at offset ${stored?.offset ?? 0}, expected ${expect.expectedOffset}: another ingestion writer is active`,
    );
  }
  return (
    stored ?? {
      treasuryParty: party,
      offset: 0,
      updateId: null,
      updateOffset: null,
      participantId: null,
      recordTime: null,
      synchronizerId: null,
      synchronizerTimes: {},
    }
  );
}

/**
 * Whether `stored` is the checkpoint this batch commits when run from `expectedOffset`: at its last
 * offset, naming its last transaction, with every one of its transactions stored. Another writer
 * committing exactly this batch is the only other way to get there, and leaves the same database.
 */
export function committedBy(
  elements: readonly IngestElement[],
  expectedOffset: number,
  stored: Checkpoint,
  known: ReadonlySet<string>,
): boolean {
  let end: number | undefined;
  let lastTx: string | null = null;
  for (const el of elements) {
    const offset = el.kind === 'transaction' ? el.tx.offset : el.offset;
    if (offset <= expectedOffset) continue;
    end = Math.max(end ?? offset, offset);
    if (el.kind !== 'transaction') continue;
    if (!known.has(el.tx.updateId)) return false;
    lastTx = el.tx.updateId;
  }
  return end !== undefined && stored.offset === end && (lastTx === null || stored.updateId === lastTx);
}

/**
 * The checkpoint once `fresh` is ingested: last offset, last transaction, the latest record time
 * of every synchronizer named, and the synchronizer followed, adopted from the first update if
 * none is yet. An update of any other synchronizer stops the batch (UnexpectedSynchronizerError).
 * OffsetCheckpoints name every synchronizer the participant has seen an update of (Canton's
 * InMemoryStateUpdater.scala, community/ledger/ledger-api-core/.../platform/index/), the
 * treasury's or not: their times are kept, and never adopt a synchronizer.
 */
export function nextCheckpoint(cp: Checkpoint, fresh: readonly IngestElement[]): Checkpoint {
  const next: Checkpoint = { ...cp, synchronizerTimes: { ...cp.synchronizerTimes } };
  const follow = (synchronizerId: string, updateId: string | undefined, offset: number) => {
    next.synchronizerId ??= synchronizerId;
    if (synchronizerId !== next.synchronizerId)
      throw new UnexpectedSynchronizerError(updateId, offset, synchronizerId, next.synchronizerId);
  };
  for (const el of fresh) {
    if (el.kind === 'transaction') {
      follow(el.tx.synchronizerId, el.tx.updateId, el.tx.offset);
      next.offset = Math.max(next.offset, el.tx.offset);
      next.updateId = el.tx.updateId;
      next.updateOffset = el.tx.offset;
      advanceTime(next, el.tx.synchronizerId, el.tx.recordTime);
    } else if (el.kind === 'checkpoint') {
      next.offset = Math.max(next.offset, el.offset);
      for (const st of el.synchronizerTimes) advanceTime(next, st.synchronizerId, st.recordTime);
    } else {
      follow(el.synchronizerId, undefined, el.offset);
      next.offset = Math.max(next.offset, el.offset);
      advanceTime(next, el.synchronizerId, el.recordTime);
    }
  }
  return next;
}

function advanceTime(cp: Checkpoint, synchronizerId: string, recordTime: string): void {
  const known = cp.synchronizerTimes[synchronizerId];
  if (known === undefined || compareTimestamps(recordTime, known) > 0) cp.synchronizerTimes[synchronizerId] = recordTime;
  if (synchronizerId === cp.synchronizerId) cp.recordTime = cp.synchronizerTimes[synchronizerId]!;
}

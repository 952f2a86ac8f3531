import { AppError } from '../errors.js';
import { LedgerApiError } from '../ledger/http.js';
import type { Component } from '../lifecycle.js';
import { compareTimestamps } from '../ledger/schema/index.js';
import { isIngested, readCheckpoint, readContinuityFailures, repointCheckpoint, type ContinuityReason } from '../store/checkpoint.js';
import type { Checkpoint } from '../ingestion/checkpoint.js';
import type { Sql } from '../store/db.js';
import { countUndecidedAttempts } from '../store/reservations.js';
import { findResumeOffset, type ContinuityLedger } from '../streams/continuity.js';
import type { Switches } from '../gates/switches.js';

/**
 * The operator's half of ledger continuity (issue 20): `cxi ingestion resync` after a validator
 * was restored from a backup (offsets changed, update ids and record times did not) and
 * `cxi ingestion migrate` after a major upgrade (a new synchronizer, history not carried over).
 * Both re-point the stored checkpoint, record the ledger's identity and clear the continuity
 * failure in one statement; the caller stops ingestion before and starts it after. Both refuse
 * (STATE_CONFLICT, nothing changed) when the ledger does not look like their case, and running
 * either again is harmless: resync re-points to the same place, migrate refuses once done.
 */

/** Where a checkpoint stands on which ledger (its fields as store/checkpoint.ts keeps them). */
export type LedgerPosition = Pick<Checkpoint, 'offset' | 'updateId' | 'updateOffset' | 'participantId' | 'synchronizerId' | 'recordTime'>;

export interface RecoveryResult {
  action: 'resync' | 'migrate';
  /** The continuity failure that was recorded, if any (cleared now). */
  clearedFailure: { reason: ContinuityReason; detail: string } | null;
  before: LedgerPosition;
  after: LedgerPosition;
  ledgerEnd: number;
  /** resync: how the offset was chosen. */
  method?: 'operator' | 'record-time search' | 'nothing ingested';
  /** resync by search: ledger reads it took. */
  reads?: number;
  /** migrate: submitted withdrawal attempts on the old synchronizer that nothing can decide any more. */
  undecidedAttempts?: number;
  /** What it did, in sentences (the CLI prints them). */
  summary: string[];
}

export interface RecoveryDeps {
  sql: Sql;
  treasuryParty: string;
  ledger: ContinuityLedger;
}

function position(cp: Checkpoint): LedgerPosition {
  return {
    offset: cp.offset,
    updateId: cp.updateId,
    updateOffset: cp.updateOffset,
    participantId: cp.participantId,
    synchronizerId: cp.synchronizerId,
    recordTime: cp.recordTime,
  };
}

async function stored(deps: RecoveryDeps): Promise<{ cp: Checkpoint; failure: { reason: ContinuityReason; detail: string } | null }> {
  const cp = await readCheckpoint(deps.sql, deps.treasuryParty);
  if (!cp || (cp.offset === 0 && cp.updateId === null && cp.synchronizerId === null)) {
    throw new AppError(
      'STATE_CONFLICT',
      'Ingestion has not ingested anything yet: there is no checkpoint to re-point. Start the daemon; ingestion begins at the start of the ledger.',
    );
  }
  const f = (await readContinuityFailures(deps.sql)).find((x) => x.treasuryParty === deps.treasuryParty);
  return { cp, failure: f ? { reason: f.reason, detail: f.detail } : null };
}

/**
 * Resync: resume on the same synchronizer at the offset where updates with the stored record time
 * begin (found by reading the ledger, or the operator's `offset`); updates read again are skipped
 * by their ids. Refused for another participant unless `participant` names it (the treasury is
 * now read from another of its nodes: the guide's restore procedure) and when the followed
 * synchronizer is gone (a major upgrade: migrate).
 */
export async function resyncIngestion(
  deps: RecoveryDeps,
  req: { offset?: number | undefined; participant?: string | undefined },
): Promise<RecoveryResult> {
  const { cp, failure } = await stored(deps);
  const participantId = await deps.ledger.participantId();
  if (cp.participantId !== null && cp.participantId !== participantId && req.participant !== participantId) {
    throw new AppError(
      'STATE_CONFLICT',
      `The ledger is participant ${participantId}, but ingestion read participant ${cp.participantId}: offsets of two nodes cannot be compared. Check LEDGER_API_URL first. ` +
        `Only if the treasury is now read from another node hosting it, run \`cxi ingestion resync --participant ${participantId}\`.`,
      { storedParticipant: cp.participantId, ledgerParticipant: participantId },
    );
  }
  if (req.participant !== undefined && req.participant !== participantId) {
    throw new AppError('STATE_CONFLICT', `--participant ${req.participant} is not the ledger's participant ${participantId}.`, {
      ledgerParticipant: participantId,
    });
  }
  const connected = await deps.ledger.connectedSynchronizers();
  if (cp.synchronizerId !== null && !connected.includes(cp.synchronizerId)) {
    throw new AppError(
      'STATE_CONFLICT',
      `Ingestion follows synchronizer ${cp.synchronizerId}, which the node is no longer connected to (it is connected to ${connected.join(', ') || 'none'}): a major upgrade, not a restore. Run \`cxi ingestion migrate\`.`,
      { storedSynchronizer: cp.synchronizerId, connected },
    );
  }
  const ledgerEnd = await deps.ledger.ledgerEnd();
  const pruned = await deps.ledger.prunedUpTo();
  let offset: number;
  let at: { offset: number; updateId: string } | undefined;
  let method: RecoveryResult['method'];
  let reads: number | undefined;
  if (req.offset !== undefined) {
    if (req.offset > ledgerEnd)
      throw new AppError('STATE_CONFLICT', `--offset ${req.offset} is beyond the ledger end ${ledgerEnd}.`, { ledgerEnd });
    if (req.offset < pruned)
      throw new AppError('STATE_CONFLICT', `--offset ${req.offset} is below the pruned offset ${pruned}: that history is gone.`, {
        prunedUpTo: pruned,
      });
    offset = req.offset;
    method = 'operator';
    const id = offset > pruned && offset > 0 ? await deps.ledger.updateIdAt(offset) : undefined;
    at = id === undefined ? undefined : { offset, updateId: id };
  } else if (cp.recordTime === null || cp.synchronizerId === null) {
    offset = pruned;
    method = 'nothing ingested';
  } else {
    const found = await findResumeOffset(deps.ledger, {
      synchronizerId: cp.synchronizerId,
      recordTime: cp.recordTime,
      from: pruned,
      ledgerEnd,
    });
    reads = found.reads;
    if (found.offset === pruned && pruned > 0) {
      throw new AppError(
        'STATE_CONFLICT',
        `The ledger is pruned up to offset ${pruned} and its first update after that is at or after the ingested record time ${cp.recordTime}: updates ingestion has not seen may have been pruned. Check the missed period by other means, then give --offset.`,
        { prunedUpTo: pruned, recordTime: cp.recordTime },
      );
    }
    offset = found.offset;
    at = found.at;
    method = 'record-time search';
  }
  // The update at the resume offset is one ingestion has (its record time is before the one
  // ingested): it names the ledger from here on. One it does not have is not named (nothing to check yet).
  const known = at ? await isIngested(deps.sql, at.updateId) : false;
  const next: Checkpoint = {
    ...cp,
    offset,
    updateId: known && at ? at.updateId : null,
    updateOffset: known && at ? at.offset : null,
    participantId,
  };
  await repointCheckpoint(deps.sql, next);
  const summary = [
    failure ? `cleared the ledger continuity failure (${failure.reason})` : 'no ledger continuity failure was recorded',
    `checkpoint re-pointed from offset ${cp.offset} to offset ${offset} (${method === 'operator' ? 'given by the operator' : method === 'record-time search' ? `where updates of record time ${cp.recordTime} on ${cp.synchronizerId} begin, found in ${reads} reads` : 'nothing had been ingested'}); ledger end ${ledgerEnd}`,
    `participant ${participantId}${cp.participantId !== null && cp.participantId !== participantId ? ` (was ${cp.participantId})` : ''}, synchronizer ${cp.synchronizerId ?? '(adopted from the first update)'}`,
    'ingestion resumes from there; updates it already has are skipped by their update ids',
  ];
  return {
    action: 'resync',
    clearedFailure: failure,
    before: position(cp),
    after: position(next),
    ledgerEnd,
    method,
    ...(reads !== undefined ? { reads } : {}),
    summary,
  };
}

/**
 * Migrate: follow the new synchronizer of a major upgrade from the start of the new ledger. Its
 * import transactions (record time 0001-01-01) re-create holdings and credit nobody (the parser).
 * Refused for another participant (a major upgrade reuses identities) and when the followed
 * synchronizer is still connected (not a migration: a restore is resync's). With `acsTimestamp`
 * (the migration dump's acs_timestamp), refused while ingestion had not reached it on the old
 * synchronizer: what it missed there is not in the new ledger's history.
 */
export async function migrateIngestion(deps: RecoveryDeps, req: { acsTimestamp?: string | undefined }): Promise<RecoveryResult> {
  const { cp, failure } = await stored(deps);
  const participantId = await deps.ledger.participantId();
  if (cp.participantId !== null && cp.participantId !== participantId) {
    throw new AppError(
      'STATE_CONFLICT',
      `The ledger is participant ${participantId}, but ingestion read participant ${cp.participantId}: a major upgrade keeps the participant's identity. Check LEDGER_API_URL.`,
      { storedParticipant: cp.participantId, ledgerParticipant: participantId },
    );
  }
  const connected = await deps.ledger.connectedSynchronizers();
  if (cp.synchronizerId !== null && connected.includes(cp.synchronizerId)) {
    throw new AppError(
      'STATE_CONFLICT',
      `The synchronizer did not change: ingestion follows ${cp.synchronizerId} and the node is connected to it` +
        (failure
          ? `. The ledger went back on the same synchronizer (${failure.reason}): a validator restore, run \`cxi ingestion resync\`.`
          : ': there is nothing to migrate (already migrated, or no major upgrade took place).'),
      { synchronizer: cp.synchronizerId, connected },
    );
  }
  if (req.acsTimestamp !== undefined && (cp.recordTime === null || compareTimestamps(cp.recordTime, req.acsTimestamp) < 0)) {
    throw new AppError(
      'STATE_CONFLICT',
      `Ingestion reached record time ${cp.recordTime ?? '(none)'} on ${cp.synchronizerId ?? '(no synchronizer)'}, before the migration dump's acs_timestamp ${req.acsTimestamp}: ` +
        "what happened in between is not in the new ledger's history. Ingest the old synchronizer up to acs_timestamp first (its node, before the upgrade).",
      { recordTime: cp.recordTime, acsTimestamp: req.acsTimestamp },
    );
  }
  const ledgerEnd = await deps.ledger.ledgerEnd();
  const pruned = await deps.ledger.prunedUpTo();
  const [first] = await deps.ledger.updatesBetween(pruned, ledgerEnd, 1);
  const synchronizerId = first?.synchronizerId ?? (connected.length === 1 ? connected[0]! : undefined);
  if (synchronizerId === undefined) {
    throw new AppError(
      'STATE_CONFLICT',
      `The new ledger has no update of the treasury yet and the node is connected to ${connected.length} synchronizers: wait for the import transactions.`,
      { connected },
    );
  }
  const next: Checkpoint = { ...cp, offset: pruned, updateId: null, updateOffset: null, participantId, synchronizerId, recordTime: null };
  await repointCheckpoint(deps.sql, next);
  const undecided = cp.synchronizerId === null ? 0 : await countUndecidedAttempts(deps.sql, cp.synchronizerId);
  const summary = [
    failure ? `cleared the ledger continuity failure (${failure.reason})` : 'no ledger continuity failure was recorded',
    `ingestion now follows synchronizer ${synchronizerId} (was ${cp.synchronizerId ?? 'none'}) from offset ${pruned} of the new ledger (ledger end ${ledgerEnd}); the old checkpoint was offset ${cp.offset}, record time ${cp.recordTime ?? 'none'}`,
    'import transactions (record time 0001-01-01) re-create holdings and credit nobody',
    ...(undecided > 0
      ? [
          `${undecided} withdrawal attempt(s) submitted on ${cp.synchronizerId} and never seen on the ledger stay undecided: check each on the old synchronizer's history, then FAIL or RETRY it (cxi withdrawals)`,
        ]
      : []),
  ];
  return {
    action: 'migrate',
    clearedFailure: failure,
    before: position(cp),
    after: position(next),
    ledgerEnd,
    undecidedAttempts: undecided,
    summary,
  };
}

/** Resync and migrate as the HTTP API runs them: this process's ingestion stopped meanwhile, started again after. */
export interface LedgerRecovery {
  resync(req: { offset?: number | undefined; participant?: string | undefined }): Promise<RecoveryResult>;
  migrate(req: { acsTimestamp?: string | undefined }): Promise<RecoveryResult>;
}

export function createLedgerRecovery(o: {
  sql: Sql;
  treasuryParty: string;
  ingestion: Pick<Component, 'start' | 'stop'> & { readonly continuityLedger: ContinuityLedger };
  switches?: Pick<Switches, 'refresh'>;
}): LedgerRecovery {
  const deps: RecoveryDeps = { sql: o.sql, treasuryParty: o.treasuryParty, ledger: retryingLedger(o.ingestion.continuityLedger) };
  // One at a time: two re-pointings interleaved would leave whichever wrote last.
  let queue: Promise<unknown> = Promise.resolve();
  const run = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(async () => {
      // The writer stops after its batch in flight, so nothing is written from the old offset after the re-pointing.
      await o.ingestion.stop();
      try {
        return await fn();
      } catch (e) {
        if (e instanceof LedgerApiError)
          throw new AppError('NOT_READY', `The ledger could not be read (nothing was changed; run it again): ${e.message}`);
        throw e;
      } finally {
        // Holds lift at once in this process (the others see it within a poll), then ingestion resumes.
        await o.switches?.refresh().catch(() => undefined);
        await o.ingestion.start();
      }
    });
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    resync: (req) => run(() => resyncIngestion(deps, req)),
    migrate: (req) => run(() => migrateIngestion(deps, req)),
  };
}

/**
 * The ledger reads of resync and migrate, each retried on what the ledger API marks retryable
 * (unavailable, backpressure, timeouts): a search of some twenty reads should not be lost to one.
 */
function retryingLedger(l: ContinuityLedger): ContinuityLedger {
  const retry = async <T>(read: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (e) {
        if (!(e instanceof LedgerApiError) || !e.retryable || attempt >= 6) throw e;
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  };
  return {
    participantId: (signal) => retry(() => l.participantId(signal)),
    connectedSynchronizers: (signal) => retry(() => l.connectedSynchronizers(signal)),
    ledgerEnd: (signal) => retry(() => l.ledgerEnd(signal)),
    prunedUpTo: (signal) => retry(() => l.prunedUpTo(signal)),
    updateIdAt: (offset, signal) => retry(() => l.updateIdAt(offset, signal)),
    updatesBetween: (b, e, limit, signal) => retry(() => l.updatesBetween(b, e, limit, signal)),
  };
}

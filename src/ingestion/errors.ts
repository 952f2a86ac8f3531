/**
 * Why ingestion stopped. Each error says what the operator needs: the update id and offset of bad
 * data, or what to do about a pruned offset. None of these is retried: retrying cannot fix them.
 */

/** An update that does not parse into facts: ingestion stops, nothing of its batch is written. */
export class UpdateParseError extends Error {
  override readonly name = 'UpdateParseError';
  constructor(
    readonly updateId: string | undefined,
    readonly offset: number | undefined,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot ingest update ${updateId ?? '(unknown id)'} at offset ${offset ?? '(unknown)'}: ${reason}`, options);
  }
}

/** The stored offset lies below what the participant still has. */
export class PrunedOffsetError extends Error {
  override readonly name = 'PrunedOffsetError';
  constructor(
    readonly resumeOffset: number,
    readonly prunedUpToInclusive: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `the ledger has pruned the history ingestion must resume from (stored offset ${resumeOffset}` +
        (prunedUpToInclusive !== undefined ? `, participant pruned up to ${prunedUpToInclusive}` : '') +
        '): updates between them are gone and cannot be ingested. Operator action: re-bootstrap the treasury ' +
        'from an ACS snapshot at the ledger end, or choose a new start offset after checking the missed ' +
        'period by other means; then restart ingestion.',
      options,
    );
  }
}

/** Another writer advanced the checkpoint under us: two ingestion leaders must never both write. */
export class CheckpointConflictError extends Error {
  override readonly name = 'CheckpointConflictError';
}

/**
 * An update of a synchronizer other than the one ingestion follows. Record time is ordered only
 * within one synchronizer, and deadlines are decided per synchronizer; several are not modelled
 * yet (reassignments, an attempt's holdings on another synchronizer), so ingestion stops rather
 * than mis-decide (docs/internals.md, "Definite failure is decided by ingestion, never by a clock").
 */
export class UnexpectedSynchronizerError extends Error {
  override readonly name = 'UnexpectedSynchronizerError';
  constructor(
    readonly updateId: string | undefined,
    readonly offset: number,
    readonly synchronizerId: string,
    readonly expectedSynchronizerId: string,
  ) {
    super(
      `update ${updateId ?? '(a topology transaction)'} at offset ${offset} is on synchronizer ${synchronizerId}, but ingestion follows ` +
        `synchronizer ${expectedSynchronizerId} only: the treasury has activity on a second synchronizer, which is not supported ` +
        '(record time is ordered only within one synchronizer, so deadlines on several cannot be decided yet). Nothing of its batch ' +
        'was written, and no deadline or expiry is decided until ingestion passes it. Operator action: find out why the treasury ' +
        `is hosted on ${synchronizerId}; the update stays in the ledger, so ingestion cannot pass it until several synchronizers are supported`,
    );
  }
}

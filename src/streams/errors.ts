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

import { describe, expect, it } from 'vitest';
import { checkpointToExtend, type Checkpoint } from '../../src/ingestion/checkpoint.js';
import type { IngestElement } from '../../src/ingestion/elements.js';
import { CheckpointConflictError } from '../../src/ingestion/errors.js';
import type { JsTransaction } from '../../src/ledger/schema/index.js';

const PARTY = 'treasury::1220';
const tx = (updateId: string, offset: number): IngestElement => ({
  kind: 'transaction',
  tx: {
    updateId,
    offset,
    effectiveAt: '2026-01-01T00:00:00Z',
    recordTime: '2026-01-01T00:00:00Z',
    synchronizerId: 'sync',
    events: [],
  } as unknown as JsTransaction,
});
const stored = (offset: number, updateId: string | null): Checkpoint => ({
  treasuryParty: PARTY,
  offset,
  updateId,
  updateOffset: updateId === null ? null : offset,
  participantId: null,
  recordTime: null,
  synchronizerId: null,
  synchronizerTimes: {},
});

describe('the checkpoint a batch extends', () => {
  const batch = [tx('a', 11), tx('b', 12)];

  it('is the stored one, or one at offset 0 when none is stored', () => {
    expect(checkpointToExtend(PARTY, stored(10, 'z'), batch, new Set(), { expectedOffset: 10 })).toEqual(stored(10, 'z'));
    expect(checkpointToExtend(PARTY, undefined, batch, new Set(), { expectedOffset: 0 })).toEqual(stored(0, null));
    expect(checkpointToExtend(PARTY, stored(7, 'y'), batch, new Set(), {})).toEqual(stored(7, 'y'));
  });

  it('refuses a stored checkpoint the writer does not expect: another writer is active', () => {
    expect(() => checkpointToExtend(PARTY, stored(12, 'b'), batch, new Set(), { expectedOffset: 10 })).toThrow(CheckpointConflictError);
    expect(() => checkpointToExtend(PARTY, undefined, batch, new Set(), { expectedOffset: 10 })).toThrow(/at offset 0, expected 10/);
  });

  it('takes a repeated run whose batch is what is stored as committed, and nothing else', () => {
    expect(checkpointToExtend(PARTY, stored(12, 'b'), batch, new Set(['a', 'b']), { expectedOffset: 10, mayHaveCommitted: true })).toEqual({
      committed: stored(12, 'b'),
    });
    // not every transaction stored, another last transaction, another end: another writer's
    expect(() => checkpointToExtend(PARTY, stored(12, 'b'), batch, new Set(['b']), { expectedOffset: 10, mayHaveCommitted: true })).toThrow(
      CheckpointConflictError,
    );
    expect(() =>
      checkpointToExtend(PARTY, stored(12, 'x'), batch, new Set(['a', 'b']), { expectedOffset: 10, mayHaveCommitted: true }),
    ).toThrow(CheckpointConflictError);
    expect(() =>
      checkpointToExtend(PARTY, stored(13, 'b'), batch, new Set(['a', 'b']), { expectedOffset: 10, mayHaveCommitted: true }),
    ).toThrow(CheckpointConflictError);
    expect(() => checkpointToExtend(PARTY, stored(12, 'b'), batch, new Set(['a', 'b']), { expectedOffset: 10 })).toThrow(
      CheckpointConflictError,
    );
  });
});

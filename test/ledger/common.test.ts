import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareTimestamps,
  DeduplicationPeriod,
  ErrorCategory,
  GetLatestPrunedOffsetsResponse,
  GetLedgerEndResponse,
  isJsCantonErrorFrame,
  isRetryableErrorCategory,
  JsTransaction,
  Offset,
  RightKind,
  Signature,
  Timestamp,
  timestampToMicros,
} from '../../src/ledger/schema/index.js';

describe('Timestamp', () => {
  it('accepts the precisions Canton emits and keeps the string', () => {
    for (const ts of [
      '1970-01-01T00:01:00Z',
      '1970-01-01T00:01:00.000145Z',
      '2025-10-14T11:29:57.439Z',
      '2026-05-01T10:00:00.123456789+02:00',
    ]) {
      expect(Timestamp.parse(ts)).toBe(ts);
    }
  });

  it('rejects strings that are not instants', () => {
    for (const ts of ['2026-05-01', '2026-05-01T10:00:00', '2026-13-01T00:00:00Z', 'yesterday', '2026-05-01T10:00:00.Z']) {
      expect(Timestamp.safeParse(ts).success).toBe(false);
    }
  });

  it('converts to exact microseconds, unlike Date', () => {
    expect(timestampToMicros('1970-01-01T00:01:00.000145Z')).toBe(60_000_145n);
    expect(timestampToMicros('1970-01-01T00:00:00.1Z')).toBe(100_000n);
    expect(timestampToMicros('1970-01-01T01:00:00+01:00')).toBe(0n);
    expect(timestampToMicros('1970-01-01T00:00:00.0000019Z')).toBe(1n);
    expect(() => timestampToMicros('nope')).toThrow(RangeError);
  });

  it('compares by instant, not by string', () => {
    expect(compareTimestamps('2026-05-01T10:00:00Z', '2026-05-01T10:00:00.000000Z')).toBe(0);
    expect(compareTimestamps('2026-05-01T10:00:00.000001Z', '2026-05-01T10:00:00Z')).toBe(1);
    expect(compareTimestamps('2026-05-01T11:00:00+02:00', '2026-05-01T10:00:00Z')).toBe(-1);
  });

  it('agrees with Date to the millisecond for any instant', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 999 }),
        (d, micros) => {
          const iso = d.toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
          expect(timestampToMicros(iso)).toBe(BigInt(d.getTime()) * 1000n + BigInt(micros));
        },
      ),
    );
  });
});

describe('offsets', () => {
  it('are non-negative safe integers', () => {
    expect(Offset.parse(0)).toBe(0);
    expect(Offset.parse(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of [-1, 0.5, Number.MAX_SAFE_INTEGER + 1, '1', NaN, Infinity]) {
      expect(Offset.safeParse(bad).success).toBe(false);
    }
  });

  it('ledger-end and pruned offsets default to 0 when proto3 omits them', () => {
    expect(GetLedgerEndResponse.parse({})).toEqual({ offset: 0 });
    expect(GetLatestPrunedOffsetsResponse.parse({ participantPrunedUpToInclusive: 5 })).toEqual({
      participantPrunedUpToInclusive: 5,
      allDivulgedContractsPrunedUpToInclusive: 0,
    });
  });
});

describe('empty strings and nulls as "unset"', () => {
  const tx = {
    updateId: '1220ab',
    commandId: '',
    workflowId: null,
    effectiveAt: '2026-05-01T10:00:00Z',
    events: [],
    offset: 1,
    synchronizerId: 's',
    recordTime: '2026-05-01T10:00:00Z',
    traceContext: { traceparent: null, tracestate: null },
    externalTransactionHash: null,
  };

  it('commandId "" and null optionals parse as absent', () => {
    const parsed = JsTransaction.parse(tx);
    expect(parsed.commandId).toBeUndefined();
    expect(parsed.workflowId).toBeUndefined();
    expect(parsed.externalTransactionHash).toBeUndefined();
    expect(parsed.traceContext).toEqual({ traceparent: undefined, tracestate: undefined });
  });

  it('a real command id is kept', () => {
    expect(JsTransaction.parse({ ...tx, commandId: 'wd-1' }).commandId).toBe('wd-1');
  });

  it('null is not accepted for required fields', () => {
    expect(JsTransaction.safeParse({ ...tx, updateId: null }).success).toBe(false);
  });
});

describe('small oneOfs', () => {
  it('DeduplicationPeriod cases', () => {
    expect(DeduplicationPeriod.parse({ DeduplicationDuration: { value: { seconds: 600, nanos: 0 } } })).toEqual({
      DeduplicationDuration: { value: { seconds: 600, nanos: 0 } },
    });
    expect(DeduplicationPeriod.parse({ DeduplicationOffset: { value: 12 } })).toEqual({ DeduplicationOffset: { value: 12 } });
    expect(DeduplicationPeriod.parse({ Empty: {} })).toEqual({ Empty: {} });
    expect(DeduplicationPeriod.safeParse({}).success).toBe(false);
  });

  it('field-less Right kinds are still value-wrapped', () => {
    expect(RightKind.safeParse({ ParticipantAdmin: { value: {} } }).success).toBe(true);
    expect(RightKind.safeParse({ ParticipantAdmin: {} }).success).toBe(false);
  });

  it('Signature enums reject typos the spec would let through', () => {
    const sig = {
      format: 'SIGNATURE_FORMAT_CONCAT',
      signature: 'AA==',
      signedBy: '1220ab',
      signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519',
    };
    expect(Signature.safeParse(sig).success).toBe(true);
    expect(Signature.safeParse({ ...sig, format: 'CONCAT' }).success).toBe(false);
    expect(Signature.safeParse({ ...sig, signingAlgorithmSpec: 'ED25519' }).success).toBe(false);
  });
});

describe('errors', () => {
  const error = { code: 'OFFSET_AFTER_LEDGER_END', cause: 'later', context: {}, errorCategory: 12 };

  it('recognises an error frame', () => {
    expect(isJsCantonErrorFrame(error)).toBe(true);
  });

  it('never mistakes a stream element for an error', () => {
    expect(isJsCantonErrorFrame({ ...error, update: {} })).toBe(false);
    expect(isJsCantonErrorFrame({ ...error, contractEntry: {} })).toBe(false);
    expect(isJsCantonErrorFrame({ ...error, completionResponse: {} })).toBe(false);
    expect(isJsCantonErrorFrame({ update: { OffsetCheckpoint: { value: { offset: 1 } } } })).toBe(false);
    expect(isJsCantonErrorFrame({ code: 'X', cause: 'y' })).toBe(false);
    expect(isJsCantonErrorFrame(null)).toBe(false);
    expect(isJsCantonErrorFrame([error])).toBe(false);
    expect(isJsCantonErrorFrame('error')).toBe(false);
  });

  it('retryable categories are 1, 2, 3 and 12', () => {
    const retryable = Object.values(ErrorCategory).filter(isRetryableErrorCategory);
    expect(retryable).toEqual([1, 2, 3, 12]);
  });
});

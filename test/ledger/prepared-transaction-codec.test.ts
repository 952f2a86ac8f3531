import { describe, expect, it } from 'vitest';
import {
  decodePreparedTransaction,
  encodePreparedTransaction,
  encodePreparedTransactionBase64,
  hashPreparedTransaction,
  PreparedTransactionError,
  preparedTransactionFromProtoJson,
  preparedTransactionToProtoJson,
  summarizePreparedTransaction,
  type ExerciseSummary,
} from '../../src/ledger/prepared-transaction/index.js';
import {
  HOLDING_CIDS,
  OUTPUT_CID,
  RECEIVER,
  sampleTransfer,
  TRANSFER_ARG_JSON,
  TREASURY,
} from '../fixtures/prepared-transaction/sample-transfer.js';

function refusal(f: () => unknown): PreparedTransactionError {
  try {
    f();
  } catch (e) {
    if (e instanceof PreparedTransactionError) return e;
    throw new Error(`expected a PreparedTransactionError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a refusal, got success');
}

describe('encode / decode round trip of a transfer built with the value builders', () => {
  const tx = sampleTransfer();

  it('decodes to exactly what was encoded (bytes and base64)', () => {
    expect(decodePreparedTransaction(encodePreparedTransaction(tx))).toEqual(tx);
    expect(decodePreparedTransaction(encodePreparedTransactionBase64(tx))).toEqual(tx);
  });

  it('keeps the hash across the round trip', () => {
    expect(hashPreparedTransaction(decodePreparedTransaction(encodePreparedTransaction(tx)))).toEqual(hashPreparedTransaction(tx));
  });

  it('round-trips through protobuf-JSON too', () => {
    expect(preparedTransactionFromProtoJson(JSON.parse(JSON.stringify(preparedTransactionToProtoJson(tx))))).toEqual(tx);
  });

  it('keeps unset optional fields unset and set-to-zero ones set', () => {
    const t2 = sampleTransfer();
    delete t2.metadata.maxRecordTime;
    t2.metadata.minLedgerEffectiveTime = 0n;
    const back = decodePreparedTransaction(encodePreparedTransaction(t2));
    expect(back.metadata.maxRecordTime).toBeUndefined();
    expect(back.metadata.minLedgerEffectiveTime).toBe(0n);
  });

  it('summarises the root transfer so the withdrawal check can compare it with what it asked for', () => {
    const s = summarizePreparedTransaction(tx);
    const root = s.roots[0] as ExerciseSummary;
    expect(root).toMatchObject({ kind: 'exercise', choice: 'TransferFactory_Transfer', actingParties: [TREASURY] });
    expect(root.interfaceId?.entityName).toBe('TransferFactory');
    expect(root.choiceArgument).toEqual(TRANSFER_ARG_JSON);
    expect(root.children.map((c) => c.kind)).toEqual(['fetch', 'fetch', 'exercise', 'rollback', 'create']);
    expect(root.children[2]).toMatchObject({ choice: 'Archive', contractId: HOLDING_CIDS[0], consuming: true });
    expect((root.children[2] as ExerciseSummary).children[0]).toMatchObject({
      kind: 'create',
      contractId: OUTPUT_CID,
      argument: { owner: RECEIVER, amount: '100.0000000000' },
    });
    expect(s.maxRecordTime).toBe('2026-05-01T10:10:00.000000Z');
    expect(s.inputContractIds).toHaveLength(1);
  });
});

describe('refusing what cannot be read', () => {
  const good = encodePreparedTransaction(sampleTransfer());

  it.each([
    ['empty input', new Uint8Array(0)],
    ['random bytes', Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) % 256)],
    ['a truncated message', good.subarray(0, good.length - 7)],
    ['a bare varint field', Uint8Array.of(0x08, 0x96, 0x01)],
  ])('%s', (_name, bytes) => {
    const e = refusal(() => decodePreparedTransaction(bytes));
    expect(e.code).toBe('DECODE');
    expect(e.message).toMatch(/preparedTransaction/i);
  });

  it('a string that is not base64', () => {
    expect(refusal(() => decodePreparedTransaction('not base64 !')).message).toBe('preparedTransaction is not valid base64');
    // Node's decoder would skip or accept these; only canonical, padded, standard base64 passes.
    const text = Buffer.from(good).toString('base64');
    for (const bad of [
      `${text}\n`,
      text.replace(/=+$/, ''),
      text.replace(/\+/g, '-').replace(/\//g, '_'),
      `${text.slice(0, 8)} ${text.slice(8)}`,
    ]) {
      if (bad === text) continue;
      expect(refusal(() => decodePreparedTransaction(bad)).message).toBe('preparedTransaction is not valid base64');
    }
  });

  it('a message without metadata', () => {
    const e = refusal(() => decodePreparedTransaction(good.subarray(0, endOfFirstField(good))));
    expect(e.message).toContain('metadata: required but not set');
  });

  it('unknown fields: refused by default, readable on request', () => {
    // Field 15, varint 1: a field our schema (and Canton 3.4's) does not have.
    const withUnknown = new Uint8Array([...good, 0x78, 0x01]);
    expect(refusal(() => decodePreparedTransaction(withUnknown)).message).toMatch(/not in canonical protobuf form/);
    expect(decodePreparedTransaction(withUnknown, { allowNonCanonical: true })).toEqual(sampleTransfer());
  });

  it('protobuf-JSON with an unknown key, a wrong scalar, or two oneof members', () => {
    const json = preparedTransactionToProtoJson(sampleTransfer());
    const withExtra = { ...json, metadata: { ...(json['metadata'] as object), surprise: 1 } };
    expect(refusal(() => preparedTransactionFromProtoJson(withExtra)).message).toMatch(/unknown field "surprise"/);
    const badScalar = { ...json, metadata: { ...(json['metadata'] as object), mediator_group: 'zero' } };
    expect(refusal(() => preparedTransactionFromProtoJson(badScalar)).message).toMatch(/mediator_group: expected an integer/);
    const twoKinds = {
      transaction: { version: '2.1', roots: ['0'], nodes: [{ node_id: '0', v1: { rollback: { children: [] }, fetch: {} } }] },
    };
    expect(refusal(() => preparedTransactionFromProtoJson(twoKinds)).message).toMatch(/more than one of/);
  });

  it('accepts lowerCamelCase protobuf-JSON keys', () => {
    const camel = JSON.parse(
      JSON.stringify(preparedTransactionToProtoJson(sampleTransfer())).replace(
        /"([a-z]+(?:_[a-z0-9]+)+)":/g,
        (_m, k: string) => `"${k.replace(/_([a-z0-9])/g, (_x, c: string) => c.toUpperCase())}":`,
      ),
    ) as unknown;
    expect(preparedTransactionFromProtoJson(camel)).toEqual(sampleTransfer());
  });
});

/** Offset just past field 1 (tag 0x0a, varint length, payload). */
function endOfFirstField(bytes: Uint8Array): number {
  let i = 1;
  let len = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[i++] as number;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) break;
  }
  return i + len;
}

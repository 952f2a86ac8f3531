import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodePreparedTransaction,
  encodePreparedTransaction,
  hashPreparedTransactionBase64,
  preparedTransactionFromProtoJson,
  preparedTransactionToProtoJson,
  summarizePreparedTransaction,
  verifyPreparedTransactionHash,
  type ExerciseSummary,
  type PreparedTransaction,
} from '../../src/ledger/prepared-transaction/index.js';

/**
 * Known answers: real PreparedTransaction bytes with the hash Canton computed for them (see the
 * `source` of each vector in the fixture). Matching them proves our protobuf schema reads a real
 * node's bytes field for field, and that our V2 encoding (values, create/exercise/fetch nodes,
 * interface ids, optional ledger-time bounds, input contracts, final combination) is Canton's.
 */

interface Vector {
  name: string;
  source: string;
  preparedTransaction: string;
  preparedTransactionHash: string;
  hashingSchemeVersion: string;
}

const VECTORS = (
  JSON.parse(readFileSync(new URL('../fixtures/prepared-transaction/known-answers.json', import.meta.url), 'utf8')) as {
    vectors: Vector[];
  }
).vectors;

const RECORDED_EXAMPLE: unknown = JSON.parse(
  readFileSync(new URL('../../../shared/fixtures/recorded/prepare-response-example.json', import.meta.url), 'utf8'),
);

function vector(name: string): Vector {
  const found = VECTORS.find((x) => x.name === name);
  if (!found) throw new Error(`no vector ${name}`);
  return found;
}

describe('known-answer vectors (hashing scheme V2)', () => {
  it('has the three vectors', () => {
    expect(VECTORS.map((x) => x.name)).toEqual(['ping-create', 'transfer-preapproval-proposal-create', 'transfer-factory-transfer']);
  });

  for (const vec of VECTORS) {
    describe(vec.name, () => {
      it('reproduces the hash Canton computed', () => {
        const tx = decodePreparedTransaction(vec.preparedTransaction);
        expect(hashPreparedTransactionBase64(tx, 'HASHING_SCHEME_VERSION_V2')).toBe(vec.preparedTransactionHash);
      });

      it('verifies as a prepare response', () => {
        const check = verifyPreparedTransactionHash(vec);
        expect(check.matches).toBe(true);
        expect(check.hashBase64).toBe(vec.preparedTransactionHash);
        expect(check.hash).toHaveLength(32);
      });

      it('re-encodes to the exact bytes the node sent', () => {
        const bytes = Buffer.from(vec.preparedTransaction, 'base64');
        expect(Buffer.from(encodePreparedTransaction(decodePreparedTransaction(bytes)))).toEqual(bytes);
      });

      it('survives the proto-JSON round trip unchanged', () => {
        const tx = decodePreparedTransaction(vec.preparedTransaction);
        expect(preparedTransactionFromProtoJson(JSON.parse(JSON.stringify(preparedTransactionToProtoJson(tx))))).toEqual(tx);
      });

      it('is refused when the node claims another hash', () => {
        const wrong = Buffer.from(vec.preparedTransactionHash, 'base64');
        wrong[0] = (wrong[0] ?? 0) ^ 1;
        expect(verifyPreparedTransactionHash({ ...vec, preparedTransactionHash: wrong.toString('base64') }).matches).toBe(false);
      });
    });
  }
});

describe('the recorded prepare example (protobuf-JSON of a PreparedTransaction)', () => {
  it('builds the same message as the real bytes of that transaction, and hashes to its real hash', () => {
    const ping = vector('ping-create');
    const fromJson = preparedTransactionFromProtoJson(RECORDED_EXAMPLE);
    expect(fromJson).toEqual(decodePreparedTransaction(ping.preparedTransaction));
    expect(Buffer.from(encodePreparedTransaction(fromJson)).toString('base64')).toBe(ping.preparedTransaction);
    expect(hashPreparedTransactionBase64(fromJson)).toBe(ping.preparedTransactionHash);
  });

  it('encodes, decodes and gives the same structure back', () => {
    const tx = preparedTransactionFromProtoJson(RECORDED_EXAMPLE);
    const again = decodePreparedTransaction(encodePreparedTransaction(tx));
    expect(again).toEqual(tx);
    expect(preparedTransactionToProtoJson(again)).toEqual(RECORDED_EXAMPLE);
  });

  it('reads the create node content', () => {
    const s = summarizePreparedTransaction(preparedTransactionFromProtoJson(RECORDED_EXAMPLE));
    expect(s.actAs).toEqual(['operator::1220d44fc1c3ba0b5bdf7b956ee71bc94ebe2d23258dc268fdf0824fbaeff2c61424']);
    expect(s.commandId).toBe('f2ec4d8f-ccc1-402b-b278-7556fdd2b412');
    expect(s.preparationTime).toBe('2025-08-07T02:35:09.899822Z');
    expect(s.roots).toEqual([
      expect.objectContaining({
        kind: 'create',
        templateId: {
          packageId: '2a38b963f6abf45b76c702f9700bfd9060555872af915ef7f8f68795e2c831bd',
          moduleName: 'Canton.Internal.Ping',
          entityName: 'Ping',
        },
        argument: {
          id: 'ping_id',
          initiator: 'operator::1220d44fc1c3ba0b5bdf7b956ee71bc94ebe2d23258dc268fdf0824fbaeff2c61424',
          responder: 'participant1::1220d44fc1c3ba0b5bdf7b956ee71bc94ebe2d23258dc268fdf0824fbaeff2c61424',
        },
      }),
    ]);
  });
});

describe('the real TransferFactory_Transfer, as the withdrawal check sees it', () => {
  const vec = vector('transfer-factory-transfer');
  const tx = decodePreparedTransaction(vec.preparedTransaction);
  const summary = summarizePreparedTransaction(tx);
  const root = summary.roots[0] as ExerciseSummary;

  it('has one exercise root: TransferFactory_Transfer through the TransferFactory interface', () => {
    expect(summary.roots).toHaveLength(1);
    expect(root.kind).toBe('exercise');
    expect(root.choice).toBe('TransferFactory_Transfer');
    expect(root.interfaceId?.moduleName).toBe('Splice.Api.Token.TransferInstructionV1');
    expect(root.interfaceId?.entityName).toBe('TransferFactory');
    expect(root.actingParties).toEqual(summary.actAs);
  });

  it('exposes the transfer in Daml-LF JSON', () => {
    expect(root.choiceArgument).toMatchObject({
      expectedAdmin: 'DSO::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a',
      transfer: {
        sender: summary.actAs[0],
        receiver: '1220a::1220ade60300cf7d0b18ffaa2ffe4f492ad1ad601cfc162b20f77ec99d16c2c2f158',
        amount: '15.0000000000',
        instrumentId: { admin: 'DSO::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a', id: 'Amulet' },
        requestedAt: '2025-11-07T10:59:38.661000Z',
        executeBefore: '2025-12-07T10:59:38.661000Z',
        meta: { values: { 'splice.lfdecentralizedtrust.org/reason': '' } },
      },
    });
    expect((root.choiceArgument as { transfer: { inputHoldingCids: string[] } }).transfer.inputHoldingCids).toHaveLength(2);
    expect(summary.inputContractIds).toHaveLength(5);
    expect(summary.nodeCount).toBe(15);
    expect(summary.maxRecordTime).toBeUndefined();
  });

  it('changes its hash when the amount is tampered with', () => {
    const tampered = structuredClone(tx) as PreparedTransaction;
    const node = tampered.transaction.nodes.find((n) => n.nodeId === tampered.transaction.roots[0])?.node;
    if (node?.kind !== 'exercise' || node.chosenValue.kind !== 'record') throw new Error('unexpected shape');
    const transfer = node.chosenValue.fields.find((f) => f.label === 'transfer')?.value;
    if (transfer?.kind !== 'record') throw new Error('unexpected shape');
    const amount = transfer.fields.find((f) => f.label === 'amount');
    if (!amount) throw new Error('unexpected shape');
    amount.value = { kind: 'numeric', value: '15000.0000000000' };
    expect(hashPreparedTransactionBase64(tampered)).not.toBe(vec.preparedTransactionHash);
  });
});

import { describe, expect, it } from 'vitest';
import { Encoder } from '../../src/ledger/prepared-transaction/hash.js';
import {
  decodePreparedTransaction,
  encodePreparedTransaction,
  hashPreparedTransaction,
  PreparedTransactionError,
  v,
  type CreateNode,
  type ExerciseNode,
  type FetchNode,
  type NodeV1,
  type PreparedTransaction,
  type Value,
} from '../../src/ledger/prepared-transaction/index.js';
import { sampleTransfer } from '../fixtures/prepared-transaction/sample-transfer.js';

/**
 * Properties of the V2 hash beyond the known answers: every field the spec covers changes it,
 * the fields it does not cover do not, and structural nonsense is refused rather than hashed.
 */

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const BASE = hex(hashPreparedTransaction(sampleTransfer()));

function node<K extends NodeV1['kind']>(tx: PreparedTransaction, id: string, kind: K): Extract<NodeV1, { kind: K }> {
  const n = tx.transaction.nodes.find((x) => x.nodeId === id)?.node;
  if (!n || n.kind !== kind) throw new Error(`node ${id} is not a ${kind}`);
  return n as Extract<NodeV1, { kind: K }>;
}
const root = (tx: PreparedTransaction) => node(tx, '0', 'exercise');
const fetch1 = (tx: PreparedTransaction): FetchNode => node(tx, '1', 'fetch');
const create4 = (tx: PreparedTransaction): CreateNode => node(tx, '4', 'create');
const archive3 = (tx: PreparedTransaction): ExerciseNode => node(tx, '3', 'exercise');

function mutated(f: (tx: PreparedTransaction) => void): string {
  const tx = sampleTransfer();
  f(tx);
  return hex(hashPreparedTransaction(tx));
}

const COVERED: [string, (tx: PreparedTransaction) => void][] = [
  ['transaction version', (tx) => void (tx.transaction.version = '2.2')],
  ['exercise lf version', (tx) => void (root(tx).lfVersion = '2.2')],
  ['exercise seed', (tx) => void tx.transaction.nodeSeeds[0]?.seed.fill(99)],
  ['exercise contract id', (tx) => void (root(tx).contractId = '00' + 'ee'.repeat(32))],
  ['exercise package name', (tx) => void (root(tx).packageName = 'other')],
  ['exercise template package id', (tx) => void (root(tx).templateId = { ...root(tx).templateId, packageId: 'b'.repeat(64) })],
  ['exercise template module', (tx) => void (root(tx).templateId = { ...root(tx).templateId, moduleName: 'Splice.Other' })],
  ['exercise template entity', (tx) => void (root(tx).templateId = { ...root(tx).templateId, entityName: 'Other' })],
  ['exercise signatories', (tx) => void root(tx).signatories.push('x::1220')],
  ['exercise stakeholders', (tx) => void root(tx).stakeholders.push('x::1220')],
  ['exercise acting parties', (tx) => void root(tx).actingParties.push('x::1220')],
  ['exercise interface id removed', (tx) => void delete root(tx).interfaceId],
  ['exercise choice', (tx) => void (root(tx).choiceId = 'TransferFactory_PublicFetch')],
  ['exercise argument', (tx) => void (root(tx).chosenValue = v.record({}))],
  ['exercise consuming', (tx) => void (root(tx).consuming = true)],
  ['exercise result removed', (tx) => void delete root(tx).exerciseResult],
  ['exercise choice observers', (tx) => void archive3(tx).choiceObservers.pop()],
  ['exercise children order', (tx) => void root(tx).children.reverse()],
  [
    'exercise child dropped',
    (tx) =>
      void (
        (root(tx).children = root(tx).children.slice(0, -1)),
        (tx.transaction.nodes = tx.transaction.nodes.filter((n) => n.nodeId !== '6'))
      ),
  ],
  ['fetch contract id', (tx) => void (fetch1(tx).contractId = '00' + 'ee'.repeat(32))],
  ['fetch acting parties', (tx) => void (fetch1(tx).actingParties = [])],
  ['fetch interface id removed', (tx) => void delete fetch1(tx).interfaceId],
  ['fetch signatories order', (tx) => void fetch1(tx).signatories.reverse()],
  ['create argument', (tx) => void (create4(tx).argument = v.record({ owner: v.party('mallory::1220') }))],
  ['create contract id', (tx) => void (create4(tx).contractId = '00' + 'ee'.repeat(32))],
  ['create seed removed', (tx) => void (tx.transaction.nodeSeeds = tx.transaction.nodeSeeds.filter((s) => s.nodeId !== 4))],
  ['create stakeholders', (tx) => void create4(tx).stakeholders.pop()],
  ['rollback child moved out', (tx) => void ((node(tx, '5', 'rollback').children = []), root(tx).children.push('7'))],
  ['act as', (tx) => void (tx.metadata.submitterInfo.actAs = ['mallory::1220'])],
  ['command id', (tx) => void (tx.metadata.submitterInfo.commandId = 'other')],
  ['transaction uuid', (tx) => void (tx.metadata.transactionUuid = '00000000-0000-0000-0000-000000000000')],
  ['mediator group', (tx) => void (tx.metadata.mediatorGroup = 1)],
  ['synchronizer id', (tx) => void (tx.metadata.synchronizerId = 'other::1220')],
  ['min ledger effective time', (tx) => void (tx.metadata.minLedgerEffectiveTime = 1n)],
  ['min ledger effective time unset', (tx) => void delete tx.metadata.minLedgerEffectiveTime],
  ['max ledger effective time', (tx) => void (tx.metadata.maxLedgerEffectiveTime = 1n)],
  ['preparation time', (tx) => void (tx.metadata.preparationTime += 1n)],
  ['input contract created at', (tx) => void ((tx.metadata.inputContracts[0] as { createdAt: bigint }).createdAt += 1n)],
  ['input contract argument', (tx) => void (tx.metadata.inputContracts[0]!.contract.create.argument = v.record({}))],
  ['input contract removed', (tx) => void (tx.metadata.inputContracts = [])],
];

const NOT_COVERED: [string, (tx: PreparedTransaction) => void][] = [
  ['max record time (signed only from scheme V3)', (tx) => void (tx.metadata.maxRecordTime = 1n)],
  ['max record time unset', (tx) => void delete tx.metadata.maxRecordTime],
  ['input contract event blob', (tx) => void (tx.metadata.inputContracts[0]!.eventBlob = Uint8Array.of(9))],
  [
    'global key mapping',
    (tx) =>
      void tx.metadata.globalKeyMapping.push({
        key: { templateId: root(tx).templateId, packageName: 'p', key: v.unit(), hash: new Uint8Array(32) },
      }),
  ],
  ['order of the node list', (tx) => void tx.transaction.nodes.reverse()],
  ['order of the seed list', (tx) => void tx.transaction.nodeSeeds.reverse()],
  ['seed of a fetch node', (tx) => void tx.transaction.nodeSeeds.push({ nodeId: 1, seed: new Uint8Array(32) })],
];

describe('hashing scheme V2 properties', () => {
  it('is deterministic and 32 bytes', () => {
    expect(hashPreparedTransaction(sampleTransfer())).toHaveLength(32);
    expect(hex(hashPreparedTransaction(sampleTransfer()))).toBe(BASE);
  });

  it('does not depend on how the protobuf was encoded (decoded copy hashes the same)', () => {
    expect(hex(hashPreparedTransaction(decodePreparedTransaction(encodePreparedTransaction(sampleTransfer()))))).toBe(BASE);
  });

  it.each(COVERED)('changes with %s', (_name, f) => {
    expect(mutated(f)).not.toBe(BASE);
  });

  it.each(NOT_COVERED)('ignores %s', (_name, f) => {
    expect(mutated(f)).toBe(BASE);
  });

  it('ignores node ids themselves (only the tree and the seeds attached to it are hashed)', () => {
    const renamed = mutated((tx) => {
      const map = (id: string) => String(Number(id) + 100);
      tx.transaction.roots = tx.transaction.roots.map(map);
      for (const n of tx.transaction.nodes) {
        n.nodeId = map(n.nodeId);
        if (n.node.kind === 'exercise' || n.node.kind === 'rollback') n.node.children = n.node.children.map(map);
      }
      for (const seed of tx.transaction.nodeSeeds) seed.nodeId += 100;
    });
    expect(renamed).toBe(BASE);
  });

  it('changes when any value kind inside the argument changes', () => {
    const kinds: [Value, Value][] = [
      [v.unit(), v.record({})],
      [v.bool(true), v.bool(false)],
      [v.int64(1), v.int64(2)],
      [v.numeric('1.0'), v.numeric('1.00')],
      [v.text('a'), v.text('b')],
      [v.party('a'), v.text('a')],
      [v.contractId('00ab'), v.contractId('00ac')],
      [v.date('2026-01-01'), v.date('2026-01-02')],
      [v.timestamp(1n), v.timestamp(2n)],
      [v.none(), v.some(v.unit())],
      [v.list([v.int64(1)]), v.list([v.int64(1), v.int64(1)])],
      [v.textMap({ a: v.unit() }), v.textMap({ b: v.unit() })],
      [v.genMap([[v.int64(1), v.unit()]]), v.genMap([[v.int64(2), v.unit()]])],
      [v.variant('A', v.unit()), v.variant('B', v.unit())],
      [v.enum('Red'), v.enum('Blue')],
      [v.record({ a: v.unit() }), v.record({ b: v.unit() })],
      [v.record({}, { packageId: 'p', moduleName: 'M', entityName: 'R' }), v.record({})],
    ];
    for (const [a, b] of kinds) {
      const ha = mutated((tx) => void (create4(tx).argument = a));
      const hb = mutated((tx) => void (create4(tx).argument = b));
      expect(ha, `${JSON.stringify(a, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))}`).not.toBe(hb);
    }
  });
});

describe('refuses transactions it cannot hash safely', () => {
  const cases: [string, (tx: PreparedTransaction) => void, RegExp][] = [
    [
      'an exercise without a seed',
      (tx) => void (tx.transaction.nodeSeeds = tx.transaction.nodeSeeds.filter((s) => s.nodeId !== 0)),
      /exercise node 0 has no seed/,
    ],
    ['a seed that is not 32 bytes', (tx) => void (tx.transaction.nodeSeeds[0]!.seed = new Uint8Array(31)), /not 32/],
    ['a missing child', (tx) => void root(tx).children.push('99'), /"99" is referenced but missing/],
    ['a cycle', (tx) => void archive3(tx).children.push('0'), /referenced more than once/],
    ['a node shared by two parents', (tx) => void archive3(tx).children.push('1'), /referenced more than once/],
    ['an unreachable node', (tx) => void (root(tx).children = root(tx).children.filter((c) => c !== '6')), /"6" is not reachable/],
    ['a duplicate node id', (tx) => void tx.transaction.nodes.push({ ...tx.transaction.nodes[1]! }), /appears twice/],
    ['no roots', (tx) => void (tx.transaction.roots = []), /no root nodes/],
    ['a contract id that is not hex', (tx) => void (create4(tx).contractId = 'zz'), /not a hex string/],
  ];
  it.each(cases)('%s', (_name, f, message) => {
    const tx = sampleTransfer();
    f(tx);
    let error: unknown;
    try {
      hashPreparedTransaction(tx);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PreparedTransactionError);
    expect((error as PreparedTransactionError).code).toBe('INVALID');
    expect((error as Error).message).toMatch(message);
  });

  it('refuses an unknown hashing scheme', () => {
    expect(() => hashPreparedTransaction(sampleTransfer(), 'HASHING_SCHEME_VERSION_V3' as 'HASHING_SCHEME_VERSION_V2')).toThrow(
      /not implemented/,
    );
  });
});

describe('primitive encodings (Java big-endian, as the spec requires)', () => {
  const enc = (f: (e: Encoder) => unknown) => {
    const e = new Encoder();
    f(e);
    return hex(e.finish());
  };
  it('integers', () => {
    expect(enc((e) => e.int32(5))).toBe('00000005');
    expect(enc((e) => e.int64(31380n))).toBe('0000000000007a94');
    expect(enc((e) => e.int64(-1n))).toBe('ffffffffffffffff');
    // A uint64 with the top bit set has the bytes of Java's negative long.
    expect(enc((e) => e.int64(2n ** 64n - 1n))).toBe('ffffffffffffffff');
    expect(() => enc((e) => e.int64(2n ** 64n))).toThrow();
  });
  it('strings, bytes, lists, optionals, bools', () => {
    expect(enc((e) => e.string('hello'))).toBe('0000000568656c6c6f');
    expect(enc((e) => e.hex('08020a', 'x'))).toBe('0000000308020a');
    expect(enc((e) => e.list(['a', 'b'], (s) => e.string(s)))).toBe('00000002' + '0000000161' + '0000000162');
    expect(enc((e) => e.optional(5, (n) => e.int32(n)))).toBe('0100000005');
    expect(enc((e) => e.optional(undefined, () => undefined))).toBe('00');
    expect(enc((e) => e.bool(false))).toBe('00');
  });
  it('identifiers split module and entity names on dots', () => {
    expect(enc((e) => e.identifier({ packageId: 'p', moduleName: 'A.B', entityName: 'C' }))).toBe(
      '0000000170' + '00000002' + '0000000141' + '0000000142' + '00000001' + '0000000143',
    );
  });
  it('values carry their type tag', () => {
    expect(enc((e) => e.value(v.unit()))).toBe('00');
    expect(enc((e) => e.value(v.bool(true)))).toBe('0101');
    expect(enc((e) => e.value(v.int64(1)))).toBe('020000000000000001');
    expect(enc((e) => e.value(v.contractId('00ab')))).toBe('080000000200ab');
    expect(enc((e) => e.value(v.none()))).toBe('0900');
    expect(enc((e) => e.value(v.record({ a: v.unit() })))).toBe('0c' + '00' + '00000001' + '01' + '0000000161' + '00');
    expect(enc((e) => e.value(v.enum('R')))).toBe('0e' + '00' + '0000000152');
  });
});

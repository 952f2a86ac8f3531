import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodePreparedTransaction,
  encodePreparedTransactionBase64,
  type CreateNode,
  type PreparedTransaction,
  type Value,
} from '../../src/ledger/prepared-transaction/index.js';
import { checkPreapprovalProposal } from '../../src/treasury/preapproval.js';

/**
 * The one transaction `cxi treasury onboard --preapproval-provider` lets the treasury key sign: a
 * create of Splice.Wallet.TransferPreapproval:TransferPreapprovalProposal by the treasury alone,
 * naming the provider and the DSO asked for — anything more or different is refused.
 */

const TREASURY = `treasury::1220${'a'.repeat(64)}`;
const PROVIDER = `validator-op::1220${'b'.repeat(64)}`;
const DSO = `DSO::1220${'d'.repeat(64)}`;
const MALLORY = `mallory::1220${'e'.repeat(64)}`;
const request = { treasury: TREASURY, provider: PROVIDER, dso: DSO, commandId: 'treasury-preapproval-proposal-1' };

const party = (p: string): Value => ({ kind: 'party', value: p });
const args = (o: { receiver?: string; provider?: string; dso?: string | null }): Value => ({
  kind: 'record',
  fields: [
    { label: 'receiver', value: party(o.receiver ?? TREASURY) },
    { label: 'provider', value: party(o.provider ?? PROVIDER) },
    { label: 'expectedDso', value: o.dso === null ? { kind: 'optional' } : { kind: 'optional', value: party(o.dso ?? DSO) } },
  ],
});

function create(over: Partial<CreateNode> = {}): CreateNode {
  return {
    kind: 'create',
    lfVersion: '2.1',
    contractId: `00${randomBytes(32).toString('hex')}`,
    packageName: 'splice-wallet',
    templateId: { packageId: 'a'.repeat(64), moduleName: 'Splice.Wallet.TransferPreapproval', entityName: 'TransferPreapprovalProposal' },
    argument: args({}),
    signatories: [TREASURY],
    stakeholders: [PROVIDER, TREASURY],
    ...over,
  };
}

/** As the node would send it: encoded, and decoded again by the client's codec. */
function prepared(nodes: CreateNode[], edit: (tx: PreparedTransaction) => void = () => {}): PreparedTransaction {
  const tx: PreparedTransaction = {
    transaction: {
      version: '2.1',
      roots: nodes.map((_, i) => String(i)),
      nodes: nodes.map((node, i) => ({ nodeId: String(i), version: 'v1', node })),
      nodeSeeds: nodes.map((_, i) => ({ nodeId: i, seed: randomBytes(32) })),
    },
    metadata: {
      submitterInfo: { actAs: [TREASURY], commandId: request.commandId },
      synchronizerId: `global-domain::1220${'c'.repeat(64)}`,
      mediatorGroup: 0,
      transactionUuid: '6f1d2c1e-6a4b-4f3e-9a2b-1c2d3e4f5a6b',
      preparationTime: 1_700_000_000_000_000n,
      inputContracts: [],
      globalKeyMapping: [],
    },
  };
  edit(tx);
  return decodePreparedTransaction(encodePreparedTransactionBase64(tx));
}

describe('the preapproval proposal the treasury signs', () => {
  it('is exactly the create asked for', () => {
    expect(checkPreapprovalProposal(prepared([create()]), request)).toEqual([]);
  });

  it.each<[string, PreparedTransaction, RegExp]>([
    ['another provider', prepared([create({ argument: args({ provider: MALLORY }) })]), /its argument is .*mallory.*, expected/],
    ['no DSO', prepared([create({ argument: args({ dso: null }) })]), /"expectedDso":null/],
    ['another receiver', prepared([create({ argument: args({ receiver: MALLORY }) })]), /its argument is/],
    [
      'a co-signatory',
      prepared([create({ signatories: [TREASURY, MALLORY], stakeholders: [MALLORY, PROVIDER, TREASURY] })]),
      /signed by \[.*mallory.*\], expected the treasury alone/,
    ],
    [
      'an extra stakeholder',
      prepared([create({ stakeholders: [MALLORY, PROVIDER, TREASURY] })]),
      /stakeholders beyond the treasury and the provider: mallory/,
    ],
    [
      'another template',
      prepared([
        create({
          packageName: 'splice-amulet',
          templateId: { packageId: 'a'.repeat(64), moduleName: 'Splice.AmuletRules', entityName: 'TransferPreapproval' },
        }),
      ]),
      /creates splice-amulet:Splice.AmuletRules:TransferPreapproval, expected splice-wallet/,
    ],
    [
      'a second create',
      prepared([create(), create({ signatories: [TREASURY], argument: args({ provider: MALLORY }) })]),
      /expected exactly one node .*2 root\(s\) and 2 node\(s\)/,
    ],
    [
      'another submitter',
      prepared([create()], (tx) => (tx.metadata.submitterInfo.actAs = [TREASURY, MALLORY])),
      /actAs is \[.*\], expected \[treasury::/,
    ],
    ['another command', prepared([create()], (tx) => (tx.metadata.submitterInfo.commandId = 'other')), /commandId is "other"/],
    [
      'input contracts',
      prepared([create()], (tx) =>
        tx.metadata.inputContracts.push({ contract: { version: 'v1', create: create() }, createdAt: 1n, eventBlob: new Uint8Array([1]) }),
      ),
      /uses 1 input contract/,
    ],
  ])('refuses %s', (_what, tx, problem) => {
    const problems = checkPreapprovalProposal(tx, request);
    expect(problems.join('; ')).toMatch(problem);
  });
});

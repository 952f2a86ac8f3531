import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  damlValueToJson,
  decodePreparedTransaction,
  type CreateNode,
  type ExerciseNode,
  type PreparedTransaction,
  type Value,
} from '../../src/ledger/prepared-transaction/index.js';
import {
  createDepositLedgerActors,
  createLedgerEffects,
  createWithdrawalLedgerActors,
  prepareWithdraw,
  type LedgerEffects,
} from '../../src/machines/effects/index.js';
import { checkPreparedTransaction } from '../../src/machines/effects/verify.js';
import { ActorError } from '../../src/machines/failure.js';
import { Failure } from '../../src/failures.js';
import type { ExpectedAction, PreparedSubmission } from '../../src/machines/submission.js';
import type { DepositActors } from '../../src/machines/deposit.actors.js';
import type { WithdrawalLedgerActors } from '../../src/machines/withdrawal.actors.js';
import { startStack, type Stack, type StackInstrument } from '../support/stack.js';
import { addUnderRoot, forged, freshContractId, rootOf } from './support/forged.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * Issue 19 item 6: the treasury signs only a transaction whose every node it authorises is one the
 * withdrawal or the accept needs. Each hostile transaction below is what a malicious registry (or
 * a compromised preparing node) could hand us: the request we sent, exactly, plus something that
 * binds the treasury beyond it, re-hashed so the hash verifies. Each is refused as
 * PREPARED_TX_MISMATCH with a message naming the problem, on a real Splice transaction and on
 * the double's transactions of every kind, while the unedited ones are signed.
 */

const STRANGER = `mallory::1220${'e'.repeat(64)}`;

interface Parties {
  treasury: string;
  admin: string;
  /** The other party of an accept: the offer's sender. */
  sender?: string;
  /** The other party of a withdraw of our own offer: its receiver. */
  receiver?: string;
}

const record = (fields: Record<string, Value>): Value => ({
  kind: 'record',
  fields: Object.entries(fields).map(([label, value]) => ({ label, value })),
});
const party = (p: string): Value => ({ kind: 'party', value: p });

function createsSignedBy(tx: PreparedTransaction, p: string): CreateNode[] {
  return tx.transaction.nodes.flatMap(({ node }) => (node.kind === 'create' && node.signatories.includes(p) ? [node] : []));
}

function replaceParty(v: Value, from: string, to: string): Value {
  switch (v.kind) {
    case 'party':
      return v.value === from ? { kind: 'party', value: to } : v;
    case 'record':
      return { ...v, fields: v.fields.map((f) => ({ ...f, value: replaceParty(f.value, from, to) })) };
    case 'optional':
      return v.value ? { ...v, value: replaceParty(v.value, from, to) } : v;
    case 'list':
      return { ...v, elements: v.elements.map((x) => replaceParty(x, from, to)) };
    case 'variant':
      return { ...v, value: replaceParty(v.value, from, to) };
    default:
      return v;
  }
}

/** A template no registry of ours ships: a standing authorisation whose choices its author controls. */
function standingAuthorisation(signatories: string[]): CreateNode {
  return {
    kind: 'create',
    lfVersion: '2.1',
    contractId: freshContractId(),
    packageName: 'standing-authorisation',
    templateId: { packageId: 'ab'.repeat(32), moduleName: 'Standing.Authorisation', entityName: 'Delegation' },
    argument: record({ grantor: party(signatories[signatories.length - 1]!), delegate: party(STRANGER) }),
    signatories,
    stakeholders: [...signatories, STRANGER].sort(),
  };
}

function contractIdsOf(v: Value): string[] {
  switch (v.kind) {
    case 'contractId':
      return [v.value];
    case 'record':
      return v.fields.flatMap((f) => contractIdsOf(f.value));
    case 'list':
      return v.elements.flatMap(contractIdsOf);
    case 'optional':
      return v.value ? contractIdsOf(v.value) : [];
    case 'variant':
      return contractIdsOf(v.value);
    default:
      return [];
  }
}

function exercise(p: { treasury: string; consuming: boolean; choiceId: string; signatories: string[] }): ExerciseNode {
  return {
    kind: 'exercise',
    lfVersion: '2.1',
    contractId: freshContractId(),
    packageName: 'standing-authorisation',
    templateId: { packageId: 'ab'.repeat(32), moduleName: 'Standing.Authorisation', entityName: 'Vault' },
    signatories: p.signatories,
    stakeholders: p.signatories,
    actingParties: [p.treasury],
    choiceId: p.choiceId,
    chosenValue: record({}),
    consuming: p.consuming,
    children: [],
    choiceObservers: [],
  };
}

type Edit = (tx: PreparedTransaction, p: Parties) => void;

/** What may be added to or changed in any transfer, and the problem it must be refused for. */
const transferEdits: [string, Edit, RegExp][] = [
  [
    'an extra create of the same instrument owned by someone else, signed by the treasury',
    (tx, p) => {
      const change = createsSignedBy(tx, p.treasury).find((c) => !JSON.stringify(damlValueToJson(c.argument)).includes('"transfer"'));
      if (!change) throw new Error('no treasury holding to copy');
      addUnderRoot(tx, { ...change, contractId: freshContractId(), argument: replaceParty(change.argument, p.treasury, STRANGER) });
    },
    /creates \S+ \S+ signed by the treasury, which is neither change of the input holdings nor the transfer's instruction or the holding it locks/,
  ],
  [
    'an extra create of another template signed by the treasury (and the admin)',
    (tx, p) => addUnderRoot(tx, standingAuthorisation([p.admin, p.treasury])),
    /creates standing-authorisation:Standing\.Authorisation:Delegation \S+ signed by the treasury, which is neither change/,
  ],
  [
    'an extra non-consuming exercise in which the treasury acts, on a contract the admin did not sign',
    (tx, p) => addUnderRoot(tx, exercise({ treasury: p.treasury, consuming: false, choiceId: 'Vault_Use', signatories: [STRANGER] })),
    /exercises Vault_Use on standing-authorisation:Standing\.Authorisation:Vault \S+ with the treasury acting, on a contract signed by \[mallory::/,
  ],
  [
    'an extra consuming exercise in which the treasury acts (rejecting someone else’s offer to it)',
    (tx, p) =>
      addUnderRoot(
        tx,
        exercise({ treasury: p.treasury, consuming: true, choiceId: 'TransferInstruction_Reject', signatories: [p.admin, STRANGER] }),
      ),
    /consumes standing-authorisation:Standing\.Authorisation:Vault \S+ with the treasury acting \(TransferInstruction_Reject\), which the request does not spend/,
  ],
  [
    'a root exercised on a contract other than the registry’s factory',
    (tx) => void (rootOf(tx).contractId = freshContractId()),
    /exercises \S+, expected the registry's transfer factory /,
  ],
  [
    'a root whose contract the instrument admin does not sign',
    (tx) => {
      rootOf(tx).signatories = [STRANGER];
      rootOf(tx).stakeholders = [STRANGER];
    },
    /the root's contract \S+ is signed by \[mallory::\S+\], not by the instrument admin /,
  ],
  [
    'a root exercising another choice',
    (tx) => void (rootOf(tx).choiceId = 'TransferFactory_PublicFetch'),
    /root choice is TransferFactory_PublicFetch, expected TransferFactory_Transfer/,
  ],
];

/** For a 2-step transfer: the instruction must name only the holding this transaction locks for it. */
const offerEdits: [string, Edit, RegExp][] = [
  [
    'an instruction that names a contract the transaction does not create (another treasury holding)',
    (tx, p) => {
      const elsewhere = freshContractId();
      const instruction = createsSignedBy(tx, p.treasury).find((c) => JSON.stringify(damlValueToJson(c.argument)).includes('"transfer"'));
      if (!instruction) throw new Error('no instruction');
      const renamed = (v: Value): Value =>
        v.kind === 'contractId'
          ? { kind: 'contractId', value: elsewhere }
          : v.kind === 'record'
            ? { ...v, fields: v.fields.map((f) => ({ ...f, value: renamed(f.value) })) }
            : v.kind === 'list'
              ? { ...v, elements: v.elements.map(renamed) }
              : v;
      instruction.argument = renamed(instruction.argument);
    },
    /the transfer instruction \S+ \S+ names 00[0-9a-f]+, which is not a holding this transaction creates for the treasury/,
  ],
];

const acceptEdits: [string, Edit, RegExp][] = [
  [
    'an accept that also creates a contract of another template signed by the treasury',
    (tx, p) => addUnderRoot(tx, standingAuthorisation([p.admin, p.treasury])),
    /creates standing-authorisation:Standing\.Authorisation:Delegation \S+ signed by the treasury, which is not the treasury's holding of the offer: its package standing-authorisation is neither/,
  ],
  [
    'an accept whose holding for the treasury the sender also signs',
    (tx, p) => {
      const received = createsSignedBy(tx, p.treasury)[0];
      if (!received || !p.sender) throw new Error('no holding received');
      received.signatories = [...received.signatories, p.sender].sort();
    },
    /creates \S+ \S+ signed by the treasury, which is not the treasury's holding of the offer: it is signed by \[.*\], not by the admin and the treasury alone/,
  ],
  [
    'an accept in which the treasury also acts on a contract the admin did not sign',
    (tx, p) => addUnderRoot(tx, exercise({ treasury: p.treasury, consuming: false, choiceId: 'Vault_Use', signatories: [STRANGER] })),
    /exercises Vault_Use on \S+ \S+ with the treasury acting/,
  ],
  [
    'an accept of an instruction the instrument admin does not sign',
    (tx) => {
      rootOf(tx).signatories = [STRANGER];
      rootOf(tx).stakeholders = [STRANGER];
    },
    /the root's contract \S+ is signed by \[mallory::\S+\], not by the instrument admin /,
  ],
];

describe('a real Splice 2-step TransferFactory_Transfer (known-answers.json, recorded on DevNet)', () => {
  const vectors = JSON.parse(readFileSync(new URL('../fixtures/prepared-transaction/known-answers.json', import.meta.url), 'utf8')) as {
    vectors: { name: string; preparedTransaction: string }[];
  };
  const bytes = vectors.vectors.find((v) => v.name === 'transfer-factory-transfer')!.preparedTransaction;
  const maxRecordTime = '2025-11-08T00:00:00Z';

  /** The transaction, with the request it answers read back from its root (the recording has no max_record_time). */
  function real(): { tx: PreparedTransaction; expected: Extract<ExpectedAction, { kind: 'transfer' }>; parties: Parties } {
    const tx = decodePreparedTransaction(bytes);
    tx.metadata.maxRecordTime = BigInt(Date.parse(maxRecordTime)) * 1000n;
    const root = rootOf(tx);
    const t = (damlValueToJson(root.chosenValue) as { transfer: Record<string, never> }).transfer as unknown as {
      sender: string;
      receiver: string;
      amount: string;
      instrumentId: { admin: string; id: string };
      executeBefore: string;
      inputHoldingCids: string[];
      meta: { values: Record<string, string> };
    };
    const expected = {
      kind: 'transfer' as const,
      commandId: tx.metadata.submitterInfo.commandId,
      factoryId: root.contractId,
      sender: t.sender,
      receiver: t.receiver,
      amount: t.amount,
      instrument: t.instrumentId,
      inputHoldingCids: t.inputHoldingCids,
      memo: t.meta.values['splice.lfdecentralizedtrust.org/reason']!,
      executeBefore: t.executeBefore,
      maxRecordTime,
    };
    return { tx, expected, parties: { treasury: t.sender, admin: t.instrumentId.admin } };
  }

  it('is signed as it is: its change, LockedAmulet and AmuletTransferInstruction are what the transfer needs', () => {
    const { tx, expected } = real();
    expect(createsSignedBy(tx, expected.sender).map((c) => c.templateId.entityName)).toEqual([
      'LockedAmulet',
      'Amulet',
      'AmuletTransferInstruction',
    ]);
    expect(checkPreparedTransaction(tx, expected)).toEqual([]);
  });

  it.each([...transferEdits, ...offerEdits])('refuses %s', (_what, edit, message) => {
    const { tx, expected, parties } = real();
    edit(tx, parties);
    expect(checkPreparedTransaction(tx, expected).join('; ')).toMatch(message);
  });
});

/** A withdraw of our own offer may only unlock the funds it locked, back to the treasury alone. */
const withdrawEdits: [string, Edit, RegExp][] = [
  [
    'a withdraw whose returned holding also names the offer’s receiver',
    (tx, p) => {
      const returned = createsSignedBy(tx, p.treasury)[0];
      if (!returned || !p.receiver) throw new Error('no holding returned');
      returned.argument = record({
        ...Object.fromEntries(returned.argument.kind === 'record' ? returned.argument.fields.map((f) => [f.label, f.value]) : []),
        beneficiary: party(p.receiver),
      });
    },
    /creates \S+ \S+ signed by the treasury, which is not the treasury's holding of the offer: it names party-/,
  ],
  [
    'a withdraw that also creates a contract of another template signed by the treasury',
    (tx, p) => addUnderRoot(tx, standingAuthorisation([p.admin, p.treasury])),
    /creates standing-authorisation:Standing\.Authorisation:Delegation \S+ signed by the treasury, which is not the treasury's holding of the offer/,
  ],
  [
    'a withdraw in which the treasury also consumes a contract the offer did not lock',
    (tx, p) =>
      addUnderRoot(tx, exercise({ treasury: p.treasury, consuming: true, choiceId: 'Vault_Empty', signatories: [p.admin, STRANGER] })),
    /consumes standing-authorisation:Standing\.Authorisation:Vault \S+ with the treasury acting \(Vault_Empty\), which the request does not spend/,
  ],
];

describe('the double’s transactions of every kind, over the wire', () => {
  let stack: Stack;
  let wd: WithdrawalLedgerActors;
  let dep: DepositActors;
  let fx: LedgerEffects;
  const signal = new AbortController().signal;
  const prepared: Record<string, { p: PreparedSubmission; expected: ExpectedAction; parties: Parties }> = {};

  const deadline = () => new Date(Date.parse(stack.sandbox.control.clockNow().time) + 600_000).toISOString();

  function treasuryHolding(inst: StackInstrument): string {
    const before = new Set(stack.sandbox.control.books.holdings(stack.treasury).map((h) => h.contractId));
    stack.sandbox.control.mint(stack.treasury, inst.id, '100');
    const minted = stack.sandbox.control.books.holdings(stack.treasury).find((h) => !before.has(h.contractId));
    if (!minted) throw new Error('mint created no holding');
    return minted.contractId;
  }

  async function transfer(name: string, inst: StackInstrument, receiver: string, kind: 'self' | 'direct' | 'offer'): Promise<void> {
    const now = Date.parse(stack.sandbox.control.clockNow().time);
    const intent = {
      withdrawalId: name,
      attempt: 1,
      sender: stack.treasury,
      receiver,
      amount: '10.0000000000',
      instrument: { admin: inst.admin, id: inst.id },
      inputHoldingCids: [treasuryHolding(inst)],
      requestedAt: new Date(now - 1000).toISOString(),
      executeBefore: new Date(now + 3_600_000).toISOString(),
      memo: name,
    };
    const factory = await wd.fetchTransferFactory(intent, signal);
    expect(factory.transferKind).toBe(kind);
    const commandId = `withdrawal-${name}-1`;
    const maxRecordTime = deadline();
    const p = await wd.prepareTransfer({ ...intent, factory, commandId, maxRecordTime }, signal);
    const { withdrawalId: _w, attempt: _a, requestedAt: _r, ...rest } = intent;
    prepared[name] = {
      p,
      expected: { kind: 'transfer', commandId, factoryId: factory.factoryId, ...rest, maxRecordTime },
      parties: { treasury: stack.treasury, admin: inst.admin },
    };
  }

  async function accept(name: string, inst: StackInstrument): Promise<void> {
    const alice = stack.customer({ fund: [{ instrument: inst.id, amount: '100' }] });
    const cid = stack.sandbox.control.transfer({
      from: alice,
      to: stack.treasury,
      instrument: inst.id,
      amount: '5',
      memo: name,
      mode: 'offer',
    }).transferInstructionCid!;
    const instrument = { admin: inst.admin, id: inst.id };
    const context = await dep.fetchAcceptContext({ depositId: cid, transferInstructionCid: cid, instrument }, signal);
    const commandId = `deposit-accept-${cid}`;
    const p = await dep.prepareAccept(
      { depositId: cid, transferInstructionCid: cid, instrument, actAs: stack.treasury, context, commandId, maxRecordTime: deadline() },
      signal,
    );
    prepared[name] = {
      p,
      expected: { kind: 'accept', commandId, actAs: stack.treasury, transferInstructionCid: cid, instrument },
      parties: { treasury: stack.treasury, admin: inst.admin, sender: alice },
    };
  }

  /** Our own 2-step offer, withdrawn: the holdings it locked are those its instruction names. */
  async function withdraw(name: string, inst: StackInstrument): Promise<void> {
    treasuryHolding(inst);
    const receiver = stack.customer();
    const cid = stack.sandbox.control.transfer({
      from: stack.treasury,
      to: receiver,
      instrument: inst.id,
      amount: '5',
      memo: name,
      mode: 'offer',
    }).transferInstructionCid!;
    const instrument = { admin: inst.admin, id: inst.id };
    const commandId = `withdrawal-${name}-offer-withdraw`;
    const p = await prepareWithdraw(fx, { transferInstructionCid: cid, instrument, commandId }, signal);
    const tx = decodePreparedTransaction(p.preparedTransaction);
    const instruction = tx.metadata.inputContracts.find((c) => c.contract.create.contractId === cid)?.contract.create;
    if (!instruction) throw new Error('the instruction is not an input of its withdraw');
    const lockedHoldingCids = contractIdsOf(instruction.argument).filter((c) => c !== cid);
    prepared[name] = {
      p,
      expected: { kind: 'withdraw', commandId, actAs: stack.treasury, transferInstructionCid: cid, lockedHoldingCids, instrument },
      parties: { treasury: stack.treasury, admin: inst.admin, receiver },
    };
  }

  beforeAll(async () => {
    stack = await startStack({ daemon: false });
    // Refusals are logged as errors by design; this file provokes them on purpose.
    fx = createLedgerEffects({ sql: stack.sql, ledger: stack.ledger, registryPolicy: TEST_REGISTRY_POLICY, logger: testLogger() });
    wd = createWithdrawalLedgerActors({ effects: fx });
    dep = createDepositLedgerActors({ effects: fx });
    await transfer('cc-self', stack.cc, stack.treasury, 'self');
    await transfer('cc-direct', stack.cc, stack.customer({ preapproval: true }), 'direct');
    await transfer('cc-offer', stack.cc, stack.customer(), 'offer');
    await transfer('utk-self', stack.utk, stack.treasury, 'self');
    await transfer('utk-offer', stack.utk, stack.customer(), 'offer');
    await accept('cc-accept', stack.cc);
    await accept('utk-accept', stack.utk);
    await withdraw('cc-withdraw', stack.cc);
    await withdraw('utk-withdraw', stack.utk);
  });
  afterAll(() => stack.close());

  async function refusal(name: string, edit: Edit): Promise<string> {
    const { p, expected, parties } = prepared[name]!;
    const hostile = forged(p, (tx) => edit(tx, parties));
    const sign =
      expected.kind === 'transfer'
        ? wd.verifyAndSign({ prepared: hostile, expected }, signal)
        : dep.verifyAndSign({ prepared: hostile, expected }, signal);
    const error = await sign.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, `${name}: the hostile transaction was signed`).toBeInstanceOf(ActorError);
    const failure = (error as ActorError).failure;
    expect(failure).toMatchObject({ code: Failure.PREPARED_TX_MISMATCH, retryable: false });
    return failure.message;
  }

  const transfers = ['cc-self', 'cc-direct', 'cc-offer', 'utk-self', 'utk-offer'];
  const accepts = ['cc-accept', 'utk-accept'];
  const withdraws = ['cc-withdraw', 'utk-withdraw'];

  it.each([...transfers, ...accepts, ...withdraws])('%s: the unedited transaction is signed', async (name) => {
    const { p, expected } = prepared[name]!;
    const signed =
      expected.kind === 'transfer'
        ? await wd.verifyAndSign({ prepared: p, expected }, signal)
        : await dep.verifyAndSign({ prepared: p, expected }, signal);
    expect(signed.preparedTransactionHash).toBe(p.preparedTransactionHash);
  });

  const cases = (names: string[], edits: [string, Edit, RegExp][]) =>
    names.flatMap((name) => edits.map(([what, edit, message]) => [name, what, edit, message] as const));

  it.each(cases(transfers, transferEdits))('%s: refuses %s', async (name, _what, edit, message) => {
    expect(await refusal(name, edit)).toMatch(message);
  });

  it.each(cases(['cc-offer', 'utk-offer'], offerEdits))('%s: refuses %s', async (name, _what, edit, message) => {
    expect(await refusal(name, edit)).toMatch(message);
  });

  it.each(cases(accepts, acceptEdits))('%s: refuses %s', async (name, _what, edit, message) => {
    expect(await refusal(name, edit)).toMatch(message);
  });

  it.each(cases(withdraws, withdrawEdits))('%s: refuses %s', async (name, _what, edit, message) => {
    expect(await refusal(name, edit)).toMatch(message);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLedgerEffects,
  createDepositLedgerActors,
  createWithdrawalLedgerActors,
  type LedgerEffects,
} from '../../src/machines/effects/index.js';
import { ActorError, type ActorFailure } from '../../src/machines/failure.js';
import { Failure } from '../../src/failures.js';
import type { ExpectedAction, PreparedSubmission, SignedSubmission } from '../../src/machines/submission.js';
import type { TransferFactoryOutput, TransferIntent, WithdrawalLedgerActors } from '../../src/machines/withdrawal.actors.js';
import type { DepositActors } from '../../src/machines/deposit.actors.js';
import { upsertInstrument } from '../../src/store/instruments.js';
import { startStack, type Stack, type StackInstrument } from '../support/stack.js';
import { forged } from './support/forged.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * The ledger effects on their own, against the ledger double over the wire: what each returns,
 * what verifyAndSign refuses to sign, and how every ledger and registry error reaches the machine.
 */

let stack: Stack;
let fx: LedgerEffects;
let wd: WithdrawalLedgerActors;
let dep: DepositActors;
const signal = new AbortController().signal;

beforeAll(async () => {
  stack = await startStack({ daemon: false });
  // Refusals are logged as errors by design; this file provokes dozens of them.
  fx = createLedgerEffects({ sql: stack.sql, ledger: stack.ledger, registryPolicy: TEST_REGISTRY_POLICY, logger: testLogger() });
  wd = createWithdrawalLedgerActors({ effects: fx });
  dep = createDepositLedgerActors({ effects: fx });
});
afterAll(() => stack.close());

let seq = 0;

/** A fresh treasury holding of `amount`, straight from the double's books. */
function holding(inst: StackInstrument, amount = '100'): string {
  const before = new Set(stack.sandbox.control.books.holdings(stack.treasury).map((h) => h.contractId));
  stack.sandbox.control.mint(stack.treasury, inst.id, amount);
  const minted = stack.sandbox.control.books.holdings(stack.treasury).find((h) => !before.has(h.contractId));
  if (!minted) throw new Error('mint created no holding');
  return minted.contractId;
}

function ledgerNow(): number {
  return Date.parse(stack.sandbox.control.clockNow().time);
}

function intent(o: { receiver: string; inst?: StackInstrument; amount?: string; inputs?: string[]; id?: string }): TransferIntent {
  const inst = o.inst ?? stack.cc;
  const id = o.id ?? `wd-${++seq}`;
  const now = ledgerNow();
  return {
    withdrawalId: id,
    attempt: 1,
    sender: stack.treasury,
    receiver: o.receiver,
    amount: o.amount ?? '10.0000000000',
    instrument: { admin: inst.admin, id: inst.id },
    inputHoldingCids: o.inputs ?? [holding(inst)],
    requestedAt: new Date(now - 1000).toISOString(),
    executeBefore: new Date(now + 3_600_000).toISOString(),
    memo: id,
  };
}

function deadline(): string {
  return new Date(ledgerNow() + 600_000).toISOString();
}

function expectedOf(
  i: TransferIntent,
  factory: TransferFactoryOutput,
  commandId: string,
  maxRecordTime: string,
): Extract<ExpectedAction, { kind: 'transfer' }> {
  return {
    kind: 'transfer',
    commandId,
    factoryId: factory.factoryId,
    sender: i.sender,
    receiver: i.receiver,
    amount: i.amount,
    instrument: i.instrument,
    inputHoldingCids: i.inputHoldingCids,
    memo: i.memo,
    executeBefore: i.executeBefore,
    maxRecordTime,
  };
}

async function prepared(i: TransferIntent, maxRecordTime = deadline()) {
  const factory = await wd.fetchTransferFactory(i, signal);
  const commandId = `withdrawal-${i.withdrawalId}-${i.attempt}`;
  const p = await wd.prepareTransfer({ ...i, factory, commandId, maxRecordTime }, signal);
  return { factory, p, expected: expectedOf(i, factory, commandId, maxRecordTime) };
}

async function failure(p: Promise<unknown>): Promise<ActorFailure> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ActorError);
    return (e as ActorError).failure;
  }
  throw new Error('expected the effect to fail');
}

describe('withdrawal effects against the ledger double', () => {
  it('1-step: factory (direct, no debug data kept), prepare, verify + sign, execute → committed once with the memo; executing again is a duplicate', async () => {
    const bob = stack.customer({ preapproval: true });
    const i = intent({ receiver: bob });
    const { factory, p, expected } = await prepared(i);
    expect(factory.transferKind).toBe('direct');
    expect(factory.disclosedContracts.length).toBeGreaterThan(0);
    for (const d of factory.disclosedContracts)
      expect(Object.keys(d).sort()).toEqual(['contractId', 'createdEventBlob', 'synchronizerId', 'templateId']);
    const signed = await wd.verifyAndSign({ prepared: p, expected }, signal);
    expect(signed.signedBy).toBe(stack.sandbox.treasury!.fingerprint);
    expect(await wd.executeSubmission({ submissionId: `${i.withdrawalId}-1`, signed }, signal)).toEqual({});
    const transfers = stack.sandbox.control.books.transfers(i.memo);
    expect(transfers.map((t) => [t.receiver, t.amount, t.outcome])).toEqual([[bob, '10.0000000000', 'completed']]);
    // The same signed transaction again (a crash before the answer was persisted): already done.
    expect(await wd.executeSubmission({ submissionId: `${i.withdrawalId}-2`, signed }, signal)).toEqual({ duplicate: true });
    expect(stack.sandbox.control.books.transfers(i.memo)).toHaveLength(1);
  });

  it('2-step: an offer for a receiver without a preapproval, and always for UTK', async () => {
    const carol = stack.customer();
    expect((await wd.fetchTransferFactory(intent({ receiver: carol }), signal)).transferKind).toBe('offer');
    const i = intent({ receiver: carol, inst: stack.utk });
    const { factory, p, expected } = await prepared(i);
    expect(factory.transferKind).toBe('offer');
    await wd.executeSubmission({ submissionId: 's', signed: await wd.verifyAndSign({ prepared: p, expected }, signal) }, signal);
    expect(stack.sandbox.control.books.transfers(i.memo).map((t) => t.outcome)).toEqual(['pending']);
  });

  it('a second transaction for the same attempt (same inputs, new prepare) is refused by the ledger: the withdrawal pays once', async () => {
    const bob = stack.customer({ preapproval: true });
    const i = intent({ receiver: bob });
    const a = await prepared(i);
    const b = await prepared(i);
    expect(a.p.preparedTransactionHash).not.toBe(b.p.preparedTransactionHash);
    const sa = await wd.verifyAndSign({ prepared: a.p, expected: a.expected }, signal);
    const sb = await wd.verifyAndSign({ prepared: b.p, expected: b.expected }, signal);
    await wd.executeSubmission({ submissionId: 'a', signed: sa }, signal);
    const second = await wd.executeSubmission({ submissionId: 'b', signed: sb }, signal).then(
      (r) => r,
      (e: unknown) => (e as ActorError).failure,
    );
    // Same command id: the ledger's dedup answers first; without it the spent inputs would.
    expect(second).toEqual({ duplicate: true });
    // Another command id over the same inputs: the inputs are gone.
    const c = await wd.prepareTransfer({ ...i, factory: a.factory, commandId: 'other-command', maxRecordTime: deadline() }, signal).then(
      () => undefined,
      (e: unknown) => (e as ActorError).failure,
    );
    expect(c).toMatchObject({ code: Failure.INPUT_UNAVAILABLE, retryable: false });
    expect(stack.sandbox.control.books.transfers(i.memo)).toHaveLength(1);
  });

  describe('verifyAndSign signs only exactly the request', () => {
    let base: { p: PreparedSubmission; expected: Extract<ExpectedAction, { kind: 'transfer' }>; i: TransferIntent };
    beforeAll(async () => {
      const i = intent({ receiver: stack.customer({ preapproval: true }) });
      const r = await prepared(i);
      base = { p: r.p, expected: r.expected, i };
    });

    const refusal = async (prepared: PreparedSubmission, expected: ExpectedAction) => {
      const f = await failure(wd.verifyAndSign({ prepared, expected }, signal));
      expect(f).toMatchObject({ code: Failure.PREPARED_TX_MISMATCH, retryable: false });
      return f.message;
    };

    const changes: [string, Partial<Extract<ExpectedAction, { kind: 'transfer' }>>, RegExp][] = [
      ['receiver', { receiver: 'someone-else::1220aa' }, /receiver is .*, expected someone-else/],
      ['amount', { amount: '10.5' }, /amount is 10.0000000000, expected 10.5/],
      ['instrument', { instrument: { admin: 'x::1220bb', id: 'Amulet' } }, /expectedAdmin .*; instrument is/],
      ['inputs', { inputHoldingCids: ['00ab'] }, /inputHoldingCids are/],
      ['memo', { memo: 'another-withdrawal' }, /transfer meta is .*expected only the memo "another-withdrawal"/],
      ['executeBefore', { executeBefore: '2099-01-01T00:00:00Z' }, /executeBefore is .*, expected 2099/],
      ['commandId', { commandId: 'withdrawal-other-1' }, /commandId is "withdrawal-.*", expected "withdrawal-other-1"/],
      ['sender', { sender: 'intruder::1220cc' }, /actAs is \[.*\], expected \[intruder/],
      ['maxRecordTime', { maxRecordTime: '2099-01-01T00:00:00Z' }, /max_record_time is .*, expected 2099/],
    ];
    it.each(changes)('refuses when the %s differs from what we asked for', async (_what, change, message) => {
      expect(await refusal(base.p, { ...base.expected, ...change })).toMatch(message);
    });

    it('refuses a transaction prepared for a synchronizer other than the one ingestion follows (its deadline could not be decided)', async () => {
      // The real effects read it from the ingestion checkpoint (none here: this stack ingests nothing).
      expect(await fx.followedSynchronizer()).toBeNull();
      await stack.sql`insert into ingestion_checkpoint (treasury_party, ledger_offset, synchronizer_id) values (${stack.treasury}, 0, 'other-sync::1220ab')`;
      try {
        expect(await fx.followedSynchronizer()).toBe('other-sync::1220ab');
      } finally {
        await stack.sql`delete from ingestion_checkpoint where treasury_party = ${stack.treasury}`;
      }
      const elsewhere = createWithdrawalLedgerActors({ effects: { ...fx, followedSynchronizer: async () => 'other-sync::1220ab' } });
      const f = await failure(elsewhere.verifyAndSign({ prepared: base.p, expected: base.expected }, signal));
      expect(f).toMatchObject({ code: Failure.PREPARED_TX_MISMATCH, retryable: false });
      expect(f.message).toMatch(/prepared for synchronizer .*, but ingestion follows other-sync::1220ab/);
    });

    it('refuses a hash that does not verify, bytes that do not decode, and an unknown hashing scheme', async () => {
      expect(await refusal({ ...base.p, preparedTransactionHash: Buffer.alloc(32, 1).toString('base64') }, base.expected)).toMatch(
        /hash does not verify/,
      );
      expect(await refusal({ ...base.p, preparedTransaction: Buffer.from('garbage').toString('base64') }, base.expected)).toMatch(
        /cannot decode/,
      );
      expect(await refusal({ ...base.p, hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V3' }, base.expected)).toMatch(/not supported/);
    });

    it('refuses an altered max_record_time although the V2 hash does not cover it', async () => {
      const moved = forged(base.p, (tx) => void (tx.metadata.maxRecordTime = (tx.metadata.maxRecordTime ?? 0n) + 3_600_000_000n), false);
      // Still "verifies": exactly why it must be compared with what we asked for.
      expect(moved.preparedTransactionHash).toBe(base.p.preparedTransactionHash);
      expect(await refusal(moved, base.expected)).toMatch(/max_record_time is .*, expected/);
      const dropped = forged(base.p, (tx) => void delete tx.metadata.maxRecordTime, false);
      expect(await refusal(dropped, base.expected)).toMatch(/no max_record_time/);
    });

    it('refuses a transaction that verifies but does something else: another receiver, unspent inputs, other treasury holdings spent', async () => {
      const other = stack.customer({ preapproval: true });
      const rerouted = forged(base.p, (tx) => {
        for (const { node } of tx.transaction.nodes) {
          if (node.kind === 'exercise' && node.choiceId === 'TransferFactory_Transfer' && node.chosenValue.kind === 'record') {
            const transfer = node.chosenValue.fields.find((f) => f.label === 'transfer')?.value;
            if (transfer?.kind !== 'record') continue;
            const receiver = transfer.fields.find((f) => f.label === 'receiver');
            if (receiver) receiver.value = { kind: 'party', value: other };
          }
        }
      });
      expect(await refusal(rerouted, base.expected)).toMatch(/receiver is .*, expected/);

      const input = base.i.inputHoldingCids[0]!;
      const unspent = forged(base.p, (tx) => {
        for (const { node } of tx.transaction.nodes)
          if (node.kind === 'exercise' && node.contractId === input && node.consuming) node.consuming = false;
      });
      expect(await refusal(unspent, base.expected)).toMatch(/input holdings not consumed by the transaction: /);

      const elsewhere = holding(stack.cc);
      const spendsMore = forged(base.p, (tx) => {
        for (const { node } of tx.transaction.nodes)
          if (node.kind === 'exercise' && node.contractId === input && node.consuming) node.contractId = elsewhere;
      });
      expect(await refusal(spendsMore, base.expected)).toMatch(
        new RegExp(`consumes treasury contracts that are not its inputs: ${elsewhere}`),
      );

      const wrongChoice = forged(base.p, (tx) => {
        const root = tx.transaction.nodes.find((n) => n.nodeId === tx.transaction.roots[0])?.node;
        if (root?.kind === 'exercise') root.choiceId = 'TransferFactory_PublicFetch';
      });
      expect(await refusal(wrongChoice, base.expected)).toMatch(/root choice is TransferFactory_PublicFetch/);
    });

    it('signs our recomputed hash', async () => {
      const signed: SignedSubmission = await wd.verifyAndSign({ prepared: base.p, expected: base.expected }, signal);
      expect(fx.signer.verify(Buffer.from(base.p.preparedTransactionHash, 'base64'), signed.signature)).toBe(true);
    });
  });

  describe('errors reach the machine classified', () => {
    it('prepare: a spent input → INPUT_UNAVAILABLE; a stale registry context (archived mining round) → retryable', async () => {
      const bob = stack.customer({ preapproval: true });
      const spent = intent({ receiver: bob });
      const a = await prepared(spent);
      await wd.executeSubmission(
        { submissionId: 'x', signed: await wd.verifyAndSign({ prepared: a.p, expected: a.expected }, signal) },
        signal,
      );
      const again = { ...spent, withdrawalId: `${spent.withdrawalId}-b`, memo: `${spent.memo}-b` };
      expect(
        await failure(wd.prepareTransfer({ ...again, factory: a.factory, commandId: 'c2', maxRecordTime: deadline() }, signal)),
      ).toMatchObject({
        code: Failure.INPUT_UNAVAILABLE,
        retryable: false,
      });

      const stale = intent({ receiver: bob });
      const factory: TransferFactoryOutput = await wd.fetchTransferFactory(stale, signal);
      // Two mining rounds later the round named by the context is archived.
      stack.sandbox.control.advanceClock(25 * 60_000);
      const refreshed = {
        ...stale,
        requestedAt: new Date(ledgerNow() - 1000).toISOString(),
        executeBefore: new Date(ledgerNow() + 3_600_000).toISOString(),
      };
      const f = await failure(wd.prepareTransfer({ ...refreshed, factory, commandId: 'c3', maxRecordTime: deadline() }, signal));
      expect(f).toMatchObject({ code: 'CONTRACT_NOT_FOUND', retryable: true, status: 404 });
      expect(f.message).toMatch(/registry context is stale/);
      // With a fresh context it goes through.
      const ok = await prepared(refreshed);
      await wd.verifyAndSign({ prepared: ok.p, expected: ok.expected }, signal);
    });

    it('503 and 429 are transient; an invalid token is 401 and never retried', async () => {
      const i = intent({ receiver: stack.customer({ preapproval: true }) });
      const factory = await wd.fetchTransferFactory(i, signal);
      const input = { ...i, factory, commandId: `withdrawal-${i.withdrawalId}-1`, maxRecordTime: deadline() };
      stack.sandbox.control.addFault({ match: { operation: 'prepare' }, action: { kind: 'http503' }, once: true });
      expect(await failure(wd.prepareTransfer(input, signal))).toMatchObject({
        code: 'SERVICE_NOT_RUNNING',
        retryable: true,
        status: 503,
        category: 1,
      });
      stack.sandbox.control.addFault({ match: { operation: 'registry.transferFactory' }, action: { kind: 'http429' }, once: true });
      expect(await failure(wd.fetchTransferFactory(i, signal))).toMatchObject({ retryable: true, status: 429 });

      const badToken = createWithdrawalLedgerActors({
        sql: stack.sql,
        ledger: { ...stack.ledger, auth: { kind: 'static', token: 'not-a-jwt' } },
        logger: fx.logger,
        signer: fx.signer,
      });
      expect(await failure(badToken.prepareTransfer(input, signal))).toMatchObject({ retryable: false, status: 401 });
    });

    it('registry problems: instrument not onboarded, a registry that does not manage it, a registry that is down', async () => {
      const i = intent({ receiver: stack.customer({ preapproval: true }) });
      expect(
        await failure(wd.fetchTransferFactory({ ...i, instrument: { admin: stack.cc.admin, id: 'NotOnboarded' } }, signal)),
      ).toMatchObject({ code: 'INSTRUMENT_NOT_CONFIGURED', retryable: false });
      const wrongRegistry = { admin: stack.cc.admin, id: 'Misrouted' };
      await upsertInstrument(stack.sql, {
        ...wrongRegistry,
        registryUrl: stack.utk.registryUrl,
        displayDecimals: 10,
        transferPolicy: 'direct-or-offer',
        enabled: true,
      });
      expect(await failure(wd.fetchTransferFactory({ ...i, instrument: wrongRegistry }, signal))).toMatchObject({
        code: 'REGISTRY_NOT_FOUND',
        retryable: false,
        status: 404,
      });
      const down = { admin: stack.cc.admin, id: 'Down' };
      await upsertInstrument(stack.sql, {
        ...down,
        registryUrl: 'http://127.0.0.1:9/registry',
        displayDecimals: 10,
        transferPolicy: 'direct-or-offer',
        enabled: true,
      });
      expect(await failure(wd.fetchTransferFactory({ ...i, instrument: down }, signal))).toMatchObject({
        code: 'NETWORK_ERROR',
        retryable: true,
      });
    });

    it('execute: past maxRecordTime → definite, not committed; inputs spent meanwhile → INPUT_UNAVAILABLE; response lost → ambiguous, then duplicate', async () => {
      const bob = stack.customer({ preapproval: true });
      const late = intent({ receiver: bob });
      const a = await prepared(late, new Date(ledgerNow() + 1000).toISOString());
      const signedLate = await wd.verifyAndSign({ prepared: a.p, expected: a.expected }, signal);
      stack.sandbox.control.advanceClock(5000);
      expect(await failure(wd.executeSubmission({ submissionId: 'late', signed: signedLate }, signal))).toMatchObject({
        code: 'NOT_SEQUENCED_TIMEOUT',
        definiteAnswer: true,
        retryable: true,
      });
      expect(stack.sandbox.control.books.transfers(late.memo)).toHaveLength(0);

      const raced = intent({ receiver: bob });
      const r = await prepared(raced);
      const signedRaced = await wd.verifyAndSign({ prepared: r.p, expected: r.expected }, signal);
      // Someone else's transaction spends the input first (here: another prepared transfer of it).
      const other = await prepared({ ...raced, withdrawalId: `${raced.withdrawalId}-x`, memo: `${raced.memo}-x` });
      await wd.executeSubmission(
        { submissionId: 'other', signed: await wd.verifyAndSign({ prepared: other.p, expected: other.expected }, signal) },
        signal,
      );
      expect(await failure(wd.executeSubmission({ submissionId: 'raced', signed: signedRaced }, signal))).toMatchObject({
        code: Failure.INPUT_UNAVAILABLE,
        definiteAnswer: true,
      });

      const lost = intent({ receiver: bob });
      const l = await prepared(lost);
      const signedLost = await wd.verifyAndSign({ prepared: l.p, expected: l.expected }, signal);
      stack.sandbox.control.addFault({
        match: { path: '/v2/interactive-submission/execute*' },
        action: { kind: 'commitLoseResponse', mode: 'reset' },
        once: true,
      });
      const ambiguous = await failure(wd.executeSubmission({ submissionId: 'lost-1', signed: signedLost }, signal));
      expect(ambiguous).toMatchObject({ code: 'NETWORK_ERROR', retryable: true });
      expect(ambiguous.definiteAnswer).toBeUndefined();
      expect(await wd.executeSubmission({ submissionId: 'lost-2', signed: signedLost }, signal)).toEqual({ duplicate: true });

      const timedOut = intent({ receiver: bob });
      const t = await prepared(timedOut);
      const signedTimedOut = await wd.verifyAndSign({ prepared: t.p, expected: t.expected }, signal);
      stack.sandbox.control.addFault({
        match: { path: '/v2/interactive-submission/execute*' },
        action: { kind: 'commitLoseResponse', mode: 'timeout' },
        once: true,
      });
      expect(await failure(wd.executeSubmission({ submissionId: 't-1', signed: signedTimedOut }, signal))).toMatchObject({
        code: 'REQUEST_TIME_OUT',
        retryable: true,
        definiteAnswer: false,
        category: 3,
      });
      expect(await wd.executeSubmission({ submissionId: 't-2', signed: signedTimedOut }, signal)).toEqual({ duplicate: true });
      expect(stack.sandbox.control.books.transfers(timedOut.memo)).toHaveLength(1);
      expect(stack.sandbox.control.books.transfers(lost.memo)).toHaveLength(1);
    });

    it('the configured synchronizer and deduplication period go on the wire; by default "" and Empty, never absent', async () => {
      const sent: Record<string, Record<string, unknown>> = {};
      const recording: typeof fetch = async (input, init) => {
        const url = String(input instanceof Request ? input.url : input);
        const op = /\/v2\/interactive-submission\/(\w+)/.exec(url)?.[1];
        if (op && typeof init?.body === 'string') sent[op] = JSON.parse(init.body) as Record<string, unknown>;
        return fetch(input, init);
      };
      const run = async (options: { synchronizerId?: string; deduplicationSeconds?: number }) => {
        const effects = createLedgerEffects({
          sql: stack.sql,
          ledger: stack.ledger,
          registryPolicy: TEST_REGISTRY_POLICY,
          logger: fx.logger,
          signer: fx.signer,
          options: { ...options, fetch: recording },
        });
        const actors = createWithdrawalLedgerActors({ effects });
        const i = intent({ receiver: stack.customer({ preapproval: true }) });
        const factory = await actors.fetchTransferFactory(i, signal);
        const commandId = `withdrawal-${i.withdrawalId}-${i.attempt}`;
        const maxRecordTime = deadline();
        const p = await actors.prepareTransfer({ ...i, factory, commandId, maxRecordTime }, signal);
        const signed = await actors.verifyAndSign({ prepared: p, expected: expectedOf(i, factory, commandId, maxRecordTime) }, signal);
        expect(await actors.executeSubmission({ submissionId: `s-${i.withdrawalId}`, signed }, signal)).toEqual({});
      };
      await run({});
      expect(sent['prepare']).toMatchObject({ synchronizerId: '', packageIdSelectionPreference: [] });
      expect(sent['executeAndWait']).toMatchObject({ deduplicationPeriod: { Empty: {} } });
      await run({ synchronizerId: stack.sandbox.synchronizerId, deduplicationSeconds: 90 });
      expect(sent['prepare']).toMatchObject({ synchronizerId: stack.sandbox.synchronizerId, packageIdSelectionPreference: [] });
      expect(sent['executeAndWait']).toMatchObject({
        deduplicationPeriod: { DeduplicationDuration: { value: { seconds: 90, nanos: 0 } } },
      });
    });

    it('async execute mode: accepted for processing, the commit is the ledger’s business', async () => {
      const asyncWd = createWithdrawalLedgerActors({
        effects: createLedgerEffects({
          sql: stack.sql,
          ledger: stack.ledger,
          registryPolicy: TEST_REGISTRY_POLICY,
          logger: fx.logger,
          signer: fx.signer,
          options: { execute: 'async' },
        }),
      });
      const i = intent({ receiver: stack.customer({ preapproval: true }) });
      const { p, expected } = await prepared(i);
      expect(
        await asyncWd.executeSubmission(
          { submissionId: 'a', signed: await asyncWd.verifyAndSign({ prepared: p, expected }, signal) },
          signal,
        ),
      ).toEqual({});
      for (let n = 0; n < 100 && stack.sandbox.control.books.transfers(i.memo).length === 0; n++)
        await new Promise((r) => setTimeout(r, 10));
      expect(stack.sandbox.control.books.transfers(i.memo)).toHaveLength(1);
    });
  });
});

describe('deposit effects against the ledger double', () => {
  async function offer(memo: string): Promise<string> {
    const alice = stack.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    return stack.sandbox.control.transfer({ from: alice, to: stack.treasury, instrument: 'UTK', amount: '5', memo, mode: 'offer' })
      .transferInstructionCid!;
  }
  const instrument = () => ({ admin: stack.utk.admin, id: stack.utk.id });

  it('accepts an offer: fresh context, prepare, verify + sign, execute; a second accept finds the instruction gone', async () => {
    const cid = await offer('dep-1');
    const depositId = cid;
    const context = await dep.fetchAcceptContext({ depositId, transferInstructionCid: cid, instrument: instrument() }, signal);
    const commandId = `deposit-accept-${depositId}`;
    const p = await dep.prepareAccept(
      {
        depositId,
        transferInstructionCid: cid,
        instrument: instrument(),
        actAs: stack.treasury,
        context,
        commandId,
        maxRecordTime: deadline(),
      },
      signal,
    );
    const wrong = await failure(
      dep.verifyAndSign(
        {
          prepared: p,
          expected: {
            kind: 'accept',
            commandId,
            actAs: stack.treasury,
            transferInstructionCid: `${cid.slice(0, -4)}0000`,
            instrument: instrument(),
          },
        },
        signal,
      ),
    );
    expect(wrong).toMatchObject({ code: Failure.PREPARED_TX_MISMATCH });
    expect(wrong.message).toMatch(/exercises .*, expected instruction/);
    const signed = await dep.verifyAndSign(
      {
        prepared: p,
        expected: { kind: 'accept', commandId, actAs: stack.treasury, transferInstructionCid: cid, instrument: instrument() },
      },
      signal,
    );
    expect(await dep.executeSubmission({ submissionId: 'a1', signed }, signal)).toEqual({});
    expect(stack.sandbox.control.books.isActiveInstruction(cid)).toBe(false);

    expect(
      await failure(dep.fetchAcceptContext({ depositId, transferInstructionCid: cid, instrument: instrument() }, signal)),
    ).toMatchObject({ code: Failure.INSTRUCTION_NOT_FOUND, retryable: false });
    expect(
      await failure(
        dep.prepareAccept(
          {
            depositId,
            transferInstructionCid: cid,
            instrument: instrument(),
            actAs: stack.treasury,
            context,
            commandId: 'again',
            maxRecordTime: deadline(),
          },
          signal,
        ),
      ),
    ).toMatchObject({
      code: Failure.INSTRUCTION_NOT_FOUND,
    });
    expect(await dep.executeSubmission({ submissionId: 'a2', signed }, signal)).toEqual({ duplicate: true });
  });

  it('an accept signed before the sender withdrew the offer fails as INSTRUCTION_NOT_FOUND', async () => {
    const cid = await offer('dep-2');
    const context = await dep.fetchAcceptContext({ depositId: cid, transferInstructionCid: cid, instrument: instrument() }, signal);
    const commandId = `deposit-accept-${cid}`;
    const p = await dep.prepareAccept(
      {
        depositId: cid,
        transferInstructionCid: cid,
        instrument: instrument(),
        actAs: stack.treasury,
        context,
        commandId,
        maxRecordTime: deadline(),
      },
      signal,
    );
    const signed = await dep.verifyAndSign(
      {
        prepared: p,
        expected: { kind: 'accept', commandId, actAs: stack.treasury, transferInstructionCid: cid, instrument: instrument() },
      },
      signal,
    );
    stack.sandbox.control.withdraw(cid);
    expect(await failure(dep.executeSubmission({ submissionId: 'w', signed }, signal))).toMatchObject({
      code: Failure.INSTRUCTION_NOT_FOUND,
      definiteAnswer: true,
    });
  });

  it('an instruction the registry does not know (yet) while the ledger shows it active is retried, not given up', async () => {
    const cid = await offer('dep-3');
    stack.sandbox.control.addFault({ match: { operation: 'registry.acceptContext' }, action: { kind: 'http503' }, once: true });
    expect(
      await failure(dep.fetchAcceptContext({ depositId: cid, transferInstructionCid: cid, instrument: instrument() }, signal)),
    ).toMatchObject({ retryable: true, status: 503 });
    // A registry that is not the instruction's answers 404 for it: the ledger says it is still active.
    const elsewhere = { admin: stack.utk.admin, id: 'UTK-elsewhere' };
    await upsertInstrument(stack.sql, {
      ...elsewhere,
      registryUrl: stack.cc.registryUrl,
      displayDecimals: 10,
      transferPolicy: 'offer-only',
      enabled: true,
    });
    expect(
      await failure(dep.fetchAcceptContext({ depositId: cid, transferInstructionCid: cid, instrument: elsewhere }, signal)),
    ).toMatchObject({ code: 'REGISTRY_INSTRUCTION_UNKNOWN', retryable: true });
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { checkpointsOf, transactionsOf, updatesRequest, viewOf } from './support/requests.js';
import { TreasuryWallet } from './support/treasury-wallet.js';
import { WireClient, WsStream } from './support/wire-client.js';

const REASON = 'splice.lfdecentralizedtrust.org/reason';

describe('ledger double: interactive submission, registry, withdrawals and instruction choices', () => {
  let sb: Sandbox;
  let client: WireClient;
  let wallet: TreasuryWallet;
  let treasury: string;

  const ledgerEnd = async () => (await client.ok<{ offset: number }>('GET', '/v2/state/ledger-end')).offset;
  const updatesSince = async (begin: number) =>
    transactionsOf(await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, begin)));
  const isoIn = (ms: number) => new Date(Date.parse(sb.control.clockNow().time) + ms).toISOString();

  beforeAll(async () => {
    sb = await startSandbox({
      seed: 'submission',
      clock: { mode: 'manual', start: '2026-02-01T00:00:00Z' },
      commitDelayMs: 5,
      treasury: {
        fund: [
          { instrument: 'Amulet', amount: '1000' },
          { instrument: 'Amulet', amount: '500' },
          { instrument: 'UTK', amount: '300' },
        ],
      },
    });
    treasury = sb.treasury?.party ?? '';
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    wallet = new TreasuryWallet(sb, client);
  });
  afterAll(() => sb.stop());

  it('serves each registry under its own base URL with metadata per the spec', async () => {
    for (const inst of sb.instruments) {
      const base = new URL(inst.registryUrl).pathname;
      const info = await client.ok<{ adminId: string }>('GET', `${base}/registry/metadata/v1/info`);
      expect(info.adminId).toBe(inst.admin);
      const list = await client.ok<{ instruments: { id: string; totalSupply: string }[] }>(
        'GET',
        `${base}/registry/metadata/v1/instruments`,
      );
      expect(list.instruments.map((i) => i.id)).toEqual([inst.id]);
      await client.ok('GET', `${base}/registry/metadata/v1/instruments/${inst.id}`);
      expect((await client.get(`${base}/registry/metadata/v1/instruments/nope`)).status).toBe(404);
    }
    expect(new Set(sb.instruments.map((i) => i.admin)).size).toBe(sb.instruments.length);
  });

  it('pays a 1-step Canton Coin withdrawal: real prepared transaction, V2 hash, signature, async commit', async () => {
    const { party: carol } = sb.control.createCustomer({ hint: 'carol', preapproval: true });
    const [input] = wallet.holdings('Amulet').filter((h) => h.amount === '500.0000000000');
    const begin = await ledgerEnd();
    const { kind, prepared } = await wallet.prepareTransfer({
      receiver: carol,
      instrumentId: 'Amulet',
      amount: '120',
      memo: 'wd-1',
      inputs: [input?.contractId ?? ''],
      maxRecordTime: isoIn(60_000),
    });
    expect(kind).toBe('direct');
    expect(prepared.status).toBe(200);
    const p = prepared.body;
    expect(p.hashingSchemeVersion).toBe('HASHING_SCHEME_VERSION_V2');
    expect(Buffer.from(p.preparedTransactionHash, 'base64')).toHaveLength(32);
    const root = p.summary.roots[0];
    expect(root).toMatchObject({ kind: 'exercise', choice: 'TransferFactory_Transfer' });
    expect(p.summary.actAs).toEqual([treasury]);
    expect(p.summary.maxRecordTime).toBeDefined();
    expect(p.summary.inputContractIds).toContain(input?.contractId);

    const ex = await wallet.execute(p);
    expect(ex.status).toBe(200);
    expect(ex.body).toEqual({});
    const completion = await wallet.completion(ex.submissionId);
    expect(completion).toMatchObject({ commandId: p.commandId, status: { code: 0 }, actAs: [treasury] });

    const txs = await updatesSince(begin);
    const tx = txs.find((t) => t.updateId === completion['updateId']);
    expect(tx?.commandId).toBe(p.commandId);
    expect(tx?.externalTransactionHash).toBe(p.preparedTransactionHash);
    const factory = tx?.events[0];
    expect(factory).toMatchObject({
      kind: 'ExercisedEvent',
      nodeId: 0,
      choice: 'TransferFactory_Transfer',
      interfaceId: expect.stringMatching(/:Splice\.Api\.Token\.TransferInstructionV1:TransferFactory$/),
      actingParties: [treasury],
      exerciseResult: { output: { tag: 'TransferInstructionResult_Completed' }, meta: { values: { [REASON]: 'wd-1' } } },
    });
    const archived = tx?.events.filter((e) => e['choice'] === 'Archive').map((e) => e['contractId']);
    expect(archived).toEqual([input?.contractId]);
    const createdHoldings = (tx?.events ?? []).filter((e) => e['kind'] === 'CreatedEvent' && viewOf(e, 'Holding'));
    expect(createdHoldings.map((e) => [viewOf(e, 'Holding')?.['owner'], viewOf(e, 'Holding')?.['amount']])).toEqual([
      [carol, '120.0000000000'],
      [treasury, '379.3800000000'], // 500 - 120 - (0.5 + 0.12) fee
    ]);
    // the completion offset is the transaction's offset
    expect(completion['offset']).toBe(tx?.offset);
  });

  it('rejects a second spend of the same holding: CONTRACT_NOT_FOUND at prepare, LOCAL_VERDICT_INACTIVE_CONTRACTS at commit', async () => {
    const { party: dave } = sb.control.createCustomer({ hint: 'dave', preapproval: true });
    const [input] = wallet.holdings('Amulet').filter((h) => h.amount === '1000.0000000000');
    const a = await wallet.prepareTransfer({
      receiver: dave,
      instrumentId: 'Amulet',
      amount: '10',
      memo: 'wd-a',
      inputs: [input?.contractId ?? ''],
    });
    const b = await wallet.prepareTransfer({
      receiver: dave,
      instrumentId: 'Amulet',
      amount: '20',
      memo: 'wd-b',
      inputs: [input?.contractId ?? ''],
    });
    sb.control.holdCommits();
    const ea = await wallet.execute(a.prepared.body);
    const eb = await wallet.execute(b.prepared.body);
    expect([ea.status, eb.status]).toEqual([200, 200]);
    await sb.control.releaseCommits();
    const ca = await wallet.completion(ea.submissionId);
    const cb = await wallet.completion(eb.submissionId);
    expect(ca['status']).toMatchObject({ code: 0 });
    expect(cb['status']).toMatchObject({ code: 5, message: expect.stringMatching(/^LOCAL_VERDICT_INACTIVE_CONTRACTS\(11,/) });
    expect(cb['updateId']).toBeUndefined();
    expect(sb.control.books.transfers('wd-b')).toEqual([]);
    expect(sb.control.books.transfers('wd-a')).toHaveLength(1);

    const again = await wallet.prepareTransfer({
      receiver: dave,
      instrumentId: 'Amulet',
      amount: '20',
      memo: 'wd-b',
      inputs: [input?.contractId ?? ''],
    });
    expect(again.prepared.status).toBe(404);
    expect(again.prepared.body).toMatchObject({ code: 'CONTRACT_NOT_FOUND', errorCategory: 11 });
  });

  it('enforces maxRecordTime: a commit after it is rejected and nothing is spent', async () => {
    const { party: erin } = sb.control.createCustomer({ hint: 'erin', preapproval: true });
    const [input] = wallet.holdings('Amulet');
    const deadline = isoIn(30_000);
    const { prepared } = await wallet.prepareTransfer({
      receiver: erin,
      instrumentId: 'Amulet',
      amount: '1',
      memo: 'wd-late',
      inputs: [input?.contractId ?? ''],
      maxRecordTime: deadline,
    });
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(treasury, await ledgerEnd()));
    await ws.opened;
    sb.control.holdCommits();
    const ex = await wallet.execute(prepared.body);
    expect(ex.status).toBe(200);
    sb.control.advanceClock(31_000);
    // ingestion learns that the deadline passed from a checkpoint, before any rejection
    await ws.until((f) => checkpointsOf(f).some((c) => Date.parse(c.recordTime) > Date.parse(deadline)));
    await sb.control.releaseCommits();
    const c = await wallet.completion(ex.submissionId);
    expect(c['status']).toMatchObject({ code: 10, message: expect.stringMatching(/^NOT_SEQUENCED_TIMEOUT/) });
    expect(sb.control.books.transfers('wd-late')).toEqual([]);
    expect(wallet.holdings('Amulet').map((h) => h.contractId)).toContain(input?.contractId);
    ws.close();
  });

  it('fails a Canton Coin transaction signed after its mining round closed (LOCAL_VERDICT_INACTIVE_CONTRACTS)', async () => {
    const { party: jay } = sb.control.createCustomer({ hint: 'jay', preapproval: true });
    const [input] = wallet.holdings('Amulet');
    const { prepared } = await wallet.prepareTransfer({
      receiver: jay,
      instrumentId: 'Amulet',
      amount: '1',
      memo: 'wd-slow',
      inputs: [input?.contractId ?? ''],
      maxRecordTime: isoIn(3600_000),
    });
    sb.control.advanceClock(21 * 60_000); // two new rounds: the one it references is archived
    const ex = await wallet.execute(prepared.body);
    expect(ex.status).toBe(200);
    const c = await wallet.completion(ex.submissionId);
    expect(c['status']).toMatchObject({ code: 5, message: expect.stringMatching(/^LOCAL_VERDICT_INACTIVE_CONTRACTS/) });
    // prepared again, with the registry's current context, it goes through
    const again = await wallet.prepareTransfer({
      receiver: jay,
      instrumentId: 'Amulet',
      amount: '1',
      memo: 'wd-slow',
      inputs: [input?.contractId ?? ''],
    });
    const ok = await wallet.execute(again.prepared.body);
    expect((await wallet.completion(ok.submissionId))['status']).toMatchObject({ code: 0 });
  });

  it('refuses a bad signature, a foreign key and a wrong signedBy', async () => {
    const [input] = wallet.holdings('Amulet');
    const { prepared } = await wallet.prepareTransfer({
      receiver: treasury,
      instrumentId: 'Amulet',
      amount: '1',
      inputs: [input?.contractId ?? ''],
    });
    const p = prepared.body;
    const other = generateKeyPairSync('ed25519').privateKey;
    const forged = await wallet.execute(p, { partySignatures: wallet.signature(p.preparedTransactionHash, other) });
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ code: 'INVALID_ARGUMENT' });
    const wrongHash = await wallet.execute(p, { partySignatures: wallet.signature(Buffer.alloc(32).toString('base64')) });
    expect(wrongHash.status).toBe(400);
    const wrongSigner = await wallet.execute(p, {
      partySignatures: wallet.signature(p.preparedTransactionHash, wallet.key, `1220${'ab'.repeat(32)}`),
    });
    expect(wrongSigner.status).toBe(400);
    const tampered = await wallet.execute({ ...p, preparedTransaction: Buffer.from('garbage').toString('base64') });
    expect(tampered.status).toBe(400);
    expect(sb.control.books.holdings(treasury).map((h) => h.contractId)).toContain(input?.contractId);
  });

  it('deduplicates by (user, actAs, commandId): in flight, then DUPLICATE_COMMAND', async () => {
    const [input] = wallet.holdings('Amulet');
    const { prepared } = await wallet.prepareTransfer({
      receiver: treasury,
      instrumentId: 'Amulet',
      amount: '2',
      memo: 'merge-1',
      inputs: [input?.contractId ?? ''],
      commandId: 'merge-cmd-1',
    });
    sb.control.holdCommits();
    const first = await wallet.execute(prepared.body);
    expect(first.status).toBe(200);
    const inFlight = await wallet.execute(prepared.body);
    expect(inFlight.status).toBe(409);
    expect(inFlight.body).toMatchObject({ code: 'SUBMISSION_ALREADY_IN_FLIGHT', errorCategory: 2 });
    await sb.control.releaseCommits();
    expect((await wallet.completion(first.submissionId))['status']).toMatchObject({ code: 0 });
    const dup = await wallet.execute(prepared.body);
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({
      code: 'DUPLICATE_COMMAND',
      errorCategory: 10,
      context: { existing_submission_id: first.submissionId },
    });
    // a fresh prepare with the same command id is a duplicate too, within the dedup period
    const [input2] = wallet.holdings('Amulet');
    const re = await wallet.prepareTransfer({
      receiver: treasury,
      instrumentId: 'Amulet',
      amount: '1',
      inputs: [input2?.contractId ?? ''],
      commandId: 'merge-cmd-1',
    });
    const dup2 = await wallet.execute(re.prepared.body, {
      deduplicationPeriod: { DeduplicationDuration: { value: { seconds: 3600, nanos: 0 } } },
    });
    expect(dup2.status).toBe(409);
    expect(dup2.body).toMatchObject({ code: 'DUPLICATE_COMMAND' });
    // outside a short dedup window it goes through
    sb.control.advanceClock(11_000);
    const ok = await wallet.execute(re.prepared.body, {
      deduplicationPeriod: { DeduplicationDuration: { value: { seconds: 10, nanos: 0 } } },
    });
    expect(ok.status).toBe(200);
    expect((await wallet.completion(ok.submissionId))['status']).toMatchObject({ code: 0 });
  });

  it('makes a 2-step withdrawal of the offer-only token, which the customer accepts', async () => {
    const { party: frank } = sb.control.createCustomer({ hint: 'frank' });
    const [input] = wallet.holdings('UTK');
    const begin = await ledgerEnd();
    const { kind, prepared } = await wallet.prepareTransfer({
      receiver: frank,
      instrumentId: 'UTK',
      amount: '50',
      memo: 'wd-utk',
      inputs: [input?.contractId ?? ''],
    });
    expect(kind).toBe('offer');
    const r = await wallet.execute(prepared.body, { path: '/v2/interactive-submission/executeAndWait' });
    expect(r.status).toBe(200);
    const txs = await updatesSince(begin);
    const tx = txs.find((t) => t.updateId === r.body['updateId']);
    const result = tx?.events[0]?.['exerciseResult'] as {
      output: { tag: string; value: { transferInstructionCid: string } };
      senderChangeCids: string[];
    };
    expect(result.output.tag).toBe('TransferInstructionResult_Pending');
    expect(result.senderChangeCids).toHaveLength(1);
    const cid = result.output.value.transferInstructionCid;
    const locked = tx?.events.find((e) => viewOf(e, 'Holding')?.['lock']);
    expect(viewOf(locked ?? {}, 'Holding')).toMatchObject({ owner: treasury, amount: '50.0000000000' });

    const acc = sb.control.accept(cid);
    const [acceptTx] = (await updatesSince(acc.offset - 1)).filter((t) => t.updateId === acc.updateId);
    expect(acceptTx?.events[0]).toMatchObject({
      choice: 'TransferInstruction_Accept',
      consuming: true,
      exerciseResult: { output: { tag: 'TransferInstructionResult_Completed' } },
    });
    expect(sb.control.books.balances(frank)[`${wallet.instrument('UTK').admin}/UTK`]?.total).toBe('50.0000000000');
  });

  it('withdraws our own offer, and sees a customer reject another', async () => {
    const { party: gina } = sb.control.createCustomer({ hint: 'gina' });
    const offer = async (memo: string) => {
      const [input] = wallet.holdings('UTK');
      const { prepared } = await wallet.prepareTransfer({
        receiver: gina,
        instrumentId: 'UTK',
        amount: '5',
        memo,
        inputs: [input?.contractId ?? ''],
      });
      const r = await wallet.execute(prepared.body, { path: '/v2/interactive-submission/executeAndWait' });
      expect(r.status).toBe(200);
      return sb.control.books.instructions(treasury).find((i) => i.memo === memo)?.contractId ?? '';
    };
    const mine = await offer('wd-withdraw');
    const w = await wallet.prepareInstructionChoice('UTK', mine, 'withdraw');
    expect(w.status).toBe(200);
    const wr = await wallet.execute(w.body, { path: '/v2/interactive-submission/executeAndWait' });
    expect(wr.status).toBe(200);
    const [wtx] = (await updatesSince(0)).filter((t) => t.updateId === wr.body['updateId']);
    expect(wtx?.events[0]).toMatchObject({
      choice: 'TransferInstruction_Withdraw',
      exerciseResult: { output: { tag: 'TransferInstructionResult_Failed' } },
    });

    const theirs = await offer('wd-reject');
    const rej = sb.control.reject(theirs);
    const [rtx] = (await updatesSince(rej.offset - 1)).filter((t) => t.updateId === rej.updateId);
    expect(rtx?.events[0]).toMatchObject({ choice: 'TransferInstruction_Reject', actingParties: [gina] });
    expect(sb.control.books.instructions(treasury)).toEqual([]);
  });

  it('accepts a customer 2-step deposit through the registry accept context', async () => {
    const { party: hank } = sb.control.createCustomer({ hint: 'hank', fund: [{ instrument: 'Amulet', amount: '100' }] });
    const offer = sb.control.transfer({ from: hank, to: treasury, instrument: 'Amulet', amount: '40', memo: 'acct-hank', mode: 'offer' });
    const cid = offer.transferInstructionCid ?? '';
    const before = sb.control.books.balances(treasury)[`${wallet.instrument('Amulet').admin}/Amulet`]?.total ?? '0';
    const p = await wallet.prepareInstructionChoice('Amulet', cid, 'accept');
    expect(p.status).toBe(200);
    const r = await wallet.execute(p.body, { path: '/v2/interactive-submission/executeAndWait' });
    expect(r.status).toBe(200);
    const [tx] = (await updatesSince(0)).filter((t) => t.updateId === r.body['updateId']);
    expect(tx?.events.map((e) => e['choice'] ?? e['kind'])).toEqual([
      'TransferInstruction_Accept',
      'LockedAmulet_Unlock',
      'CreatedEvent',
      'AmuletRules_Transfer',
      'Archive',
      'CreatedEvent',
      'CreatedEvent',
      'CreatedEvent',
    ]);
    const after = sb.control.books.balances(treasury)[`${wallet.instrument('Amulet').admin}/Amulet`]?.total ?? '0';
    expect(Number(after) - Number(before)).toBeCloseTo(40, 6);
  });

  it('expires an offer at executeBefore: the admin returns the funds and the receiver sees it', async () => {
    const { party: ivy } = sb.control.createCustomer({ hint: 'ivy', fund: [{ instrument: 'UTK', amount: '20' }] });
    const offer = sb.control.transfer({
      from: ivy,
      to: treasury,
      instrument: 'UTK',
      amount: '20',
      memo: 'acct-ivy',
      executeBefore: isoIn(60_000),
    });
    const cid = offer.transferInstructionCid ?? '';
    const p = await wallet.prepareInstructionChoice('UTK', cid, 'accept');
    sb.control.holdCommits();
    const late = await wallet.execute(p.body);
    expect(late.status).toBe(200);
    const end = await ledgerEnd();
    sb.control.advanceClock(61_000);
    const [expiry] = await updatesSince(end);
    expect(expiry?.events[0]).toMatchObject({
      contractId: cid,
      choice: 'TransferOffer_Expire',
      consuming: true,
      exerciseResult: { output: { tag: 'TransferInstructionResult_Failed' } },
    });
    expect(sb.control.books.balances(ivy)[`${wallet.instrument('UTK').admin}/UTK`]).toMatchObject({
      unlocked: '20.0000000000',
      locked: '0.0000000000',
    });
    await sb.control.releaseCommits();
    // too late twice over: past executeBefore, and the instruction is gone. Canton's
    // LocalRejectError.TimeRejects.LedgerTime is ContentionOnSharedResources: category 2, ABORTED (10).
    expect((await wallet.completion(late.submissionId))['status']).toMatchObject({
      code: 10,
      message: expect.stringMatching(/^LOCAL_VERDICT_LEDGER_TIME_OUT_OF_BOUND\(2,/),
    });
    const ctx = await wallet.choiceContext(wallet.instrument('UTK'), cid, 'accept');
    expect(ctx.status).toBe(404);
  });

  it('checks rights: prepare needs read rights, execute needs execute rights', async () => {
    sb.engine.createUser('reader', undefined, [{ kind: 'CanReadAs', party: treasury }]);
    const reader = new TreasuryWallet(sb, client.withToken(await sb.tokenFor('reader')));
    const [input] = wallet.holdings('Amulet');
    const { prepared } = await wallet.prepareTransfer({
      receiver: treasury,
      instrumentId: 'Amulet',
      amount: '1',
      inputs: [input?.contractId ?? ''],
    });
    const r = await reader.client.request('POST', '/v2/interactive-submission/execute', {
      preparedTransaction: prepared.body.preparedTransaction,
      hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
      submissionId: 's',
      userId: 'reader',
      partySignatures: wallet.signature(prepared.body.preparedTransactionHash),
      deduplicationPeriod: { Empty: {} },
    });
    expect(r.status).toBe(403);
    sb.engine.createUser('nobody-rights', undefined, []);
    const none = new TreasuryWallet(sb, client.withToken(await sb.tokenFor('nobody-rights')));
    const p = await none.client.request('POST', '/v2/interactive-submission/prepare', {
      commandId: 'x',
      actAs: [treasury],
      commands: [],
      synchronizerId: '',
      packageIdSelectionPreference: [],
    });
    expect(p.status).toBe(403);
  });

  it('reports completions over a websocket', async () => {
    const ws = new WsStream(sb.jsonApiUrl, '/v2/commands/completions', client.token, {
      userId: 'exchange',
      parties: [treasury],
      beginExclusive: 0,
    });
    await ws.opened;
    await ws.until(
      (f) => f.filter((x) => (x as { completionResponse: Record<string, unknown> }).completionResponse['Completion']).length >= 5,
    );
    ws.close();
  });
});

/**
 * "Done means": allocate the treasury as an external party, fund it, have customers deposit
 * (1-step and 2-step, the 2-step accepted by the treasury), and read it all back through
 * /v2/updates over a websocket — everything through the wire (Ledger API, registry API, OAuth2,
 * HTTP control API), every response and frame validated against the specs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizePreparedTransaction, verifyPreparedTransactionHash } from '../../src/ledger/prepared-transaction/index.js';
import { TRANSFER_INSTRUCTION_INTERFACE_ID } from '../../src/ledger/schema/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { generateEd25519, signEd25519 } from '../../src/sandbox/util/ed25519.js';
import { checkpointsOf, transactionsOf, updatesRequest, viewOf } from './support/requests.js';
import type { ChoiceContext } from './support/treasury-wallet.js';
import { stats, WireClient, WsStream } from './support/wire-client.js';

const REASON = 'splice.lfdecentralizedtrust.org/reason';

describe('integration: external treasury, funding, 1-step and 2-step deposits, websocket read-back', () => {
  let sb: Sandbox;
  const secret = `s-${randomUUID()}`;

  beforeAll(async () => {
    sb = await startSandbox({
      treasury: { onboarding: 'none' },
      oauthClients: [{ clientId: 'exchange-svc', clientSecret: secret, userId: 'exchange' }],
      commitDelayMs: 10,
      checkpointIntervalMs: 300,
    });
  });
  afterAll(() => sb.stop());

  it('runs the whole deposit story over the wire', async () => {
    const control = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${sb.controlUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${sb.controlToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const json = (await res.json()) as T;
      if (!res.ok) throw new Error(`control ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const admin = new WireClient(sb.jsonApiUrl, await sb.tokenFor('participant_admin'));

    // 1. the treasury: an external party whose key only we hold
    const key = generateEd25519();
    const topo = await admin.ok<{ partyId: string; publicKeyFingerprint: string; topologyTransactions: string[]; multiHash: string }>(
      'POST',
      '/v2/parties/external/generate-topology',
      {
        synchronizer: sb.synchronizerId,
        partyHint: 'treasury',
        publicKey: {
          format: 'CRYPTO_KEY_FORMAT_RAW',
          keyData: key.rawPublicKey.toString('base64'),
          keySpec: 'SIGNING_KEY_SPEC_EC_CURVE25519',
        },
      },
    );
    const sig = (data: string) => ({
      format: 'SIGNATURE_FORMAT_CONCAT',
      signature: signEd25519(key.privateKey, Buffer.from(data, 'base64')).toString('base64'),
      signedBy: topo.publicKeyFingerprint,
      signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519',
    });
    const badAlloc = await admin.post('/v2/parties/external/allocate', {
      synchronizer: sb.synchronizerId,
      onboardingTransactions: topo.topologyTransactions.map((transaction) => ({ transaction })),
      multiHashSignatures: [sig(Buffer.alloc(34).toString('base64'))],
    });
    expect(badAlloc.status).toBe(400);
    const { partyId: treasury } = await admin.ok<{ partyId: string }>('POST', '/v2/parties/external/allocate', {
      synchronizer: sb.synchronizerId,
      onboardingTransactions: topo.topologyTransactions.map((transaction) => ({ transaction })),
      multiHashSignatures: [sig(topo.multiHash)],
    });
    expect(treasury).toBe(`treasury::${topo.publicKeyFingerprint}`);
    await admin.ok('POST', '/v2/users', {
      user: { id: 'exchange', primaryParty: treasury, isDeactivated: false, identityProviderId: '' },
      rights: [{ kind: { CanReadAs: { value: { party: treasury } } } }, { kind: { CanExecuteAs: { value: { party: treasury } } } }],
    });

    // 2. the exchange service authenticates with OAuth2 client credentials
    const tokenRes = await fetch(sb.oauth.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'exchange-svc',
        client_secret: secret,
        audience: sb.oauth.audience,
      }),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const svc = new WireClient(sb.jsonApiUrl, token);
    const begin = (await svc.ok<{ offset: number }>('GET', '/v2/state/ledger-end')).offset;
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', token, updatesRequest(treasury, begin));
    await ws.opened;

    // 3. funding, and a Canton Coin preapproval so customers can pay in one step
    const cc = sb.instruments.find((i) => i.id === 'Amulet');
    const utk = sb.instruments.find((i) => i.id === 'UTK');
    if (!cc || !utk) throw new Error('instruments');
    await control('POST', '/mint', { party: treasury, instrument: 'Amulet', amount: '250' });
    await control('POST', '/preapprovals', { party: treasury });

    // 4. customers deposit: 1-step Canton Coin, 2-step registry token
    const { party: alice } = await control<{ party: string }>('POST', '/customers', {
      hint: 'alice',
      fund: [{ instrument: 'Amulet', amount: '1000' }],
    });
    const { party: bob } = await control<{ party: string }>('POST', '/customers', {
      hint: 'bob',
      fund: [{ instrument: 'UTK', amount: '1000' }],
    });
    const oneStep = await control<{ kind: string; updateId: string }>('POST', '/transfers', {
      from: alice,
      to: treasury,
      instrument: 'Amulet',
      amount: '100',
      memo: 'acct-alice',
    });
    expect(oneStep.kind).toBe('direct');
    const twoStep = await control<{ kind: string; transferInstructionCid: string }>('POST', '/transfers', {
      from: bob,
      to: treasury,
      instrument: 'UTK',
      amount: '75',
      memo: 'acct-bob',
    });
    expect(twoStep.kind).toBe('offer');

    // 5. the treasury accepts the offer: registry context, prepare, verify, sign, execute
    const ctx = await svc.ok<ChoiceContext>(
      'POST',
      `${new URL(utk.registryUrl).pathname}/registry/transfer-instruction/v1/${twoStep.transferInstructionCid}/choice-contexts/accept`,
      {},
    );
    const prepared = await svc.ok<{ preparedTransaction: string; preparedTransactionHash: string; hashingSchemeVersion: string }>(
      'POST',
      '/v2/interactive-submission/prepare',
      {
        userId: 'exchange',
        commandId: `accept-${twoStep.transferInstructionCid.slice(0, 16)}`,
        actAs: [treasury],
        synchronizerId: sb.synchronizerId,
        packageIdSelectionPreference: [],
        commands: [
          {
            ExerciseCommand: {
              templateId: TRANSFER_INSTRUCTION_INTERFACE_ID,
              contractId: twoStep.transferInstructionCid,
              choice: 'TransferInstruction_Accept',
              choiceArgument: { extraArgs: { context: ctx.choiceContextData, meta: { values: {} } } },
            },
          },
        ],
        disclosedContracts: ctx.disclosedContracts.map(({ templateId, contractId, createdEventBlob, synchronizerId }) => ({
          templateId,
          contractId,
          createdEventBlob,
          synchronizerId,
        })),
        maxRecordTime: new Date(Date.now() + 60_000).toISOString(),
      },
    );
    const check = verifyPreparedTransactionHash(prepared);
    expect(check.matches).toBe(true);
    expect(summarizePreparedTransaction(check.transaction).roots[0]).toMatchObject({
      choice: 'TransferInstruction_Accept',
      contractId: twoStep.transferInstructionCid,
    });
    const submissionId = randomUUID();
    const exec = await svc.ok('POST', '/v2/interactive-submission/execute', {
      preparedTransaction: prepared.preparedTransaction,
      hashingSchemeVersion: prepared.hashingSchemeVersion,
      submissionId,
      userId: 'exchange',
      partySignatures: { signatures: [{ party: treasury, signatures: [{ ...sig(check.hashBase64) }] }] },
      deduplicationPeriod: { Empty: {} },
    });
    expect(exec).toEqual({});

    // 6. everything arrives on the websocket, in offset order, with checkpoints
    const frames = await ws.until((f) => transactionsOf(f).some((t) => t.events[0]?.['choice'] === 'TransferInstruction_Accept'), 10_000);
    const txs = transactionsOf(frames);
    expect(txs.map((t) => t.offset)).toEqual([...txs.map((t) => t.offset)].sort((a, b) => a - b));
    const minted = txs.find((t) => t.events.some((e) => viewOf(e, 'Holding')?.['amount'] === '250.0000000000'));
    expect(minted).toBeDefined();
    const deposit1 = txs.find((t) => t.updateId === oneStep.updateId);
    const send = deposit1?.events.find((e) => e['choice'] === 'TransferPreapproval_Send');
    expect((send?.['exerciseResult'] as { meta: { values: Record<string, string> } }).meta.values[REASON]).toBe('acct-alice');
    expect(
      deposit1?.events.some((e) => viewOf(e, 'Holding')?.['owner'] === treasury && viewOf(e, 'Holding')?.['amount'] === '100.0000000000'),
    ).toBe(true);
    const offer = txs.find((t) => t.events.some((e) => e['contractId'] === twoStep.transferInstructionCid && e['kind'] === 'CreatedEvent'));
    expect(
      viewOf(offer?.events.find((e) => e['contractId'] === twoStep.transferInstructionCid) ?? {}, 'TransferInstruction'),
    ).toMatchObject({
      transfer: { receiver: treasury, amount: '75.0000000000', meta: { values: { [REASON]: 'acct-bob' } } },
    });
    const accepted = txs.find((t) => t.events[0]?.['choice'] === 'TransferInstruction_Accept');
    expect(accepted?.externalTransactionHash).toBe(check.hashBase64);
    expect(
      accepted?.events.some((e) => viewOf(e, 'Holding')?.['owner'] === treasury && viewOf(e, 'Holding')?.['amount'] === '75.0000000000'),
    ).toBe(true);
    await ws.until((f) => checkpointsOf(f).some((c) => c.offset >= (accepted?.offset ?? 0)), 5000);

    // 7. the books agree with what the stream said
    const balances = await control<{ balances: Record<string, { total: string }> }>(
      'GET',
      `/books/balances?party=${encodeURIComponent(treasury)}`,
    );
    expect(balances.balances[`${cc.admin}/Amulet`]?.total).toBe('350.0000000000');
    expect(balances.balances[`${utk.admin}/UTK`]?.total).toBe('75.0000000000');
    ws.close();
    expect(stats.frames).toBeGreaterThan(4);
  });
});

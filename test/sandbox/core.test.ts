import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { checkpointsOf, transactionsOf, treasuryEventFormat, updatesRequest, viewOf } from './support/requests.js';
import { WireClient, WsStream } from './support/wire-client.js';

const REASON = 'splice.lfdecentralizedtrust.org/reason';
const TX_KIND = 'splice.lfdecentralizedtrust.org/tx-kind';

describe('ledger double: core read API', () => {
  let sb: Sandbox;
  let client: WireClient;
  let treasury: string;

  beforeAll(async () => {
    sb = await startSandbox({ seed: 'core', clock: { mode: 'manual', start: '2026-01-01T00:00:00Z' }, checkpointIntervalMs: 200 });
    if (!sb.treasury) throw new Error('no treasury');
    treasury = sb.treasury.party;
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor(sb.treasury.userId));
  });
  afterAll(async () => {
    await sb.stop();
  });

  it('identifies itself like a 3.4 node', async () => {
    const v = await client.ok<{ version: string }>('GET', '/v2/version');
    expect(v.version).toBe('3.4.12');
    const end = await client.ok<{ offset: number }>('GET', '/v2/state/ledger-end');
    expect(end.offset).toBeGreaterThan(0);
    const pruned = await client.ok<{ participantPrunedUpToInclusive: number }>('GET', '/v2/state/latest-pruned-offsets');
    expect(pruned.participantPrunedUpToInclusive).toBe(0);
    const me = await client.ok<{ user: { id: string; primaryParty: string } }>('GET', '/v2/authenticated-user');
    expect(me.user).toMatchObject({ id: 'exchange', primaryParty: treasury });
    await client.ok('GET', '/v2/state/connected-synchronizers');
    expect(treasury).toMatch(/^treasury::1220[0-9a-f]{64}$/);
  });

  it('allocated the treasury as an external party whose id is its key fingerprint', async () => {
    expect(treasury.endsWith(`::${sb.treasury?.fingerprint}`)).toBe(true);
    const admin = client.withToken(await sb.tokenFor('participant_admin'));
    const parties = await admin.ok<{ partyDetails: { party: string }[] }>('GET', '/v2/parties');
    expect(parties.partyDetails.map((p) => p.party)).toContain(treasury);
    const rights = await admin.ok<{ rights: unknown[] }>('GET', '/v2/users/exchange/rights');
    expect(rights.rights).toEqual(
      expect.arrayContaining([
        { kind: { CanReadAs: { value: { party: treasury } } } },
        { kind: { CanExecuteAs: { value: { party: treasury } } } },
      ]),
    );
  });

  it('serves party and user management as the spec says', async () => {
    const admin = client.withToken(await sb.tokenFor('participant_admin'));
    const one = await admin.ok<{ partyDetails: { party: string }[] }>('GET', `/v2/parties/${encodeURIComponent(treasury)}`);
    expect(one.partyDetails.map((p) => p.party)).toEqual([treasury]);
    expect(await admin.ok<{ participantId: string }>('GET', '/v2/parties/participant-id')).toEqual({ participantId: sb.participantId });
    const internal = await admin.ok<{ partyDetails: { party: string; isLocal: boolean } }>('POST', '/v2/parties', {
      partyIdHint: 'ops-party',
    });
    expect(internal.partyDetails.party).toMatch(/^ops-party::1220[0-9a-f]{64}$/);
    // Canton: the topology's MappingAlreadyExists (participant sync/PartyAllocation.scala) becomes
    // INVALID_ARGUMENT in ApiPartyManagementService.alreadyExistsError.
    const again = await admin.post('/v2/parties', { partyIdHint: 'ops-party' });
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({
      code: 'INVALID_ARGUMENT',
      cause: `The submitted request has invalid arguments: Party already exists: party ${internal.partyDetails.party} is already allocated on this node`,
    });
    await admin.ok('POST', '/v2/users', { user: { id: 'ops', isDeactivated: false, identityProviderId: '' }, rights: [] });
    const granted = await admin.ok<{ newlyGrantedRights: unknown[] }>('POST', '/v2/users/ops/rights', {
      userId: 'ops',
      rights: [{ kind: { CanReadAs: { value: { party: internal.partyDetails.party } } } }, { kind: { CanReadAsAnyParty: { value: {} } } }],
    });
    expect(granted.newlyGrantedRights).toHaveLength(2);
    const revoked = await admin.ok<{ newlyRevokedRights: unknown[] }>('PATCH', '/v2/users/ops/rights', {
      userId: 'ops',
      rights: [{ kind: { CanReadAsAnyParty: { value: {} } } }],
    });
    expect(revoked.newlyRevokedRights).toHaveLength(1);
    const users = await admin.ok<{ users: { id: string }[] }>('GET', '/v2/users');
    expect(users.users.map((u) => u.id)).toEqual(expect.arrayContaining(['participant_admin', 'exchange', 'ops']));
    expect((await admin.get('/v2/users/nobody')).status).toBe(404);
    expect(await admin.ok('DELETE', '/v2/users/ops')).toEqual({});
    // a user may read itself but nobody else
    expect((await client.get('/v2/users/exchange')).status).toBe(200);
    expect((await client.get('/v2/users/participant_admin')).status).toBe(403);
  });

  it('refuses missing, invalid and expired tokens with 401 and reads of other parties with 403', async () => {
    const anon = client.withToken(undefined);
    const r1 = await anon.get<{ code: string; grpcCodeValue: number }>('/v2/state/ledger-end');
    expect(r1.status).toBe(401);
    expect(r1.body).toMatchObject({ code: 'NA', grpcCodeValue: 16, errorCategory: -1 });
    const r2 = await client.withToken('not.a.jwt').get('/v2/state/ledger-end');
    expect(r2.status).toBe(401);
    const expired = await sb.tokenFor('exchange', { expiresInSeconds: -10 });
    expect((await client.withToken(expired).get('/v2/state/ledger-end')).status).toBe(401);
    const unknownUser = await sb.tokenFor('nobody');
    expect((await client.withToken(unknownUser).get('/v2/state/ledger-end')).status).toBe(403);

    const { party: other } = sb.control.createCustomer({ hint: 'someone-else' });
    const r3 = await client.post<{ grpcCodeValue: number }>('/v2/updates?limit=10', updatesRequest(other, 0));
    expect(r3.status).toBe(403);
    expect(r3.body.grpcCodeValue).toBe(7);
    const r4 = await client.post('/v2/parties', { partyIdHint: 'x' });
    expect(r4.status).toBe(403);
  });

  it('answers a malformed body with a text/plain 400 like Canton', async () => {
    const r = await client.request('POST', '/v2/updates', '{"beginExclusive": 0');
    expect(r.status).toBe(400);
    expect(r.contentType).toMatch(/^text\/plain/);
    const r2 = await client.post('/v2/updates', { beginExclusive: 'zero' });
    expect(r2.status).toBe(400);
    expect(String(r2.body)).toMatch(/^Invalid value for: body \(.* at 'beginExclusive'\)$/);
    // A body that decodes but names no format is Canton's INVALID_ARGUMENT, not a decode failure.
    const r3 = await client.post('/v2/updates', { beginExclusive: 0 });
    expect(r3.status).toBe(400);
    expect(r3.body).toMatchObject({
      code: 'INVALID_ARGUMENT',
      cause: expect.stringContaining('Either filter/verbose or update_format is required'),
    });
  });

  it('funds the treasury and streams a 1-step Canton Coin deposit shaped like the recording', async () => {
    const begin = (await client.ok<{ offset: number }>('GET', '/v2/state/ledger-end')).offset;
    sb.control.mint(treasury, 'Amulet', '1000');
    const { party: alice } = sb.control.createCustomer({ hint: 'alice', fund: [{ instrument: 'Amulet', amount: '500' }] });
    const dep = sb.control.transfer({ from: alice, to: treasury, instrument: 'Amulet', amount: '200', memo: 'acct-42' });
    expect(dep.kind).toBe('direct');

    const elements = await client.ok<unknown[]>('POST', '/v2/updates?limit=100', updatesRequest(treasury, begin));
    const txs = transactionsOf(elements);
    expect(txs.map((t) => t.offset)).toEqual([...txs.map((t) => t.offset)].sort((a, b) => a - b));
    const mint = txs[0];
    expect(mint?.events).toHaveLength(1);
    expect(mint?.events[0]).toMatchObject({ kind: 'CreatedEvent', acsDelta: true });
    expect(viewOf(mint?.events[0] ?? {}, 'Holding')).toMatchObject({ owner: treasury, amount: '1000.0000000000', lock: null });

    const deposit = txs.find((t) => t.updateId === dep.updateId);
    if (!deposit) throw new Error('deposit not streamed');
    const [send, rulesTransfer, archive, ...creates] = deposit.events;
    expect(send).toMatchObject({
      kind: 'ExercisedEvent',
      choice: 'TransferPreapproval_Send',
      consuming: false,
      witnessParties: [treasury],
    });
    expect((send?.['nodeId'] as number) > 0).toBe(true); // the sender's factory exercise above it is invisible
    const meta = (send?.['exerciseResult'] as { meta: { values: Record<string, string> } }).meta.values;
    expect(meta[TX_KIND]).toBe('transfer');
    expect(meta[REASON]).toBe('acct-42');
    expect(rulesTransfer).toMatchObject({ kind: 'ExercisedEvent', choice: 'AmuletRules_Transfer' });
    expect(archive).toMatchObject({ kind: 'ExercisedEvent', choice: 'Archive', consuming: true, acsDelta: false });
    expect(archive?.['implementedInterfaces']).toEqual([expect.stringMatching(/:Splice\.Api\.Token\.HoldingV1:Holding$/)]);
    const last = deposit.events.at(-1);
    expect(send?.['lastDescendantNodeId']).toBe(last?.['nodeId']);
    const amulets = creates.filter((c) => String(c['templateId']).endsWith(':Splice.Amulet:Amulet'));
    const mine = amulets.find((c) => viewOf(c, 'Holding')?.['owner'] === treasury);
    expect(viewOf(mine ?? {}, 'Holding')?.['amount']).toBe('200.0000000000');
    expect(mine?.['acsDelta']).toBe(true);
    const change = amulets.find((c) => viewOf(c, 'Holding')?.['owner'] === alice);
    expect(change?.['acsDelta']).toBe(false);
    // pre-order: every node of the subtree lies within (nodeId, lastDescendantNodeId]
    for (const e of deposit.events.slice(1)) expect(e['nodeId'] as number).toBeLessThanOrEqual(send?.['lastDescendantNodeId'] as number);
    // fee: the sender paid 0.5 + 0.1% on top; the treasury got the full amount
    expect(meta['splice.lfdecentralizedtrust.org/burned']).toBe('0.7');
    expect(sb.control.books.balances(alice)[`${sb.instruments[0]?.admin}/Amulet`]?.total).toBe('299.3000000000');
  });

  it('streams a 2-step registry-token offer and the sender withdrawing it', async () => {
    const begin = (await client.ok<{ offset: number }>('GET', '/v2/state/ledger-end')).offset;
    const { party: bob } = sb.control.createCustomer({ hint: 'bob', fund: [{ instrument: 'UTK', amount: '100' }] });
    const offer = sb.control.transfer({ from: bob, to: treasury, instrument: 'UTK', amount: '40', memo: 'acct-7' });
    expect(offer.kind).toBe('offer');
    const cid = offer.transferInstructionCid ?? '';
    expect(sb.control.books.instructions(treasury).map((i) => i.contractId)).toContain(cid);
    sb.control.withdraw(cid);

    const txs = transactionsOf(await client.ok<unknown[]>('POST', '/v2/updates?limit=100', updatesRequest(treasury, begin)));
    const created = txs.find((t) => t.updateId === offer.updateId);
    const instr = created?.events.find((e) => e['contractId'] === cid);
    expect(instr?.['kind']).toBe('CreatedEvent');
    const view = viewOf(instr ?? {}, 'TransferInstruction');
    expect(view).toMatchObject({
      status: { tag: 'TransferPendingReceiverAcceptance', value: {} },
      transfer: { sender: bob, receiver: treasury, amount: '40.0000000000', meta: { values: { [REASON]: 'acct-7' } } },
    });
    // the locked holding names the receiver as observer, so the treasury sees it too
    const locked = created?.events.find((e) => viewOf(e, 'Holding')?.['lock'] !== null && viewOf(e, 'Holding') !== undefined);
    expect(viewOf(locked ?? {}, 'Holding')).toMatchObject({ owner: bob, amount: '40.0000000000' });

    const withdrawn = txs.at(-1);
    expect(withdrawn?.events[0]).toMatchObject({
      kind: 'ExercisedEvent',
      contractId: cid,
      choice: 'TransferInstruction_Withdraw',
      consuming: true,
      interfaceId: expect.stringMatching(/:Splice\.Api\.Token\.TransferInstructionV1:TransferInstruction$/),
      exerciseResult: { output: { tag: 'TransferInstructionResult_Failed' } },
    });
    expect(sb.control.books.instructions(treasury).map((i) => i.contractId)).not.toContain(cid);
  });

  it('serves the treasury ACS with Holding views and events-by-contract-id by stakeholder', async () => {
    const end = (await client.ok<{ offset: number }>('GET', '/v2/state/ledger-end')).offset;
    const acs = await client.ok<{ contractEntry: { JsActiveContract: { createdEvent: Record<string, unknown> } } }[]>(
      'POST',
      '/v2/state/active-contracts',
      { activeAtOffset: end, eventFormat: treasuryEventFormat(treasury) },
    );
    const holdings = acs
      .map((a) => viewOf(a.contractEntry.JsActiveContract.createdEvent, 'Holding'))
      .filter((v) => v?.['owner'] === treasury);
    expect(holdings.map((h) => h?.['amount']).sort()).toEqual(['1000.0000000000', '200.0000000000']);

    const cid = String(acs[0]?.contractEntry.JsActiveContract.createdEvent['contractId']);
    const ev = await client.ok<{ created: unknown; archived?: unknown }>('POST', '/v2/events/events-by-contract-id', {
      contractId: cid,
      eventFormat: treasuryEventFormat(treasury),
    });
    expect(ev.created).toBeDefined();
    const alicesInput = sb.control.books.holdings().find((h) => h.owner !== treasury)?.contractId ?? '';
    const r = await client.post<{ code: string }>('/v2/events/events-by-contract-id', {
      contractId: alicesInput,
      eventFormat: treasuryEventFormat(treasury),
    });
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('CONTRACT_EVENTS_NOT_FOUND');
    const nf = await client.post<{ code: string }>('/v2/updates/update-by-id', {
      updateId: `1220${'0'.repeat(64)}`,
      updateFormat: updatesRequest(treasury, 0).updateFormat,
    });
    expect(nf.status).toBe(404);
    expect(nf.body.code).toBe('UPDATE_NOT_FOUND');
  });

  it('streams over a websocket: history, live updates, and checkpoints when the clock moves', async () => {
    const token = client.token ?? '';
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', token, updatesRequest(treasury, 0));
    await ws.opened;
    expect(ws.protocol).toBe('daml.ws.auth');
    const history = sb.control.books.ledgerEnd().offset;
    await ws.until((f) => checkpointsOf(f).some((c) => c.offset >= history));
    const before = transactionsOf(ws.frames).length;
    expect(before).toBeGreaterThanOrEqual(4);

    const { party: carol } = sb.control.createCustomer({ hint: 'carol', fund: [{ instrument: 'Amulet', amount: '50' }] });
    const live = sb.control.transfer({ from: carol, to: treasury, instrument: 'Amulet', amount: '10', memo: 'acct-9' });
    await ws.until((f) => transactionsOf(f).some((t) => t.updateId === live.updateId));

    const t = sb.control.advanceClock(60_000);
    const cps = await ws.until((f) => checkpointsOf(f).some((c) => c.recordTime === t));
    const last = checkpointsOf(cps).at(-1);
    expect(last?.offset).toBe(sb.control.books.ledgerEnd().offset);
    ws.close();

    // the same stream with an Authorization header instead of the subprotocol token
    const ws2 = new WsStream(sb.jsonApiUrl, '/v2/updates', token, updatesRequest(treasury, 0, history), { bearerHeader: true });
    const frames = await ws2.untilClosed();
    expect(transactionsOf(frames).every((tx) => tx.offset <= history)).toBe(true);
  });

  it('refuses a websocket without a valid token at the upgrade', async () => {
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', 'bad-token', updatesRequest(treasury, 0));
    await expect(ws.opened).rejects.toMatchObject({ status: 401 });
  });

  it('sends a JsCantonError frame and closes for a bad stream request', async () => {
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(treasury, 10_000_000));
    const frames = await ws.untilClosed();
    expect(frames).toEqual([expect.objectContaining({ code: 'OFFSET_AFTER_LEDGER_END', errorCategory: 12 })]);
  });
});

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { checkpointsOf, transactionsOf, updatesRequest } from './support/requests.js';
import { WireClient, WsStream } from './support/wire-client.js';

const RECORDED = fileURLToPath(new URL('../../../shared/fixtures/recorded/', import.meta.url));
const FILES = [
  '1-step-transfer.json',
  'transfer-instruction-create.json',
  'transfer-instruction-accept.json',
  'utility-token-transfer.json',
].map((f) => `${RECORDED}${f}`);
/** The recordings predate 3.4.12 (no acsDelta / representativePackageId) and write null for unset optionals. */
const PRE_3_4_12 = { relaxRequired: ['acsDelta', 'representativePackageId'], nullForOptional: true } as const;
const load = (f: string): unknown => JSON.parse(readFileSync(`${RECORDED}${f}`, 'utf8'));

describe('ledger double: replay of recorded history', () => {
  let sb: Sandbox;
  let client: WireClient;
  const treasury = 'treasury-party::12207bd11907b9b3c11ade702d30b556bfe635314d3d0f708f9677e09a4ff096ef87';
  const sender = 'test-sender::122073884bbde76324a563e585afc3f3f9cc309d8d28f36424bd899a364f5e0a6fad';

  beforeAll(async () => {
    sb = await startSandbox({ replay: { files: FILES } });
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'), PRE_3_4_12);
  });
  afterAll(() => sb.stop());

  it('has the recordings’ ledger end and parties', async () => {
    expect((await client.ok<{ offset: number }>('GET', '/v2/state/ledger-end')).offset).toBe(60697);
    const admin = client.withToken(await sb.tokenFor('participant_admin'));
    const parties = await admin.ok<{ partyDetails: { party: string }[] }>('GET', '/v2/parties');
    expect(parties.partyDetails.map((p) => p.party)).toEqual(expect.arrayContaining([treasury, sender]));
  });

  it('serves a party’s recorded updates verbatim, in offset order, over HTTP', async () => {
    const els = await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, 0));
    const txs = transactionsOf(els);
    expect(txs.map((t) => t.offset)).toEqual([96, 106]);
    expect(els[0]).toEqual(load('transfer-instruction-create.json'));
    expect(els[1]).toEqual(load('transfer-instruction-accept.json'));
    expect(checkpointsOf(els).at(-1)?.offset).toBe(60697);
  });

  it('streams the same over a websocket, bounded and unbounded', async () => {
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(sender, 0), { validation: PRE_3_4_12 });
    await ws.until((f) => checkpointsOf(f).length > 0);
    expect(transactionsOf(ws.frames)).toHaveLength(7);
    expect(ws.frames.slice(0, 7)).toEqual(load('utility-token-transfer.json'));
    ws.close();
    const bounded = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(sender, 60680, 60689), {
      validation: PRE_3_4_12,
    });
    const frames = await bounded.untilClosed();
    expect(transactionsOf(frames).map((t) => t.offset)).toEqual([60681, 60684, 60687, 60689]);
  });

  it('answers update-by-id and events-by-contract-id from the recordings', async () => {
    const recorded = load('1-step-transfer.json') as { update: { Transaction: { value: { updateId: string } } } };
    const party = 'treasury-party::1220278a4a0eb2c244b425dff62853ef1cd04ca1095bffcea465c0de766faf9ab8cd';
    const byId = await client.ok('POST', '/v2/updates/update-by-id', {
      updateId: recorded.update.Transaction.value.updateId,
      updateFormat: updatesRequest(party, 0).updateFormat,
    });
    expect(byId).toEqual(recorded);
    const lockedCid =
      '004ef3ae401af384aa37391f3a975647b1ca3d9ca3dc97f7b1e19c47d013ed4956ca11122015cac2e81f6d2e2735ed64c16326230234cc374c85ed42657b7801bf62233ddc';
    const ev = await client.ok<{ archived?: { archivedEvent: { offset: number } } }>('POST', '/v2/events/events-by-contract-id', {
      contractId: lockedCid,
      eventFormat: { filtersByParty: { [treasury]: {} } },
    });
    expect(ev.archived?.archivedEvent.offset).toBe(106);
    const missing = await client.post('/v2/events/events-by-contract-id', {
      contractId: '00ab',
      eventFormat: { filtersByParty: { [treasury]: {} } },
    });
    expect(missing.status).toBe(404);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { transactionsOf, treasuryEventFormat, updatesRequest } from './support/requests.js';
import { WireClient, WsStream } from './support/wire-client.js';

describe('ledger double: pruning', () => {
  let sb: Sandbox;
  let client: WireClient;
  let treasury: string;
  let prunedTx: { updateId: string; offset: number };
  let oldHolding: string;

  beforeAll(async () => {
    sb = await startSandbox({ seed: 'pruning', clock: { mode: 'manual' } });
    treasury = sb.treasury?.party ?? '';
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    const first = sb.control.mint(treasury, 'UTK', '10');
    prunedTx = first;
    oldHolding = sb.control.books.holdings(treasury)[0]?.contractId ?? '';
    // more history after it: a customer deposit and another mint, then prune all but the last update
    const { party } = sb.control.createCustomer({ hint: 'c', fund: [{ instrument: 'UTK', amount: '5' }] });
    sb.control.transfer({ from: party, to: treasury, instrument: 'UTK', amount: '1', memo: 'm' });
    sb.control.mint(treasury, 'UTK', '3');
    sb.control.prune(sb.control.books.ledgerEnd().offset - 1);
  });
  afterAll(() => sb.stop());

  it('reports the pruning boundary', async () => {
    const r = await client.ok<{ participantPrunedUpToInclusive: number }>('GET', '/v2/state/latest-pruned-offsets');
    expect(r.participantPrunedUpToInclusive).toBe(sb.control.books.ledgerEnd().prunedUpTo);
  });

  it('refuses streams that begin below the pruned offset, over HTTP and websocket', async () => {
    const pruned = sb.control.books.ledgerEnd().prunedUpTo;
    const r = await client.post('/v2/updates?limit=10', updatesRequest(treasury, pruned - 1));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      code: 'PARTICIPANT_PRUNED_DATA_ACCESSED',
      errorCategory: 9,
      context: { earliest_offset: String(pruned) },
    });
    const ok = await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, pruned));
    expect(transactionsOf(ok).every((t) => t.offset > pruned)).toBe(true);
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(treasury, 0));
    const frames = await ws.untilClosed();
    expect(frames).toEqual([expect.objectContaining({ code: 'PARTICIPANT_PRUNED_DATA_ACCESSED' })]);
  });

  it('no longer finds pruned updates by id or offset', async () => {
    const byId = await client.post('/v2/updates/update-by-id', {
      updateId: prunedTx.updateId,
      updateFormat: updatesRequest(treasury, 0).updateFormat,
    });
    expect(byId.status).toBe(404);
    expect(byId.body).toMatchObject({ code: 'UPDATE_NOT_FOUND' });
    const byOffset = await client.post('/v2/updates/update-by-offset', {
      offset: prunedTx.offset,
      updateFormat: updatesRequest(treasury, 0).updateFormat,
    });
    expect(byOffset.status).toBe(404);
  });

  it('serves the ACS at or after the boundary (active contracts survive pruning) and refuses it before', async () => {
    const { prunedUpTo, offset } = sb.control.books.ledgerEnd();
    const acs = await client.ok<unknown[]>('POST', '/v2/state/active-contracts', {
      activeAtOffset: offset,
      eventFormat: treasuryEventFormat(treasury),
    });
    expect(acs.length).toBeGreaterThanOrEqual(2);
    const before = await client.post('/v2/state/active-contracts', {
      activeAtOffset: prunedUpTo - 1,
      eventFormat: treasuryEventFormat(treasury),
    });
    expect(before.status).toBe(400);
    expect(before.body).toMatchObject({ code: 'PARTICIPANT_PRUNED_DATA_ACCESSED' });
    // an active contract created before the boundary can still be looked up
    const ev = await client.post('/v2/events/events-by-contract-id', {
      contractId: oldHolding,
      eventFormat: treasuryEventFormat(treasury),
    });
    expect(ev.status).toBe(200);
  });

  it('refuses completions below the boundary and pruning past the ledger end', async () => {
    const r = await client.post('/v2/commands/completions', { userId: 'exchange', parties: [treasury], beginExclusive: 0 });
    expect(r.status).toBe(400);
    expect(() => sb.control.prune(sb.control.books.ledgerEnd().offset + 5)).toThrow(/beyond the ledger end/);
  });
});

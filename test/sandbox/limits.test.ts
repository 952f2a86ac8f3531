import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { transactionsOf, treasuryEventFormat, updatesRequest } from './support/requests.js';
import { WireClient } from './support/wire-client.js';

describe('ledger double: HTTP list limits', () => {
  let sb: Sandbox;
  let client: WireClient;
  let treasury: string;

  beforeAll(async () => {
    sb = await startSandbox({ maxListElements: 3, clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } });
    treasury = sb.treasury?.party ?? '';
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    for (let i = 0; i < 5; i++) sb.control.mint(treasury, 'UTK', String(i + 1));
  });
  afterAll(() => sb.stop());

  it('answers 413 JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED above the node limit without a limit', async () => {
    const r = await client.post('/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, 0));
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({
      code: 'JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED',
      cause: 'The number of matching elements (4) is greater than the node limit (3).',
      errorCategory: 2,
    });
    const acs = await client.post('/v2/state/active-contracts', { activeAtOffset: sb.control.books.ledgerEnd().offset, eventFormat: treasuryEventFormat(treasury) });
    expect(acs.status).toBe(413);
  });

  it('pages with limit and beginExclusive instead', async () => {
    const seen: number[] = [];
    let begin = 0;
    for (;;) {
      const page = transactionsOf(await client.ok<unknown[]>('POST', '/v2/updates?limit=2&stream_idle_timeout_ms=50', updatesRequest(treasury, begin)));
      if (page.length === 0) break;
      seen.push(...page.map((t) => t.offset));
      begin = page.at(-1)?.offset ?? begin;
    }
    expect(seen).toHaveLength(6); // the preapproval and five mints
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });
});

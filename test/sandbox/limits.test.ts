import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { checkpointsOf, transactionsOf, treasuryEventFormat, updatesRequest } from './support/requests.js';
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
    const acs = await client.post('/v2/state/active-contracts', {
      activeAtOffset: sb.control.books.ledgerEnd().offset,
      eventFormat: treasuryEventFormat(treasury),
    });
    expect(acs.status).toBe(413);
  });

  it('a limit above the node limit is no shield: the node takes limit-capped-at-its-limit + 1 and answers 413 when it got them', async () => {
    const over = await client.post('/v2/updates?limit=10&stream_idle_timeout_ms=50', updatesRequest(treasury, 0));
    expect(over.status).toBe(413);
    expect(over.body).toMatchObject({
      code: 'JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED',
      cause: 'The number of matching elements (4) is greater than the node limit (3).',
    });
    const end = sb.control.books.ledgerEnd().offset;
    const acs = await client.post('/v2/state/active-contracts?limit=10', {
      activeAtOffset: end,
      eventFormat: treasuryEventFormat(treasury),
    });
    expect(acs.status).toBe(413);
    // At or below the node limit: never a 413, at most `limit`.
    expect(await client.ok<unknown[]>('POST', '/v2/updates?limit=3&stream_idle_timeout_ms=50', updatesRequest(treasury, 0))).toHaveLength(
      3,
    );
    expect(
      await client.ok<unknown[]>('POST', '/v2/state/active-contracts?limit=3', {
        activeAtOffset: end,
        eventFormat: treasuryEventFormat(treasury),
      }),
    ).toHaveLength(3);
    // Above it, but no more than the node limit there to read: the elements.
    const tail = await client.ok<unknown[]>('POST', '/v2/updates?limit=10&stream_idle_timeout_ms=50', updatesRequest(treasury, end - 1));
    expect(transactionsOf(tail)).toHaveLength(1);
  });

  it('an open-ended read with nothing new answers [] after the idle timeout, without a checkpoint', async () => {
    const end = sb.control.books.ledgerEnd().offset;
    const started = Date.now();
    expect(await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=100', updatesRequest(treasury, end))).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('a bounded read carries no checkpoint, an open-ended one past updates we cannot see does', async () => {
    const lastVisible = sb.control.books.ledgerEnd().offset;
    sb.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '10' }] }); // updates the treasury cannot see
    const end = sb.control.books.ledgerEnd().offset;
    expect(end).toBeGreaterThan(lastVisible);
    expect(await client.ok<unknown[]>('POST', '/v2/updates', updatesRequest(treasury, lastVisible, end))).toEqual([]);
    const open = await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, lastVisible));
    expect(checkpointsOf(open).map((c) => c.offset)).toEqual([end]);
  });

  it('pages with limit and beginExclusive instead', async () => {
    const seen: number[] = [];
    let begin = 0;
    for (;;) {
      const page = transactionsOf(
        await client.ok<unknown[]>('POST', '/v2/updates?limit=2&stream_idle_timeout_ms=50', updatesRequest(treasury, begin)),
      );
      if (page.length === 0) break;
      seen.push(...page.map((t) => t.offset));
      begin = page.at(-1)?.offset ?? begin;
    }
    expect(seen).toHaveLength(6); // the preapproval and five mints
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });
});

describe('ledger double: HTTP list reads slower than the idle timeout', () => {
  // A filtered read on a real node may take longer than stream_idle_timeout_ms to find its first
  // element; Pekko's idleTimeout (Endpoints.asList) runs from the start, so the node answers [].
  const DELAY = 400;
  let sb: Sandbox;
  let client: WireClient;
  let treasury: string;

  beforeAll(async () => {
    sb = await startSandbox({
      listFirstElementDelayMs: DELAY,
      listIdleTimeoutMs: 100,
      clock: { mode: 'manual' },
      treasury: { onboarding: 'direct' },
    });
    treasury = sb.treasury?.party ?? '';
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    for (let i = 0; i < 3; i++) sb.control.mint(treasury, 'UTK', String(i + 1));
  });
  afterAll(() => sb.stop());

  async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
    const started = Date.now();
    const value = await f();
    return { value, ms: Date.now() - started };
  }

  it('updates, open-ended: [] after the idle timeout (default or asked for); a longer one gets the elements', async () => {
    const dflt = await timed(() => client.ok<unknown[]>('POST', '/v2/updates', updatesRequest(treasury, 0)));
    expect(dflt.value).toEqual([]);
    expect(dflt.ms).toBeLessThan(DELAY);
    expect(await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, 0))).toEqual([]);
    const patient = await client.ok<unknown[]>('POST', `/v2/updates?stream_idle_timeout_ms=${DELAY * 2}`, updatesRequest(treasury, 0));
    expect(transactionsOf(patient)).toHaveLength(4); // the preapproval and three mints
  });

  it('updates, bounded: no idle timeout unless asked for', async () => {
    const end = sb.control.books.ledgerEnd().offset;
    const bounded = await timed(() => client.ok<unknown[]>('POST', '/v2/updates', updatesRequest(treasury, 0, end)));
    expect(transactionsOf(bounded.value)).toHaveLength(4);
    expect(bounded.ms).toBeGreaterThanOrEqual(DELAY - 10);
    expect(await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=100', updatesRequest(treasury, 0, end))).toEqual([]);
  });

  it('active contracts: no idle timeout unless asked for', async () => {
    const req = { activeAtOffset: sb.control.books.ledgerEnd().offset, eventFormat: treasuryEventFormat(treasury) };
    expect((await client.ok<unknown[]>('POST', '/v2/state/active-contracts', req)).length).toBeGreaterThan(0);
    expect(await client.ok<unknown[]>('POST', '/v2/state/active-contracts?stream_idle_timeout_ms=100', req)).toEqual([]);
  });

  it('completions: always open-ended', async () => {
    const req = { userId: 'exchange', parties: [treasury], beginExclusive: 0 };
    expect(await client.ok<unknown[]>('POST', '/v2/commands/completions', req)).toEqual([]);
    expect(
      (await client.ok<unknown[]>('POST', `/v2/commands/completions?stream_idle_timeout_ms=${DELAY * 2}`, req)).length,
    ).toBeGreaterThan(0);
  });
});

describe('ledger double: HTTP list reads that outlive their client', () => {
  const longPoll = (sb: Sandbox, token: string, signal?: AbortSignal) =>
    fetch(`${sb.jsonApiUrl}/v2/updates?stream_idle_timeout_ms=60000`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      // At the ledger end, open-ended, asking to wait a minute for something new.
      body: JSON.stringify(updatesRequest(sb.treasury?.party ?? '', sb.control.books.ledgerEnd().offset)),
      ...(signal ? { signal } : {}),
    });

  async function until(what: string, ok: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    if (!ok()) throw new Error(`timed out waiting for ${what}`);
  }

  it('a read whose client went away ends at once, not at its idle timeout', async () => {
    const sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } });
    try {
      const idle = sb.engine.ledger.watchers;
      const ac = new AbortController();
      const poll = longPoll(sb, await sb.tokenFor('exchange'), ac.signal);
      await until('the read to wait for the ledger', () => sb.engine.ledger.watchers > idle);
      ac.abort();
      await expect(poll).rejects.toThrow();
      await until('the abandoned read to end', () => sb.engine.ledger.watchers === idle);
    } finally {
      await sb.stop();
    }
  });

  it('stopping the double cuts a read in flight instead of waiting it out', async () => {
    const sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } });
    const idle = sb.engine.ledger.watchers;
    const poll = longPoll(sb, await sb.tokenFor('exchange')).catch((e: unknown) => e);
    await until('the read to wait for the ledger', () => sb.engine.ledger.watchers > idle);
    await sb.stop(); // waits out the 60 s read unless the connection is cut
    expect(await poll).toBeInstanceOf(Error);
  }, 20_000);
});

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { readOutboxEvents } from '../../src/store/outbox.js';
import { startStack, type Stack } from '../support/stack.js';
import { checkPaidAtMostOnce } from './support/money.js';

/**
 * End to end against registries that want a JWT, as a validator's Scan proxy does (the double with
 * registryAuth 'ledger-jwt'): the instrument's registry auth decides whether withdrawals and
 * 2-step deposits work, a missing token is a clear final error, and no secret reaches the API,
 * the events or the logs.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const OAUTH_SECRET = 'registry-reader-client-secret';

/** Every log line of the daemon parts and the double, at debug level, unredacted: a stricter test than production's. */
function capturingLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => lines.join('') };
}

/** The token endpoint as the registry credential's OAuth2 client sees it: requests and tokens issued. */
function countingFetch() {
  const issued: string[] = [];
  let requests = 0;
  const f: typeof fetch = async (input, init) => {
    requests++;
    const res = await fetch(input, init);
    const body = (await res
      .clone()
      .json()
      .catch(() => ({}))) as { access_token?: string };
    if (body.access_token) issued.push(body.access_token);
    return res;
  };
  return { fetch: f, issued, requests: () => requests };
}

describe("registry auth against a validator's Scan proxy (the double's registries behind a JWT)", () => {
  it('mode none stalls with the 401 named; onboarding refuses it; mode ledger pays, the stalled one too once retried; OAuth2 serves deposits and offers', async () => {
    const logs = capturingLogger();
    const tokenEndpoint = countingFetch();
    const s = (stack = await startStack({
      sandbox: {
        registryAuth: 'ledger-jwt',
        oauthClients: [{ clientId: 'registry-reader', clientSecret: OAUTH_SECRET, userId: 'registry-reader' }],
      },
      registryTokens: (sb) => ({
        config: {
          credentials: {
            'utility-proxy': {
              auth: {
                kind: 'oauth2',
                tokenUrl: sb.oauth.tokenUrl,
                clientId: 'registry-reader',
                clientSecret: OAUTH_SECRET,
                audience: sb.oauth.audience,
              },
              registryUrls: [sb.instruments.find((i) => i.id === 'UTK')!.registryUrl],
            },
          },
          ledgerAuthUrls: undefined,
        },
        oauth: { fetch: tokenEndpoint.fetch },
      }),
      // Registry auth changes apply to the next registry call.
      effects: { instrumentCacheMs: 0 },
      logger: logs.logger,
    }));
    const ccPath = `/v1/instruments/${encodeURIComponent(s.cc.admin)}/Amulet`;
    const utkPath = `/v1/instruments/${encodeURIComponent(s.utk.admin)}/UTK`;
    await s.fundTreasury('Amulet', '1000', 2);
    const bob = s.customer({ preapproval: true });

    // The stack onboarded the instruments with registry auth none: the proxy answers 401, which is final.
    expect((await s.requestWithdrawal({ withdrawalId: 'w-none', receiver: bob, instrument: 'Amulet', amount: '10' })).status).toBe(201);
    const stalled = await s.waitForWithdrawal('w-none', ['stalled', 'completed', 'failed']);
    expect(stalled.status).toBe('stalled');
    expect(stalled.statusReason).toContain(
      `HTTP 401 (instrument ${s.cc.admin}/Amulet, registry auth none): the registry requires a bearer token: set the instrument's registryAuth`,
    );
    // What the registry wrote is not repeated: a reason is shown to API callers and in events.
    expect(stalled.statusReason).not.toContain('The resource requires authentication');
    expect(s.sandbox.control.books.transfers('w-none')).toEqual([]);

    // Onboarding asks the registry with the instrument's auth: none is refused, naming the field to fix.
    expect((await s.api('POST', `${ccPath}/disable`)).status).toBe(200);
    const reEnable = await s.api('POST', `${ccPath}/enable`);
    expect(reEnable.status).toBe(400);
    expect(reEnable.body).toMatchObject({
      details: { issues: [{ field: 'registryAuth', reason: expect.stringContaining('HTTP 401') }], retryable: false },
    });
    const ledger = await s.api('PUT', ccPath, { registryAuth: { mode: 'ledger' }, enabled: true });
    expect(ledger).toMatchObject({
      status: 200,
      body: { registryAuth: { mode: 'ledger' }, enabled: true, registry: { adminId: s.cc.admin } },
    });

    // Mode ledger: the daemon's Ledger API token opens the proxy.
    expect((await s.requestWithdrawal({ withdrawalId: 'w-ledger', receiver: bob, instrument: 'Amulet', amount: '20' })).status).toBe(201);
    expect(await s.waitForWithdrawal('w-ledger', ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed' });
    expect(s.sandbox.control.books.transfers('w-ledger')).toEqual([
      expect.objectContaining({ receiver: bob, amount: '20.0000000000', outcome: 'completed' }),
    ]);
    expect((await s.api('POST', '/v1/withdrawals/w-none/retry')).status).toBe(202);
    expect(await s.waitForWithdrawal('w-none', ['completed', 'failed'])).toMatchObject({ status: 'completed' });

    // An OAuth2 credential for UTK: a 2-step deposit accepted and an offer paid through the proxy.
    expect(await s.api('PUT', utkPath, { registryAuth: { mode: 'credential', credential: 'utility-proxy' } })).toMatchObject({
      status: 200,
      body: { changed: ['registryAuth'], registryAuth: { mode: 'credential', credential: 'utility-proxy' } },
    });
    await s.fundTreasury('UTK', '500', 1);
    const alice = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    await s.depositAccount('utk-memo-1');
    const offer = s.sandbox.control.transfer({
      from: alice,
      to: s.treasury,
      instrument: 'UTK',
      amount: '40',
      memo: 'utk-memo-1',
      mode: 'offer',
    });
    expect(await s.waitForDeposit(offer.transferInstructionCid!, ['credited', 'accept_failed', 'failed'], 30_000)).toMatchObject({
      status: 'credited',
    });
    const carol = s.customer();
    expect((await s.requestWithdrawal({ withdrawalId: 'w-utk', receiver: carol, instrument: 'UTK', amount: '15' })).status).toBe(201);
    const pending = await s.waitForWithdrawal('w-utk', ['pending_acceptance', 'failed', 'stalled']);
    expect(pending.status).toBe('pending_acceptance');
    s.sandbox.control.accept(pending.transfer!.transferInstructionCid!);
    expect(await s.waitForWithdrawal('w-utk', ['completed', 'failed'])).toMatchObject({ status: 'completed' });
    // One token for the onboarding check, the accept context and the transfer factory: cached.
    expect(tokenEndpoint.requests()).toBe(1);
    await checkPaidAtMostOnce(s, ['w-none', 'w-ledger', 'w-utk']);

    // No secret anywhere an operator or a consumer looks: API, events, logs.
    await s.caughtUp();
    const secrets = [OAUTH_SECRET, ...tokenEndpoint.issued, s.ledger.auth.kind === 'static' ? s.ledger.auth.token : ''];
    expect(tokenEndpoint.issued).toHaveLength(1);
    const seen = [
      JSON.stringify((await s.api('GET', '/v1/instruments')).body),
      JSON.stringify(await readOutboxEvents(s.sql, { afterId: 0, limit: 10_000 })),
      JSON.stringify((await s.api('GET', '/v1/withdrawals/w-none')).body),
      logs.text(),
    ].join('\n');
    expect(seen).toContain('utility-proxy');
    expect(logs.text().length).toBeGreaterThan(0);
    for (const secret of secrets) expect(seen).not.toContain(secret);
  });
});

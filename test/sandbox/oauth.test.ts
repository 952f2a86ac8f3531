import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { treasuryEventFormat } from './support/requests.js';
import { WireClient, WsStream } from './support/wire-client.js';

describe('ledger double: OAuth2 client credentials with short-lived tokens', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = await startSandbox({ tokenLifetimeSeconds: 2, treasury: { onboarding: 'direct', fund: [{ instrument: 'UTK', amount: '5' }] } });
  });
  afterAll(() => sb.stop());

  const token = async (init: RequestInit): Promise<Response> => fetch(sb.oauth.tokenUrl, { method: 'POST', ...init });

  it('issues tokens for valid clients (form body or HTTP Basic) and refuses others', async () => {
    const form = await token({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: sb.oauth.clientId,
        client_secret: sb.oauth.clientSecret,
        audience: sb.oauth.audience,
      }),
    });
    expect(form.status).toBe(200);
    expect(await form.json()).toMatchObject({ token_type: 'Bearer', expires_in: 2 });
    const basic = await token({
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${sb.oauth.clientId}:${sb.oauth.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(basic.status).toBe(200);
    const bad = await token({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: sb.oauth.clientId, client_secret: 'nope' }),
    });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ error: 'invalid_client' });
    const grant = await token({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'password' }) });
    expect(grant.status).toBe(400);
  });

  it('lets a token expire (401) so a client must refresh it', async () => {
    const res = await token({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: sb.oauth.clientId, client_secret: sb.oauth.clientSecret }),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    const client = new WireClient(sb.jsonApiUrl, access_token);
    expect((await client.get('/v2/state/ledger-end')).status).toBe(200);
    // JWT times are whole seconds: a 2 s token lives between 1 and 2 s, then every request is refused.
    await expect.poll(async () => (await client.get('/v2/state/ledger-end')).status, { timeout: 5_000, interval: 100 }).toBe(401);
    const fresh = await sb.tokenFor('exchange');
    expect((await client.withToken(fresh).get('/v2/state/ledger-end')).status).toBe(200);
  });

  it('serves the ACS over a websocket too, then closes', async () => {
    const t = await sb.tokenFor('exchange', { expiresInSeconds: 60 });
    const end = (await new WireClient(sb.jsonApiUrl, t).ok<{ offset: number }>('GET', '/v2/state/ledger-end')).offset;
    const ws = new WsStream(sb.jsonApiUrl, '/v2/state/active-contracts', t, {
      activeAtOffset: end,
      eventFormat: treasuryEventFormat(sb.treasury?.party ?? ''),
    });
    const frames = await ws.untilClosed();
    expect(frames.length).toBeGreaterThanOrEqual(2); // the preapproval and the UTK holding
    expect(ws.closeCode).toBe(1000);
  });
});

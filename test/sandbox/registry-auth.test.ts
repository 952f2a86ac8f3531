import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';

/** The double's registries with registryAuth 'ledger-jwt': what a validator's Scan proxy asks of a caller. */
describe("ledger double: registries behind a JWT, as a validator's Scan proxy", () => {
  let sb: Sandbox;
  let open: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ registryAuth: 'ledger-jwt', treasury: { onboarding: 'direct' } });
    open = await startSandbox({ treasury: { onboarding: 'none' } });
  });
  afterAll(async () => {
    await sb.stop();
    await open.stop();
  });

  const info = (s: Sandbox, authorization?: string) =>
    fetch(`${s.instruments[0]!.registryUrl}/registry/metadata/v1/info`, { headers: authorization ? { authorization } : {} });

  it('answers a caller without a token as pekko-http does for the proxy: 401, a Bearer challenge, text', async () => {
    const res = await info(sb);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="splice scan proxy realm"');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('The resource requires authentication, which was not supplied with the request');
    // Another scheme is no bearer token either.
    expect(await (await info(sb, `Basic ${Buffer.from('a:b').toString('base64')}`)).text()).toMatch(
      /^The resource requires authentication/,
    );
    // Every registry path, POSTs too.
    const factory = await fetch(`${sb.instruments[0]!.registryUrl}/registry/transfer-instruction/v1/transfer-factory`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ choiceArguments: {} }),
    });
    expect(factory.status).toBe(401);
  });

  it('refuses a token it cannot verify: another secret, or expired', async () => {
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('exchange')
      .setAudience(sb.oauth.audience)
      .setExpirationTime('1h')
      .sign(randomBytes(32));
    const expired = await sb.tokenFor('exchange', { expiresInSeconds: -60 });
    for (const token of [forged, expired, 'not-a-jwt']) {
      const res = await info(sb, `Bearer ${token}`);
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('The supplied authentication is invalid');
    }
  });

  it('accepts a Ledger API token of the double, for any user (the proxy authenticates, it does not authorize)', async () => {
    const ok = await info(sb, `Bearer ${await sb.tokenFor('exchange')}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ adminId: sb.instruments[0]!.admin });
    // A user the participant does not know: the Ledger API refuses it, the proxy does not look it up.
    const stranger = await sb.tokenFor('nobody-we-know');
    expect((await info(sb, `Bearer ${stranger}`)).status).toBe(200);
    expect((await fetch(`${sb.jsonApiUrl}/v2/state/ledger-end`, { headers: { authorization: `Bearer ${stranger}` } })).status).toBe(403);
    // The Ledger API itself is unchanged by the option.
    expect((await fetch(`${sb.jsonApiUrl}/v2/state/ledger-end`)).status).toBe(401);
  });

  it('keeps registries public by default', async () => {
    expect((await info(open)).status).toBe(200);
  });
});

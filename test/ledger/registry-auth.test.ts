import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryAuthConfig } from '../../src/config.js';
import { staticToken } from '../../src/ledger/auth.js';
import { LedgerApiError } from '../../src/ledger/http.js';
import {
  createRegistryTokens,
  describeRegistryAuth,
  isRegistryUrlWithin,
  RegistryAuthError,
  type RegistryAuth,
} from '../../src/ledger/registry-auth.js';
import { RegistryClient } from '../../src/ledger/registry-client.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

/**
 * Registry auth against the ledger double's registries behind a JWT (registryAuth 'ledger-jwt', as
 * a validator's Scan proxy): which bearer each mode sends, how OAuth2 tokens are fetched, cached and
 * refreshed, and what a refusal says.
 */

/** What went over the wire: the Authorization header of each registry call, and the token endpoint's answers. */
function recordingFetch() {
  const sent: { url: string; authorization: string | null }[] = [];
  const issued: string[] = [];
  let tokenRequests = 0;
  /** Answers the next token request with this (a revoked token) instead of asking the endpoint. */
  let nextToken: string | undefined;
  const f: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.endsWith('/oauth/token')) {
      tokenRequests++;
      if (nextToken !== undefined) {
        const token = nextToken;
        nextToken = undefined;
        issued.push(token);
        return new Response(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      }
      const res = await fetch(input, init);
      const body = (await res
        .clone()
        .json()
        .catch(() => ({}))) as { access_token?: string };
      if (body.access_token) issued.push(body.access_token);
      return res;
    }
    sent.push({ url, authorization: new Headers(init?.headers).get('authorization') });
    return fetch(input, init);
  };
  return {
    fetch: f,
    sent,
    issued,
    tokenRequests: () => tokenRequests,
    revokeNext(token: string) {
      nextToken = token;
    },
  };
}

describe('registry auth against a registry that wants a JWT', () => {
  let sb: Sandbox;
  let registryUrl: string;
  let admin: string;
  let ledgerToken: string;
  let staticProxyToken: string;
  beforeAll(async () => {
    sb = await startSandbox({
      registryAuth: 'ledger-jwt',
      treasury: { onboarding: 'direct' },
      // Its own identity for the registry: the proxy does not care whether the participant knows the user.
      oauthClients: [{ clientId: 'registry-reader', clientSecret: 'registry-reader-secret', userId: 'registry-reader' }],
    });
    registryUrl = sb.instruments[0]!.registryUrl;
    admin = sb.instruments[0]!.admin;
    ledgerToken = await sb.tokenFor('exchange');
    staticProxyToken = await sb.tokenFor('registry-static');
  });
  afterAll(() => sb.stop());

  const config = (extra: Partial<RegistryAuthConfig> = {}): RegistryAuthConfig => ({
    credentials: {
      'static-proxy': { auth: { kind: 'static', token: staticProxyToken }, registryUrls: undefined },
      'oauth-proxy': {
        auth: {
          kind: 'oauth2',
          tokenUrl: sb.oauth.tokenUrl,
          clientId: 'registry-reader',
          clientSecret: 'registry-reader-secret',
          audience: sb.oauth.audience,
        },
        registryUrls: [registryUrl],
      },
      wrong: { auth: { kind: 'static', token: 'not-a-token-the-registry-accepts' }, registryUrls: undefined },
      'bad-client': {
        auth: { kind: 'oauth2', tokenUrl: sb.oauth.tokenUrl, clientId: 'registry-reader', clientSecret: 'a-wrong-client-secret' },
        registryUrls: undefined,
      },
    },
    ledgerAuthUrls: undefined,
    ...extra,
  });

  function clientFor(auth: RegistryAuth, rec: ReturnType<typeof recordingFetch>, ledger = staticToken(ledgerToken), cfg = config()) {
    const tokens = createRegistryTokens({ config: cfg, ledger, oauth: { fetch: rec.fetch } });
    const provider = tokens.provider(auth, registryUrl);
    return new RegistryClient({
      baseUrl: registryUrl,
      ...(provider ? { auth: provider } : {}),
      authContext: `instrument ${admin}/Amulet, registry auth ${describeRegistryAuth(auth)}`,
      policy: TEST_REGISTRY_POLICY,
      fetch: rec.fetch,
    });
  }

  it('mode ledger sends the Ledger API token; a static credential sends its token', async () => {
    const rec = recordingFetch();
    expect((await clientFor({ mode: 'ledger' }, rec).info()).adminId).toBe(admin);
    await clientFor({ mode: 'credential', credential: 'static-proxy' }, rec).instrument('Amulet');
    expect(rec.sent.map((s) => s.authorization)).toEqual([`Bearer ${ledgerToken}`, `Bearer ${staticProxyToken}`]);
    expect(rec.tokenRequests()).toBe(0);
  });

  it("mode none sends no Authorization header and gets the registry's 401 as a clear, final error", async () => {
    const rec = recordingFetch();
    const e = await clientFor({ mode: 'none' }, rec)
      .info()
      .catch((x: unknown) => x);
    expect(rec.sent).toEqual([{ url: `${registryUrl}/registry/metadata/v1/info`, authorization: null }]);
    expect(e).toBeInstanceOf(LedgerApiError);
    expect(e).toMatchObject({ status: 401, code: 'REGISTRY_UNAUTHORIZED', retryable: false });
    expect((e as Error).message).toContain(
      `HTTP 401 (instrument ${admin}/Amulet, registry auth none): the registry requires a bearer token: set the instrument's registryAuth`,
    );
    // What the registry wrote stays out of the message (it reaches API callers): the call and the status say enough.
    expect((e as Error).message).not.toContain('The resource requires authentication');
  });

  it('a token the registry refuses is a final error that names the auth, not the token', async () => {
    const rec = recordingFetch();
    const e = (await clientFor({ mode: 'credential', credential: 'wrong' }, rec)
      .info()
      .catch((x: unknown) => x)) as LedgerApiError;
    expect(e).toMatchObject({ status: 401, code: 'REGISTRY_UNAUTHORIZED', retryable: false });
    expect(e.message).toMatch(
      new RegExp(
        `HTTP 401 \\(instrument ${admin}/Amulet, registry auth credential "wrong"\\): the registry did not accept the token sent$`,
      ),
    );
    expect(e.message).not.toContain('not-a-token-the-registry-accepts');
    expect(rec.sent).toHaveLength(1); // a static token cannot improve: no second try
  });

  it('OAuth2: fetches a token from the token endpoint, sends it, and reuses it until it expires', async () => {
    const rec = recordingFetch();
    const client = clientFor({ mode: 'credential', credential: 'oauth-proxy' }, rec);
    await client.info();
    await client.instrument('Amulet');
    await client.instruments();
    expect(rec.tokenRequests()).toBe(1);
    expect(rec.issued).toHaveLength(1);
    expect(rec.sent.map((s) => s.authorization)).toEqual(Array(3).fill(`Bearer ${rec.issued[0]}`));
    // The double issued it for the registry client's own user.
    const [, payload] = rec.issued[0]!.split('.');
    expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toMatchObject({ sub: 'registry-reader' });
  });

  it('OAuth2: a token the registry refuses (revoked) is replaced once by a fresh one', async () => {
    const rec = recordingFetch();
    rec.revokeNext('revoked-token');
    const client = clientFor({ mode: 'credential', credential: 'oauth-proxy' }, rec);
    expect((await client.info()).adminId).toBe(admin);
    expect(rec.tokenRequests()).toBe(2);
    expect(rec.sent.map((s) => s.authorization)).toEqual(['Bearer revoked-token', `Bearer ${rec.issued[1]}`]);
  });

  it('OAuth2: a token endpoint that refuses the client is an error naming the client, not its secret', async () => {
    const rec = recordingFetch();
    const e = (await clientFor({ mode: 'credential', credential: 'bad-client' }, rec)
      .info()
      .catch((x: unknown) => x)) as LedgerApiError;
    expect(e).toMatchObject({ code: 'AUTH_TOKEN', status: 401, retryable: false });
    expect(e.message).toMatch(
      /cannot obtain an access token: OAuth2 token endpoint .* answered 401 \(invalid_client\) for client registry-reader/,
    );
    expect(e.message).not.toContain('a-wrong-client-secret');
    expect(rec.sent).toEqual([]); // nothing went to the registry
  });

  it('refuses an unknown credential, a URL a token is not bound to, and mode ledger without a ledger', () => {
    const tokens = createRegistryTokens({
      config: config({ ledgerAuthUrls: ['https://validator.example.com/api/validator/v0/scan-proxy'] }),
      ledger: staticToken(ledgerToken),
    });
    expect(tokens.credentialNames).toEqual(['bad-client', 'oauth-proxy', 'static-proxy', 'wrong']);
    expect(tokens.problem({ mode: 'credential', credential: 'nope' }, registryUrl)).toMatchObject({
      field: 'registryAuth.credential',
      message:
        'unknown registry credential "nope": REGISTRY_CREDENTIALS does not define it (it defines "bad-client", "oauth-proxy", "static-proxy", "wrong")',
    });
    expect(() => tokens.provider({ mode: 'credential', credential: 'nope' }, registryUrl)).toThrow(RegistryAuthError);
    // oauth-proxy may only go to the double's registry.
    expect(tokens.problem({ mode: 'credential', credential: 'oauth-proxy' }, registryUrl)).toBeUndefined();
    expect(tokens.problem({ mode: 'credential', credential: 'oauth-proxy' }, 'https://registry.elsewhere.example')).toMatchObject({
      field: 'registryUrl',
      message: expect.stringMatching(/^registry credential "oauth-proxy" may not be sent to https:\/\/registry\.elsewhere\.example/),
    });
    expect(tokens.problem({ mode: 'ledger' }, registryUrl)).toMatchObject({
      field: 'registryUrl',
      message: expect.stringMatching(/^the Ledger API token may not be sent to .*REGISTRY_LEDGER_AUTH_URLS allows only/),
    });
    expect(tokens.problem({ mode: 'ledger' }, 'https://validator.example.com/api/validator/v0/scan-proxy/')).toBeUndefined();
    expect(tokens.problem({ mode: 'none' }, 'https://anywhere.example')).toBeUndefined();
    const noLedger = createRegistryTokens({ config: config(), ledger: undefined });
    expect(noLedger.problem({ mode: 'ledger' }, registryUrl)).toMatchObject({
      field: 'registryAuth',
      message: expect.stringMatching(/no ledger configured/),
    });
  });

  it('binds URLs by origin and whole path segments', () => {
    const base = 'https://validator.example.com/api/validator/v0/scan-proxy';
    expect(isRegistryUrlWithin(base, base)).toBe(true);
    expect(isRegistryUrlWithin(`${base}/`, base)).toBe(true);
    expect(isRegistryUrlWithin(`${base}/registry`, `${base}/`)).toBe(true);
    expect(isRegistryUrlWithin('https://validator.example.com/api/validator/v0/scan-proxy-evil', base)).toBe(false);
    expect(isRegistryUrlWithin('https://validator.example.com.evil.example/api/validator/v0/scan-proxy', base)).toBe(false);
    expect(isRegistryUrlWithin('http://validator.example.com/api/validator/v0/scan-proxy', base)).toBe(false);
    expect(isRegistryUrlWithin('https://validator.example.com:8443/api/validator/v0/scan-proxy', base)).toBe(false);
    expect(isRegistryUrlWithin('https://validator.example.com/api', base)).toBe(false);
    expect(isRegistryUrlWithin('https://a.example/x', 'https://a.example')).toBe(true);
    expect(isRegistryUrlWithin('not a url', base)).toBe(false);
  });
});

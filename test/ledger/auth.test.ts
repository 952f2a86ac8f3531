import { describe, expect, it } from 'vitest';
import { oauth2ClientCredentials, type LedgerAuthError, staticToken, tokenProviderFor } from '../../src/ledger/auth.js';

const SECRET = 'super-secret-client-secret-value';

function tokenEndpoint(responses: (() => Response)[]) {
  const calls: { url: string; body: string }[] = [];
  const fetchStub = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), body: String(init?.body) });
    await new Promise((r) => setTimeout(r, 5));
    const next = responses.shift();
    if (!next) throw new Error('no more scripted responses');
    return next();
  }) as typeof fetch;
  return { calls, fetchStub };
}

const ok = (token: string, expiresIn?: number) => () =>
  Response.json({ access_token: token, token_type: 'Bearer', ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}) });

/** An unsigned JWT with the given exp (seconds): only its payload is read. */
function jwtWithExp(exp: number): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64({ sub: 'svc', exp })}.`;
}

describe('ledger auth', () => {
  it('a static token is returned as is', async () => {
    const p = tokenProviderFor({ kind: 'static', token: 'abc' });
    expect(p.kind).toBe('static');
    expect(await p.getToken()).toBe('abc');
    expect(await staticToken('x').getToken()).toBe('x');
  });

  it('client credentials: form-encoded grant, one fetch for concurrent callers, cached until the refresh margin', async () => {
    let now = 1_000_000;
    const { calls, fetchStub } = tokenEndpoint([ok('t1', 300), ok('t2', 300)]);
    const p = oauth2ClientCredentials({
      tokenUrl: 'https://auth.example/token',
      clientId: 'cxi',
      clientSecret: SECRET,
      audience: 'ledger',
      scope: 'daml_ledger_api',
      fetch: fetchStub,
      now: () => now,
      refreshMarginMs: 60_000,
    });
    const [a, b, c] = await Promise.all([p.getToken(), p.getToken(), p.getToken()]);
    expect([a, b, c]).toEqual(['t1', 't1', 't1']);
    expect(calls).toHaveLength(1);
    const form = new URLSearchParams(calls[0]!.body);
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'client_credentials',
      client_id: 'cxi',
      client_secret: SECRET,
      audience: 'ledger',
      scope: 'daml_ledger_api',
    });
    now += 239_000; // 1 s before the refresh point (300 s − 60 s)
    expect(await p.getToken()).toBe('t1');
    now += 2_000; // inside the margin: refreshed before expiry
    expect(await p.getToken()).toBe('t2');
    expect(calls).toHaveLength(2);
  });

  it('without expires_in the JWT exp decides; invalidate forces a new token', async () => {
    let now = 1_700_000_000_000;
    const first = jwtWithExp(now / 1000 + 30);
    const { calls, fetchStub } = tokenEndpoint([ok(first), ok('t2', 600), ok('t3', 600)]);
    const p = oauth2ClientCredentials({
      tokenUrl: 'https://auth.example/token',
      clientId: 'cxi',
      clientSecret: SECRET,
      fetch: fetchStub,
      now: () => now,
    });
    expect(await p.getToken()).toBe(first);
    // 30 s lifetime from exp: the 60 s margin is capped at half of it, refresh after 15 s
    now += 14_000;
    expect(await p.getToken()).toBe(first);
    now += 2_000;
    expect(await p.getToken()).toBe('t2');
    p.invalidate();
    expect(await p.getToken()).toBe('t3');
    expect(calls).toHaveLength(3);
  });

  it('endpoint refusals are not retryable, outages are; the secret never appears in errors', async () => {
    const { fetchStub } = tokenEndpoint([
      () => Response.json({ error: 'invalid_client', error_description: 'bad secret' }, { status: 401 }),
      () => new Response('down', { status: 503 }),
      () => {
        throw new TypeError('fetch failed');
      },
    ]);
    const p = oauth2ClientCredentials({ tokenUrl: 'https://auth.example/token', clientId: 'cxi', clientSecret: SECRET, fetch: fetchStub });
    const errs: LedgerAuthError[] = [];
    for (let i = 0; i < 3; i++) errs.push((await p.getToken().catch((e: unknown) => e)) as LedgerAuthError);
    expect(errs.map((e) => [e.name, e.status, e.retryable])).toEqual([
      ['LedgerAuthError', 401, false],
      ['LedgerAuthError', 503, true],
      ['LedgerAuthError', 0, true],
    ]);
    expect(errs[0]!.message).toContain('invalid_client: bad secret');
    for (const e of errs) expect(`${e.message} ${JSON.stringify(e)} ${String(e.stack)}`).not.toContain(SECRET);
    expect(JSON.stringify(p)).not.toContain(SECRET);
  });

  it('a token endpoint answering megabytes is refused after a bounded read', async () => {
    const huge = JSON.stringify({ access_token: 'x'.repeat(4 << 20), token_type: 'Bearer' });
    const { fetchStub } = tokenEndpoint([() => new Response(huge, { status: 200 })]);
    const p = oauth2ClientCredentials({ tokenUrl: 'https://auth.example/token', clientId: 'cxi', clientSecret: SECRET, fetch: fetchStub });
    const e = (await p.getToken().catch((x: unknown) => x)) as LedgerAuthError;
    expect([e.name, e.retryable]).toEqual(['LedgerAuthError', false]);
    expect(e.message).toMatch(/answered more than 262144 bytes; refused/);
  });
});

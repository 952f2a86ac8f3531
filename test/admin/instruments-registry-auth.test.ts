import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstrumentRegistryCheck, InstrumentToCheck } from '../../src/admin/registry-check.js';
import type { RegistryAuthConfig } from '../../src/config.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { staticToken } from '../../src/ledger/auth.js';
import { createRegistryTokens } from '../../src/ledger/registry-auth.js';
import { readOutboxEvents } from '../../src/store/outbox.js';
import { auth, TEST_TOKENS } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

/**
 * Per-instrument registry auth over the admin API and `cxi instruments`: the mode and a credential's
 * name are stored and shown, the secrets of REGISTRY_CREDENTIALS and the Ledger API token never.
 */

const run = promisify(execFile);
const { sql } = await useMigratedDatabase();

const DSO = `DSO::1220${'d'.repeat(64)}`;
const ACME = `acme::1220${'a'.repeat(64)}`;
const PROXY = 'https://validator.example.com/api/validator/v0/scan-proxy';

const SECRETS = {
  ledger: 'ledger-api-jwt-that-must-not-leak',
  proxyClientSecret: 'proxy-client-secret-that-must-not-leak',
  acmeToken: 'acme-static-token-that-must-not-leak',
};
const config: RegistryAuthConfig = {
  credentials: {
    'scan-proxy': {
      auth: {
        kind: 'oauth2',
        tokenUrl: 'https://auth.example.com/oauth/token',
        clientId: 'cxi-registry',
        clientSecret: SECRETS.proxyClientSecret,
        audience: 'https://validator.example.com/api',
      },
      registryUrls: [PROXY],
    },
    acme: { auth: { kind: 'static', token: SECRETS.acmeToken }, registryUrls: undefined },
  },
  ledgerAuthUrls: undefined,
};

/** Every registry vouches for what it is asked; the calls record which auth onboarding used. */
const calls: InstrumentToCheck[] = [];
const registry: InstrumentRegistryCheck = {
  async check(i) {
    calls.push(i);
    return { adminId: i.admin, name: i.id, symbol: i.id, decimals: 10, supportedApis: { 'splice-api-token-transfer-instruction-v1': 1 } };
  },
};

const path = (admin: string, id: string) => `/v1/instruments/${encodeURIComponent(admin)}/${encodeURIComponent(id)}`;

function expectNoSecret(text: string): void {
  for (const s of Object.values(SECRETS)) expect(text).not.toContain(s);
}

describe('registry auth of an instrument over the admin API and the CLI', () => {
  let app: App;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
    const registryTokens = createRegistryTokens({ config, ledger: staticToken(SECRETS.ledger) });
    registerApiRoutes(app, { sql, registryTokens, instrumentRegistry: registry, registryPolicy: TEST_REGISTRY_POLICY });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    env = { ...process.env, CXI_URL: url, CXI_TOKEN: TEST_TOKENS.admin.token };
  });
  afterAll(() => app.close());

  const add = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/instruments', headers: auth('admin'), payload });
  const put = (admin: string, id: string, payload: Record<string, unknown>) =>
    app.inject({ method: 'PUT', url: path(admin, id), headers: auth('admin'), payload });
  const cxi = (...args: string[]) => run(process.execPath, ['bin/cxi.js', ...args], { env });
  const lastEvent = async () => (await readOutboxEvents(sql, { afterId: 0, limit: 1000, topics: ['instrument.configured'] })).at(-1);

  it('onboards with a named credential: the registry is asked with it; stored, shown and audited by name only', async () => {
    calls.length = 0;
    const res = await add({ admin: DSO, id: 'Amulet', registryUrl: PROXY, registryAuth: { mode: 'credential', credential: 'scan-proxy' } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      registryAuth: { mode: 'credential', credential: 'scan-proxy' },
      changed: expect.arrayContaining(['registryAuth']),
    });
    expect(calls).toEqual([
      expect.objectContaining({ registryUrl: PROXY, registryAuth: { mode: 'credential', credential: 'scan-proxy' } }),
    ]);
    expect(await sql`select registry_auth, registry_credential from instruments where instrument_id = 'Amulet'`).toEqual([
      { registry_auth: 'credential', registry_credential: 'scan-proxy' },
    ]);

    const one = await app.inject({ method: 'GET', url: path(DSO, 'Amulet'), headers: auth('read') });
    expect(one.json().registryAuth).toEqual({ mode: 'credential', credential: 'scan-proxy' });
    const event = await lastEvent();
    expect(event?.payload).toMatchObject({ action: 'added', config: { registryAuth: { mode: 'credential', credential: 'scan-proxy' } } });
    expectNoSecret(res.body + one.body + JSON.stringify(event));
  });

  it('defaults to none, and changes the mode with a fresh registry check', async () => {
    const none = await add({ admin: ACME, id: 'ACME', registryUrl: 'https://registry.acme.example' });
    expect(none.json().registryAuth).toEqual({ mode: 'none' });
    calls.length = 0;
    const ledger = await put(ACME, 'ACME', { registryAuth: { mode: 'ledger' } });
    expect(ledger.statusCode).toBe(200);
    expect(ledger.json()).toMatchObject({ changed: ['registryAuth'], registryAuth: { mode: 'ledger' }, registry: { adminId: ACME } });
    expect(calls).toEqual([expect.objectContaining({ registryAuth: { mode: 'ledger' } })]);
    const static_ = await put(ACME, 'ACME', { registryAuth: { mode: 'credential', credential: 'acme' } });
    expect(static_.json()).toMatchObject({ changed: ['registryAuth'], registryAuth: { mode: 'credential', credential: 'acme' } });
    expect((await lastEvent())?.payload).toMatchObject({
      action: 'changed',
      changed: ['registryAuth'],
      config: { registryAuth: { mode: 'credential', credential: 'acme' } },
    });
    const list = await app.inject({ method: 'GET', url: '/v1/instruments', headers: auth('read') });
    expectNoSecret(ledger.body + static_.body + list.body + JSON.stringify(await readOutboxEvents(sql, { afterId: 0, limit: 1000 })));
  });

  it('refuses an unknown credential naming the known ones, before asking the registry, writing nothing', async () => {
    calls.length = 0;
    const before = await lastEvent();
    const unknown = await add({
      admin: ACME,
      id: 'ACME2',
      registryUrl: 'https://registry.acme.example',
      registryAuth: { mode: 'credential', credential: 'nope' },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'unknown registry credential "nope": REGISTRY_CREDENTIALS does not define it (it defines "acme", "scan-proxy")',
      details: { issues: [{ field: 'registryAuth.credential' }] },
    });
    expect((await put(ACME, 'ACME', { registryAuth: { mode: 'credential', credential: 'nope' } })).json().details.issues[0].field).toBe(
      'registryAuth.credential',
    );
    expect(calls).toEqual([]);
    expect(await sql`select count(*)::int as n from instruments where instrument_id = 'ACME2'`).toEqual([{ n: 0 }]);
    expect(await lastEvent()).toEqual(before);
  });

  it('validates the body: a credential needs a name and only mode credential takes one', async () => {
    for (const registryAuth of [
      { mode: 'credential' },
      { mode: 'bogus' },
      { mode: 'none', credential: 'acme' },
      { mode: 'credential', credential: 'has spaces' },
      'ledger',
    ]) {
      const res = await add({ admin: ACME, id: 'ACME3', registryUrl: 'https://registry.acme.example', registryAuth });
      expect(res.statusCode).toBe(400);
      expect(res.json().details.issues[0].field).toMatch(/^registryAuth/);
    }
  });

  it('sends a bound credential only to its registry URLs, also when an instrument is re-pointed while disabled', async () => {
    calls.length = 0;
    const elsewhere = await add({
      admin: ACME,
      id: 'ACME4',
      registryUrl: 'https://registry.acme.example',
      registryAuth: { mode: 'credential', credential: 'scan-proxy' },
    });
    expect(elsewhere.statusCode).toBe(400);
    expect(elsewhere.json()).toMatchObject({
      details: {
        issues: [
          {
            field: 'registryUrl',
            reason: expect.stringMatching(
              /^registry credential "scan-proxy" may not be sent to https:\/\/registry\.acme\.example: its registryUrls in REGISTRY_CREDENTIALS allows only https:\/\/validator\.example\.com/,
            ),
          },
        ],
      },
    });
    expect(calls).toEqual([]);

    expect((await app.inject({ method: 'POST', url: `${path(DSO, 'Amulet')}/disable`, headers: auth('admin') })).statusCode).toBe(200);
    const moved = await put(DSO, 'Amulet', { registryUrl: 'https://attacker.example/registry' });
    expect(moved.statusCode).toBe(400);
    expect(moved.json().details.issues[0].field).toBe('registryUrl');
    expect(calls).toEqual([]);
    expect((await app.inject({ method: 'GET', url: path(DSO, 'Amulet'), headers: auth('read') })).json()).toMatchObject({
      registryUrl: PROXY,
      enabled: false,
    });
  });

  it('cxi instruments: sets and shows the mode and credential name, refuses unknown names, prints no secret', async () => {
    const out: string[] = [];
    const added = await cxi(
      '--json',
      'instruments',
      'add',
      '--admin',
      ACME,
      '--id',
      'CLI1',
      '--registry-url',
      'https://registry.acme.example',
      '--registry-credential',
      'acme',
    );
    out.push(added.stdout, added.stderr);
    expect(JSON.parse(added.stdout)).toMatchObject({ registryAuth: { mode: 'credential', credential: 'acme' } });

    const set = await cxi('--json', 'instruments', 'set', `${ACME}/CLI1`, '--registry-auth', 'ledger');
    out.push(set.stdout, set.stderr);
    expect(JSON.parse(set.stdout)).toMatchObject({ changed: ['registryAuth'], registryAuth: { mode: 'ledger' } });

    const table = await cxi('instruments', 'list');
    out.push(table.stdout, table.stderr);
    expect(table.stdout).toMatch(/registry auth/);
    expect(table.stdout).toMatch(/credential scan-proxy/);
    const show = await cxi('instruments', 'show', `${DSO}/Amulet`);
    out.push(show.stdout, show.stderr);
    expect(show.stdout).toContain('scan-proxy');

    const unknown = (await cxi('instruments', 'set', `${ACME}/CLI1`, '--registry-credential', 'nope').catch((e: unknown) => e)) as {
      code: number;
      stdout: string;
      stderr: string;
    };
    out.push(unknown.stdout, unknown.stderr);
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringMatching(/VALIDATION_FAILED: unknown registry credential "nope"/) });
    const noName = (await cxi('instruments', 'set', `${ACME}/CLI1`, '--registry-auth', 'credential').catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(noName).toMatchObject({ code: 1, stderr: expect.stringMatching(/--registry-auth credential needs --registry-credential/) });
    const both = (await cxi('instruments', 'set', `${ACME}/CLI1`, '--registry-auth', 'ledger', '--registry-credential', 'acme').catch(
      (e: unknown) => e,
    )) as { code: number; stderr: string };
    expect(both).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--registry-credential goes with --registry-auth credential, not ledger/),
    });
    expectNoSecret(out.join('\n'));
  });
});

import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig, loadPkcs11Config } from '../src/config.js';

const PARTY = `treasury::1220${'ab'.repeat(32)}`;
/** As `openssl rand -base64 32` makes them. */
const STRONG = 'q3Jx9vK2mZ8pL5tR7wY1nB4cF6hD0sG3aE8uI2oP7kM=';
const realLedger = {
  LEDGER_API_URL: 'https://validator.example.com:7575',
  LEDGER_USER_ID: 'exchange-svc',
  LEDGER_TOKEN: 'eyJhbGciOi.secret-jwt.sig',
  TREASURY_PARTY: PARTY,
  TREASURY_KEY_FILE: '/etc/cxi/treasury.key',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults to the embedded database and the sandbox ledger', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.ledger).toBeUndefined();
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080, authFailureLimit: 20, maxConnections: 1000 });
    expect(c.dataDir).toBe('./data');
  });

  it('reads a real validator set-up with a static token', () => {
    const c = loadConfig({ ...realLedger, DATABASE_URL: 'postgres://u:pw@db:5432/cxi', HTTP_PORT: '9000' });
    expect(c.ledger).toEqual({
      apiUrl: realLedger.LEDGER_API_URL,
      userId: 'exchange-svc',
      treasuryParty: PARTY,
      treasuryKeyFile: '/etc/cxi/treasury.key',
      auth: { kind: 'static', token: realLedger.LEDGER_TOKEN },
      httpPageSize: 200,
    });
    expect(c.http.port).toBe(9000);
  });

  it('LEDGER_HTTP_PAGE_SIZE: the page size of HTTP list reads, at least 1', () => {
    expect(loadConfig({ ...realLedger, LEDGER_HTTP_PAGE_SIZE: '50' }).ledger?.httpPageSize).toBe(50);
    expect(problems({ ...realLedger, LEDGER_HTTP_PAGE_SIZE: '0' })).toEqual([expect.stringMatching(/^LEDGER_HTTP_PAGE_SIZE: /)]);
  });

  it('reads OAuth2 client credentials', () => {
    const { LEDGER_TOKEN: _unused, ...rest } = realLedger;
    const c = loadConfig({
      ...rest,
      LEDGER_OAUTH_TOKEN_URL: 'https://auth.example.com/token',
      LEDGER_OAUTH_CLIENT_ID: 'cxi',
      LEDGER_OAUTH_CLIENT_SECRET: 's3cret',
      LEDGER_OAUTH_AUDIENCE: 'https://canton.network',
    });
    expect(c.ledger?.auth).toEqual({
      kind: 'oauth2',
      tokenUrl: 'https://auth.example.com/token',
      clientId: 'cxi',
      clientSecret: 's3cret',
      audience: 'https://canton.network',
      scope: undefined,
    });
  });

  it('names each missing setting when a real ledger is configured', () => {
    expect(problems({ LEDGER_API_URL: 'https://v.example.com' })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^TREASURY_PARTY: required when LEDGER_API_URL is set/),
        expect.stringMatching(/^TREASURY_KEY_FILE: required/),
        expect.stringMatching(/^LEDGER_USER_ID: required/),
        expect.stringMatching(/^LEDGER_TOKEN: required .*LEDGER_OAUTH_TOKEN_URL/),
      ]),
    );
  });

  it('names the setting of a bad value', () => {
    expect(problems({ HTTP_PORT: 'eighty' })).toEqual([expect.stringMatching(/^HTTP_PORT: /)]);
    expect(problems({ HTTP_PORT: '70000' })).toEqual([expect.stringMatching(/^HTTP_PORT: /)]);
    expect(problems({ ...realLedger, TREASURY_PARTY: 'treasury' })).toEqual([expect.stringMatching(/^TREASURY_PARTY: must be a party id/)]);
    expect(problems({ LOG_LEVEL: 'loud' })).toEqual([expect.stringMatching(/^LOG_LEVEL: /)]);
    expect(problems({ API_TOKENS: '[{"name":"ops","token":"short","scopes":["admin"]}]' })).toEqual([
      expect.stringMatching(/^API_TOKENS\.0\.token: /),
    ]);
    expect(problems({ API_TOKENS: 'not json' })).toEqual([expect.stringMatching(/^API_TOKENS: /)]);
  });

  it('refuses weak API tokens and one token under two names (the last name would win)', () => {
    const tokens = (...list: { name: string; token: string }[]) => ({
      API_TOKENS: JSON.stringify(list.map((t) => ({ ...t, scopes: ['read'] }))),
    });
    for (const weak of ['a'.repeat(64), 'password1234567890', 'abababababababababababababababab', 'Exchange2026!']) {
      expect(problems(tokens({ name: 'ops', token: weak }))).toEqual([
        expect.stringMatching(/^API_TOKENS\.0\.token: is too weak: use at least 128 bits/),
      ]);
    }
    expect(problems(tokens({ name: 'ops', token: STRONG }, { name: 'reader', token: STRONG }))).toEqual([
      'API_TOKENS.1.token: is the same token as "ops": give each name its own token',
    ]);
    expect(
      loadConfig(tokens({ name: 'ops', token: STRONG }, { name: 'hex', token: '9f86d081884c7d659a2feaa0c55ad015' })).apiTokens,
    ).toHaveLength(2);
  });

  it('never echoes a secret value in an error', () => {
    const secret = 'postgres-password-that-must-not-leak';
    const msgs = problems({
      DATABASE_URL: `not a url ${secret}`,
      LEDGER_TOKEN: 'x',
      LEDGER_OAUTH_TOKEN_URL: 'https://a.example.com',
      LEDGER_API_URL: 'https://v.example.com',
    });
    expect(msgs.join('\n')).not.toContain(secret);
    expect(msgs.some((m) => m.startsWith('DATABASE_URL: '))).toBe(true);
    expect(msgs.some((m) => m.includes('not both'))).toBe(true);
  });

  it('describes itself without secrets', () => {
    const c = loadConfig({
      ...realLedger,
      DATABASE_URL: 'postgres://u:pw@db/cxi',
      API_TOKENS: JSON.stringify([{ name: 'ops', token: STRONG, scopes: ['admin'] }]),
    });
    const text = JSON.stringify(describeConfig(c));
    expect(text).not.toContain('pw@db');
    expect(text).not.toContain(realLedger.LEDGER_TOKEN);
    expect(text).not.toContain(STRONG);
    expect(text).toContain('ops');
  });

  it('merges a config file under the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxi-config-'));
    const yamlFile = join(dir, 'cxi.yaml');
    await writeFile(
      yamlFile,
      `HTTP_PORT: 7000\nHTTP_HOST: 0.0.0.0\nAPI_TOKENS:\n  - name: reader\n    token: ${STRONG}\n    scopes: [read]\n`,
    );
    const c = loadConfig({ CONFIG_FILE: yamlFile, HTTP_PORT: '7001' });
    expect(c.http).toEqual({ host: '0.0.0.0', port: 7001, authFailureLimit: 20, maxConnections: 1000 });
    expect(c.apiTokens).toEqual([{ name: 'reader', token: STRONG, scopes: ['read'] }]);

    const jsonFile = join(dir, 'cxi.json');
    await writeFile(jsonFile, '{"HTTP_PORT": ');
    expect(problems({ CONFIG_FILE: jsonFile })).toEqual([expect.stringMatching(/^CONFIG_FILE: .* is not valid JSON/)]);
    expect(problems({ CONFIG_FILE: join(dir, 'missing.yaml') })).toEqual([expect.stringMatching(/^CONFIG_FILE: cannot read .*ENOENT/)]);
  });

  it('stops at a key of CONFIG_FILE that is no setting, naming it (a typo is never silently ignored)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxi-config-'));
    const file = join(dir, 'cxi.yaml');
    await writeFile(file, 'HTTP_PROT: 7000\nLOG_LEVEL: debug\nhttp_host: 0.0.0.0\nWHATEVER_ELSE: 1\n');
    expect(problems({ CONFIG_FILE: file })).toEqual([
      `CONFIG_FILE: ${file} has an unknown setting "HTTP_PROT": did you mean HTTP_PORT?`,
      `CONFIG_FILE: ${file} has an unknown setting "http_host": did you mean HTTP_HOST?`,
      `CONFIG_FILE: ${file} has an unknown setting "WHATEVER_ELSE"`,
    ]);
    // The environment carries every variable a shell exports: those stay unchecked.
    expect(loadConfig({ HTTP_PROT: '7000', PATH: '/usr/bin' }).http.port).toBe(8080);
  });

  it('reads how commands are submitted: the participant chooses and its maximum deduplication by default', () => {
    expect(loadConfig({}).submission).toEqual({ synchronizerId: undefined, deduplicationSeconds: undefined });
    const c = loadConfig({ ...realLedger, LEDGER_SYNCHRONIZER_ID: 'global-domain::1220aa', LEDGER_DEDUPLICATION_SECONDS: '30' });
    expect(c.submission).toEqual({ synchronizerId: 'global-domain::1220aa', deduplicationSeconds: 30 });
    expect(problems({ LEDGER_DEDUPLICATION_SECONDS: '0' })).toEqual(['LEDGER_DEDUPLICATION_SECONDS: must be at least 1 second']);
    expect(problems({ LEDGER_DEDUPLICATION_SECONDS: '1.5' })).toEqual(['LEDGER_DEDUPLICATION_SECONDS: must be a whole number of seconds']);
  });

  describe('registry credentials', () => {
    const credentials = {
      'scan-proxy': {
        tokenUrl: 'https://auth.example.com/oauth/token',
        clientId: 'cxi-registry',
        clientSecret: 'registry-client-secret-that-must-not-leak',
        audience: 'https://validator.example.com/api',
        registryUrls: ['https://validator.example.com/api/validator/v0/scan-proxy'],
      },
      acme: { token: 'acme-static-token-that-must-not-leak' },
    };

    it('reads named static and OAuth2 credentials, and the URLs the Ledger API token may go to', () => {
      const c = loadConfig({
        REGISTRY_CREDENTIALS: JSON.stringify(credentials),
        REGISTRY_LEDGER_AUTH_URLS: '["https://validator.example.com/api/validator/v0/scan-proxy"]',
      });
      expect(c.registryAuth).toEqual({
        credentials: {
          'scan-proxy': {
            auth: {
              kind: 'oauth2',
              tokenUrl: 'https://auth.example.com/oauth/token',
              clientId: 'cxi-registry',
              clientSecret: credentials['scan-proxy'].clientSecret,
              audience: 'https://validator.example.com/api',
              scope: undefined,
            },
            registryUrls: ['https://validator.example.com/api/validator/v0/scan-proxy'],
          },
          acme: { auth: { kind: 'static', token: credentials.acme.token }, registryUrls: undefined },
        },
        ledgerAuthUrls: ['https://validator.example.com/api/validator/v0/scan-proxy'],
      });
      expect(loadConfig({}).registryAuth).toEqual({ credentials: {}, ledgerAuthUrls: undefined });
    });

    it('reads them from a config file as data', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'cxi-config-'));
      const file = join(dir, 'cxi.yaml');
      await writeFile(
        file,
        `REGISTRY_CREDENTIALS:\n  acme:\n    token: ${credentials.acme.token}\n    registryUrls: [https://registry.acme.example]\n`,
      );
      expect(loadConfig({ CONFIG_FILE: file }).registryAuth.credentials).toEqual({
        acme: { auth: { kind: 'static', token: credentials.acme.token }, registryUrls: ['https://registry.acme.example'] },
      });
    });

    it('names the setting, the credential and the field of each problem, never a value', () => {
      const bad = (v: unknown) => problems({ REGISTRY_CREDENTIALS: typeof v === 'string' ? v : JSON.stringify(v) });
      expect(bad('{not json')).toEqual([expect.stringMatching(/^REGISTRY_CREDENTIALS: must be a JSON object of credentials by name/)]);
      expect(bad([credentials.acme])).toEqual([expect.stringMatching(/^REGISTRY_CREDENTIALS: must be a JSON object/)]);
      expect(bad({ 'bad name': credentials.acme })).toEqual([
        expect.stringMatching(/^REGISTRY_CREDENTIALS\.bad name: credential names are/),
      ]);
      expect(bad({ a: { ...credentials['scan-proxy'], token: 'both-kinds-secret' } })).toEqual([
        expect.stringMatching(/^REGISTRY_CREDENTIALS\.a: give either token .* or tokenUrl/),
      ]);
      expect(bad({ a: {} })).toEqual([expect.stringMatching(/^REGISTRY_CREDENTIALS\.a: give either/)]);
      const { clientSecret: _s, ...noSecret } = credentials['scan-proxy'];
      expect(bad({ a: noSecret })).toEqual([expect.stringMatching(/^REGISTRY_CREDENTIALS\.a\.clientSecret: required with tokenUrl/)]);
      expect(bad({ a: { token: 'static-secret', audience: 'x' } })).toEqual([
        expect.stringMatching(/^REGISTRY_CREDENTIALS\.a\.audience: only with tokenUrl/),
      ]);
      expect(bad({ a: { token: 'static-secret', clientSecert: 'typo-secret' } })).toEqual([
        expect.stringMatching(/^REGISTRY_CREDENTIALS\.a: Unrecognized key: "clientSecert"/),
      ]);
      expect(bad({ a: { ...credentials['scan-proxy'], tokenUrl: 'not a url url-secret' } })).toEqual([
        expect.stringMatching(/^REGISTRY_CREDENTIALS\.a\.tokenUrl: must be an absolute URL/),
      ]);
      expect(bad({ a: { token: 'static-secret', registryUrls: [] } })).toEqual([
        expect.stringMatching(/^REGISTRY_CREDENTIALS\.a\.registryUrls: list at least one URL/),
      ]);
      expect(problems({ REGISTRY_LEDGER_AUTH_URLS: 'https://validator.example.com' })).toEqual([
        expect.stringMatching(/^REGISTRY_LEDGER_AUTH_URLS: must be a JSON list of URLs/),
      ]);
      expect(problems({ REGISTRY_LEDGER_AUTH_URLS: '["nope"]' })).toEqual([
        expect.stringMatching(/^REGISTRY_LEDGER_AUTH_URLS\.0: must be an absolute URL/),
      ]);
      const all = [
        ...bad({ a: { ...credentials['scan-proxy'], token: 'both-kinds-secret' } }),
        ...bad({ a: { token: 'static-secret', clientSecert: 'typo-secret' } }),
        ...bad({ a: { ...credentials['scan-proxy'], tokenUrl: 'not a url url-secret' } }),
      ].join('\n');
      for (const secret of ['both-kinds-secret', 'static-secret', 'typo-secret', 'url-secret', credentials['scan-proxy'].clientSecret])
        expect(all).not.toContain(secret);
    });

    it('describes them by name and kind only', () => {
      const text = JSON.stringify(describeConfig(loadConfig({ REGISTRY_CREDENTIALS: JSON.stringify(credentials) })));
      expect(text).toContain('scan-proxy');
      expect(text).toContain('oauth2');
      expect(text).not.toContain(credentials['scan-proxy'].clientSecret);
      expect(text).not.toContain(credentials.acme.token);
    });
  });

  describe('the treasury key in an HSM (TREASURY_SIGNER=pkcs11)', () => {
    const { TREASURY_KEY_FILE: _file, ...noKeyFile } = realLedger;
    const hsm = {
      ...noKeyFile,
      TREASURY_SIGNER: 'pkcs11',
      TREASURY_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so',
      TREASURY_PKCS11_TOKEN_LABEL: 'exchange',
      TREASURY_PKCS11_KEY_LABEL: 'treasury',
      TREASURY_PKCS11_KEY_ID: '01AB',
      TREASURY_PKCS11_PIN: 'hsm-pin-123456',
    };

    it('reads the module, token, key and PIN source; no key file', () => {
      const ledger = loadConfig(hsm).ledger!;
      expect(ledger.treasuryKeyFile).toBeUndefined();
      expect(ledger.treasuryPkcs11).toEqual({
        modulePath: '/usr/lib/softhsm/libsofthsm2.so',
        token: { label: 'exchange' },
        key: { label: 'treasury', id: '01ab' },
        pin: { value: 'hsm-pin-123456' },
        sessions: 4,
        signTimeoutMs: 10_000,
      });
      const { TREASURY_PKCS11_PIN: _pin, TREASURY_PKCS11_TOKEN_LABEL: _label, ...rest } = hsm;
      expect(
        loadConfig({ ...rest, TREASURY_PKCS11_SLOT: '7', TREASURY_PKCS11_PIN_FILE: '/run/secrets/hsm-pin' }).ledger?.treasuryPkcs11,
      ).toMatchObject({ token: { slot: 7 }, pin: { file: '/run/secrets/hsm-pin' } });
    });

    it('names what is missing or contradictory', () => {
      const { TREASURY_PKCS11_MODULE: _m, TREASURY_PKCS11_KEY_LABEL: _l, TREASURY_PKCS11_KEY_ID: _i, ...partial } = hsm;
      expect(problems({ ...partial, TREASURY_PKCS11_SLOT: '1', TREASURY_PKCS11_PIN_FILE: '/p', TREASURY_KEY_FILE: '/k' })).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^TREASURY_KEY_FILE: is not used with TREASURY_SIGNER=pkcs11/),
          expect.stringMatching(/^TREASURY_PKCS11_MODULE: required with TREASURY_SIGNER=pkcs11/),
          expect.stringMatching(/^TREASURY_PKCS11_TOKEN_LABEL: .*either TREASURY_PKCS11_TOKEN_LABEL or TREASURY_PKCS11_SLOT/),
          expect.stringMatching(/^TREASURY_PKCS11_KEY_LABEL: .*TREASURY_PKCS11_KEY_LABEL or TREASURY_PKCS11_KEY_ID/),
          expect.stringMatching(/^TREASURY_PKCS11_PIN_FILE: .*either TREASURY_PKCS11_PIN_FILE \(preferred\) or TREASURY_PKCS11_PIN/),
        ]),
      );
      expect(problems({ ...realLedger, TREASURY_PKCS11_PIN: 'x' })).toEqual([
        'TREASURY_PKCS11_PIN: is used only with TREASURY_SIGNER=pkcs11',
      ]);
      expect(problems({ ...hsm, TREASURY_PKCS11_KEY_ID: '1g' })).toEqual([
        expect.stringMatching(/^TREASURY_PKCS11_KEY_ID: must be the key object's CKA_ID in hex/),
      ]);
      expect(problems({ TREASURY_SIGNER: 'pkcs11' })).toEqual(
        expect.arrayContaining([expect.stringMatching(/^TREASURY_SIGNER: pkcs11 needs LEDGER_API_URL/)]),
      );
    });

    it('never shows the PIN: not in errors, not in the start-up description', () => {
      const pin = hsm.TREASURY_PKCS11_PIN;
      expect(problems({ ...hsm, TREASURY_PKCS11_SESSIONS: '0' }).join('\n')).not.toContain(pin);
      const text = JSON.stringify(describeConfig(loadConfig(hsm)));
      expect(text).not.toContain(pin);
      expect(text).toContain('"signer":"pkcs11"');
      expect(text).toContain('from TREASURY_PKCS11_PIN');
    });

    it('the PKCS#11 settings alone, for generating the key before a ledger is configured', () => {
      expect(
        loadPkcs11Config({
          TREASURY_SIGNER: 'pkcs11',
          TREASURY_PKCS11_MODULE: '/lib.so',
          TREASURY_PKCS11_SLOT: '0',
          TREASURY_PKCS11_KEY_LABEL: 'k',
          TREASURY_PKCS11_PIN_FILE: '/p',
        }),
      ).toMatchObject({ token: { slot: 0 }, key: { label: 'k' } });
      expect(() => loadPkcs11Config({ TREASURY_PKCS11_MODULE: '/lib.so' })).toThrow(/TREASURY_SIGNER: must be pkcs11/);
    });
  });

  it("admin credentials for cxi treasury onboard: a static token, or OAuth2 at the daemon's token URL", () => {
    expect(loadConfig({ ...realLedger, LEDGER_ADMIN_TOKEN: 'admin-jwt' }).ledgerAdminAuth).toEqual({ kind: 'static', token: 'admin-jwt' });
    expect(loadConfig(realLedger).ledgerAdminAuth).toBeUndefined();
    expect(problems({ ...realLedger, LEDGER_ADMIN_OAUTH_CLIENT_ID: 'admin' })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^LEDGER_ADMIN_OAUTH_CLIENT_SECRET: required/),
        expect.stringMatching(/^LEDGER_OAUTH_TOKEN_URL: required for OAuth2 admin credentials/),
      ]),
    );
  });

  it('treats empty environment variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', LEDGER_API_URL: '' }).ledger).toBeUndefined();
  });
});

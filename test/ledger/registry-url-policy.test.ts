import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerApiError } from '../../src/ledger/http.js';
import { RegistryClient } from '../../src/ledger/registry-client.js';
import {
  createRegistryUrlPolicy,
  RegistryUrlRefusedError,
  type HostResolver,
  type RegistryUrlPolicyConfig,
  type ResolvedAddress,
} from '../../src/ledger/registry-url-policy.js';

/** Names resolve from this table only; anything else does not exist. */
function resolver(table: Record<string, string[] | (() => string[]) | { code: string }>): HostResolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (host: string): Promise<ResolvedAddress[]> => {
    asked.push(host);
    const entry = table[host];
    if (entry === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    if ('code' in entry) throw Object.assign(new Error(`getaddrinfo ${entry.code} ${host}`), { code: entry.code });
    const addresses = typeof entry === 'function' ? entry() : entry;
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { asked });
}

const STRICT: RegistryUrlPolicyConfig = { allowHttp: false, allowHosts: [] };
const policy = (config: Partial<RegistryUrlPolicyConfig> = {}, o: { exempt?: string[]; resolve?: HostResolver } = {}) =>
  createRegistryUrlPolicy({
    config: { ...STRICT, ...config },
    resolve: o.resolve ?? resolver({}),
    ...(o.exempt ? { exempt: o.exempt } : {}),
  });
const problemOf = (p: ReturnType<typeof policy>, url: string) => p.problem(url)?.message;

describe('registry URL policy: the URL itself', () => {
  it('https only, unless http is allowed', () => {
    expect(problemOf(policy(), 'https://registry.acme.com/api')).toBeUndefined();
    expect(problemOf(policy(), 'http://registry.acme.com/api')).toMatch(/must use https \(REGISTRY_ALLOW_HTTP=true allows http/);
    expect(problemOf(policy({ allowHttp: true }), 'http://registry.acme.com/api')).toBeUndefined();
    expect(problemOf(policy({ allowHttp: true }), 'ftp://registry.acme.com/api')).toMatch(/must use https/);
    expect(problemOf(policy(), 'not a url')).toMatch(/must not contain whitespace/);
    expect(problemOf(policy(), '/registry')).toMatch(/must be an absolute URL/);
  });

  it('no credentials, query or fragment: judged on the raw string, where a bare "#" or "?" parses to nothing', () => {
    const p = policy();
    for (const url of [
      'https://user:secret@registry.acme.com',
      'https://user@registry.acme.com',
      'https://@registry.acme.com',
      'https://:pw@registry.acme.com/x',
    ]) {
      expect(problemOf(p, url), url).toMatch(/must not carry credentials/);
    }
    for (const url of ['https://registry.acme.com/api#', 'https://registry.acme.com/api#/../admin', 'https://registry.acme.com#x'])
      expect(problemOf(p, url), url).toMatch(/fragment/);
    for (const url of ['https://registry.acme.com/api?', 'https://registry.acme.com/api?next=', 'https://registry.acme.com?a=1'])
      expect(problemOf(p, url), url).toMatch(/query/);
    // Characters the URL parser would drop or trim silently.
    for (const url of ['https://registry.acme.com/a\tb', 'https://regis\ntry.acme.com', ' https://registry.acme.com'])
      expect(problemOf(p, url), JSON.stringify(url)).toMatch(/whitespace/);
  });

  it('refuses loopback, unspecified, link-local, private, CGNAT, metadata, multicast and reserved addresses, in every form the URL parser reads', () => {
    const p = policy();
    const refused: [string, RegExp][] = [
      ['https://127.0.0.1/', /127\.0\.0\.1 is a loopback address/],
      ['https://127.8.9.10:8443/', /loopback/],
      ['https://2130706433/', /127\.0\.0\.1 is a loopback address/], // decimal
      ['https://0x7f.1/', /127\.0\.0\.1 is a loopback/], // hex
      ['https://0x7f000001/', /127\.0\.0\.1 is a loopback/],
      ['https://0177.0.0.1/', /127\.0\.0\.1 is a loopback/], // octal
      ['https://127.1/', /127\.0\.0\.1 is a loopback/], // short form
      ['https://[::1]/', /::1 is a loopback/],
      ['https://[::ffff:127.0.0.1]/', /127\.0\.0\.1 is a loopback/], // IPv4-mapped
      ['https://[::ffff:7f00:1]/', /127\.0\.0\.1 is a loopback/],
      ['https://[64:ff9b::a00:1]/', /10\.0\.0\.1 is a private/], // NAT64 of 10.0.0.1
      ['https://0/', /0\.0\.0\.0 is an unspecified/],
      ['https://0.0.0.0:8080/', /unspecified/],
      ['https://[::]/', /unspecified/],
      ['https://169.254.169.254/latest/meta-data', /169\.254\.169\.254 is a cloud metadata address/],
      ['https://0xa9fea9fe/', /169\.254\.169\.254 is a cloud metadata/],
      ['https://[fd00:ec2::254]/', /cloud metadata/],
      ['https://100.100.100.200/', /cloud metadata/],
      ['https://169.254.1.1/', /link-local/],
      ['https://[fe80::1]/', /link-local/],
      ['https://10.1.2.3/', /private/],
      ['https://172.16.0.1/', /private/],
      ['https://172.31.255.255/', /private/],
      ['https://192.168.1.1/', /private/],
      ['https://[fc00::1]/', /private/],
      ['https://[fd12:3456::1]/', /private/],
      ['https://100.64.0.1/', /carrier-grade NAT/],
      ['https://224.0.0.1/', /multicast/],
      ['https://[ff02::1]/', /multicast/],
      ['https://255.255.255.255/', /reserved/],
      ['https://240.0.0.1/', /reserved/],
      ['https://192.0.2.10/', /reserved/],
      ['https://[2001:db8::1]/', /reserved/],
      ['https://localhost:5000/', /localhost is a loopback host name/],
      ['https://registry.localhost/', /loopback host name/],
      ['https://metadata.google.internal/computeMetadata/v1/', /cloud metadata host/],
    ];
    for (const [url, reason] of refused) {
      const e = p.problem(url);
      expect(e, url).toBeInstanceOf(RegistryUrlRefusedError);
      expect(e?.message, url).toMatch(reason);
      expect(e?.message, url).toMatch(/REGISTRY_ALLOW_HOSTS may name it/);
    }
    for (const url of ['https://8.8.8.8/', 'https://172.32.0.1/', 'https://[2606:4700::1111]/', 'https://registry.acme.com:8443/api'])
      expect(problemOf(p, url), url).toBeUndefined();
  });

  it('REGISTRY_ALLOW_HOSTS lets named hosts, addresses and ranges through; a metadata address only when named exactly', () => {
    const p = policy({ allowHosts: ['10.20.0.0/16', '127.0.0.1', 'registry.internal', '*.corp.example', '169.254.0.0/16'] });
    expect(problemOf(p, 'https://10.20.3.4/')).toBeUndefined();
    expect(problemOf(p, 'https://10.21.0.1/')).toMatch(/private/);
    expect(problemOf(p, 'https://127.0.0.1:5012/')).toBeUndefined();
    expect(problemOf(p, 'https://2130706433:5012/')).toBeUndefined(); // the same address
    expect(problemOf(p, 'https://127.0.0.2/')).toMatch(/loopback/);
    expect(problemOf(p, 'https://169.254.3.4/')).toBeUndefined();
    expect(problemOf(p, 'https://169.254.169.254/')).toMatch(/cloud metadata/);
    expect(problemOf(policy({ allowHosts: ['169.254.169.254'] }), 'https://169.254.169.254/')).toBeUndefined();
    expect(problemOf(policy({ allowHosts: ['localhost'] }), 'https://localhost/')).toBeUndefined();
    expect(() => policy({ allowHosts: ['10.0.0.0/33'] })).toThrow(/REGISTRY_ALLOW_HOSTS: "10.0.0.0\/33" must be a host name/);
  });

  it("the embedded double's own registries are exempt, nothing else on their host", () => {
    const p = policy({}, { exempt: ['http://127.0.0.1:41234/registries/amulet'] });
    expect(problemOf(p, 'http://127.0.0.1:41234/registries/amulet')).toBeUndefined();
    expect(problemOf(p, 'http://127.0.0.1:41234/registries/amulet/')).toBeUndefined();
    expect(problemOf(p, 'http://127.0.0.1:41235/registries/amulet')).toMatch(/https/);
    expect(problemOf(p, 'https://127.0.0.1:41234/registries/amulet')).toMatch(/loopback/);
    expect(problemOf(p, 'http://127.0.0.1:41234/registries/amulet?x')).toMatch(/query/);
  });
});

describe('registry URL policy: the addresses a name resolves to', () => {
  it('resolves the host and refuses it when any address is denied; allowed names are not resolved at all', async () => {
    const dns = resolver({
      'registry.acme.com': ['93.184.216.34', '2606:2800:220:1::1'],
      'internal.acme.com': ['10.0.0.5'],
      'mixed.acme.com': ['93.184.216.34', '127.0.0.1'],
      'mapped.acme.com': ['::ffff:169.254.169.254'],
      'flaky.acme.com': { code: 'EAI_AGAIN' },
    });
    const p = policy({ allowHosts: ['registry.internal'] }, { resolve: dns });
    await expect(p.check('https://registry.acme.com/api')).resolves.toBeUndefined();
    await expect(p.check('https://internal.acme.com/api')).rejects.toMatchObject({
      message: expect.stringMatching(/internal\.acme\.com resolves to 10\.0\.0\.5 is a private address/),
      retryable: false,
    });
    await expect(p.check('https://mixed.acme.com/')).rejects.toThrow(/127\.0\.0\.1 is a loopback/);
    await expect(p.check('https://mapped.acme.com/')).rejects.toThrow(/169\.254\.169\.254 is a cloud metadata/);
    await expect(p.check('https://nowhere.acme.com/')).rejects.toMatchObject({
      message: expect.stringMatching(/cannot resolve nowhere\.acme\.com \(ENOTFOUND\)/),
      retryable: false,
    });
    await expect(p.check('https://flaky.acme.com/')).rejects.toMatchObject({ retryable: true });
    // Named on the allow list: whatever it resolves to, not asked.
    await expect(p.check('https://registry.internal/api')).resolves.toBeUndefined();
    expect(dns.asked).not.toContain('registry.internal');
    // Address literals need no resolution either.
    await p.check('https://93.184.216.34/');
    expect(dns.asked).not.toContain('93.184.216.34');
  });
});

describe('registry URL policy: at connection time (node:http)', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A registry on 127.0.0.1 answering its metadata, counting what reaches it. */
  async function localRegistry(): Promise<{ port: number; hits: () => number }> {
    let hits = 0;
    server = http.createServer((_req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ adminId: 'acme::1220', supportedApis: {} }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, hits: () => hits };
  }

  it('a name that resolved to a public address when configured and to loopback when connecting (DNS rebinding) is refused, never reached', async () => {
    const registry = await localRegistry();
    let lookups = 0;
    const p = policy(
      { allowHttp: true },
      { resolve: resolver({ 'rebind.acme.com': () => (++lookups === 1 ? ['93.184.216.34'] : ['127.0.0.1']) }) },
    );
    const url = `http://rebind.acme.com:${registry.port}`;
    await p.check(url); // the configuration-time check passes
    const client = new RegistryClient({ baseUrl: url, policy: p, timeoutMs: 5_000 });
    const e = await client.info().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LedgerApiError);
    expect(e).toMatchObject({
      code: 'REGISTRY_URL_REFUSED',
      retryable: false,
      message: expect.stringMatching(/rebind\.acme\.com resolves to 127\.0\.0\.1 is a loopback address/),
    });
    expect(registry.hits()).toBe(0);
  });

  it('connects when the address it resolves to is allowed', async () => {
    const registry = await localRegistry();
    const p = policy({ allowHttp: true, allowHosts: ['127.0.0.1'] }, { resolve: resolver({ 'registry.acme.com': ['127.0.0.1'] }) });
    const client = new RegistryClient({ baseUrl: `http://registry.acme.com:${registry.port}`, policy: p, timeoutMs: 5_000 });
    expect(await client.info()).toMatchObject({ adminId: 'acme::1220' });
    expect(registry.hits()).toBe(1);
  });

  it('a stored URL the policy refuses fails every call before anything is sent', async () => {
    const registry = await localRegistry();
    const client = new RegistryClient({
      baseUrl: `http://127.0.0.1:${registry.port}`,
      policy: policy({ allowHttp: true }),
      timeoutMs: 5_000,
    });
    await expect(client.info()).rejects.toMatchObject({
      code: 'REGISTRY_URL_REFUSED',
      retryable: false,
      message: expect.stringMatching(/127\.0\.0\.1 is a loopback address/),
    });
    expect(registry.hits()).toBe(0);
  });
});

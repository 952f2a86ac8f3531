import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { isRegistryUrlWithin } from './registry-auth.js';

/**
 * Which registry URLs the daemon may call. Whoever holds an admin API token chooses an instrument's
 * registry URL, and the daemon then sends requests there from inside the exchange's network: a URL
 * must not turn it into a proxy to the cloud metadata service, the database, or anything else only
 * reachable from where it runs. So a registry URL is https (http only with REGISTRY_ALLOW_HTTP),
 * carries no credentials, query or fragment (the client appends paths to it: a `?` or `#` would
 * let the URL's owner decide what is actually requested), and its host resolves to public
 * addresses only, unless REGISTRY_ALLOW_HOSTS names it. The addresses are checked when the URL is
 * configured and again at every connection (a `lookup` for node:http), so a name that resolves
 * somewhere else later (DNS rebinding) is refused too.
 */

export interface RegistryUrlPolicyConfig {
  /** http:// registries are accepted (development, the ledger double). */
  allowHttp: boolean;
  /** Host names, `*.domain` patterns, IP addresses or CIDR ranges registries may be at although the deny list covers them. */
  allowHosts: readonly string[];
}

/** https only, public addresses only. */
export const STRICT_REGISTRY_URLS: RegistryUrlPolicyConfig = { allowHttp: false, allowHosts: [] };

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a host name resolves to (default: the system resolver, as node:http uses it). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface RegistryUrlPolicyOptions {
  config: RegistryUrlPolicyConfig;
  /**
   * Registry base URLs (and paths below them) exempt from every rule but the syntax ones: the
   * embedded ledger double's registries (http://127.0.0.1:<port>/…), started by this process.
   */
  exempt?: readonly string[];
  /** Tests: name resolution without the network. */
  resolve?: HostResolver;
}

/** A registry URL the policy refuses. */
export class RegistryUrlRefusedError extends Error {
  override readonly name = 'RegistryUrlRefusedError';
  constructor(
    message: string,
    /** Only when the host's name could not be resolved for a reason that may pass (a DNS outage). */
    readonly retryable = false,
  ) {
    super(message);
  }
}

export interface RegistryUrlPolicy {
  /** The rules that need no name resolution: scheme, credentials, query, fragment, address literals, local names. */
  problem(url: string): RegistryUrlRefusedError | undefined;
  /** problem(), then every address the host resolves to now; throws RegistryUrlRefusedError. */
  check(url: string): Promise<void>;
  /**
   * A node:http `lookup` for connections to `url` that refuses a denied address when it connects
   * (undefined when the host needs no check: exempt, allowed by name, or an address literal, which
   * node connects to without a lookup and problem() has judged).
   */
  lookupFor(url: string): LookupFunction | undefined;
}

// ---------------------------------------------------------------- addresses

/** Address ranges no registry is at: each a reason and its ranges (IANA special-purpose registries, RFC 6890). */
const DENIED_RANGES: readonly (readonly [reason: string, ranges: readonly string[]])[] = [
  // First: the instance metadata services of the clouds (AWS/GCP/Azure/OCI, AWS over IPv6, Alibaba).
  ['a cloud metadata address', ['169.254.169.254/32', 'fd00:ec2::254/128', '100.100.100.200/32']],
  ['a loopback address', ['127.0.0.0/8', '::1/128']],
  ['an unspecified ("this network") address', ['0.0.0.0/8', '::/128']],
  ['a link-local address', ['169.254.0.0/16', 'fe80::/10']],
  ['a private address', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fec0::/10']],
  ['a shared (carrier-grade NAT) address', ['100.64.0.0/10']],
  ['a multicast address', ['224.0.0.0/4', 'ff00::/8']],
  [
    'a reserved or special-purpose address',
    [
      '192.0.0.0/24',
      '192.0.2.0/24',
      '192.88.99.0/24',
      '198.18.0.0/15',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '240.0.0.0/4',
      '::/96', // IPv4-compatible (deprecated)
      '100::/64',
      '2001::/23',
      '2001:db8::/32',
      '2002::/16', // 6to4: any IPv4 address behind it
      '64:ff9b:1::/48', // local-use NAT64
    ],
  ],
];

/** Host names that are local or metadata whatever they resolve to (RFC 6761 `localhost`; GCP's metadata server). */
const DENIED_NAMES: readonly (readonly [reason: string, test: (host: string) => boolean])[] = [
  ['a cloud metadata host', (h) => h === 'metadata.google.internal' || h === 'metadata.goog' || h === 'metadata'],
  ['a loopback host name', (h) => h === 'localhost' || h.endsWith('.localhost')],
];

const familyOf = (ip: string): 'ipv4' | 'ipv6' => (isIP(ip) === 4 ? 'ipv4' : 'ipv6');

function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/') as [string, string | undefined];
    if (bits === undefined) list.addAddress(net, familyOf(net));
    else list.addSubnet(net, Number(bits), familyOf(net));
  }
  return list;
}

const DENIED = DENIED_RANGES.map(([reason, ranges]) => ({ reason, list: blockListOf(ranges) }));
const METADATA = DENIED[0]!.list;

/** The eight 16-bit groups of a canonical IPv6 address (as the URL parser writes it: no dotted part). */
function ipv6Groups(ip: string): number[] {
  const [head = '', tail] = ip.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  if (tail === undefined) return h;
  const t = parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/**
 * An IP address in one canonical form (lowercase, compressed; zone dropped), with an IPv4 address
 * embedded in IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) form taken out: judged as
 * the IPv4 address it reaches.
 */
export function canonicalAddress(ip: string): string {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIP(bare) !== 6) return bare;
  const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const g = ipv6Groups(canonical);
  const mapped = g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0);
  if (mapped || nat64) {
    const [hi = 0, lo = 0] = g.slice(6);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return canonical;
}

/** Why the address is denied (e.g. "a loopback address"), or undefined for a public one. */
export function deniedAddressReason(ip: string): string | undefined {
  const a = canonicalAddress(ip);
  const family = familyOf(a);
  return DENIED.find((d) => d.list.check(a, family))?.reason;
}

// ---------------------------------------------------------------- the allow list

type AllowEntry =
  { kind: 'name'; name: string } | { kind: 'suffix'; suffix: string } | { kind: 'address'; cidr: string; exact: string | undefined };

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

const normalName = (host: string) => host.toLowerCase().replace(/\.$/, '');

/** One REGISTRY_ALLOW_HOSTS entry, or why it is not one (for the settings' error message). */
export function parseAllowHost(entry: string): AllowEntry | string {
  const invalid =
    'must be a host name, *.domain, an IP address or a CIDR range (e.g. registry.internal, *.corp.example, 10.20.0.5, 10.20.0.0/16)';
  const [addr = '', bits, extra] = entry.split('/');
  const ip = addr.replace(/^\[|\]$/g, '');
  if (bits !== undefined) {
    const family = isIP(ip);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(bits) || Number(bits) > max) return invalid;
    return { kind: 'address', cidr: `${ip}/${Number(bits)}`, exact: Number(bits) === max ? canonicalAddress(ip) : undefined };
  }
  if (isIP(ip) !== 0) return { kind: 'address', cidr: ip, exact: canonicalAddress(ip) };
  const name = normalName(entry);
  if (name.startsWith('*.')) return HOST_NAME.test(name.slice(2)) ? { kind: 'suffix', suffix: name.slice(1) } : invalid;
  return HOST_NAME.test(name) ? { kind: 'name', name } : invalid;
}

/**
 * The URL with any user:password replaced by `***`: for what is shown of a URL stored before the
 * policy refused credentials (API answers, events, error messages). Anything unparseable as it is.
 */
export function withoutCredentials(url: string): string {
  const at = /^([a-z][a-z0-9+.-]*:\/\/)([^/\\?#]*@)(.*)$/is.exec(url);
  return at ? `${at[1]}***@${at[3]}` : url;
}

// ---------------------------------------------------------------- the policy

const defaultResolver: HostResolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** A name that does not exist is an answer; anything else (a timeout, SERVFAIL) may pass. */
const NOT_FOUND_CODES = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA']);

export function createRegistryUrlPolicy(o: RegistryUrlPolicyOptions): RegistryUrlPolicy {
  const resolve = o.resolve ?? defaultResolver;
  const exempt = o.exempt ?? [];
  const entries = o.config.allowHosts.map((h) => {
    const e = parseAllowHost(h);
    if (typeof e === 'string') throw new Error(`REGISTRY_ALLOW_HOSTS: "${h}" ${e}`);
    return e;
  });
  const names = new Set(entries.flatMap((e) => (e.kind === 'name' ? [e.name] : [])));
  const suffixes = entries.flatMap((e) => (e.kind === 'suffix' ? [e.suffix] : []));
  const allowedAddresses = blockListOf(entries.flatMap((e) => (e.kind === 'address' ? [e.cidr] : [])));
  const exactAddresses = new Set(entries.flatMap((e) => (e.kind === 'address' && e.exact ? [e.exact] : [])));

  const nameAllowed = (host: string) => names.has(host) || suffixes.some((s) => host.endsWith(s));
  const isExempt = (url: string) => exempt.some((e) => isRegistryUrlWithin(url, e));
  const relax = 'REGISTRY_ALLOW_HOSTS may name it';

  /** Why a resolved (or literal) address may not be called; undefined when it may. */
  const addressProblem = (ip: string): string | undefined => {
    const a = canonicalAddress(ip);
    const reason = deniedAddressReason(a);
    if (reason === undefined) return undefined;
    // A metadata address only when named exactly: a private range on the allow list does not let it through.
    const family = familyOf(a);
    const allowed = METADATA.check(a, family) ? exactAddresses.has(a) : allowedAddresses.check(a, family);
    return allowed ? undefined : `${a} is ${reason}`;
  };

  /** The host as the URL parser sees it (numeric, octal and hex IPv4 forms normalised), or the refusal. */
  const parse = (raw: string): { host: string; literal: boolean; https: boolean } | RegistryUrlRefusedError => {
    const refuse = (why: string) => new RegistryUrlRefusedError(`registry URL ${why}`);
    // The parser silently drops tabs and newlines and trims spaces: refuse them rather than guess.
    if ([...raw].some((ch) => /\s/.test(ch) || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f))
      return refuse('must not contain whitespace or control characters');
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return refuse('must be an absolute URL');
    }
    // The raw string: a bare trailing "#" or "?" parses to an empty hash or search.
    if (raw.includes('#')) return refuse('must not have a fragment (#)');
    if (raw.includes('?')) return refuse('must not have a query (?)');
    const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/\\]*)/i.exec(raw)?.[1] ?? '';
    if (u.username !== '' || u.password !== '' || authority.includes('@'))
      return refuse("must not carry credentials (user:password@): set the instrument's registryAuth");
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return refuse('must use https');
    if (u.hostname === '') return refuse('must name a host');
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : normalName(u.hostname);
    return { host, literal: isIP(host) !== 0, https: u.protocol === 'https:' };
  };

  const problem = (url: string): RegistryUrlRefusedError | undefined => {
    const p = parse(url);
    if (p instanceof RegistryUrlRefusedError) return p;
    if (isExempt(url)) return undefined;
    if (!p.https && !o.config.allowHttp)
      return new RegistryUrlRefusedError('registry URL must use https (REGISTRY_ALLOW_HTTP=true allows http, for development)');
    if (p.literal) {
      const why = addressProblem(p.host);
      return why === undefined
        ? undefined
        : new RegistryUrlRefusedError(`registry URL ${url}: ${why}: registries must be at public addresses (${relax})`);
    }
    if (nameAllowed(p.host)) return undefined;
    const denied = DENIED_NAMES.find(([, test]) => test(p.host));
    return denied ? new RegistryUrlRefusedError(`registry URL ${url}: ${p.host} is ${denied[0]} (${relax})`) : undefined;
  };

  /** The host's addresses, or the refusal: every one must be allowed (a name with one private address is refused). */
  const resolveChecked = async (host: string, url: string): Promise<ResolvedAddress[]> => {
    let addresses: ResolvedAddress[];
    try {
      addresses = await resolve(host);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      const notFound = NOT_FOUND_CODES.has(code);
      throw new RegistryUrlRefusedError(`registry URL ${url}: cannot resolve ${host}${code ? ` (${code})` : ''}`, !notFound);
    }
    if (addresses.length === 0) throw new RegistryUrlRefusedError(`registry URL ${url}: ${host} resolves to no address`);
    for (const a of addresses) {
      const why = addressProblem(a.address);
      if (why !== undefined)
        throw new RegistryUrlRefusedError(
          `registry URL ${url}: ${host} resolves to ${why}: registries must be at public addresses (${relax})`,
        );
    }
    return addresses;
  };

  const needsResolution = (url: string): string | undefined => {
    const p = parse(url);
    if (p instanceof RegistryUrlRefusedError || p.literal || isExempt(url) || nameAllowed(p.host)) return undefined;
    return p.host;
  };

  return {
    problem,
    async check(url) {
      const p = problem(url);
      if (p) throw p;
      const host = needsResolution(url);
      if (host !== undefined) await resolveChecked(host, url);
    },
    lookupFor(url) {
      if (needsResolution(url) === undefined) return undefined;
      const guarded = (
        hostname: string,
        options: LookupOptions,
        callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
      ) => {
        resolveChecked(hostname, url).then(
          (all) => {
            const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
            const usable = family === 4 || family === 6 ? all.filter((a) => a.family === family) : all;
            const first = usable[0];
            if (first === undefined)
              callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 0);
            else if (options.all) callback(null, usable);
            else callback(null, first.address, first.family);
          },
          (e: unknown) => callback(e as NodeJS.ErrnoException, '', 0),
        );
      };
      return guarded as LookupFunction;
    },
  };
}

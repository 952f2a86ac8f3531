import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseAllowHost, type RegistryUrlPolicyConfig } from './ledger/registry-url-policy.js';

/**
 * The daemon's whole configuration: one zod schema over environment variables, optionally merged
 * over a JSON or YAML file named by CONFIG_FILE (environment wins). Keys are the environment
 * variable names so that an error message names exactly what the operator must fix.
 */

const Port = z.coerce
  .number({ error: 'must be a port number (0-65535)' })
  .int('must be a port number (0-65535)')
  .min(0, 'must be a port number (0-65535)')
  .max(65535, 'must be a port number (0-65535)');
const Url = z.url({ message: 'must be an absolute URL' });
const Bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

export const ApiScope = z.enum(['read', 'write', 'admin']);
export type ApiScope = z.infer<typeof ApiScope>;

/**
 * A rough strength estimate: the length times log2 of the character classes used (lower, upper,
 * digits, other). A token from `openssl rand -base64 32` scores ~256; a word with digits appended
 * or a run of one character does not reach 128. Fewer than 10 distinct characters is refused
 * outright: such a string is a pattern, whatever its length.
 */
export function tokenStrengthBits(token: string): number {
  if (new Set(token).size < 10) return 0;
  const classes: [RegExp, number][] = [
    [/[a-z]/, 26],
    [/[A-Z]/, 26],
    [/[0-9]/, 10],
    [/[^a-zA-Z0-9]/, 33],
  ];
  const alphabet = classes.reduce((n, [re, size]) => (re.test(token) ? n + size : n), 0);
  return Math.floor(token.length * Math.log2(alphabet));
}

export const MIN_TOKEN_BITS = 128;

const ApiToken = z.object({
  name: z.string().min(1),
  token: z.string().refine((t) => tokenStrengthBits(t) >= MIN_TOKEN_BITS, {
    message: `is too weak: use at least ${MIN_TOKEN_BITS} bits of randomness, e.g. \`openssl rand -base64 32\``,
  }),
  scopes: z.array(ApiScope).min(1),
});
export type ApiToken = z.infer<typeof ApiToken>;

/** Settings that hold structure arrive as JSON text in the environment and as data in a config file. */
const jsonSetting = <S extends z.ZodType>(schema: S) =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v; // left as a string: the schema then reports a clear type error
    }
  }, schema);

const ApiTokens = jsonSetting(z.array(ApiToken));

/** Registry base URLs a token may be sent to: the URL itself or a path below it, same origin. */
const RegistryUrls = z.array(Url, { error: 'must be a JSON list of URLs' }).min(1, 'list at least one URL (or leave the setting out)');

/**
 * A registry credential: a static bearer token, or OAuth2 client credentials. One object shape so
 * that a misspelt key is reported by name (strict) instead of as a failed union.
 */
const RegistryCredential = z
  .object({
    token: z.string().min(1).optional(),
    tokenUrl: Url.optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    audience: z.string().min(1).optional(),
    scope: z.string().min(1).optional(),
    registryUrls: RegistryUrls.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.token === undefined) === (c.tokenUrl === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'give either token (a static bearer token) or tokenUrl, clientId and clientSecret (OAuth2 client credentials)',
      });
      return;
    }
    if (c.token !== undefined) {
      for (const k of ['clientId', 'clientSecret', 'audience', 'scope'] as const) {
        if (c[k] !== undefined)
          ctx.addIssue({ code: 'custom', path: [k], message: 'only with tokenUrl (OAuth2), not with a static token' });
      }
    } else {
      if (c.clientId === undefined) ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'required with tokenUrl' });
      if (c.clientSecret === undefined) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'required with tokenUrl' });
    }
  });

/** Credential names are what instruments store and the API shows: plain, short identifiers. */
export const REGISTRY_CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Hosts registries may be at although they are not public: names, `*.domain`, IP addresses, CIDR ranges. */
const RegistryAllowHosts = jsonSetting(
  z.array(
    z.string().superRefine((h, ctx) => {
      const parsed = parseAllowHost(h);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `"${h}" ${parsed}` });
    }),
    {
      error:
        'must be a JSON list of host names, *.domain patterns, IP addresses or CIDR ranges, e.g. ["registry.internal", "10.20.0.0/16"]',
    },
  ),
);

const RegistryCredentials = jsonSetting(
  z.record(z.string().regex(REGISTRY_CREDENTIAL_NAME), RegistryCredential, {
    error: (issue) =>
      issue.code === 'invalid_key'
        ? 'credential names are 1-64 letters, digits, ".", "_" or "-"'
        : 'must be a JSON object of credentials by name: {"<name>": {"token": …} or {"tokenUrl": …, "clientId": …, "clientSecret": …}}',
  }),
);

/** The HSM signer's settings (TREASURY_SIGNER=pkcs11). */
const PKCS11_FIELDS = {
  TREASURY_PKCS11_MODULE: z.string().min(1).optional(),
  TREASURY_PKCS11_TOKEN_LABEL: z.string().min(1).max(32, 'a PKCS#11 token label has at most 32 characters').optional(),
  TREASURY_PKCS11_SLOT: z.coerce
    .number({ error: 'must be a slot id (a whole number)' })
    .int('must be a slot id (a whole number)')
    .min(0, 'must be a slot id (a whole number)')
    .optional(),
  TREASURY_PKCS11_KEY_LABEL: z.string().min(1).optional(),
  TREASURY_PKCS11_KEY_ID: z
    .string()
    .regex(/^(?:[0-9a-fA-F]{2})+$/, "must be the key object's CKA_ID in hex (an even number of hex digits)")
    .transform((v) => v.toLowerCase())
    .optional(),
  TREASURY_PKCS11_PIN: z.string().min(1).optional(),
  TREASURY_PKCS11_PIN_FILE: z.string().min(1).optional(),
  TREASURY_PKCS11_SESSIONS: z.coerce.number().int().min(1).max(64).default(4),
  TREASURY_PKCS11_SIGN_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100, 'must be at least 100 ms')
    .max(600_000, 'must be at most 10 minutes')
    .default(10_000),
};

const PKCS11_SETTINGS = [
  'TREASURY_PKCS11_MODULE',
  'TREASURY_PKCS11_TOKEN_LABEL',
  'TREASURY_PKCS11_SLOT',
  'TREASURY_PKCS11_KEY_LABEL',
  'TREASURY_PKCS11_KEY_ID',
  'TREASURY_PKCS11_PIN',
  'TREASURY_PKCS11_PIN_FILE',
] as const;

type Pkcs11Settings = {
  TREASURY_SIGNER: 'file' | 'pkcs11';
  LEDGER_API_URL?: string | undefined;
  TREASURY_KEY_FILE?: string | undefined;
} & {
  [K in (typeof PKCS11_SETTINGS)[number]]?: string | number | undefined;
};

/** TREASURY_SIGNER=pkcs11 names one token, one key and one PIN source; the key-file mode takes none of them. */
function checkPkcs11Settings(c: Pkcs11Settings, ctx: z.RefinementCtx, needsLedger = true): void {
  const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
  if (c.TREASURY_SIGNER === 'file') {
    for (const k of PKCS11_SETTINGS) if (c[k] !== undefined) issue(k, 'is used only with TREASURY_SIGNER=pkcs11');
    return;
  }
  if (needsLedger && c.LEDGER_API_URL === undefined)
    issue('TREASURY_SIGNER', 'pkcs11 needs LEDGER_API_URL (the embedded ledger double keeps its own key file)');
  if (c.TREASURY_KEY_FILE !== undefined)
    issue('TREASURY_KEY_FILE', 'is not used with TREASURY_SIGNER=pkcs11: remove it, the key is in the HSM');
  if (c.TREASURY_PKCS11_MODULE === undefined)
    issue('TREASURY_PKCS11_MODULE', "required with TREASURY_SIGNER=pkcs11: the path of the HSM vendor's PKCS#11 library");
  if ((c.TREASURY_PKCS11_TOKEN_LABEL === undefined) === (c.TREASURY_PKCS11_SLOT === undefined)) {
    issue('TREASURY_PKCS11_TOKEN_LABEL', 'with TREASURY_SIGNER=pkcs11 give either TREASURY_PKCS11_TOKEN_LABEL or TREASURY_PKCS11_SLOT');
  }
  if (c.TREASURY_PKCS11_KEY_LABEL === undefined && c.TREASURY_PKCS11_KEY_ID === undefined) {
    issue('TREASURY_PKCS11_KEY_LABEL', 'with TREASURY_SIGNER=pkcs11 give TREASURY_PKCS11_KEY_LABEL or TREASURY_PKCS11_KEY_ID (or both)');
  }
  if ((c.TREASURY_PKCS11_PIN === undefined) === (c.TREASURY_PKCS11_PIN_FILE === undefined)) {
    issue(
      'TREASURY_PKCS11_PIN_FILE',
      'with TREASURY_SIGNER=pkcs11 give either TREASURY_PKCS11_PIN_FILE (preferred) or TREASURY_PKCS11_PIN',
    );
  }
}

const RawConfig = z
  .object({
    CONFIG_FILE: z.string().optional(),
    NODE_ENV: z.string().optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_PRETTY: Bool.optional(),

    DATABASE_URL: Url.optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
    DATA_DIR: z.string().min(1).default('./data'),

    LEDGER_API_URL: Url.optional(),
    LEDGER_USER_ID: z.string().min(1).optional(),
    LEDGER_TOKEN: z.string().min(1).optional(),
    LEDGER_OAUTH_TOKEN_URL: Url.optional(),
    LEDGER_OAUTH_CLIENT_ID: z.string().min(1).optional(),
    LEDGER_OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
    LEDGER_OAUTH_AUDIENCE: z.string().min(1).optional(),
    LEDGER_OAUTH_SCOPE: z.string().min(1).optional(),
    LEDGER_ADMIN_TOKEN: z.string().min(1).optional(),
    LEDGER_ADMIN_OAUTH_CLIENT_ID: z.string().min(1).optional(),
    LEDGER_ADMIN_OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
    LEDGER_HTTP_PAGE_SIZE: z.coerce.number().int().min(1).max(100_000).default(200),
    LEDGER_HTTP_MAX_PAGE_BYTES: z.coerce
      .number()
      .int()
      .min(1024, 'must be at least 1024 bytes')
      .max(1024 * 1024 * 1024, 'must be at most 1 GiB')
      .optional(),

    TREASURY_PARTY: z
      .string()
      .regex(/^[^:\s]+::[0-9a-f]{68}$/, 'must be a party id of the form <hint>::<1220 + 64 hex fingerprint>')
      .optional(),
    TREASURY_SIGNER: z
      .enum(['file', 'pkcs11'], { error: 'must be file (TREASURY_KEY_FILE) or pkcs11 (an HSM: TREASURY_PKCS11_*)' })
      .default('file'),
    TREASURY_KEY_FILE: z.string().min(1).optional(),
    TREASURY_KEY_FILE_ALLOW_READABLE: Bool.default(false),
    ...PKCS11_FIELDS,
    LEDGER_SYNCHRONIZER_ID: z.string().min(1).optional(),
    LEDGER_DEDUPLICATION_SECONDS: z.coerce.number().int('must be a whole number of seconds').min(1, 'must be at least 1 second').optional(),
    LEDGER_MAX_SUBMISSIONS_PER_SECOND: z.coerce
      .number({ error: 'must be a number of submissions per second' })
      .positive('must be above 0 (leave it out for no cap)')
      .max(10_000, 'must be at most 10000')
      .optional(),

    HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    HTTP_PORT: Port.default(8080),
    HTTP_AUTH_FAILURE_LIMIT: z.coerce.number().int().min(1).max(1_000_000).default(20),
    HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    API_TOKENS: ApiTokens.default([]),
    PROTECT_OPS_ENDPOINTS: Bool.default(false),
    /** Unset: /metrics is open on a loopback HTTP_HOST only, otherwise it needs a read-scoped token. */
    METRICS_PUBLIC: Bool.optional(),

    REGISTRY_CREDENTIALS: RegistryCredentials.default({}),
    REGISTRY_LEDGER_AUTH_URLS: jsonSetting(RegistryUrls).optional(),
    REGISTRY_ALLOW_HTTP: Bool.default(false),
    REGISTRY_ALLOW_HOSTS: RegistryAllowHosts.default([]),

    INSPECT: Bool.default(false),
    INSPECT_HOST: z.string().min(1).optional(),
    INSPECT_PORT: Port.default(8181),
  })
  .superRefine((c, ctx) => {
    const requireWith = (key: keyof typeof c, because: string) => {
      if (c[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `required ${because}` });
    };
    if (c.LEDGER_API_URL !== undefined) {
      const because = 'when LEDGER_API_URL is set';
      requireWith('TREASURY_PARTY', because);
      requireWith('LEDGER_USER_ID', because);
      if (c.TREASURY_SIGNER === 'file') requireWith('TREASURY_KEY_FILE', `${because} (or set TREASURY_SIGNER=pkcs11 for a key in an HSM)`);
      const oauth = c.LEDGER_OAUTH_TOKEN_URL !== undefined;
      if (c.LEDGER_TOKEN === undefined && !oauth) {
        ctx.addIssue({
          code: 'custom',
          path: ['LEDGER_TOKEN'],
          message: `required ${because} (or configure LEDGER_OAUTH_TOKEN_URL for OAuth2 client credentials)`,
        });
      }
      if (c.LEDGER_TOKEN !== undefined && oauth) {
        ctx.addIssue({
          code: 'custom',
          path: ['LEDGER_TOKEN'],
          message: 'set either LEDGER_TOKEN or LEDGER_OAUTH_TOKEN_URL, not both',
        });
      }
      if (oauth) {
        requireWith('LEDGER_OAUTH_CLIENT_ID', 'when LEDGER_OAUTH_TOKEN_URL is set');
        requireWith('LEDGER_OAUTH_CLIENT_SECRET', 'when LEDGER_OAUTH_TOKEN_URL is set');
      }
    }
    checkPkcs11Settings(c, ctx);
    const adminOauth = c.LEDGER_ADMIN_OAUTH_CLIENT_ID !== undefined || c.LEDGER_ADMIN_OAUTH_CLIENT_SECRET !== undefined;
    if (c.LEDGER_ADMIN_TOKEN !== undefined && adminOauth) {
      ctx.addIssue({
        code: 'custom',
        path: ['LEDGER_ADMIN_TOKEN'],
        message: 'set either LEDGER_ADMIN_TOKEN or LEDGER_ADMIN_OAUTH_CLIENT_ID and _SECRET, not both',
      });
    }
    if (adminOauth) {
      const because = 'for OAuth2 admin credentials (LEDGER_ADMIN_OAUTH_CLIENT_ID / _SECRET)';
      requireWith('LEDGER_ADMIN_OAUTH_CLIENT_ID', because);
      requireWith('LEDGER_ADMIN_OAUTH_CLIENT_SECRET', because);
      requireWith('LEDGER_OAUTH_TOKEN_URL', because);
    }
    const names = new Set<string>();
    const tokens = new Map<string, string>();
    c.API_TOKENS.forEach((t, i) => {
      if (names.has(t.name)) {
        ctx.addIssue({ code: 'custom', path: ['API_TOKENS', i, 'name'], message: `duplicate token name "${t.name}"` });
      }
      names.add(t.name);
      // One secret under two names would authenticate as whichever is checked last.
      const first = tokens.get(t.token);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['API_TOKENS', i, 'token'],
          message: `is the same token as "${first}": give each name its own token`,
        });
      else tokens.set(t.token, t.name);
    });
  });

/** Where a bearer token comes from: a static token, or OAuth2 client credentials (src/ledger/auth.ts). */
export type BearerCredentialConfig =
  | { kind: 'static'; token: string }
  | { kind: 'oauth2'; tokenUrl: string; clientId: string; clientSecret: string; audience?: string | undefined; scope?: string | undefined };

export type LedgerAuthConfig = BearerCredentialConfig;

/** A named registry credential (REGISTRY_CREDENTIALS) and the registry URLs it may be sent to. */
export interface RegistryCredentialConfig {
  auth: BearerCredentialConfig;
  /** undefined: any registry URL. */
  registryUrls: readonly string[] | undefined;
}

/** How instruments may authenticate to their registries (src/ledger/registry-auth.ts). */
export interface RegistryAuthConfig {
  credentials: Readonly<Record<string, RegistryCredentialConfig>>;
  /** Registry URLs that instruments with registry auth `ledger` may use; undefined: any. */
  ledgerAuthUrls: readonly string[] | undefined;
}

/**
 * The treasury's key in an HSM, reached through the vendor's PKCS#11 library (src/ledger/signers/pkcs11.ts).
 * The PIN is a secret: it is read at login and never logged.
 */
export interface Pkcs11SignerConfig {
  /** TREASURY_PKCS11_MODULE: the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  modulePath: string;
  /** TREASURY_PKCS11_TOKEN_LABEL or TREASURY_PKCS11_SLOT. */
  token: { label: string } | { slot: number };
  /** TREASURY_PKCS11_KEY_LABEL (CKA_LABEL) and/or TREASURY_PKCS11_KEY_ID (CKA_ID, lower-case hex). */
  key: { label?: string; id?: string };
  /** TREASURY_PKCS11_PIN_FILE (read at every login, so a changed PIN needs no restart) or TREASURY_PKCS11_PIN. */
  pin: { file: string } | { value: string };
  /** Sessions signing in parallel (TREASURY_PKCS11_SESSIONS). */
  sessions: number;
  /** An HSM that has not answered a signature by then is treated as unreachable (TREASURY_PKCS11_SIGN_TIMEOUT_MS). */
  signTimeoutMs: number;
}

/** Where the treasury's signing key is: a key file (TREASURY_SIGNER=file, the default) or an HSM (pkcs11). */
export type TreasuryKeyConfig =
  | {
      treasuryKeyFile: string;
      /** Development only: a key file group or others can read is accepted with a warning. */
      allowReadableKeyFile?: boolean;
      treasuryPkcs11?: undefined;
    }
  | { treasuryPkcs11: Pkcs11SignerConfig; treasuryKeyFile?: undefined; allowReadableKeyFile?: undefined };

export type LedgerConfig = LedgerConnectionConfig & TreasuryKeyConfig;

export interface LedgerConnectionConfig {
  apiUrl: string;
  userId: string;
  auth: LedgerAuthConfig;
  treasuryParty: string;
  /**
   * Elements per page of HTTP list reads (Canton's default http-list-max-elements-limit: 200);
   * lowered by itself when the node answers 413. Undefined: 200.
   */
  httpPageSize?: number;
  /** Largest HTTP list page in bytes; a larger one halves the page size like a 413. Undefined: 64 MiB. */
  httpMaxPageBytes?: number | undefined;
}

export interface SubmissionConfig {
  /** Prepare on this synchronizer (and refuse to sign for another); undefined: the participant chooses. */
  synchronizerId: string | undefined;
  /** Execute's deduplication period; undefined: the participant's maximum (`{"Empty": {}}`). */
  deduplicationSeconds: number | undefined;
  /** At most this many executes per second, evenly spaced (src/gates/traffic.ts); undefined: no cap. */
  maxSubmissionsPerSecond: number | undefined;
}

export interface Config {
  logLevel: z.infer<typeof RawConfig>['LOG_LEVEL'];
  /** undefined: decide by whether stdout is a terminal. */
  logPretty: boolean | undefined;
  /** undefined: run the embedded Postgres under dataDir. */
  databaseUrl: string | undefined;
  databasePoolMax: number;
  dataDir: string;
  /** undefined: start the in-process ledger double (sandbox) as the embedded default. */
  ledger: LedgerConfig | undefined;
  /** How our commands are submitted, whichever ledger. */
  submission: SubmissionConfig;
  /**
   * Credentials with ParticipantAdmin for `cxi treasury onboard` (LEDGER_ADMIN_TOKEN, or
   * LEDGER_ADMIN_OAUTH_CLIENT_ID/_SECRET at LEDGER_OAUTH_TOKEN_URL); undefined: the daemon's own.
   * The daemon itself never uses them.
   */
  ledgerAdminAuth: BearerCredentialConfig | undefined;
  /** authFailureLimit: failed authentications per client address per 10 s before it gets 429s. */
  http: { host: string; port: number; authFailureLimit: number; maxConnections: number };
  apiTokens: ApiToken[];
  protectOpsEndpoints: boolean;
  /** /metrics needs a read-scoped token (it shows balances and volumes). */
  protectMetrics: boolean;
  registryAuth: RegistryAuthConfig;
  /** Which registry URLs instruments may have (src/ledger/registry-url-policy.ts). */
  registryUrls: RegistryUrlPolicyConfig;
  /** The Stately inspector bridge (INSPECT); host defaults to the HTTP API's. */
  inspect: { enabled: boolean; host: string; port: number };
}

/** Names of settings whose values must never reach a log line or an error message. */
export const SECRET_SETTINGS = [
  'DATABASE_URL',
  'LEDGER_TOKEN',
  'LEDGER_OAUTH_CLIENT_SECRET',
  'API_TOKENS',
  'REGISTRY_CREDENTIALS',
  'TREASURY_PKCS11_PIN',
  'LEDGER_ADMIN_TOKEN',
  'LEDGER_ADMIN_OAUTH_CLIENT_SECRET',
] as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
  }
}

type Env = Record<string, string | undefined>;

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`CONFIG_FILE: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`]);
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError([`CONFIG_FILE: ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`CONFIG_FILE: ${path} must hold an object of settings`]);
  }
  // The environment holds everything a shell exports, so only the file can be checked for
  // strangers: a key no setting has is a typo whose value would otherwise be silently ignored.
  const unknown = Object.keys(parsed).filter((k) => !Object.hasOwn(RawConfig.shape, k));
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((k) => `CONFIG_FILE: ${path} has an unknown setting "${k}"${didYouMean(k)}`));
  }
  return parsed as Record<string, unknown>;
}

/** The setting a misspelt key most likely meant, when one is close (at most 2 edits, or a case slip). */
function didYouMean(key: string): string {
  let best: { name: string; d: number } | undefined;
  for (const name of Object.keys(RawConfig.shape)) {
    const d = name === key.toUpperCase() ? 0 : editDistance(key.toUpperCase(), name);
    if (d <= 2 && (best === undefined || d < best.d)) best = { name, d };
  }
  return best ? `: did you mean ${best.name}?` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** Empty strings in the environment mean "not set", as shells make them easily. */
function definedEntries(env: Env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

export function loadConfig(env: Env = process.env): Config {
  const fromEnv = definedEntries(env);
  const file = fromEnv.CONFIG_FILE !== undefined ? readConfigFile(fromEnv.CONFIG_FILE) : {};
  const result = RawConfig.safeParse({ ...file, ...fromEnv });
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const [key, ...rest] = issue.path.map(String);
        const where = [key ?? '(config)', ...rest].join('.');
        // Never echo the rejected value: it may be a secret.
        return `${where}: ${issue.message}`;
      }),
    );
  }
  const c = result.data;
  return {
    logLevel: c.LOG_LEVEL,
    logPretty: c.LOG_PRETTY,
    databaseUrl: c.DATABASE_URL,
    databasePoolMax: c.DATABASE_POOL_MAX,
    dataDir: c.DATA_DIR,
    ledger:
      c.LEDGER_API_URL === undefined
        ? undefined
        : {
            apiUrl: c.LEDGER_API_URL,
            userId: c.LEDGER_USER_ID!,
            treasuryParty: c.TREASURY_PARTY!,
            ...treasuryKeyOf(c),
            httpPageSize: c.LEDGER_HTTP_PAGE_SIZE,
            httpMaxPageBytes: c.LEDGER_HTTP_MAX_PAGE_BYTES,
            auth:
              c.LEDGER_OAUTH_TOKEN_URL !== undefined
                ? {
                    kind: 'oauth2',
                    tokenUrl: c.LEDGER_OAUTH_TOKEN_URL,
                    clientId: c.LEDGER_OAUTH_CLIENT_ID!,
                    clientSecret: c.LEDGER_OAUTH_CLIENT_SECRET!,
                    audience: c.LEDGER_OAUTH_AUDIENCE,
                    scope: c.LEDGER_OAUTH_SCOPE,
                  }
                : { kind: 'static', token: c.LEDGER_TOKEN! },
          },
    submission: {
      synchronizerId: c.LEDGER_SYNCHRONIZER_ID,
      deduplicationSeconds: c.LEDGER_DEDUPLICATION_SECONDS,
      maxSubmissionsPerSecond: c.LEDGER_MAX_SUBMISSIONS_PER_SECOND,
    },
    ledgerAdminAuth:
      c.LEDGER_ADMIN_TOKEN !== undefined
        ? { kind: 'static', token: c.LEDGER_ADMIN_TOKEN }
        : c.LEDGER_ADMIN_OAUTH_CLIENT_ID !== undefined
          ? {
              kind: 'oauth2',
              tokenUrl: c.LEDGER_OAUTH_TOKEN_URL!,
              clientId: c.LEDGER_ADMIN_OAUTH_CLIENT_ID,
              clientSecret: c.LEDGER_ADMIN_OAUTH_CLIENT_SECRET!,
              audience: c.LEDGER_OAUTH_AUDIENCE,
              scope: c.LEDGER_OAUTH_SCOPE,
            }
          : undefined,
    http: { host: c.HTTP_HOST, port: c.HTTP_PORT, authFailureLimit: c.HTTP_AUTH_FAILURE_LIMIT, maxConnections: c.HTTP_MAX_CONNECTIONS },
    apiTokens: c.API_TOKENS,
    protectOpsEndpoints: c.PROTECT_OPS_ENDPOINTS,
    protectMetrics: c.PROTECT_OPS_ENDPOINTS || !(c.METRICS_PUBLIC ?? isLoopbackHost(c.HTTP_HOST)),
    registryAuth: {
      credentials: Object.fromEntries(
        Object.entries(c.REGISTRY_CREDENTIALS).map(([name, r]) => [
          name,
          {
            auth:
              r.tokenUrl !== undefined
                ? {
                    kind: 'oauth2',
                    tokenUrl: r.tokenUrl,
                    clientId: r.clientId!,
                    clientSecret: r.clientSecret!,
                    audience: r.audience,
                    scope: r.scope,
                  }
                : { kind: 'static', token: r.token! },
            registryUrls: r.registryUrls,
          },
        ]),
      ),
      ledgerAuthUrls: c.REGISTRY_LEDGER_AUTH_URLS,
    },
    registryUrls: { allowHttp: c.REGISTRY_ALLOW_HTTP, allowHosts: c.REGISTRY_ALLOW_HOSTS },
    inspect: { enabled: c.INSPECT, host: c.INSPECT_HOST ?? c.HTTP_HOST, port: c.INSPECT_PORT },
  };
}

type KeySettings = Pick<
  z.output<typeof RawConfig>,
  | 'TREASURY_SIGNER'
  | 'TREASURY_KEY_FILE'
  | 'TREASURY_KEY_FILE_ALLOW_READABLE'
  | (typeof PKCS11_SETTINGS)[number]
  | 'TREASURY_PKCS11_SESSIONS'
  | 'TREASURY_PKCS11_SIGN_TIMEOUT_MS'
>;

function treasuryKeyOf(c: KeySettings): TreasuryKeyConfig {
  if (c.TREASURY_SIGNER === 'file')
    return { treasuryKeyFile: c.TREASURY_KEY_FILE!, ...(c.TREASURY_KEY_FILE_ALLOW_READABLE ? { allowReadableKeyFile: true } : {}) };
  return {
    treasuryPkcs11: {
      modulePath: c.TREASURY_PKCS11_MODULE!,
      token: c.TREASURY_PKCS11_TOKEN_LABEL !== undefined ? { label: c.TREASURY_PKCS11_TOKEN_LABEL } : { slot: c.TREASURY_PKCS11_SLOT! },
      key: {
        ...(c.TREASURY_PKCS11_KEY_LABEL !== undefined ? { label: c.TREASURY_PKCS11_KEY_LABEL } : {}),
        ...(c.TREASURY_PKCS11_KEY_ID !== undefined ? { id: c.TREASURY_PKCS11_KEY_ID } : {}),
      },
      pin: c.TREASURY_PKCS11_PIN_FILE !== undefined ? { file: c.TREASURY_PKCS11_PIN_FILE } : { value: c.TREASURY_PKCS11_PIN! },
      sessions: c.TREASURY_PKCS11_SESSIONS,
      signTimeoutMs: c.TREASURY_PKCS11_SIGN_TIMEOUT_MS,
    },
  };
}

const Pkcs11Only = z
  .object({
    TREASURY_SIGNER: z.literal('pkcs11', { error: 'must be pkcs11: only an HSM key is generated by this command' }),
    CONFIG_FILE: z.string().optional(),
    ...PKCS11_FIELDS,
  })
  .superRefine((c, ctx) => checkPkcs11Settings(c, ctx, false));

/**
 * The PKCS#11 settings alone (environment over CONFIG_FILE), for what runs before a ledger or a
 * treasury party is configured: generating the treasury key in the HSM.
 */
export function loadPkcs11Config(env: Env = process.env): Pkcs11SignerConfig {
  const fromEnv = definedEntries(env);
  const file = fromEnv.CONFIG_FILE !== undefined ? readConfigFile(fromEnv.CONFIG_FILE) : {};
  const result = Pkcs11Only.safeParse({ ...file, ...fromEnv });
  if (!result.success) throw new ConfigError(result.error.issues.map((i) => `${i.path.map(String).join('.') || '(config)'}: ${i.message}`));
  const key = treasuryKeyOf({ ...result.data, TREASURY_KEY_FILE: undefined, TREASURY_KEY_FILE_ALLOW_READABLE: false });
  return key.treasuryPkcs11!;
}

/** Where the treasury key is, for start-up's log line and `cxi treasury show`: never the PIN. */
export function describeTreasuryKey(k: TreasuryKeyConfig): Record<string, unknown> {
  if (k.treasuryPkcs11 === undefined) return { signer: 'file', file: k.treasuryKeyFile };
  const p = k.treasuryPkcs11;
  return {
    signer: 'pkcs11',
    module: p.modulePath,
    token: 'label' in p.token ? { label: p.token.label } : { slot: p.token.slot },
    key: p.key,
    pin: 'file' in p.pin ? `from ${p.pin.file}` : 'from TREASURY_PKCS11_PIN',
    sessions: p.sessions,
  };
}

/** What start-up logs about its configuration: shape and choices, never secrets. */
export function describeConfig(c: Config): Record<string, unknown> {
  return {
    database: c.databaseUrl === undefined ? `embedded (${c.dataDir})` : 'external (DATABASE_URL)',
    ledger:
      c.ledger === undefined
        ? 'sandbox (embedded ledger double)'
        : {
            apiUrl: c.ledger.apiUrl,
            auth: c.ledger.auth.kind,
            userId: c.ledger.userId,
            treasuryParty: c.ledger.treasuryParty,
            treasuryKey: describeTreasuryKey(c.ledger),
          },
    submission: {
      synchronizer: c.submission.synchronizerId ?? 'chosen by the participant',
      deduplication:
        c.submission.deduplicationSeconds !== undefined ? `${c.submission.deduplicationSeconds} s` : "the participant's maximum",
      maxPerSecond: c.submission.maxSubmissionsPerSecond ?? 'no cap',
    },
    http: { host: c.http.host, port: c.http.port },
    apiTokens: c.apiTokens.map((t) => ({ name: t.name, scopes: t.scopes })),
    registryCredentials: Object.fromEntries(
      Object.entries(c.registryAuth.credentials).map(([name, r]) => [name, { kind: r.auth.kind, registryUrls: r.registryUrls ?? 'any' }]),
    ),
    registryLedgerAuthUrls: c.registryAuth.ledgerAuthUrls ?? 'any',
    registryUrls: { http: c.registryUrls.allowHttp ? 'allowed' : 'refused', allowHosts: c.registryUrls.allowHosts },
    inspect: c.inspect.enabled ? { host: c.inspect.host, port: c.inspect.port } : false,
  };
}

/** Whether a listen address reaches this machine only (a name or a literal address; no lookup). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return (
    h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h)
  );
}

import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig, type Config, type LedgerConfig } from '../config.js';
import type { RegistryAuth } from '../ledger/registry-auth.js';

/**
 * What `npm run conformance` runs against. The ledger settings are the daemon's own (loadConfig:
 * the same environment variables and CONFIG_FILE, the same validation and messages); a few
 * command-line flags override single settings. Tokens and client secrets are read from the
 * environment or the config file only: a flag would put them in the process list.
 *
 * The daemon knows an instrument's registry from its database; conformance needs no database, so
 * against a real ledger the instruments to exercise are given as flags, in pairs.
 */

export const USAGE = `usage: npm run conformance -- [--ledger-url URL] [--user-id ID] [--treasury-party PARTY] [--treasury-key-file FILE]
                              [--config-file FILE] [--registry-url URL --instrument '<admin party>/<instrument id>']...
                              [--registry-auth none|ledger | --registry-credential NAME]

Without a ledger URL (flag or LEDGER_API_URL) it starts the ledger double in-process and runs
against it. With one, every other ledger setting is the daemon's (LEDGER_USER_ID, LEDGER_TOKEN or
LEDGER_OAUTH_*, TREASURY_PARTY, TREASURY_KEY_FILE or TREASURY_SIGNER=pkcs11 with TREASURY_PKCS11_*,
LEDGER_ADMIN_* for the onboarding dry run, CONFIG_FILE), and at least one instrument with
its registry is required; the registry auth (as an instrument's: none, ledger, or a credential
of REGISTRY_CREDENTIALS) applies to every instrument given. Exit codes: 0 every check passed, 1 a check failed, 2 bad settings.`;

/** Flags that stand for one of the daemon's settings. */
const SETTING_FLAGS = {
  'ledger-url': 'LEDGER_API_URL',
  'user-id': 'LEDGER_USER_ID',
  'treasury-party': 'TREASURY_PARTY',
  'treasury-key-file': 'TREASURY_KEY_FILE',
  'config-file': 'CONFIG_FILE',
} as const;

export interface ConformanceInstrument {
  admin: string;
  id: string;
  /** Base URL of the instrument's registry (paths /registry/… are appended), as in the instruments table. */
  registryUrl: string;
}

export interface ConformanceSettings {
  /** undefined: start the ledger double in-process. */
  ledger: LedgerConfig | undefined;
  /** Empty when the double is used (its own instruments are). */
  instruments: ConformanceInstrument[];
  /** As an instrument's registry auth: none, the Ledger API token, or a named credential. */
  registryAuth: RegistryAuth;
  config: Config;
  /** LOG_LEVEL was set: show the logs at that level (otherwise conformance prints only its lines). */
  logLevel: Config['logLevel'] | undefined;
}

/** Wrong flags: a usage problem, exit 2 like a bad setting. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type HelpRequested = { help: true };

const RegistryUrl = z.url({ message: 'must be an absolute URL' });

/** "<admin party>/<instrument id>", as the cxi CLI names instruments (party ids contain no "/"). */
export function parseInstrumentRef(s: string): { admin: string; id: string } {
  const at = s.lastIndexOf('/');
  if (at <= 0 || at === s.length - 1) throw new UsageError(`--instrument must be "<admin party>/<instrument id>", got "${s}"`);
  return { admin: s.slice(0, at), id: s.slice(at + 1) };
}

/** As `cxi instruments add`: --registry-auth none|ledger, or --registry-credential <a name REGISTRY_CREDENTIALS defines>. */
function registryAuthOf(mode: string | undefined, credential: string | undefined, config: Config): RegistryAuth {
  if (credential !== undefined) {
    if (mode !== undefined) throw new UsageError('give --registry-auth or --registry-credential, not both');
    if (!Object.hasOwn(config.registryAuth.credentials, credential)) {
      const known = Object.keys(config.registryAuth.credentials);
      throw new UsageError(
        `--registry-credential ${credential}: REGISTRY_CREDENTIALS defines ${known.length > 0 ? known.join(', ') : 'no credentials'}`,
      );
    }
    return { mode: 'credential', credential };
  }
  if (mode === undefined || mode === 'none') return { mode: 'none' };
  if (mode === 'ledger') return { mode: 'ledger' };
  throw new UsageError(`--registry-auth must be none or ledger, got "${mode}"`);
}

/** Throws ConfigError (a bad setting) or UsageError (bad flags); both mean exit code 2. */
export function conformanceSettings(argv: readonly string[], env: Record<string, string | undefined>): ConformanceSettings | HelpRequested {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'ledger-url': { type: 'string' },
        'user-id': { type: 'string' },
        'treasury-party': { type: 'string' },
        'treasury-key-file': { type: 'string' },
        'config-file': { type: 'string' },
        'registry-url': { type: 'string', multiple: true },
        instrument: { type: 'string', multiple: true },
        'registry-auth': { type: 'string' },
        'registry-credential': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help === true) return { help: true };

  const overrides: Record<string, string> = {};
  for (const flag of Object.keys(SETTING_FLAGS) as (keyof typeof SETTING_FLAGS)[]) {
    const v = values[flag];
    if (v !== undefined) overrides[SETTING_FLAGS[flag]] = v;
  }
  const config = loadConfig({ ...env, ...overrides });

  const registryAuth = registryAuthOf(values['registry-auth'], values['registry-credential'], config);

  const urls = values['registry-url'] ?? [];
  const refs = values.instrument ?? [];
  if (config.ledger === undefined && (urls.length > 0 || refs.length > 0)) {
    throw new UsageError(
      '--registry-url and --instrument need a ledger URL (--ledger-url or LEDGER_API_URL); the ledger double brings its own instruments',
    );
  }
  if (config.ledger !== undefined && refs.length === 0) {
    throw new UsageError(
      'with a ledger URL, name at least one instrument to exercise: --registry-url URL --instrument "<admin party>/<instrument id>"',
    );
  }
  if (urls.length !== refs.length) throw new UsageError(`give one --registry-url per --instrument (got ${urls.length} and ${refs.length})`);
  const instruments = refs.map((ref, i) => {
    const url = RegistryUrl.safeParse(urls[i]);
    if (!url.success) throw new UsageError(`--registry-url ${urls[i]}: must be an absolute URL`);
    return { ...parseInstrumentRef(ref), registryUrl: url.data };
  });

  return {
    ledger: config.ledger,
    instruments,
    registryAuth,
    config,
    logLevel: env.LOG_LEVEL !== undefined && env.LOG_LEVEL !== '' ? config.logLevel : undefined,
  };
}

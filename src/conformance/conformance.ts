import { ConfigError } from '../config.js';
import { createRegistryUrlPolicy } from '../ledger/registry-url-policy.js';
import type { TreasurySigner } from '../ledger/signing.js';
import { openTreasurySigner } from '../ledger/signers/index.js';
import { createLogger, type Logger } from '../logger.js';
import { submissionOptions } from '../machines/effects/index.js';
import { createConformanceClients } from './clients.js';
import { runLedgerChecks } from './ledger-checks.js';
import { CheckRunner } from './runner.js';
import { runSelfTransferChecks } from './self-transfer.js';
import { runTreasuryOnboardingCheck } from './treasury-check.js';
import { conformanceSettings, UsageError, USAGE, type ConformanceSettings } from './settings.js';
import { externalTarget, startDoubleTarget, type ConformanceTarget } from './target.js';

/** Exit codes, as the daemon's: 0 all passed, 1 a check failed, 2 bad settings. */
export const EXIT = { ok: 0, failed: 1, settings: 2 } as const;

export interface RunOptions {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  /** One check line (and the summary). */
  out: (line: string) => void;
  /** Usage and settings problems. */
  err: (line: string) => void;
  /** Tests shorten the waits for stream elements and the committed transfer (default 30 s each). */
  streamTimeoutMs?: number;
  confirmTimeoutMs?: number;
}

export async function runConformance(o: RunOptions): Promise<number> {
  let settings: ConformanceSettings;
  try {
    const parsed = conformanceSettings(o.argv, o.env);
    if ('help' in parsed) {
      o.out(USAGE);
      return EXIT.ok;
    }
    settings = parsed;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof UsageError) {
      o.err(e.message);
      if (e instanceof UsageError) o.err(USAGE);
      return EXIT.settings;
    }
    throw e;
  }

  // Only the check lines by default; LOG_LEVEL shows the daemon's own logs of the same calls.
  const logger = createLogger({ level: settings.logLevel ?? 'silent', pretty: settings.config.logPretty });
  const target: ConformanceTarget =
    settings.ledger === undefined ? await startDoubleTarget(logger) : externalTarget(settings.ledger, settings);
  try {
    const runner = new CheckRunner(o.out);
    await runChecks(runner, target, settings, logger, o);
    o.out(runner.summary(target.description));
    return runner.failed ? EXIT.failed : EXIT.ok;
  } finally {
    await target.stop();
  }
}

async function runChecks(
  r: CheckRunner,
  target: ConformanceTarget,
  settings: ConformanceSettings,
  logger: Logger,
  o: RunOptions,
): Promise<void> {
  const { ledger } = target;
  // The daemon loads and checks the key at start-up (createLedgerEffects): the same function, the same refusals.
  const signer = await r.check('treasury key', async (): Promise<{ value: TreasurySigner; detail: string }> => {
    const s = openTreasurySigner(ledger, { party: ledger.treasuryParty, logger });
    return { value: s, detail: `${s.kind} ${s.keyId}, fingerprint ${s.fingerprint}` };
  });
  try {
    await runChecksWith(r, target, settings, logger, o, signer);
  } finally {
    await signer?.close();
  }
}

async function runChecksWith(
  r: CheckRunner,
  target: ConformanceTarget,
  settings: ConformanceSettings,
  logger: Logger,
  o: RunOptions,
  signer: TreasurySigner | undefined,
): Promise<void> {
  const { ledger } = target;
  const clients = createConformanceClients({
    ledger,
    signer,
    instruments: target.instruments,
    registryAuth: settings.registryAuth,
    credentials: settings.config.registryAuth,
    // The daemon's policy over the registries named on the command line; the double's are this run's own.
    registryPolicy: createRegistryUrlPolicy({ config: settings.config.registryUrls, exempt: target.ownRegistryUrls }),
    // As the daemon passes them: what a withdrawal sends.
    options: submissionOptions(settings.config.submission),
    logger,
  });
  await runTreasuryOnboardingCheck({
    runner: r,
    ledger,
    adminAuth: settings.config.ledgerAdminAuth,
    reads: clients.reads,
    synchronizerId: settings.config.submission.synchronizerId,
  });
  const facts = await runLedgerChecks({
    runner: r,
    clients,
    treasuryParty: ledger.treasuryParty,
    instruments: target.instruments,
    streamTimeoutMs: o.streamTimeoutMs ?? 30_000,
  });
  for (const instrument of target.instruments) {
    await runSelfTransferChecks({
      runner: r,
      clients,
      treasuryParty: ledger.treasuryParty,
      instrument,
      holdings: facts.holdings,
      confirmTimeoutMs: o.confirmTimeoutMs ?? 30_000,
    });
  }
}

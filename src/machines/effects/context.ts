import type { SubmissionOutcome } from '../../gates/traffic.js';
import type { LedgerConfig, SubmissionConfig } from '../../config.js';
import type { EventFormatInput } from '../../ledger/schema/index.js';
import { tokenProviderFor, type TokenProvider } from '../../ledger/auth.js';
import { LedgerHttp } from '../../ledger/http.js';
import { LedgerReadClient, listOptionsOf } from '../../ledger/read-client.js';
import { createRegistryTokens, NO_REGISTRY_CREDENTIALS, type RegistryTokens } from '../../ledger/registry-auth.js';
import { createRegistryUrlPolicy, STRICT_REGISTRY_URLS, type RegistryUrlPolicy } from '../../ledger/registry-url-policy.js';
import type { TreasurySigner } from '../../ledger/signing.js';
import { openTreasurySigner } from '../../ledger/signers/index.js';
import { LedgerSubmissionClient } from '../../ledger/submission-client.js';
import type { Logger } from '../../logger.js';
import { readCheckpoint } from '../../store/checkpoint.js';
import type { Sql } from '../../store/db.js';
import { createRegistryDirectory, type RegistryDirectory } from './registries.js';

/** What the withdrawal and deposit ledger effects share: clients, the signer, the options. */

export interface LedgerEffectsOptions {
  /**
   * 'wait' (default): /executeAndWait — the call returns once the transaction committed, so a
   * rejection at commit (stale mining round, inputs spent, deadline passed, duplicate) reaches the
   * machine at once instead of only after the attempt's deadline. 'async': /execute, the outcome
   * comes only from ingestion. Either way ingestion, not this answer, decides the withdrawal.
   */
  execute?: 'wait' | 'async';
  /** Per ledger call (default 30 s; an executeAndWait lasts until the commit). */
  ledgerTimeoutMs?: number;
  /** Per registry call (default 15 s). */
  registryTimeoutMs?: number;
  /** Pin prepares to one synchronizer (and refuse transactions prepared for another); default: the node picks. */
  synchronizerId?: string;
  /** Execute's deduplication period; default: the participant's maximum. */
  deduplicationSeconds?: number;
  /** How long an instrument's registry URL and auth are cached (default 5 s). */
  instrumentCacheMs?: number;
  /** The treasury party's namespace key is not its signing key: skip that start-up check. */
  allowOtherNamespaceKey?: boolean;
  /**
   * Told what the ledger answered every submission (src/gates/traffic.ts `observed`): refused for
   * traffic, accepted, or neither. The traffic gate holds or releases the validator's submissions on it.
   */
  onSubmission?: (outcome: SubmissionOutcome, detail?: string) => void;
  /** Told of every signature the treasury made, after it is logged (benchmarks time the signer with it). */
  onSigned?: (s: SignatureRecord) => void;
  fetch?: typeof fetch;
}

/** One treasury signature, as logged: what was signed, by which key, and how long the signer took. */
export interface SignatureRecord {
  withdrawalId?: string;
  depositId?: string;
  commandId: string;
  /** The prepared transaction's hash (base64), as the ledger names it. */
  hash: string;
  keyId: string;
  signedBy: string;
  signer: TreasurySigner['kind'];
  ms: number;
}

/** The effect options the submission settings stand for (LEDGER_SYNCHRONIZER_ID, LEDGER_DEDUPLICATION_SECONDS). */
export function submissionOptions(s: SubmissionConfig): LedgerEffectsOptions {
  return {
    ...(s.synchronizerId !== undefined ? { synchronizerId: s.synchronizerId } : {}),
    ...(s.deduplicationSeconds !== undefined ? { deduplicationSeconds: s.deduplicationSeconds } : {}),
  };
}

export interface LedgerEffectsDeps {
  sql: Sql;
  /** apiUrl, userId, auth, treasuryParty, and the treasury key (file or PKCS#11) unless `signer` is given. */
  ledger: LedgerConfig;
  logger: Logger;
  /** Share one signer between the withdrawal and deposit effects; default: opened from the ledger's key settings. */
  signer?: TreasurySigner;
  /** Share one token cache; default: built from ledger.auth. */
  tokenProvider?: TokenProvider;
  /**
   * The tokens instruments' registry auth names (createRegistryTokens over the REGISTRY_CREDENTIALS
   * settings); default: no credentials, and mode `ledger` sends this ledger's token.
   */
  registryTokens?: RegistryTokens;
  /** Which registry URLs may be called (the REGISTRY_ALLOW_* settings); default: https to public addresses only. */
  registryPolicy?: RegistryUrlPolicy;
  options?: LedgerEffectsOptions;
}

export interface LedgerEffects {
  readonly treasuryParty: string;
  readonly userId: string;
  readonly signer: TreasurySigner;
  readonly submissions: LedgerSubmissionClient;
  readonly reads: LedgerReadClient;
  readonly registries: RegistryDirectory;
  readonly logger: Logger;
  readonly options: Readonly<LedgerEffectsOptions>;
  /**
   * The synchronizer ingestion follows (its checkpoint), null before the first update: a
   * transaction prepared for another one is never signed, since its deadline could not be decided.
   */
  followedSynchronizer(): Promise<string | null>;
}

/**
 * Builds the shared parts. Opening the signer here makes a bad key (an unreadable or foreign key
 * file; an HSM that cannot be reached, refuses the PIN, or holds another key than the treasury's)
 * fail the daemon's start-up with a SigningKeyError that says so.
 */
export function createLedgerEffects(deps: LedgerEffectsDeps): LedgerEffects {
  const options = deps.options ?? {};
  const signer =
    deps.signer ??
    openTreasurySigner(deps.ledger, {
      party: deps.ledger.treasuryParty,
      logger: deps.logger,
      ...(options.allowOtherNamespaceKey ? { allowOtherNamespaceKey: true } : {}),
    });
  if (deps.signer === undefined)
    deps.logger.info({ signer: signer.kind, keyId: signer.keyId, fingerprint: signer.fingerprint }, 'treasury signer ready');
  const auth = deps.tokenProvider ?? tokenProviderFor(deps.ledger.auth, options.fetch ? { fetch: options.fetch } : {});
  const http = new LedgerHttp({
    baseUrl: deps.ledger.apiUrl,
    auth,
    ...(options.ledgerTimeoutMs !== undefined ? { timeoutMs: options.ledgerTimeoutMs } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return {
    treasuryParty: deps.ledger.treasuryParty,
    userId: deps.ledger.userId,
    signer,
    submissions: new LedgerSubmissionClient(http),
    reads: new LedgerReadClient(http, listOptionsOf(deps.ledger)),
    registries: createRegistryDirectory({
      sql: deps.sql,
      tokens: deps.registryTokens ?? createRegistryTokens({ config: NO_REGISTRY_CREDENTIALS, ledger: auth }),
      policy: deps.registryPolicy ?? createRegistryUrlPolicy({ config: STRICT_REGISTRY_URLS }),
      logger: deps.logger.child({ component: 'registries' }),
      ...(options.registryTimeoutMs !== undefined ? { timeoutMs: options.registryTimeoutMs } : {}),
      ...(options.instrumentCacheMs !== undefined ? { cacheMs: options.instrumentCacheMs } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    }),
    logger: deps.logger.child({ component: 'ledger-effects' }),
    options,
    followedSynchronizer: async () => (await readCheckpoint(deps.sql, deps.ledger.treasuryParty))?.synchronizerId ?? null,
  };
}

/**
 * Whether a transfer instruction is archived (or unknown) on the ledger. A registry that does not
 * know an instruction may simply not have seen it yet (a registry such as Scan lags the ledger):
 * only the ledger can say it is gone.
 */
export async function instructionGone(fx: LedgerEffects, cid: string, signal: AbortSignal): Promise<boolean> {
  const format: EventFormatInput = {
    filtersByParty: {
      [fx.treasuryParty]: { cumulative: [{ identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: false } } } }] },
    },
    verbose: false,
  };
  const events = await fx.reads.eventsByContractId(cid, format, signal);
  return events === undefined || events.archived !== undefined;
}

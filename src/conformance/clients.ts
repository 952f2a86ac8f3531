import type { LedgerConfig } from '../config.js';
import { tokenProviderFor, type TokenProvider } from '../ledger/auth.js';
import { createRegistryTokens, type RegistryAuth } from '../ledger/registry-auth.js';
import type { RegistryAuthConfig } from '../config.js';
import { LedgerHttp } from '../ledger/http.js';
import { LedgerReadClient, listOptionsOf } from '../ledger/read-client.js';
import type { RegistryClient } from '../ledger/registry-client.js';
import type { RegistryUrlPolicy } from '../ledger/registry-url-policy.js';
import type { TreasurySigner } from '../ledger/signing.js';
import { LedgerSubmissionClient } from '../ledger/submission-client.js';
import type { Logger } from '../logger.js';
import {
  createRegistryClients,
  createWithdrawalLedgerActors,
  type LedgerEffects,
  type LedgerEffectsOptions,
  type RegistryDirectory,
} from '../machines/effects/index.js';
import { ActorError } from '../machines/failure.js';
import type { WithdrawalLedgerActors } from '../machines/withdrawal.actors.js';
import type { InstrumentRow } from '../store/instruments.js';
import type { ConformanceInstrument } from './settings.js';
import { Failure } from '../failures.js';

/**
 * The daemon's own ledger-facing code, wired as the daemon wires it (createLedgerEffects), except
 * that the instruments come from the command line instead of the database: the same token
 * provider, HTTP core, read and submission clients, and the withdrawal's ledger effects, so the
 * self-transfer sends exactly the requests a withdrawal sends.
 */
export interface ConformanceClients {
  readonly auth: TokenProvider;
  readonly http: LedgerHttp;
  readonly reads: LedgerReadClient;
  /** The withdrawal's ledger effects; undefined without a usable treasury key (they sign). */
  readonly withdrawal: WithdrawalLedgerActors | undefined;
  /** One client per registry, with the same auth the withdrawal effects use. */
  registry(instrument: ConformanceInstrument): RegistryClient;
  /** The daemon's registry URL policy (its settings; the double's own registries exempt). */
  readonly registryPolicy: RegistryUrlPolicy;
}

export interface ConformanceClientsDeps {
  ledger: LedgerConfig;
  signer: TreasurySigner | undefined;
  instruments: readonly ConformanceInstrument[];
  /** Every instrument's registry auth, and the credentials it may name (the daemon's settings). */
  registryAuth: RegistryAuth;
  credentials: RegistryAuthConfig;
  registryPolicy: RegistryUrlPolicy;
  /** Execute's deduplication period and the synchronizer, from the daemon's settings. */
  options: LedgerEffectsOptions;
  logger: Logger;
}

export function createConformanceClients(deps: ConformanceClientsDeps): ConformanceClients {
  const options = deps.options;
  const auth = tokenProviderFor(deps.ledger.auth);
  const http = new LedgerHttp({ baseUrl: deps.ledger.apiUrl, auth });
  const reads = new LedgerReadClient(http, listOptionsOf(deps.ledger));
  const tokens = createRegistryTokens({ config: deps.credentials, ledger: auth });
  const registries = commandLineRegistries(
    deps.instruments,
    deps.registryAuth,
    createRegistryClients({ tokens, policy: deps.registryPolicy, logger: deps.logger }),
  );
  const effects: LedgerEffects | undefined = deps.signer && {
    treasuryParty: deps.ledger.treasuryParty,
    userId: deps.ledger.userId,
    signer: deps.signer,
    submissions: new LedgerSubmissionClient(http),
    reads,
    registries,
    logger: deps.logger.child({ component: 'ledger-effects' }),
    options,
    // No database here: the synchronizer the participant prepares on is not checked against one.
    followedSynchronizer: async () => null,
  };
  return {
    auth,
    http,
    reads,
    withdrawal: effects && createWithdrawalLedgerActors({ effects }),
    registry: (i) => registries.client(rowOf(i, deps.registryAuth)),
    registryPolicy: deps.registryPolicy,
  };
}

/**
 * The withdrawal effects read an instrument's admin, id, registry URL and `enabled` from its row;
 * the other columns (coin selection, holdings job) are given their defaults for a newly onboarded
 * instrument.
 */
function rowOf(i: ConformanceInstrument, registryAuth: RegistryAuth): InstrumentRow {
  return {
    admin: i.admin,
    id: i.id,
    registryUrl: i.registryUrl,
    registryAuth,
    displayDecimals: 10,
    transferPolicy: 'direct-or-offer',
    utxoPolicy: {},
    feeReserve: { rate: '0', flat: '0' },
    enabled: true,
  };
}

function commandLineRegistries(
  instruments: readonly ConformanceInstrument[],
  registryAuth: RegistryAuth,
  clients: Pick<RegistryDirectory, 'client'>,
): RegistryDirectory {
  return {
    instrument(ref) {
      const found = instruments.find((i) => i.admin === ref.admin && i.id === ref.id);
      if (!found) {
        return Promise.reject(
          new ActorError({
            code: Failure.INSTRUMENT_NOT_CONFIGURED,
            message: `instrument ${ref.admin}/${ref.id} was not given with --instrument`,
            retryable: false,
          }),
        );
      }
      return Promise.resolve(rowOf(found, registryAuth));
    },
    client: (row) => clients.client(row),
  };
}

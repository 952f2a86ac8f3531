import type { OperatorCommands } from '../../machines/runtime/index.js';
import type { Sql } from '../../store/db.js';
import type { App } from '../server.js';
import { registerAccountRoutes } from './accounts.js';
import { registerDepositRoutes } from './deposits.js';
import { registerEventRoutes } from './events.js';
import { registerHoldingsRoutes } from './holdings.js';
import { registerInstrumentRoutes, type InstrumentRouteDeps } from './instruments.js';
import { registerMachineRoutes } from './machines.js';
import { registerOperatorRoutes } from './operator.js';
import { registerReconciliationRoutes, type ReconciliationRouteDeps } from './reconciliation.js';
import { registerRecoveryRoutes, type RecoveryRouteDeps } from './recovery.js';
import { registerIngestionRoutes, type IngestionRouteDeps } from './ingestion.js';
import { registerSwitchRoutes, type SwitchRouteDeps } from './switches.js';
import { registerTrafficRoutes, type TrafficRouteDeps } from './traffic.js';
import { registerWithdrawalRoutes } from './withdrawals.js';

export interface ApiDeps {
  sql: Sql;
  /** How onboarding checks a registry (default: its metadata API over HTTP). */
  instrumentRegistry?: InstrumentRouteDeps['instrumentRegistry'];
  /** Registry credentials instruments may name (createRegistryTokens); default: none, and no ledger token. */
  registryTokens?: InstrumentRouteDeps['registryTokens'];
  /** Onboarding adopts the token's holdings already on the ledger (src/admin/holding-adoption.ts). */
  holdingAdoption?: InstrumentRouteDeps['holdingAdoption'];
  /** Which registry URLs instruments may have (createRegistryUrlPolicy); default: https to public addresses only. */
  registryPolicy?: InstrumentRouteDeps['registryPolicy'];
  /** GET /v1/reconciliation (createReconciler in src/admin/reconciliation/run.ts); 503 without it. */
  reconciliation?: ReconciliationRouteDeps['reconciliation'];
  /** Operator commands to the machines (retry, cancel, fail, assign…); 503 without them. */
  operator?: OperatorCommands;
  /** The process's operator pause switches, told at once about a change (the routes work without them). */
  switches?: SwitchRouteDeps['switches'];
  /** GET /v1/admin/traffic (submissions held for the validator's traffic); 503 without it. */
  traffic?: TrafficRouteDeps['traffic'];
  /** GET /v1/ingestion (catch-up progress); 503 without it. */
  ingestion?: IngestionRouteDeps['ingestion'];
  /** Recovery after a database restore (cxi recovery); 503 without it. */
  recovery?: RecoveryRouteDeps['recovery'];
  /** POST /v1/ingestion/resync and /migrate; 503 without it. */
  ledgerRecovery?: IngestionRouteDeps['ledgerRecovery'];
}

/** The exchange-facing /v1 API. */
export function registerApiRoutes(app: App, deps: ApiDeps): void {
  registerWithdrawalRoutes(app, deps);
  registerAccountRoutes(app, deps);
  registerDepositRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerHoldingsRoutes(app, deps);
  registerInstrumentRoutes(app, deps);
  registerReconciliationRoutes(app, deps);
  registerOperatorRoutes(app, deps);
  registerSwitchRoutes(app, deps);
  registerTrafficRoutes(app, deps);
  registerIngestionRoutes(app, deps);
  registerRecoveryRoutes(app, deps);
  registerMachineRoutes(app, deps);
}

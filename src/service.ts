import { createHoldingsJob, type HoldingsJob } from './admin/holdings-job.js';
import { createHoldingAdoption, type HoldingAdoption } from './admin/holding-adoption.js';
import { createReconcilerFrom, ledgerHoldingsSourceFor, singleFlight, type Reconciler } from './admin/reconciliation/run.js';
import { createDbRestoreRecovery, type DbRestoreRecovery } from './admin/db-restore-recovery.js';
import { createLedgerRecovery, type LedgerRecovery } from './admin/ledger-recovery.js';
import { createSwitches, type Switches } from './gates/switches.js';
import { createTrafficGate, type TrafficGate, type TrafficGateOptions } from './gates/traffic.js';
import type { LedgerConfig } from './config.js';
import type { RegistryTokens } from './ledger/registry-auth.js';
import type { RegistryUrlPolicy } from './ledger/registry-url-policy.js';
import type { Component } from './lifecycle.js';
import type { Logger } from './logger.js';
import type { DepositActors } from './machines/deposit.actors.js';
import { DEFAULT_DEPOSIT_POLICY, type DepositPolicy } from './machines/deposit.context.js';
import {
  createDepositLedgerActors,
  createLedgerEffects,
  createWithdrawalLedgerActors,
  type LedgerEffectsOptions,
} from './machines/effects/index.js';
import {
  createDepositRuntime,
  createIngestionCatchUp,
  createOperatorCommands,
  createWithdrawalRuntime,
  type MachineRuntime,
  type OperatorCommands,
  type RuntimeOptions,
} from './machines/runtime/index.js';
import type { WithdrawalActors } from './machines/withdrawal.actors.js';
import { DEFAULT_WITHDRAWAL_POLICY, type WithdrawalPolicy } from './machines/withdrawal.context.js';
import type { ServiceMetrics } from './service-metrics.js';
import { readCheckpoint, readContinuityFailures } from './store/checkpoint.js';
import type { Sql } from './store/db.js';
import { createReservationActors } from './machines/effects/reservations.js';
import { createIngestionComponent, type IngestionComponent, type IngestionOptions } from './streams/index.js';

/** Runtime timings a caller may tune (the runtime's own defaults otherwise). */
export type RuntimeTimings = Omit<RuntimeOptions, 'sql' | 'logger' | 'inspect' | 'hooks' | 'catchUp'>;

export interface ServiceOptions {
  sql: Sql;
  ledger: LedgerConfig;
  logger: Logger;
  /**
   * This process is the only one on its database (embedded PGlite: one connection, guarded by the
   * data-dir lock): no advisory-lock leader election, which would reserve the only connection.
   */
  singleInstance?: boolean;
  withdrawalPolicy?: Partial<WithdrawalPolicy>;
  depositPolicy?: Partial<DepositPolicy>;
  runtime?: RuntimeTimings;
  ingestion?: IngestionOptions;
  effects?: LedgerEffectsOptions;
  /** What instruments' registry auth sends (createRegistryTokens); default: mode `ledger` only, no credentials. */
  registryTokens?: RegistryTokens;
  /** Which registry URLs may be called (createRegistryUrlPolicy over REGISTRY_ALLOW_*); default: https to public addresses only. */
  registryPolicy?: RegistryUrlPolicy;
  /**
   * The validator's traffic gate (src/gates/traffic.ts): the submission rate cap
   * (LEDGER_MAX_SUBMISSIONS_PER_SECOND) and, for tests, the probe backoff.
   */
  traffic?: Omit<TrafficGateOptions, 'logger'>;
  /** The UTXO holdings job (default on; interval default 30 s). */
  holdingsJob?: false | { intervalMs?: number };
  /** Counters and gauges of ingestion and the machines (createServiceMetrics); none without. */
  metrics?: ServiceMetrics;
  /** Stately inspector hook for the machine runtimes. */
  inspect?: RuntimeOptions['inspect'];
  /** Wraps the ledger effects (fault and crash injection in tests). */
  intercept?: {
    withdrawal?: (actors: WithdrawalActors) => WithdrawalActors;
    deposit?: (actors: DepositActors) => DepositActors;
  };
}

/**
 * The daemon's ledger-facing parts, wired: ingestion (ledger → DB), the withdrawal and deposit
 * runtimes with the real ledger effects, the holdings job, and what the HTTP API needs of them.
 * `components` is in start order; stop them in reverse (automations before ingestion, so their
 * last effects can still be observed).
 */
export interface Service {
  readonly ingestion: IngestionComponent;
  readonly withdrawals: MachineRuntime;
  readonly deposits: MachineRuntime;
  readonly holdingsJob: HoldingsJob | undefined;
  readonly operator: OperatorCommands;
  readonly reconciliation: Reconciler;
  /** Onboarding a token adopts the treasury's holdings of it already on the ledger. */
  readonly holdingAdoption: HoldingAdoption;
  /** Operator pause switches (ingestion, withdrawals, acceptance); the first component, so a stored pause applies before anything runs. */
  readonly switches: Switches;
  /** `cxi recovery after-db-restore`: withdrawals and accepts held until tSafe is ingested (src/admin/db-restore-recovery.ts). */
  readonly recovery: DbRestoreRecovery;
  /** Holds every submission while the validator is out of traffic; caps submissions per second. */
  readonly traffic: TrafficGate;
  /** `cxi ingestion resync` / `migrate` (src/admin/ledger-recovery.ts), with this process's ingestion stopped meanwhile. */
  readonly ledgerRecovery: LedgerRecovery;
  readonly components: readonly Component[];
}

export function createService(o: ServiceOptions): Service {
  const { sql, ledger, logger } = o;
  const single = o.singleInstance === true;
  const traffic = createTrafficGate({ logger, ...o.traffic });
  // Every submission's answer goes to the traffic gate (and to whoever else asked).
  const onSubmission = o.effects?.onSubmission;
  const effectOptions: LedgerEffectsOptions = {
    ...o.effects,
    onSubmission: (outcome, detail) => {
      traffic.observed(outcome, detail);
      onSubmission?.(outcome, detail);
    },
  };
  // Built per process: the key file is read and checked at construction.
  const effects = createLedgerEffects({
    sql,
    ledger,
    logger,
    ...(o.registryTokens ? { registryTokens: o.registryTokens } : {}),
    ...(o.registryPolicy ? { registryPolicy: o.registryPolicy } : {}),
    options: effectOptions,
  });
  const runtime: RuntimeTimings = { ...o.runtime, ...(single ? { leaderElection: 'none' } : {}) };
  const inspect = o.inspect ? { inspect: o.inspect } : {};
  const switches = createSwitches({ sql, logger });
  const recovery = createDbRestoreRecovery({
    sql,
    logger,
    treasuryParty: ledger.treasuryParty,
    switches,
    // The deadline of an attempt made just before the restore is at most this far ahead.
    assumedTtlMs: Math.max(
      o.withdrawalPolicy?.attemptTtlMs ?? DEFAULT_WITHDRAWAL_POLICY.attemptTtlMs,
      o.depositPolicy?.acceptTtlMs ?? DEFAULT_DEPOSIT_POLICY.acceptTtlMs,
    ),
  });
  const hooks = o.metrics ? { hooks: o.metrics.runtimeHooks } : {};

  // The ledger's view of the treasury's holdings: for reconciliation, and for adopting a newly onboarded token's.
  const holdingsOnLedger = ledgerHoldingsSourceFor(ledger);

  const ingestion = createIngestionComponent({
    sql,
    logger,
    ledger,
    options: { ...o.ingestion, ...(single ? { leaderElection: 'none' } : {}) },
    switches,
  });
  // "Ingestion has read what the ledger had when I asked" (the checkpoint table, whoever ingests):
  // the runtimes' start gate, and what a withdrawal waits for before deciding on a dead input.
  const catchUp = createIngestionCatchUp({
    db: sql,
    treasuryParty: ledger.treasuryParty,
    ledgerEnd: (signal) => ingestion.ledgerEnd(signal),
    logger,
  });
  const withdrawalActors: WithdrawalActors = {
    ...createReservationActors(sql, { catchUp }),
    ...createWithdrawalLedgerActors({ effects, db: sql }),
  };
  const depositActors = createDepositLedgerActors({ effects });
  const withdrawals = createWithdrawalRuntime({
    sql,
    logger,
    actors: o.intercept?.withdrawal ? o.intercept.withdrawal(withdrawalActors) : withdrawalActors,
    config: { treasuryParty: ledger.treasuryParty, ...(o.withdrawalPolicy ? { policy: o.withdrawalPolicy } : {}) },
    switches,
    traffic,
    catchUp,
    runtime,
    ...inspect,
    ...hooks,
  });
  const deposits = createDepositRuntime({
    sql,
    logger,
    actors: o.intercept?.deposit ? o.intercept.deposit(depositActors) : depositActors,
    config: { treasuryParty: ledger.treasuryParty, ...(o.depositPolicy ? { policy: o.depositPolicy } : {}) },
    switches,
    traffic,
    catchUp,
    runtime,
    ...inspect,
    ...hooks,
  });
  if (o.metrics) {
    const metrics = o.metrics;
    // Lives as long as the ingestion component (committed$ never completes while it exists).
    ingestion.committed$.subscribe((b) => metrics.ingested(b));
    ingestion.restarts$.subscribe(() => metrics.ingestionRestarted());
    metrics.observeTraffic(traffic);
    metrics.observeIngestion({
      ledgerEnd: (signal) => ingestion.ledgerEnd(signal),
      // A standby instance has no position of its own: the stored checkpoint is the truth.
      committedOffset: async () => ingestion.progress().committedOffset ?? (await readCheckpoint(sql, ledger.treasuryParty))?.offset,
      queued: () => ingestion.progress().queued,
      continuityFailure: async () => (await readContinuityFailures(sql)).find((f) => f.treasuryParty === ledger.treasuryParty)?.reason,
    });
  }
  const holdingsJob =
    o.holdingsJob === false
      ? undefined
      : createHoldingsJob({
          sql,
          logger,
          treasuryParty: ledger.treasuryParty,
          withdrawals,
          ...(o.holdingsJob?.intervalMs !== undefined ? { intervalMs: o.holdingsJob.intervalMs } : {}),
          ...(o.withdrawalPolicy?.maxInputs !== undefined ? { maxInputs: o.withdrawalPolicy.maxInputs } : {}),
        });

  return {
    ingestion,
    withdrawals,
    deposits,
    holdingsJob,
    operator: createOperatorCommands({ withdrawal: withdrawals, deposit: deposits }),
    reconciliation: singleFlight(createReconcilerFrom({ sql, treasuryParty: ledger.treasuryParty, ledger: holdingsOnLedger })),
    holdingAdoption: createHoldingAdoption({ treasury: ledger.treasuryParty, ledger: holdingsOnLedger }),
    switches,
    recovery,
    traffic,
    ledgerRecovery: createLedgerRecovery({ sql, treasuryParty: ledger.treasuryParty, ingestion, switches }),
    components: [switches, traffic, recovery, ingestion, withdrawals, deposits, ...(holdingsJob ? [holdingsJob] : [])],
  };
}

import type { AddressInfo } from 'node:net';
import { describeConfig, type ApiToken, type Config, type LedgerConfig } from './config.js';
import { CONSOLE_PATH, registerConsoleRoutes } from './http/console/index.js';
import { registerHealthRoutes } from './http/routes/health.js';
import { registerApiRoutes } from './http/routes/index.js';
import { createHttpMetrics } from './http/metrics.js';
import { registerMetricsRoute } from './http/routes/metrics.js';
import { bindHttpServer, createHttpServer } from './http/server.js';
import { tokenProviderFor } from './ledger/auth.js';
import { createRegistryTokens, describeRegistryAuth } from './ledger/registry-auth.js';
import { createRegistryUrlPolicy, withoutCredentials } from './ledger/registry-url-policy.js';
import { healthOf, type Component, type HealthReport } from './lifecycle.js';
import type { Logger } from './logger.js';
import { createMachineInspector, STATELY_INSPECTOR_URL } from './http/inspector.js';
import { submissionOptions } from './machines/effects/index.js';
import { createMetrics } from './metrics.js';
import { createServiceMetrics } from './service-metrics.js';
import { createService, type Service, type ServiceOptions } from './service.js';
import { connect, ping, type Sql } from './store/db.js';
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres } from './store/embedded-postgres.js';
import { acquireDataDirLock } from './store/data-dir-lock.js';
import { secureDataDir, tightenTree } from './store/data-dir.js';
import { checkPostgresPatched } from './store/driver-patch.js';
import { listInstruments } from './store/instruments.js';
import { migrate } from './store/migrate.js';

/**
 * The seam for the embedded ledger double: with no LEDGER_API_URL configured the daemon asks this
 * provider for a ledger (the sandbox started in-process) and treats it exactly like a real validator.
 */
export interface EmbeddedLedger {
  /** The double's treasury key is always a file it wrote (TREASURY_SIGNER=pkcs11 needs a real LEDGER_API_URL). */
  ledger: LedgerConfig & { treasuryKeyFile: string };
  /** Stopped after everything that talks to the ledger. */
  component: Component;
  /** API tokens to use when API_TOKENS is empty (a sandbox needs one to be usable at all). */
  apiTokens?: ApiToken[];
  /** Run once the database is migrated: onboard the double's instruments, demo deposit accounts. */
  prepareDatabase?: (sql: Sql) => Promise<void>;
  /**
   * The double's registry base URLs (http on loopback): exempt from the registry URL policy, they
   * alone; any other registry stays under REGISTRY_ALLOW_HTTP and REGISTRY_ALLOW_HOSTS.
   */
  ownRegistryUrls?: readonly string[];
}
export type EmbeddedLedgerProvider = (ctx: { config: Config; logger: Logger }) => Promise<EmbeddedLedger>;

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  embeddedLedger?: EmbeddedLedgerProvider;
  /** Tuning of the ledger-facing parts (tests and benchmarks); production runs the defaults. */
  service?: Omit<
    ServiceOptions,
    'sql' | 'ledger' | 'logger' | 'singleInstance' | 'inspect' | 'metrics' | 'registryTokens' | 'registryPolicy'
  >;
}

export interface Daemon {
  /** Base URL of the HTTP server. */
  url: string;
  sql: Sql;
  ledger: LedgerConfig | undefined;
  /** The ledger-facing parts; undefined when no ledger is configured. */
  service: Service | undefined;
  health(): HealthReport;
  /** Drains HTTP requests and components, then closes the pool and the embedded database. */
  stop(): Promise<void>;
}

export async function startDaemon({ config, logger, embeddedLedger, service: tuning }: DaemonOptions): Promise<Daemon> {
  logger.info({ config: describeConfig(config) }, 'starting');
  // Undo stack: everything started so far is released, in reverse, on failure or stop.
  const cleanups: { what: string; run: () => Promise<void> }[] = [];
  const components: Component[] = [];
  const runCleanups = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c.run();
      } catch (e) {
        logger.error({ err: e, what: c.what }, 'error during shutdown');
      }
    }
  };

  try {
    checkPostgresPatched();
    // The port first: one in use stops start-up before anything has run (no ingestion, no machines,
    // no embedded ledger) and every step below is undone. Requests meanwhile get 503 NOT_READY.
    const httpServer = await bindHttpServer({ host: config.http.host, port: config.http.port });
    cleanups.push({ what: 'http port', run: () => new Promise<void>((resolve) => httpServer.close(() => resolve())) });
    let databaseUrl = config.databaseUrl;
    let poolMax = config.databasePoolMax;
    // The embedded database or the embedded ledger keep their files (and keys) under DATA_DIR.
    if (databaseUrl === undefined || (config.ledger === undefined && embeddedLedger)) await secureDataDir(config.dataDir);
    if (databaseUrl === undefined) {
      const release = await acquireDataDirLock(config.dataDir);
      cleanups.push({ what: 'data dir lock', run: release });
      const pg = await startEmbeddedPostgres(config.dataDir);
      cleanups.push({ what: 'embedded postgres', run: () => pg.stop() });
      await tightenTree(pg.dataDir);
      databaseUrl = pg.url;
      poolMax = EMBEDDED_POOL_MAX;
      logger.info({ dataDir: pg.dataDir }, 'embedded Postgres (PGlite) started; set DATABASE_URL to use a real server');
    }
    const sql = connect({ url: databaseUrl, max: poolMax, logger });
    cleanups.push({ what: 'database pool', run: () => sql.end({ timeout: 5 }) });
    const migrated = await migrate(sql, { logger });
    logger.info({ applied: migrated.applied, alreadyApplied: migrated.alreadyApplied }, 'database schema up to date');

    let ledger = config.ledger;
    let apiTokens = config.apiTokens;
    let embeddedRegistryUrls: readonly string[] = [];
    if (ledger === undefined) {
      if (embeddedLedger) {
        const embedded = await embeddedLedger({ config, logger });
        // Running from here on (its stop is idempotent): a later start-up failure must stop it too.
        cleanups.push({ what: 'embedded ledger', run: () => embedded.component.stop() });
        ledger = embedded.ledger;
        // Pushed first so it stops last: everything else talks to it.
        components.push(embedded.component);
        await embedded.prepareDatabase?.(sql);
        if (apiTokens.length === 0 && embedded.apiTokens) apiTokens = embedded.apiTokens;
        embeddedRegistryUrls = embedded.ownRegistryUrls ?? [];
        logger.warn(
          { apiUrl: embedded.ledger.apiUrl, treasuryParty: embedded.ledger.treasuryParty },
          'SANDBOX MODE: running against the embedded ledger double, not a real validator',
        );
      } else {
        logger.warn('no LEDGER_API_URL configured and no embedded ledger available: ledger components are not started');
      }
    }

    // One token provider per registry credential, shared by onboarding checks and the ledger effects.
    const registryTokens = createRegistryTokens({
      config: config.registryAuth,
      ledger: ledger ? tokenProviderFor(ledger.auth) : undefined,
    });
    // One policy for every registry call: onboarding's checks, the ledger effects' clients.
    const registryPolicy = createRegistryUrlPolicy({ config: config.registryUrls, exempt: embeddedRegistryUrls });
    // Settings may have changed under stored instruments: say so now, not at the first withdrawal.
    for (const i of await listInstruments(sql)) {
      const instrument = `${i.admin}/${i.id}`;
      const problem = registryTokens.problem(i.registryAuth, withoutCredentials(i.registryUrl));
      if (problem)
        logger.warn(
          { instrument, registryAuth: describeRegistryAuth(i.registryAuth) },
          `the instrument's registry auth cannot be used: ${problem.message}`,
        );
      const refused = registryPolicy.problem(i.registryUrl);
      if (refused)
        logger.warn(
          { instrument },
          `the instrument's registry URL is refused, its withdrawals and accepts will stall until it is fixed (PUT /v1/instruments): ${refused.message}`,
        );
    }

    const metrics = createMetrics(sql);
    // Registered with or without a ledger: the exposition keeps the same metric names.
    const serviceMetrics = createServiceMetrics(metrics.registry);
    let service: Service | undefined;
    let inspectorUrl: string | undefined;
    if (ledger !== undefined) {
      let inspect: ServiceOptions['inspect'];
      if (config.inspect.enabled) {
        if (!apiTokens.some((t) => t.scopes.includes('read'))) {
          throw new Error('INSPECT: the inspector bridge admits only API tokens with the read scope, and API_TOKENS has none');
        }
        const inspector = await createMachineInspector({
          host: config.inspect.host,
          port: config.inspect.port,
          tokens: apiTokens,
          logger,
          authFailureLimit: config.http.authFailureLimit,
        });
        cleanups.push({ what: 'machine inspector', run: () => inspector.stop() });
        inspect = inspector.inspect;
        inspectorUrl = inspector.url;
      }
      service = createService({
        sql,
        ledger,
        logger,
        ...tuning,
        effects: { ...submissionOptions(config.submission), ...tuning?.effects },
        traffic: { maxSubmissionsPerSecond: config.submission.maxSubmissionsPerSecond, ...tuning?.traffic },
        singleInstance: config.databaseUrl === undefined,
        registryTokens,
        registryPolicy,
        metrics: serviceMetrics,
        ...(inspect ? { inspect } : {}),
      });
      components.push(...service.components);
    }

    for (const c of components) {
      await c.start();
      cleanups.push({ what: c.name, run: () => c.stop() });
      logger.info({ component: c.name }, 'component started');
    }

    const app = await createHttpServer({
      logger,
      apiTokens,
      protectOpsEndpoints: config.protectOpsEndpoints,
      protectMetrics: config.protectMetrics,
      metrics: createHttpMetrics(metrics.registry),
      authFailures: { limit: config.http.authFailureLimit },
      maxConnections: config.http.maxConnections,
      server: httpServer,
    });
    registerMetricsRoute(app, metrics.registry);
    registerApiRoutes(app, {
      sql,
      registryTokens,
      registryPolicy,
      ...(service
        ? {
            operator: service.operator,
            reconciliation: service.reconciliation,
            holdingAdoption: service.holdingAdoption,
            switches: service.switches,
            ingestion: service.ingestion,
            recovery: service.recovery,
            traffic: service.traffic,
            ledgerRecovery: service.ledgerRecovery,
          }
        : {}),
    });
    registerConsoleRoutes(app);
    registerHealthRoutes(app, {
      health: () => healthOf(components),
      checkReady: async () => {
        await ping(sql);
        return { database: 'ok' };
      },
    });
    // Closing fastify first stops new requests and waits for in-flight ones before components stop.
    cleanups.push({ what: 'http server', run: () => app.close() });
    await app.ready();
    const addr = app.server.address() as AddressInfo;
    const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    logger.info({ url }, 'HTTP server listening');
    if (inspectorUrl !== undefined) {
      // Named once the console's address is known: the bridge's page needs the internet, the console does not.
      const offline = `${url}${CONSOLE_PATH}/`;
      logger.info(
        { url: inspectorUrl, online: STATELY_INSPECTOR_URL, offline },
        `Stately inspector bridge listening: open ${inspectorUrl}?token=<an API token with the read scope> for the live machines in the hosted Stately inspector (online: it loads ${STATELY_INSPECTOR_URL}); offline, the console at ${offline} draws each machine and its path from the daemon alone`,
      );
    }

    let stopping: Promise<void> | undefined;
    return {
      url,
      sql,
      ledger,
      service,
      health: () => healthOf(components),
      stop: () => {
        stopping ??= (async () => {
          logger.info('stopping');
          await runCleanups();
          logger.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await runCleanups();
    throw e;
  }
}

import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { SigningKeyError } from './ledger/signing.js';
import { startDaemon } from './daemon.js';
import { HttpBindError } from './http/server.js';
import { createLogger } from './logger.js';
import { DataDirLockedError } from './store/data-dir-lock.js';
import { MigrationError } from './store/migrate.js';

/** `npm start [-- --inspect]`: the daemon. Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration. */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { inspect: { type: 'boolean', default: false } }, strict: true });
  const env = { ...process.env, ...(values.inspect ? { INSPECT: 'true' } : {}) };

  let config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  // Everything the daemon knows is in the database, so exiting is safe; what matters is that the
  // reason is in the logs and a supervisor (systemd, Kubernetes) restarts it. Seen in practice: a
  // postgres.js socket write after a server restart (porsager/postgres#1066).
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception: exiting with code 1 (restart the daemon; it resumes from the database)');
    logger.flush(() => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
  });

  let daemon;
  try {
    daemon = await startDaemon({
      config,
      logger,
      // Loaded only when no LEDGER_API_URL is set: a production daemon never touches the double.
      embeddedLedger: async (ctx) => (await import('./sandbox/embedded-default.js')).embeddedSandboxLedger(ctx),
    });
  } catch (e) {
    // A key that cannot be used (a key file, an HSM) says what is wrong in one message: no stack needed.
    const expected =
      e instanceof MigrationError || e instanceof DataDirLockedError || e instanceof SigningKeyError || e instanceof HttpBindError;
    logger.fatal(expected ? { reason: (e as Error).message } : { err: e }, 'start-up failed');
    process.exitCode = 1;
    return;
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting for shutdown');
      process.exit(130);
    }
    logger.info({ signal }, 'shutting down');
    daemon.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

await main();

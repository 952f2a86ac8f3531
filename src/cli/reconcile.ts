import { parseArgs } from 'node:util';
import { formatReport } from '../admin/reconciliation/format.js';
import { createReconciler, ReconciliationError, type ReconcileProgress } from '../admin/reconciliation/run.js';
import { ConfigError, loadConfig } from '../config.js';
import { connect } from '../store/db.js';

/**
 * `npm run reconcile [-- --json] [--quiet]`: compares the treasury holdings in the database with
 * the ledger's active Holding contracts at the ingestion checkpoint, and the ingested movements
 * with the holdings total. Same environment as the daemon (DATABASE_URL, LEDGER_API_URL and its
 * credentials, TREASURY_PARTY). Exit codes: 0 clean, 1 differences, 2 could not reconcile.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false } },
    strict: true,
  });
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
  if (config.databaseUrl === undefined || config.ledger === undefined) {
    console.error(
      'reconcile needs DATABASE_URL and LEDGER_API_URL (with its credentials and TREASURY_PARTY), as the daemon uses them; ' +
        'a daemon running on its embedded database or ledger double serves the same report at GET /v1/reconciliation',
    );
    return 2;
  }
  const sql = connect({ url: config.databaseUrl, max: 2, applicationName: 'cxi-reconcile' });
  const progress = (p: ReconcileProgress) => {
    if (values.quiet) return;
    if (p.phase === 'database') console.error(`database: ${p.holdings} active treasury holdings at checkpoint offset ${p.offset}`);
    else if (p.phase === 'ledger') console.error(`ledger: ${p.read} active contracts read`);
    else console.error(`compared: ${p.differences} difference(s)`);
  };
  try {
    const report = await createReconciler({ sql, ledger: config.ledger }).run(progress);
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.clean ? 0 : 1;
  } catch (e) {
    if (e instanceof ReconciliationError) {
      console.error(`cannot reconcile: ${e.message}`);
      return 2;
    }
    throw e;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`reconcile failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 2;
  },
);

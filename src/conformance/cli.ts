import { runConformance } from './conformance.js';

/**
 * `npm run conformance -- [--ledger-url URL] …` (usage: settings.ts): the checks the daemon relies
 * on, against a validator or, by default, the ledger double started in-process. One line per check
 * on stdout; settings problems on stderr. Exit codes: 0 all passed, 1 a check failed, 2 bad settings.
 */
const code = await runConformance({
  argv: process.argv.slice(2),
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}).catch((e: unknown) => {
  process.stderr.write(`conformance could not run: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 1;
});
process.exitCode = code;

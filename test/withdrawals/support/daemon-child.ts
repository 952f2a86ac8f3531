import { parseArgs } from 'node:util';
import { connect } from '../../../src/store/db.js';
import { startDaemonParts } from '../../support/stack.js';
import { crashAt, type CrashPoint, type CrashWhen, type EffectStep } from './crash.js';
import { testLogger } from '../../support/silent-logger.js';

/**
 * The daemon's parts in a process of their own, for tests that SIGKILL it. With
 * `--kill-at <step>:<before|after>:<withdrawalId>` the process kills itself (SIGKILL, no cleanup of
 * any kind) at that point of that withdrawal. Prints "ready <api url>" once serving; SIGTERM stops
 * it gracefully.
 */
const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    ledger: { type: 'string' },
    token: { type: 'string' },
    party: { type: 'string' },
    user: { type: 'string' },
    'key-file': { type: 'string' },
    'kill-at': { type: 'string' },
  },
});

const sql = connect({ url: values.db!, max: 10 });
let point: CrashPoint | undefined;
if (values['kill-at']) {
  const [step, when, withdrawalId] = values['kill-at'].split(':') as [EffectStep, CrashWhen, string];
  point = { step, when, withdrawalId };
}
const parts = await startDaemonParts({
  sql,
  logger: testLogger(),
  ledger: {
    apiUrl: values.ledger!,
    userId: values.user!,
    auth: { kind: 'static', token: values.token! },
    treasuryParty: values.party!,
    treasuryKeyFile: values['key-file']!,
  },
  ...(point ? { intercept: { withdrawal: crashAt(point, () => process.kill(process.pid, 'SIGKILL')) } } : {}),
});
process.stdout.write(`ready ${parts.apiUrl}\n`);
process.once('SIGTERM', () => {
  void parts
    .stop()
    .then(() => sql.end({ timeout: 5 }))
    .then(() => process.exit(0));
});

import { parseArgs } from 'node:util';
import { createLogger } from '../../../src/logger.js';
import { connect } from '../../../src/store/db.js';
import { createIngestionComponent } from '../../../src/streams/index.js';

/**
 * Ingestion in a process of its own, for tests that kill it. Prints "committed <offset>" after
 * each batch; with --hang-at <n> it stops inside the n-th batch transaction (after writing, before
 * commit), prints "hanging" and waits to be killed.
 */
const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    ledger: { type: 'string' },
    token: { type: 'string' },
    party: { type: 'string' },
    batch: { type: 'string', default: '5' },
    'hang-at': { type: 'string' },
  },
});
const hangAt = values['hang-at'] === undefined ? undefined : Number(values['hang-at']);
const sql = connect({ url: values.db!, max: 4 });
let batches = 0;
const c = createIngestionComponent({
  sql,
  logger: createLogger({ level: 'error', pretty: false }),
  ledger: { apiUrl: values.ledger!, auth: { kind: 'static', token: values.token! }, treasuryParty: values.party! },
  options: {
    batchMaxSize: Number(values.batch),
    batchMaxWaitMs: 5,
    faults: async (point) => {
      if (point !== 'written') return;
      if (++batches === hangAt) {
        process.stdout.write('hanging\n');
        await new Promise(() => {}); // until killed, transaction open
      }
    },
  },
});
c.committed$.subscribe((b) => process.stdout.write(`committed ${b.checkpoint.offset}\n`));
await c.start();

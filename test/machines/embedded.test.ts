import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDepositRuntime } from '../../src/machines/runtime/deposit.js';
import { createWithdrawalRuntime } from '../../src/machines/runtime/withdrawal.js';
import { connect } from '../../src/store/db.js';
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { migrate } from '../../src/store/migrate.js';
import { createReservationActors } from '../../src/machines/effects/reservations.js';
import { testLogger } from '../support/silent-logger.js';
import { FakeLedger } from './support/fake-ledger.js';
import { AMULET, insertHolding, insertInstrument, TREASURY } from './support/fixtures.js';
import { requestWithdrawal, stateOf, TIMINGS, waitFor, waitForState } from './support/runtime.js';

/** `npm start` runs on embedded PGlite: one session, one connection, no leader election. */
const dir = await mkdtemp(join(tmpdir(), 'cxi-machines-'));
const pg = await startEmbeddedPostgres(dir);
const sql = connect({ url: pg.url, max: EMBEDDED_POOL_MAX });
await migrate(sql);
afterAll(async () => {
  await sql.end({ timeout: 5 });
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('machines on embedded PGlite (single connection)', () => {
  it('both runtimes share the one connection; a withdrawal survives a crash mid-execute and completes once', async () => {
    const ledger = new FakeLedger(sql);
    await insertInstrument(sql, AMULET);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    const runtime = { ...TIMINGS, leaderElection: 'none' as const };
    const make = () =>
      createWithdrawalRuntime({
        sql,
        logger: testLogger(),
        actors: { ...ledger.withdrawalActors(), ...ledger.wrapDb(createReservationActors(sql)) },
        config: { treasuryParty: TREASURY },
        runtime,
      });
    const deposits = createDepositRuntime({
      sql,
      logger: testLogger(),
      actors: ledger.depositActors(),
      config: { treasuryParty: TREASURY },
      runtime,
    });
    await deposits.start();
    ledger.plan('executeSubmission', 'commitThenHang');
    const first = make();
    await first.start();
    await requestWithdrawal(sql, 'w1', '10');
    await waitForState(sql, 'withdrawal', 'w1', 'executing');
    await waitFor(
      'committed',
      async () => ledger.commits.length,
      (n) => n === 1,
    );
    await first.abort();
    const second = make();
    await second.start();
    await waitFor(
      'completed',
      async () => {
        await ledger.ingest();
        return stateOf(sql, 'withdrawal', 'w1');
      },
      (s) => s === 'completed',
    );
    expect(ledger.commits).toHaveLength(1);
    await second.stop();
    await deposits.stop();
    expect(deposits.status().state).toBe('stopped');
  });
});

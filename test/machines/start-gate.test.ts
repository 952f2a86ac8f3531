import { describe, expect, it } from 'vitest';
import { createWithdrawalRuntime } from '../../src/machines/runtime/withdrawal.js';
import type { MachineRuntime } from '../../src/machines/runtime/runtime.js';
import type { CatchUp } from '../../src/machines/runtime/types.js';
import type { Sql } from '../../src/store/db.js';
import { appendOutboxEvents } from '../../src/store/outbox.js';
import { createReservationActors } from '../../src/machines/effects/reservations.js';
import { testLogger } from '../support/silent-logger.js';
import { FakeLedger } from './support/fake-ledger.js';
import { insertHolding, TREASURY } from './support/fixtures.js';
import { freshDatabase, requestWithdrawal, stateOf, TIMINGS, waitFor, waitForState, WITHDRAWAL_POLICY } from './support/runtime.js';
import { sampleEvent } from '../support/outbox-events.js';

/**
 * The runtime's start gate (issue 19, item 1): after a start, effects that reach the ledger wait
 * until ingestion has caught up with the ledger end (RuntimeOptions.catchUp) and the events it wrote
 * up to there are applied, so a machine restored from an older database learns what the ledger did
 * before acting on its snapshot. Outcome events apply meanwhile.
 */

const W = 'withdrawal';

function gate(): { catchUp: CatchUp; open(): void; asked: () => number } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  let asked = 0;
  return {
    catchUp: async (signal) => {
      asked++;
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        void opened.then(resolve);
      });
      return 0;
    },
    open,
    asked: () => asked,
  };
}

async function start(sql: Sql, ledger: FakeLedger, catchUp?: CatchUp): Promise<MachineRuntime> {
  const rt = createWithdrawalRuntime({
    sql,
    logger: testLogger(),
    actors: { ...ledger.withdrawalActors(), ...ledger.wrapDb(createReservationActors(sql)) },
    config: { treasuryParty: TREASURY, policy: WITHDRAWAL_POLICY },
    runtime: TIMINGS,
    ...(catchUp ? { catchUp } : {}),
  });
  await rt.start();
  return rt;
}

/** A machine left in preparing by a crash, its prepare never answered. */
async function crashedWhilePreparing(sql: Sql, ledger: FakeLedger): Promise<void> {
  await insertHolding(sql, { contractId: 'h1', amount: '5' });
  ledger.plan('prepareTransfer', 'hang');
  const first = await start(sql, ledger);
  await requestWithdrawal(sql, 'w1', '5');
  await waitForState(sql, W, 'w1', 'preparing.preparingTransaction');
  await first.abort();
}

describe('withdrawal runtime: the start gate', () => {
  it('holds a restored effect until ingestion has caught up, then runs it', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await crashedWhilePreparing(sql, ledger);
    const g = gate();
    const rt = await start(sql, ledger, g.catchUp);
    try {
      await waitFor(
        'catch-up asked',
        async () => g.asked(),
        (n) => n === 1,
      );
      expect(rt.status()).toEqual({
        state: 'running',
        detail: 'effects held until ingestion has caught up with the ledger end seen at start',
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(ledger.count('prepareTransfer')).toBe(1);
      g.open();
      await waitFor(
        'prepare re-run',
        async () => ledger.count('prepareTransfer'),
        (n) => n === 2,
      );
      expect(rt.status()).toEqual({ state: 'running' });
      await waitForState(sql, W, 'w1', 'awaitingLedger.waiting');
    } finally {
      await rt.abort();
    }
  });

  it('an outcome ingestion wrote meanwhile reaches the machine first: it never acts on its stale snapshot', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await crashedWhilePreparing(sql, ledger);
    // What a restored database does not know yet and ingestion writes again: the transfer of w1.
    await sql.begin(async (tx) => {
      await tx`update withdrawals set transfer_update_id = 'upd-paid' where withdrawal_id = 'w1'`;
      await appendOutboxEvents(tx, [sampleEvent('withdrawal.transferred', 'w1', { updateId: 'upd-paid', outcome: 'completed' })]);
    });
    const g = gate();
    const rt = await start(sql, ledger, g.catchUp);
    try {
      await waitForState(sql, W, 'w1', 'completed');
      g.open();
      await new Promise((r) => setTimeout(r, 200));
      expect(ledger.count('prepareTransfer')).toBe(1);
      expect(await stateOf(sql, W, 'w1')).toBe('completed');
    } finally {
      await rt.abort();
    }
  });
});

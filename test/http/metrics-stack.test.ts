import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthOf } from '../../src/lifecycle.js';
import { Scrape } from '../support/prometheus.js';
import { startStack, type Stack } from '../support/stack.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * GET /metrics of a running daemon (the stack with metrics on) while it does real work: the
 * treasury is funded, two withdrawals are paid (one after a refused prepare), a deposit arrives.
 * Every metric a dashboard relies on must be there and must move the way the work says.
 */

let s: Stack;
/** While set, ingestion's batch transactions wait before committing (lag the test can see). */
let hold: Promise<void> | undefined;
/** While set, the next batch transaction fails (not a transient database error): the run fails. */
let failNextBatch = false;
beforeAll(async () => {
  s = await startStack({
    // The injected failure below is logged as an error: only when asked (LOG_LEVEL).
    logger: testLogger(),
    metrics: true,
    ingestion: {
      faults: async (point) => {
        if (point === 'written' && failNextBatch) {
          failNextBatch = false;
          throw new Error('injected: the batch failed');
        }
        if (point === 'before-commit') await hold;
      },
    },
  });
});
afterAll(async () => {
  await s?.close();
});

async function scrape(): Promise<Scrape> {
  const res = await fetch(`${s.daemon.apiUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return Scrape.parse(await res.text());
}

/** Scrapes until `ok` holds (gauges read at scrape time may trail the work by a cache period). */
async function scrapeUntil(what: string, ok: (m: Scrape) => boolean, timeoutMs = 10_000): Promise<Scrape> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrape();
    if (ok(m)) return m;
    if (Date.now() > until) throw new Error(`metrics never showed ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('metrics of a working daemon', () => {
  it('are present and move with ingestion, withdrawals, deposits and HTTP traffic', async () => {
    await s.caughtUp();
    const before = await scrape();
    for (const name of [
      'cxi_ingestion_offset',
      'cxi_ledger_end_offset',
      'cxi_ingestion_lag_offsets',
      'cxi_updates_ingested_total',
      'cxi_ingestion_batches_total',
      'cxi_withdrawal_attempts_total',
      'cxi_machine_failures_total',
      'cxi_process_process_resident_memory_bytes',
    ]) {
      expect(before.declared.has(name), name).toBe(true);
    }
    const offset0 = before.value('cxi_ingestion_offset') ?? 0;
    const updates0 = before.sum('cxi_updates_ingested_total');

    // Work: holdings, two 1-step withdrawals (the first prepare is refused once), a 1-step deposit.
    await s.fundTreasury('Amulet', '1000', 3);
    const bob = s.customer({ preapproval: true });
    s.sandbox.control.addFault({ match: { path: '/v2/interactive-submission/prepare' }, action: { kind: 'http503' }, once: true });
    for (const id of ['m-w1', 'm-w2'])
      expect((await s.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' })).status).toBe(201);
    await s.waitForWithdrawal('m-w1', 'completed');
    await s.waitForWithdrawal('m-w2', 'completed');
    await s.depositAccount('memo-metrics');
    const carol = s.customer({ fund: [{ instrument: 'Amulet', amount: '500' }] });
    const sent = s.sandbox.control.transfer({ from: carol, to: s.treasury, instrument: 'Amulet', amount: '25', memo: 'memo-metrics' });
    await s.caughtUp();
    const [dep] = await s.sql<{ deposit_id: string }[]>`select deposit_id from deposits where credit_update_id = ${sent.updateId}`;
    expect(dep).toBeDefined();
    await s.waitForDeposit(dep!.deposit_id, (d) => d.status !== 'pending');
    const ledgerEnd = s.sandbox.control.books.ledgerEnd().offset;
    await s.caughtUp();

    const after = await scrapeUntil(
      'ingestion caught up with lag 0',
      (m) => m.value('cxi_ingestion_lag_offsets') === 0 && (m.value('cxi_ledger_end_offset') ?? 0) >= ledgerEnd,
    );

    // Ingestion: new transactions (3 mints, 2 withdrawals, 1 deposit at least), offset moved, no lag.
    expect(after.sum('cxi_updates_ingested_total') - updates0).toBeGreaterThanOrEqual(6);
    expect(after.sum('cxi_ingestion_batches_total')).toBeGreaterThan(0);
    expect(after.value('cxi_ingestion_offset')).toBeGreaterThan(offset0);
    expect(after.value('cxi_ingestion_offset')).toBeGreaterThanOrEqual(ledgerEnd);
    expect(after.value('cxi_ingestion_record_time_seconds')).toBeGreaterThan(0);

    // Machines: both withdrawals completed, the deposit has a machine; attempts and the refused prepare counted.
    expect(after.value('cxi_machines', { type: 'withdrawal', state: 'completed', final: 'true' })).toBe(2);
    expect(before.sum('cxi_machines', { type: 'withdrawal' })).toBe(0);
    expect(after.sum('cxi_machines', { type: 'deposit' })).toBeGreaterThanOrEqual(1);
    expect(after.value('cxi_withdrawals', { status: 'completed', reason: '' })).toBe(2);
    expect(after.sum('cxi_withdrawal_attempts_total')).toBe(2);
    const failures = after.series('cxi_machine_failures_total', { type: 'withdrawal' });
    expect(failures.reduce((a, f) => a + f.value, 0)).toBeGreaterThanOrEqual(1);
    expect(failures.every((f) => f.labels.code !== undefined && f.labels.code !== '')).toBe(true);
    expect(after.value('cxi_machine_outcomes_total', { type: 'withdrawal', state: 'completed' })).toBe(2);
    expect(after.sum('cxi_machine_transitions_total', { type: 'withdrawal' })).toBeGreaterThan(4);

    // Holdings: the treasury holds Amulet.
    const amulet = `${s.cc.admin}/${s.cc.id}`;
    expect(after.value('cxi_holdings', { instrument: amulet })).toBeGreaterThan(0);
    expect(after.value('cxi_holdings_total', { instrument: amulet })).toBeGreaterThan(3000 - 20 - 1);

    // HTTP: the two POSTs are in the latency histogram under the route template.
    expect(after.value('cxi_http_request_duration_seconds_count', { method: 'POST', route: '/v1/withdrawals', status: '201' })).toBe(2);
    expect(
      after.value('cxi_http_request_duration_seconds_bucket', { method: 'POST', route: '/v1/withdrawals', status: '201', le: '+Inf' }),
    ).toBe(2);
  });

  it('show the lag while ingestion is behind the ledger end, and 0 once it caught up', async () => {
    await s.caughtUp();
    let release!: () => void;
    hold = new Promise<void>((r) => (release = r));
    try {
      for (let i = 0; i < 3; i++) s.sandbox.control.mint(s.treasury, 'Amulet', '5');
      const end = s.sandbox.control.books.ledgerEnd().offset;
      const behind = await scrapeUntil(
        'a lag',
        (m) => (m.value('cxi_ledger_end_offset') ?? 0) >= end && (m.value('cxi_ingestion_lag_offsets') ?? 0) > 0,
      );
      expect(behind.value('cxi_ingestion_offset')).toBeLessThan(end);
    } finally {
      hold = undefined;
      release();
    }
    await s.caughtUp();
    await scrapeUntil('the lag back at 0', (m) => m.value('cxi_ingestion_lag_offsets') === 0);
  });

  it('count automatic restarts of a failed ingestion run; the component is failed (health red) until it runs again', async () => {
    await s.caughtUp();
    const restarts0 = (await scrape()).sum('cxi_ingestion_restarts_total');
    failNextBatch = true;
    s.sandbox.control.mint(s.treasury, 'Amulet', '5');
    const until = Date.now() + 10_000;
    while (s.daemon.ingestion.status().state !== 'failed') {
      if (Date.now() > until) throw new Error(`ingestion is ${s.daemon.ingestion.status().state}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(healthOf([s.daemon.ingestion]).healthy).toBe(false);
    expect(s.daemon.ingestion.status().detail).toMatch(/injected: the batch failed \(restart 1 of 10 in 1000 ms\)/);
    while (s.daemon.ingestion.status().state !== 'running') {
      if (Date.now() > until) throw new Error(`ingestion is ${s.daemon.ingestion.status().state}: ${s.daemon.ingestion.status().detail}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await s.caughtUp();
    expect((await scrape()).sum('cxi_ingestion_restarts_total') - restarts0).toBe(1);
  });
});

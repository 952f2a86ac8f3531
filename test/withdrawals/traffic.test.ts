import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { WithdrawalContext } from '../../src/machines/withdrawal.context.js';
import { loadSnapshot } from '../../src/store/machines.js';
import { Scrape } from '../support/prometheus.js';
import { startStack, type Stack } from '../support/stack.js';
import { checkPaidAtMostOnce } from './support/money.js';

/**
 * The validator out of synchronizer traffic (README "Traffic"): the double refuses every
 * submission as Canton does once its participant's traffic is spent; the daemon holds all
 * submissions (a condition of the validator, not of a withdrawal), probes after a backoff, counts
 * no retry against any withdrawal, shows the hold on /health, /v1/admin/traffic and /metrics, and
 * completes every withdrawal once traffic is bought again.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function until<T>(what: string, read: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function scrape(s: Stack): Promise<Scrape> {
  const res = await fetch(`${s.daemon.apiUrl}/metrics`);
  return Scrape.parse(await res.text());
}

async function context(s: Stack, id: string): Promise<WithdrawalContext> {
  const row = await loadSnapshot(s.sql, 'withdrawal', id);
  return WithdrawalContext.parse((row!.snapshot as { context: unknown }).context);
}

describe('a validator out of traffic', () => {
  it('holds every withdrawal without failing any or spending a retry, shows it, and completes them after a refill', async () => {
    // Budgets so small that two counted retries would fail a withdrawal: the hold must spend none.
    const s = (stack = await startStack({
      // The hold warns by design; quiet here unless LOG_LEVEL asks.
      logger: createLogger({ level: process.env.LOG_LEVEL ?? 'silent', pretty: false }),
      metrics: true,
      withdrawalPolicy: { maxTransientRetries: 1, maxAttempts: 1 },
      traffic: { probe: { initialMs: 40, maxMs: 150 } },
    }));
    await s.fundTreasury('Amulet', '1000', 4);
    const bob = s.customer({ preapproval: true });
    s.sandbox.control.setTraffic(0);

    const ids = ['w-traffic-1', 'w-traffic-2', 'w-traffic-3'];
    for (const id of ids)
      expect((await s.requestWithdrawal({ withdrawalId: id, receiver: bob, instrument: 'Amulet', amount: '10' })).status).toBe(201);

    // Refused, held, probed again and again: well past any retry budget.
    await until(
      'several refusals for traffic',
      () => s.sandbox.control.traffic().refusals,
      (n) => n >= 5,
    );
    expect(s.daemon.traffic.state()).toMatchObject({ held: true, reason: expect.stringContaining('SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT') });
    for (const id of ids) {
      const w = await s.waitForWithdrawal(id, (r) => !['completed', 'failed', 'stalled', 'cancelled'].includes(r.status));
      expect(w.status).not.toBe('failed');
      const c = await context(s, id);
      expect(c.transientFailures).toBe(0);
      expect(c.pendingFailure).toBeNull();
      expect(c.haltReason).toBeNull();
      expect(c.attempt - c.retryBase).toBeLessThanOrEqual(1);
    }
    // The withdrawal whose transfer was refused says why; the ledger has nothing of any of them.
    const refused = await until(
      'a withdrawal held for traffic',
      async () => Promise.all(ids.map(async (id) => (await s.api('GET', `/v1/withdrawals/${id}`)).body)),
      (ws) => ws.some((w) => w['statusCode'] === 'TRAFFIC_EXHAUSTED'),
    );
    expect(refused.find((w) => w['statusCode'] === 'TRAFFIC_EXHAUSTED')).toMatchObject({
      status: 'awaiting_ledger',
      statusReason: expect.stringContaining('out of synchronizer traffic'),
    });
    expect(s.sandbox.control.books.transfers().filter((t) => ids.includes(t.memo ?? ''))).toHaveLength(0);

    // Shown: /health stays green with the traffic component degraded; the operator endpoint and the gauge.
    const health = await fetch(`${s.daemon.apiUrl}/health`, { headers: { authorization: 'Bearer stack-token-0123456789abcdef' } });
    expect(health.status).toBe(200);
    const body = (await health.json()) as { status: string; components: Record<string, { state: string; detail?: string }> };
    expect(body.status).toBe('ok');
    expect(body.components['traffic']).toMatchObject({ state: 'degraded', detail: expect.stringContaining('out of synchronizer traffic') });
    expect((await s.api('GET', '/v1/admin/traffic')).body).toMatchObject({ held: true, refusals: expect.any(Number) });
    const during = await scrape(s);
    expect(during.value('cxi_traffic_held')).toBe(1);
    expect(during.value('cxi_traffic_refusals_total')).toBeGreaterThanOrEqual(5);

    // Traffic bought: the next probe gets through and everything completes, each paid once.
    s.sandbox.control.refillTraffic(10_000_000);
    for (const id of ids)
      expect(await s.waitForWithdrawal(id, ['completed', 'failed', 'stalled'])).toMatchObject({ status: 'completed', attempt: 1 });
    await checkPaidAtMostOnce(s, ids);
    await until(
      'the gate open',
      () => s.daemon.traffic.state().held,
      (held) => !held,
    );
    const after = await scrape(s);
    expect(after.value('cxi_traffic_held')).toBe(0);

    // Each withdrawal keeps the estimate of the transfer it signed; the double charged exactly those.
    const estimates = await Promise.all(
      ids.map(async (id) => (await s.api('GET', `/v1/withdrawals/${id}`)).body['trafficCostEstimate'] as number),
    );
    for (const e of estimates) expect(e).toBeGreaterThan(1_000);
    expect(s.sandbox.control.traffic().consumed).toBe(estimates.reduce((a, b) => a + b, 0));
    expect(after.value('cxi_traffic_cost_estimated_bytes_total', { type: 'withdrawal' })).toBe(estimates.reduce((a, b) => a + b, 0));
  });

  it('holds a 2-step deposit accept without spending its accept budget, and credits it after a refill', async () => {
    const s = (stack = await startStack({
      logger: createLogger({ level: process.env.LOG_LEVEL ?? 'silent', pretty: false }),
      depositPolicy: { maxAcceptAttempts: 1 },
      traffic: { probe: { initialMs: 40, maxMs: 150 } },
    }));
    const acct = await s.depositAccount('memo-traffic');
    const ida = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    s.sandbox.control.setTraffic(0);
    const cid = s.sandbox.control.transfer({
      from: ida,
      to: s.treasury,
      instrument: 'UTK',
      amount: '20',
      memo: 'memo-traffic',
    }).transferInstructionCid!;
    // Refused more often than its budget of one accept allows: never accept_failed.
    await until(
      'the accept refused again and again',
      () => s.sandbox.control.traffic().refusals,
      (n) => n >= 3,
    );
    expect((await s.waitForDeposit(cid, () => true)).status).toBe('accepting');
    expect(s.daemon.traffic.state().held).toBe(true);
    s.sandbox.control.setTraffic(null);
    expect(await s.waitForDeposit(cid, ['credited', 'accept_failed'])).toMatchObject({ status: 'credited', accountId: acct });
  });
});

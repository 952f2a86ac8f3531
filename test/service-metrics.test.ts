import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { CommittedTransition } from '../src/machines/runtime/index.js';
import { createServiceMetrics, failureCodeOf } from '../src/service-metrics.js';
import { Scrape } from './support/prometheus.js';

const amulet = { admin: 'DSO::1220aa', id: 'Amulet' };
const transition = (over: Partial<CommittedTransition>): CommittedTransition => ({
  machineType: 'withdrawal',
  machineId: 'w1',
  seq: 1,
  eventType: 'RESERVED',
  event: {},
  from: 'requested',
  to: 'preparing',
  isFinal: false,
  prevContext: null,
  context: { attempt: 0, instrument: amulet },
  ...over,
});

async function scrape(registry: Registry): Promise<Scrape> {
  // Past the (0 ms) ledger-end cache of the previous scrape.
  await new Promise((r) => setTimeout(r, 3));
  return Scrape.parse(await registry.metrics());
}

describe('service metrics', () => {
  it('count withdrawal attempts, effect failures by code, transitions and outcomes from committed transitions', async () => {
    const registry = new Registry();
    const { runtimeHooks } = createServiceMetrics(registry);
    const hook = runtimeHooks.afterCommit!;
    hook(transition({ prevContext: null, context: { attempt: 0, instrument: amulet } }));
    hook(transition({ seq: 2, prevContext: { attempt: 0 }, context: { attempt: 1, instrument: amulet } }));
    hook(
      transition({
        seq: 3,
        eventType: 'xstate.error.actor.0.withdrawal.preparing',
        event: { error: { name: 'ActorError', failure: { code: 'INPUT_UNAVAILABLE', message: 'gone', retryable: true } } },
        prevContext: { attempt: 1 },
        context: { attempt: 1, instrument: amulet },
      }),
    );
    hook(
      transition({
        seq: 4,
        eventType: 'xstate.error.actor.1',
        event: { error: { name: 'Error', message: 'boom' } },
        prevContext: { attempt: 1 },
        context: { attempt: 2, instrument: amulet },
      }),
    );
    hook(transition({ seq: 5, to: 'completed', isFinal: true, prevContext: { attempt: 2 }, context: { attempt: 2, instrument: amulet } }));
    // A restored machine's first transition compares with its restored context: nothing new.
    hook(transition({ machineId: 'w2', prevContext: { attempt: 3 }, context: { attempt: 3, instrument: amulet } }));
    hook(transition({ machineType: 'deposit', machineId: 'd1', to: { failed: 'x' }, isFinal: true, context: { attempt: 5 } }));

    const m = await scrape(registry);
    expect(m.value('cxi_withdrawal_attempts_total', { instrument: 'DSO::1220aa/Amulet' })).toBe(2);
    expect(m.value('cxi_machine_failures_total', { type: 'withdrawal', code: 'INPUT_UNAVAILABLE' })).toBe(1);
    expect(m.value('cxi_machine_failures_total', { type: 'withdrawal', code: 'UNEXPECTED' })).toBe(1);
    expect(m.value('cxi_machine_transitions_total', { type: 'withdrawal' })).toBe(6);
    expect(m.value('cxi_machine_outcomes_total', { type: 'withdrawal', state: 'completed' })).toBe(1);
    expect(m.value('cxi_machine_outcomes_total', { type: 'deposit', state: 'failed.x' })).toBe(1);
    expect(m.sum('cxi_withdrawal_attempts_total')).toBe(2);
  });

  it('reads the failure class of an effect error event: a closed set, never a ledger error id', () => {
    expect(failureCodeOf({ error: { failure: { code: 'INPUT_UNAVAILABLE', message: 'x', retryable: false } } })).toBe('INPUT_UNAVAILABLE');
    expect(failureCodeOf({ error: { failure: { code: 'CONTRACT_NOT_FOUND', message: 'x', retryable: false } } })).toBe('PERMANENT_FAILURE');
    expect(failureCodeOf({ error: { failure: { code: 'UNAVAILABLE', message: 'x', retryable: true, status: 503 } } })).toBe(
      'TRANSIENT_FAILURE',
    );
    expect(failureCodeOf({ error: { failure: { code: 'CONTRACT_NOT_FOUND' } } })).toBe('UNEXPECTED');
    expect(failureCodeOf({ error: { message: 'x' } })).toBe('UNEXPECTED');
    expect(failureCodeOf({ error: 'text' })).toBe('UNEXPECTED');
  });

  it('count ingested batches and compute the lag from the ledger end and the committed offset', async () => {
    const registry = new Registry();
    const metrics = createServiceMetrics(registry, { ledgerEndCacheMs: 0 });
    metrics.ingested({
      checkpoint: {
        treasuryParty: 't',
        offset: 10,
        updateId: null,
        updateOffset: null,
        participantId: null,
        recordTime: null,
        synchronizerId: null,
        synchronizerTimes: {},
      },
      elements: 5,
      transactions: 3,
      skipped: 1,
      eventIds: [],
      parsedAhead: true,
      warnings: [],
    });
    let end = 20;
    let committed: number | undefined = 10;
    let failing = false;
    metrics.observeIngestion({
      ledgerEnd: async () => {
        if (failing) throw new Error('validator down');
        return end;
      },
      committedOffset: async () => committed,
      queued: () => 7,
    });
    let m = await scrape(registry);
    expect(m.value('cxi_updates_ingested_total')).toBe(3);
    expect(m.value('cxi_ingestion_elements_total')).toBe(5);
    expect(m.value('cxi_ingestion_batches_parsed_ahead_total')).toBe(1);
    expect(m.value('cxi_ingestion_duplicates_total')).toBe(1);
    expect(m.value('cxi_ingestion_batches_total')).toBe(1);
    expect(m.value('cxi_ledger_end_offset')).toBe(20);
    expect(m.value('cxi_ingestion_lag_offsets')).toBe(10);
    expect(m.value('cxi_ingestion_queued')).toBe(7);

    committed = 25; // ahead of a stale ledger end: never negative
    m = await scrape(registry);
    expect(m.value('cxi_ingestion_lag_offsets')).toBe(0);

    failing = true; // the gauges keep their last value, the error is counted
    end = 99;
    m = await scrape(registry);
    expect(m.value('cxi_ledger_end_offset')).toBe(20);
    expect(m.value('cxi_ledger_end_errors_total')).toBe(1);
  });
});

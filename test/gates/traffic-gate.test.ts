import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTrafficGate, type TrafficGate } from '../../src/gates/traffic.js';
import { createLogger } from '../../src/logger.js';

/**
 * The traffic gate (src/gates/traffic.ts) alone, on a fake clock: open passes everything; a
 * refusal for traffic holds every machine's effects; after a backoff one machine probes (one that
 * is ready to submit first), and its answer opens the gate or holds it longer; the rate cap spaces
 * submissions.
 */

const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', pretty: false });
let gate: TrafficGate;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  await gate.stop();
  vi.useRealTimers();
});

/** A promise's settlement as a value the test can look at without awaiting it. */
function track(p: Promise<void>): { state: 'pending' | 'resolved' | 'rejected' } {
  const t = { state: 'pending' as 'pending' | 'resolved' | 'rejected' };
  p.then(
    () => (t.state = 'resolved'),
    () => (t.state = 'rejected'),
  );
  return t;
}

const signal = () => new AbortController().signal;

describe('the traffic gate', () => {
  it('open: nothing waits; a refusal holds every effect, a probe after the backoff, an accepted submission opens it', async () => {
    gate = createTrafficGate({ logger, probe: { initialMs: 1_000, maxMs: 4_000 } });
    await gate.start();
    await expect(gate.beforeSubmission('withdrawal:a', signal())).resolves.toBeUndefined();
    expect(gate.status()).toEqual({ state: 'running' });

    gate.observed('exhausted', 'SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT');
    expect(gate.state()).toMatchObject({ held: true, reason: 'SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT', refusals: 1 });
    expect(gate.status()).toMatchObject({ state: 'degraded', detail: expect.stringContaining('out of synchronizer traffic') });
    const reserve = track(gate.beforeSubmission('withdrawal:b', signal()));
    const resubmit = track(gate.submission('withdrawal:a', signal()));
    const accept = track(gate.beforeSubmission('deposit:c', signal()));
    await vi.advanceTimersByTimeAsync(999);
    expect([reserve.state, resubmit.state, accept.state]).toEqual(['pending', 'pending', 'pending']);
    expect(gate.state().waiting).toBe(3);

    // The probe goes to the machine ready to submit, the others stay held.
    await vi.advanceTimersByTimeAsync(2);
    expect(gate.state().probe).toBe('withdrawal:a');
    expect([reserve.state, resubmit.state, accept.state]).toEqual(['pending', 'resolved', 'pending']);

    // Refused again: held, the next probe twice as late, to whoever waits then.
    gate.observed('exhausted', 'again');
    expect(gate.state()).toMatchObject({ held: true, probe: null, refusals: 2 });
    await vi.advanceTimersByTimeAsync(1_900);
    expect(gate.state().probe).toBeNull();
    await vi.advanceTimersByTimeAsync(200);
    expect(gate.state().probe).toBe('withdrawal:b');
    expect([reserve.state, accept.state]).toEqual(['resolved', 'pending']);
    // The probe's machine passes its next effects too, up to its submission.
    await expect(gate.submission('withdrawal:b', signal())).resolves.toBeUndefined();

    gate.observed('accepted');
    await vi.advanceTimersByTimeAsync(0);
    expect(accept.state).toBe('resolved');
    expect(gate.state()).toMatchObject({ held: false, since: null, waiting: 0, refusals: 2 });
    expect(gate.status()).toEqual({ state: 'running' });
  });

  it('an answer that says nothing about traffic frees the probe for another machine after the same backoff', async () => {
    gate = createTrafficGate({ logger, probe: { initialMs: 1_000, maxMs: 4_000 } });
    await gate.start();
    gate.observed('exhausted');
    const a = track(gate.submission('withdrawal:a', signal()));
    await vi.advanceTimersByTimeAsync(1_001);
    expect(a.state).toBe('resolved');
    gate.observed('inconclusive');
    expect(gate.state()).toMatchObject({ held: true, probe: null });
    const b = track(gate.submission('withdrawal:b', signal()));
    await vi.advanceTimersByTimeAsync(1_001);
    expect(b.state).toBe('resolved');
  });

  it('a probe that never submits is taken back after the probe timeout', async () => {
    gate = createTrafficGate({ logger, probe: { initialMs: 100, maxMs: 100 }, probeTimeoutMs: 5_000 });
    await gate.start();
    gate.observed('exhausted');
    const a = track(gate.beforeSubmission('withdrawal:a', signal()));
    await vi.advanceTimersByTimeAsync(101);
    expect(a.state).toBe('resolved');
    const b = track(gate.beforeSubmission('withdrawal:b', signal()));
    await vi.advanceTimersByTimeAsync(4_000);
    expect(b.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1_200);
    expect(b.state).toBe('resolved');
    expect(gate.state().probe).toBe('withdrawal:b');
  });

  it('an effect whose machine moves on stops waiting', async () => {
    gate = createTrafficGate({ logger });
    await gate.start();
    gate.observed('exhausted');
    const ac = new AbortController();
    const held = track(gate.beforeSubmission('withdrawal:a', ac.signal));
    await vi.advanceTimersByTimeAsync(0);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(held.state).toBe('rejected');
    expect(gate.state().waiting).toBe(0);
  });

  it('caps submissions per second, evenly spaced; the steps before them are not capped', async () => {
    gate = createTrafficGate({ logger, maxSubmissionsPerSecond: 4 });
    await gate.start();
    const started: number[] = [];
    const t0 = Date.now();
    const all = Array.from({ length: 5 }, (_, i) => gate.submission(`withdrawal:${i}`, signal()).then(() => started.push(Date.now() - t0)));
    const before = track(gate.beforeSubmission('withdrawal:x', signal()));
    await vi.advanceTimersByTimeAsync(0);
    expect(before.state).toBe('resolved');
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(all);
    expect(started).toEqual([0, 250, 500, 750, 1_000]);
    expect(gate.state().maxSubmissionsPerSecond).toBe(4);
  });
});

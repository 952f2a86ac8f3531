import { fromPromise } from 'xstate';
import type { Logger } from '../../logger.js';
import { NotDurableError } from './errors.js';
import type { Handle } from './handle.js';
import type { EffectHold, EffectWrapper } from './types.js';

export interface EffectGateOptions<TContext> {
  type: string;
  log: Logger;
  /** The machine whose actor system runs an effect (XState gives each root actor its own). */
  handleOf(system: object): Handle<TContext> | undefined;
  /** Held effects wait for it before their hold (StartGate.whenOpen). */
  startGate(): Promise<void>;
}

/**
 * Write-ahead effects: every effect of the runtime's machines runs in `wrap`, which starts it only
 * once the transition that started it is committed (the commit queue calls `committed` for each
 * machine), then, for an effect with a hold, once the start gate and the hold let it. So after any
 * crash an effect that may have run is visible in the restored snapshot as running, and is re-run.
 * Also counts effects in flight, for a graceful stop.
 */
export class EffectGate<TContext> {
  /** Graceful stop under way: no new effect may start. */
  draining = false;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: EffectGateOptions<TContext>) {}

  /** The wrapper every effect of this runtime's machines runs in. */
  readonly wrap: EffectWrapper = <I, O>(effect: (input: I, signal: AbortSignal) => Promise<O>, hold?: EffectHold) =>
    fromPromise<O, I>(async ({ input, signal, system }) => {
      const h = this.o.handleOf(system);
      if (!h) throw new Error(`${this.o.type}: an effect started outside a runtime-managed machine`);
      await this.durable(h);
      if (hold) await this.held(hold, signal, h.id);
      if (signal.aborted) throw new NotDurableError('aborted before it started');
      this.inflight++;
      try {
        return await effect(input, signal);
      } finally {
        this.inflight--;
        if (this.inflight === 0) for (const w of this.idleWaiters.splice(0)) w();
      }
    });

  /**
   * Waits while the effect is held (the start gate, then a pause switch); a graceful stop that began
   * meanwhile never lets it start.
   */
  private async held(hold: EffectHold, signal: AbortSignal, machineId: string): Promise<void> {
    await untilAborted(this.o.startGate(), signal);
    await hold(signal, machineId);
    if (!this.draining) return;
    // Like durable() while draining: never start; the actor is stopped shortly, which aborts the signal.
    await new Promise<never>((_resolve, reject) => {
      const stop = () => reject(new NotDurableError('stopped while held'));
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
  }

  /** Resolves once the transition that started the calling effect is committed (write-ahead). */
  private async durable(h: Handle<TContext>): Promise<void> {
    // The effect was started inside XState's synchronous transition; by the next microtask that
    // transition has been captured and queued for persistence, so seqTaken covers it.
    await Promise.resolve();
    if (h.state !== 'live') throw new NotDurableError(`${this.o.type} ${h.id} is not live`);
    const seq = h.seqTaken;
    if (!this.draining && h.seqCommitted >= seq) return;
    await new Promise<void>((resolve, reject) => h.waiters.push({ seq, resolve, reject }));
  }

  /** The machine's transitions up to h.seqCommitted are committed: their effects may start. */
  committed(h: Handle<TContext>): void {
    if (this.draining) return;
    const ready = h.waiters.filter((w) => w.seq <= h.seqCommitted);
    h.waiters = h.waiters.filter((w) => w.seq > h.seqCommitted);
    for (const w of ready) w.resolve();
  }

  /** The machine stopped: its effects still waiting never start. */
  abandon(h: Handle<TContext>, err: Error): void {
    for (const w of h.waiters.splice(0)) w.reject(err);
  }

  /** Resolves when no effect is in flight, or after `timeoutMs` (those left re-run on restart). */
  waitIdle(timeoutMs: number): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.o.log.warn({ inflight: this.inflight }, 'stop timeout: abandoning effects still in flight (they re-run on restart)');
        resolve();
      }, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** `p`, or a rejection as soon as `signal` aborts (the machine moved on or stopped). */
function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new NotDurableError('aborted while held'));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(new NotDurableError('aborted while held'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

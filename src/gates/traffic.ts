import { BehaviorSubject, type Observable } from 'rxjs';
import type { Component, ComponentStatus } from '../lifecycle.js';
import type { Logger } from '../logger.js';

/**
 * The validator's synchronizer traffic, as the daemon sees it (README "Traffic"). Every submission
 * costs the validator traffic bought with Canton Coin; when it is spent the sequencer refuses every
 * submission, whichever withdrawal or deposit it belongs to. So a refusal for traffic holds the
 * whole validator's submissions here, like a pause switch: the machines' effects that lead to a
 * submission (reserve, registry, prepare, sign) and the submissions themselves wait before they
 * start (an EffectHold: not in flight, no retry counted, exactly as if the network were slow).
 *
 * Nothing on the JSON Ledger API tells the traffic balance, so the gate probes: after a backoff
 * (doubling up to `probe.maxMs`) it lets ONE machine through — one already waiting to submit if
 * any, else the first to ask — and that submission's answer decides: accepted → open; refused
 * for traffic → held, next probe later. The probe's machine keeps its pass for every effect until
 * it submits (or `probeTimeoutMs` passes, when another machine gets the next probe).
 *
 * The gate also caps submissions per second (LEDGER_MAX_SUBMISSIONS_PER_SECOND), spacing them
 * evenly: a burst of withdrawals never reaches the validator faster than that.
 *
 * In-process: it holds the effects of the machines this instance runs (the active runtimes).
 */

export interface TrafficState {
  held: boolean;
  /** When the current hold began. */
  since: string | null;
  /** The ledger's refusal that began (or last renewed) the hold. */
  reason: string | null;
  /** Refusals for traffic since this process started. */
  refusals: number;
  /** When the next probe may start (while held). */
  nextProbeAt: string | null;
  /** The machine holding the probe pass (`withdrawal:<id>`, `deposit:<id>`), while one does. */
  probe: string | null;
  /** Effects waiting for the gate now. */
  waiting: number;
  /** The submission rate cap; null = none. */
  maxSubmissionsPerSecond: number | null;
}

/** What a submission's answer says about traffic. */
export type SubmissionOutcome = 'accepted' | 'exhausted' | 'inconclusive';

export interface TrafficGate extends Component {
  state(): TrafficState;
  /** The state now, then every change. */
  watch(): Observable<TrafficState>;
  /** Before an effect that leads to a submission: resolves while open (or for the probe's machine). */
  beforeSubmission(subject: string, signal: AbortSignal): Promise<void>;
  /** Before a submission: as beforeSubmission, then its slot under the rate cap. */
  submission(subject: string, signal: AbortSignal): Promise<void>;
  /** The ledger's answer to a submission (the effects report every one). */
  observed(outcome: SubmissionOutcome, detail?: string): void;
}

export interface TrafficGateOptions {
  logger: Logger;
  /** Submissions per second at most; undefined/0 = no cap. */
  maxSubmissionsPerSecond?: number | undefined;
  /** Backoff between probes while held (default 5 s doubling to 2 min). */
  probe?: { initialMs: number; maxMs: number };
  /** A probe pass that has not submitted by then goes to another machine (default 2 min). */
  probeTimeoutMs?: number;
}

interface Waiter {
  subject: string;
  submit: boolean;
  resolve(): void;
  reject(e: Error): void;
}

class HeldAborted extends Error {
  override readonly name = 'HeldAborted';
}

export function createTrafficGate(o: TrafficGateOptions): TrafficGate {
  const log = o.logger.child({ component: 'traffic' });
  const probeInitial = o.probe?.initialMs ?? 5_000;
  const probeMax = o.probe?.maxMs ?? 120_000;
  const probeTimeout = o.probeTimeoutMs ?? 120_000;
  const cap = o.maxSubmissionsPerSecond && o.maxSubmissionsPerSecond > 0 ? o.maxSubmissionsPerSecond : null;
  const spacingMs = cap === null ? 0 : 1000 / cap;

  let held = false;
  let since: number | null = null;
  let reason: string | null = null;
  let refusals = 0;
  let probeStep = 0;
  let nextProbeAt = 0;
  let probe: { subject: string; at: number } | null = null;
  let waiters: Waiter[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let nextSlot = 0;

  const snapshot = (): TrafficState => ({
    held,
    since: since === null ? null : new Date(since).toISOString(),
    reason,
    refusals,
    nextProbeAt: held ? new Date(nextProbeAt).toISOString() : null,
    probe: probe?.subject ?? null,
    waiting: waiters.length,
    maxSubmissionsPerSecond: cap,
  });
  const state$ = new BehaviorSubject<TrafficState>(snapshot());
  const changed = () => state$.next(snapshot());

  const backoff = () => Math.min(probeMax, probeInitial * 2 ** probeStep);

  const release = (w: Waiter) => {
    waiters = waiters.filter((x) => x !== w);
    w.resolve();
  };

  /** Lets through whoever may go now, and arms the timer for the next probe. */
  const pump = () => {
    clearTimeout(timer);
    if (!held) {
      for (const w of [...waiters]) release(w);
      changed();
      return;
    }
    const now = Date.now();
    if (probe !== null && now - probe.at >= probeTimeout) {
      log.warn({ probe: probe.subject }, 'traffic probe did not submit in time: the next machine gets it');
      probe = null;
    }
    if (probe === null && now >= nextProbeAt && waiters.length > 0) {
      // A machine already holding a signed transaction probes cheapest.
      const chosen = waiters.find((w) => w.submit) ?? waiters[0]!;
      probe = { subject: chosen.subject, at: now };
      log.info({ probe: chosen.subject }, 'probing whether the validator has traffic again');
    }
    if (probe !== null) for (const w of waiters.filter((x) => x.subject === probe?.subject)) release(w);
    const wakeAt = probe !== null ? probe.at + probeTimeout : nextProbeAt;
    if (running) {
      timer = setTimeout(pump, Math.max(0, wakeAt - now) + 1);
      timer.unref();
    }
    changed();
  };

  const wait = (subject: string, submit: boolean, signal: AbortSignal): Promise<void> => {
    if (!held) return Promise.resolve();
    if (signal.aborted) return Promise.reject(new HeldAborted('aborted while held for traffic'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        waiters = waiters.filter((x) => x !== w);
        changed();
        reject(new HeldAborted('aborted while held for traffic'));
      };
      const w: Waiter = {
        subject,
        submit,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      signal.addEventListener('abort', onAbort, { once: true });
      waiters.push(w);
      pump();
    });
  };

  /** The next free slot under the cap, waited for (abortable). */
  const slot = async (signal: AbortSignal): Promise<void> => {
    if (cap === null) return;
    const now = Date.now();
    const at = Math.max(now, nextSlot);
    nextSlot = at + spacingMs;
    if (at <= now) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, at - now);
      const onAbort = () => {
        clearTimeout(t);
        reject(new HeldAborted('aborted while waiting for a submission slot'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  };

  return {
    name: 'traffic',
    status(): ComponentStatus {
      if (!running) return { state: 'stopped' };
      if (!held) return { state: 'running' };
      const s = snapshot();
      return {
        state: 'degraded',
        detail: `submissions held since ${s.since ?? '?'}: the validator is out of synchronizer traffic (${reason ?? 'refused'}); ${s.waiting} effect(s) waiting; ${probe ? `probing with ${probe.subject}` : `next probe at ${s.nextProbeAt ?? '?'}`}. Buy traffic for the validator; the held withdrawals and accepts go on by themselves.`,
      };
    },
    state: snapshot,
    watch: () => state$.asObservable(),
    beforeSubmission: (subject, signal) => wait(subject, false, signal),
    async submission(subject, signal) {
      await wait(subject, true, signal);
      await slot(signal);
    },
    observed(outcome, detail) {
      const now = Date.now();
      if (outcome === 'exhausted') {
        refusals++;
        if (!held) {
          held = true;
          since = now;
          probeStep = 0;
          log.warn({ reason: detail }, 'the validator is out of synchronizer traffic: holding every submission until a probe gets through');
        } else {
          probeStep = Math.min(probeStep + 1, 30);
        }
        reason = detail ?? reason;
        probe = null;
        nextProbeAt = now + backoff();
        pump();
        return;
      }
      if (outcome === 'accepted') {
        if (held) log.warn({ heldForMs: since === null ? 0 : now - since }, 'the validator has traffic again: submissions resume');
        held = false;
        since = null;
        reason = null;
        probe = null;
        probeStep = 0;
        pump();
        return;
      }
      // Neither: the probe tells nothing; the next one after the same backoff.
      if (held && probe !== null) {
        probe = null;
        nextProbeAt = now + backoff();
        pump();
      }
    },
    async start() {
      running = true;
      pump();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      const stopped = new HeldAborted('the daemon is stopping');
      for (const w of waiters.splice(0)) w.reject(stopped);
      changed();
    },
  };
}

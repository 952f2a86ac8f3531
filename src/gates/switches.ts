import { concat, defer, filter, merge, of, Subject, take, type Observable } from 'rxjs';
import type { Component, ComponentStatus } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { readContinuityFailures, type ContinuityFailure } from '../store/checkpoint.js';
import type { Sql } from '../store/db.js';
import { listSwitches, setSwitch, SWITCH_NAMES, type SwitchName, type SwitchState } from '../store/switches.js';
import { createPoller } from '../lib/poller.js';

/**
 * Operator pause switches (issue 8): `ingestion` (stop reading the ledger after the batch in flight),
 * `withdrawals` (no new withdrawal effect starts: reservations and ledger submissions wait),
 * `acceptance` (no 2-step deposit accept starts). The truth is the `operator_switches` table; this
 * object caches it for the components of one process, re-reads it every `pollMs` (so a pause made on
 * another instance applies here within about a second) and tells its watchers at once about a change
 * made through it. It is a Component started before the others, so a pause stored before a restart
 * is known before anything runs.
 *
 * Holding is not a new kind of failure: a held effect simply starts later, after the state that
 * invoked it was committed (the write-ahead rule is untouched), exactly as if the network were slow.
 * When the database cannot be read the last known state stays in force.
 *
 * The same poll reads ingestion's ledger-continuity failure (sql/019, src/streams/continuity.ts):
 * while the ledger is not the one ingestion read, `withdrawals` and `acceptance` are held as if
 * paused, on every instance, until an operator's resync or migrate clears it. It is not an
 * operator pause: resuming a switch does not lift it.
 */
export interface Switches extends Component {
  state(name: SwitchName): SwitchState;
  list(): SwitchState[];
  isPaused(name: SwitchName): boolean;
  /** The switch's state now, then every change. */
  watch(name: SwitchName): Observable<SwitchState>;
  /**
   * Resolves at once when open, else when resumed; rejects when `signal` aborts. `withdrawals` and
   * `acceptance` are also held while ledger continuity is broken (ledgerHold).
   */
  whenOpen(name: SwitchName, signal?: AbortSignal): Promise<void>;
  /** The recorded ledger-continuity failure holding every ledger effect, if any. */
  ledgerHold(): ContinuityFailure | undefined;
  pause(name: SwitchName, reason: string, by: string): Promise<SwitchState>;
  resume(name: SwitchName, by: string, reason?: string): Promise<SwitchState>;
  /** Re-reads the table now (after a change made by someone else through the database). */
  refresh(): Promise<void>;
}

export interface SwitchesOptions {
  sql: Sql;
  logger: Logger;
  /** How often the table is re-read (default 1 s). */
  pollMs?: number;
}

/** How a paused switch is described in component statuses. */
export function describePause(s: SwitchState): string {
  return `paused by operator${s.changedBy ? ` ${s.changedBy}` : ''} since ${s.changedAt}: ${s.reason ?? '(no reason)'}`;
}

export function createSwitches(o: SwitchesOptions): Switches {
  const log = o.logger.child({ component: 'switches' });
  const pollMs = o.pollMs ?? 1000;
  const cache = new Map<SwitchName, SwitchState>(
    SWITCH_NAMES.map((name) => [name, { name, paused: false, reason: null, changedBy: null, changedAt: new Date(0).toISOString() }]),
  );
  const changes$ = new Subject<SwitchState>();
  let continuity: ContinuityFailure | undefined;
  const continuity$ = new Subject<ContinuityFailure | undefined>();
  const held = (name: SwitchName) => cache.get(name)!.paused || (name !== 'ingestion' && continuity !== undefined);
  const applyContinuity = (f: ContinuityFailure | undefined) => {
    if (f?.detail === continuity?.detail && f?.reason === continuity?.reason) return;
    continuity = f;
    if (f) log.error({ reason: f.reason, treasuryParty: f.treasuryParty }, `ledger effects HELD: ${f.detail}`);
    else log.warn('ledger continuity restored: ledger effects are no longer held');
    continuity$.next(f);
  };
  let status: ComponentStatus = { state: 'stopped' };
  let running = false;
  let reading: Promise<void> = Promise.resolve();

  const apply = (s: SwitchState) => {
    const old = cache.get(s.name);
    // A read that began before a change this process made (or saw) may end after it: never go back.
    if (old && Date.parse(s.changedAt) < Date.parse(old.changedAt)) return;
    if (old && old.paused === s.paused && old.reason === s.reason && old.changedAt === s.changedAt && old.changedBy === s.changedBy) return;
    cache.set(s.name, s);
    if (old?.paused !== s.paused)
      log.warn(
        { switch: s.name, paused: s.paused, reason: s.reason, by: s.changedBy },
        s.paused ? `${s.name} PAUSED by operator` : `${s.name} resumed`,
      );
    changes$.next(s);
  };

  // Reads run one after another, so a refresh asked for after a change sees it.
  let queue: Promise<void> = Promise.resolve();
  const refresh = (): Promise<void> => {
    const read = queue.then(async () => {
      const [all, broken] = await Promise.all([listSwitches(o.sql), readContinuityFailures(o.sql)]);
      for (const s of all) apply(s);
      applyContinuity(broken[0]);
    });
    queue = read.catch(() => {});
    reading = queue;
    return read;
  };

  const poller = createPoller({
    everyMs: pollMs,
    step: refresh,
    onFailure: (e, failures) => {
      // Keep the last known state: a database blip must not resume anything.
      if (failures === 1 || failures % 60 === 0)
        log.warn({ err: e, failures }, 'cannot read the operator switches; keeping the last known state');
    },
  });

  const watch = (name: SwitchName): Observable<SwitchState> =>
    defer(() => concat(of(cache.get(name)!), changes$.pipe(filter((s) => s.name === name))));

  return {
    name: 'switches',
    // Running whatever the switches say (a pause is not a fault); the detail names what is paused.
    status: () => {
      const paused = SWITCH_NAMES.map((n) => cache.get(n)!).filter((x) => x.paused);
      const details = [
        ...paused.map((x) => `${x.name} ${describePause(x)}`),
        ...(continuity ? [`withdrawals and acceptance held: ${continuity.detail}`] : []),
      ];
      if (status.state !== 'running' || details.length === 0) return status;
      return { state: 'running', detail: details.join('; ') };
    },
    state: (name) => cache.get(name)!,
    list: () => SWITCH_NAMES.map((n) => cache.get(n)!),
    isPaused: (name) => cache.get(name)!.paused,
    watch,
    ledgerHold: () => continuity,
    whenOpen(name, signal) {
      if (!held(name)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
          return;
        }
        const onAbort = () => {
          sub.unsubscribe();
          reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted while held by a paused switch'));
        };
        const sub = merge(watch(name), continuity$)
          .pipe(
            filter(() => !held(name)),
            take(1),
          )
          .subscribe(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    async pause(name, reason, by) {
      const { state } = await setSwitch(o.sql, name, { paused: true, reason, by });
      apply(state);
      return state;
    },
    async resume(name, by, reason) {
      const { state } = await setSwitch(o.sql, name, { paused: false, reason: reason ?? null, by });
      apply(state);
      return state;
    },
    refresh,
    async start() {
      if (running) return;
      status = { state: 'starting' };
      await refresh();
      running = true;
      status = { state: 'running' };
      const paused = SWITCH_NAMES.filter((n) => cache.get(n)!.paused);
      if (paused.length > 0) log.warn({ paused }, 'operator switches are paused');
      poller.start();
    },
    async stop() {
      running = false;
      await poller.stop();
      await reading;
      status = { state: 'stopped' };
    },
  };
}

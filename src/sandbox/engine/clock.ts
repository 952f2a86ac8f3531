import { isoToMicros, microsToIso, msToMicros, type Micros } from '../util/time.js';

export type ClockMode = 'real' | 'manual';

/**
 * The synchronizer's record-time clock. In `real` mode it follows the wall clock; in `manual` mode
 * it only moves when told (`advance`, `set`), so tests decide exactly when a deadline passes.
 *
 * Two promises hold in both modes, because ingestion relies on them:
 *  - every commit gets a record time strictly greater than the previous one (a manual clock
 *    therefore creeps forward by 1µs per commit);
 *  - once a time has been published (an OffsetCheckpoint), no later commit gets a record time at
 *    or below it, so "record time passed the deadline" is final.
 */
export class RecordTimeClock {
  private manualNow: Micros;
  /** Highest time handed out or published; the next commit must be strictly above it. */
  private floor: Micros = 0n;
  private readonly listeners = new Set<(now: Micros) => void>();
  /** Counts manual steps (advance/set), so streams know to publish the new time. */
  private stepCount = 0;

  constructor(
    private mode: ClockMode,
    start?: Micros,
  ) {
    this.manualNow = start ?? msToMicros(Date.now());
  }

  getMode(): ClockMode {
    return this.mode;
  }

  /** Current synchronizer time (never below anything already handed out). */
  now(): Micros {
    const base = this.mode === 'real' ? msToMicros(Date.now()) : this.manualNow;
    return base > this.floor ? base : this.floor;
  }

  nowIso(): string {
    return microsToIso(this.now());
  }

  /** The record time for the next commit: strictly after every earlier commit or publication. */
  nextRecordTime(): Micros {
    const t = this.now();
    const next = t > this.floor ? t : this.floor + 1n;
    this.floor = next;
    if (this.mode === 'manual' && next > this.manualNow) this.manualNow = next;
    return next;
  }

  /** The time to publish (checkpoint): later commits will be strictly after it. */
  publish(): Micros {
    const t = this.now();
    if (t > this.floor) this.floor = t;
    return t;
  }

  /** A record time handed out before a restart (a journalled commit): later ones stay above it. */
  observe(t: Micros): void {
    if (t > this.floor) this.floor = t;
    if (this.mode === 'manual' && t > this.manualNow) this.manualNow = t;
  }

  advance(ms: number): Micros {
    if (ms < 0) throw new RangeError('the record-time clock cannot go backwards');
    this.toManual();
    this.manualNow = this.now() + msToMicros(ms);
    this.changed();
    return this.manualNow;
  }

  set(iso: string): Micros {
    this.toManual();
    const t = isoToMicros(iso);
    if (t < this.now()) throw new RangeError(`cannot set the clock back to ${iso} (now ${this.nowIso()})`);
    this.manualNow = t;
    this.changed();
    return t;
  }

  /** Switch to following the wall clock again (never moving backwards). */
  useRealTime(): void {
    this.manualNow = this.now();
    this.mode = 'real';
    this.changed();
  }

  onChange(listener: (now: Micros) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private toManual(): void {
    if (this.mode === 'real') {
      this.manualNow = this.now();
      this.mode = 'manual';
    }
  }

  exportState(): { mode: ClockMode; manualNow: Micros; floor: Micros } {
    return { mode: this.mode, manualNow: this.manualNow, floor: this.floor };
  }

  /** Restores a saved clock; it never goes back behind the saved floor. */
  importState(s: { mode: ClockMode; manualNow: Micros; floor: Micros }): void {
    this.mode = s.mode;
    this.manualNow = s.manualNow;
    this.floor = s.floor;
  }

  steps(): number {
    return this.stepCount;
  }

  private changed(): void {
    this.stepCount++;
    const now = this.now();
    for (const l of this.listeners) l(now);
  }
}

import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';

/**
 * Bounds what ingestion holds in memory: elements received but not yet committed. Above the high
 * water mark the source is paused (the websocket stops reading, so TCP pushes back on the server);
 * below the low one it resumes. The gap between the marks keeps it from flapping.
 */
export class Backpressure {
  private pending = 0;
  private readonly paused = new BehaviorSubject(false);
  /** Current state first, then changes. */
  readonly paused$: Observable<boolean> = this.paused.pipe(distinctUntilChanged());

  constructor(
    readonly highWater: number,
    readonly lowWater: number = Math.floor(highWater / 2),
  ) {
    if (!(lowWater < highWater)) throw new RangeError('lowWater must be below highWater');
  }

  get size(): number {
    return this.pending;
  }

  get isPaused(): boolean {
    return this.paused.value;
  }

  add(n: number): void {
    this.pending += n;
    if (this.pending >= this.highWater && !this.paused.value) this.paused.next(true);
  }

  remove(n: number): void {
    this.pending = Math.max(0, this.pending - n);
    if (this.pending <= this.lowWater && this.paused.value) this.paused.next(false);
  }

  /** After a restart of the source nothing is pending any more. */
  reset(): void {
    this.pending = 0;
    if (this.paused.value) this.paused.next(false);
  }
}

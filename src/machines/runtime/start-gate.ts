import type { Logger } from '../../logger.js';
import { readUntilAborted, sleep } from '../../lib/abortable.js';
import { NotDurableError } from './errors.js';
import type { RuntimeStore } from './store.js';
import type { CatchUp } from './types.js';

export interface StartGateOptions {
  type: string;
  log: Logger;
  /** Absent: the gate never closes (tests of the runtime). */
  catchUp: CatchUp | undefined;
  store: Pick<RuntimeStore<unknown>, 'lastOutboxEventId' | 'readOutboxEvents'>;
  /** The runtime's committed outbox cursor. */
  cursor(): number;
  pollIntervalMs: number;
  /** Base of the backoff of reads that fail while the gate is closed. */
  reloadDelayMs: number;
}

const noop = () => {};

/**
 * After a start (or a takeover), held effects wait until ingestion has caught up with the ledger
 * end seen now (opts.catchUp) and this runtime has applied every event of its topics written up
 * to then. A machine restored from a crash or a database restore thus learns what the ledger did
 * meanwhile (a transfer of its own, an offer accepted) before it acts on its snapshot again.
 */
export class StartGate {
  /** Held effects wait for it after every start: see close. */
  private opened: Promise<void> = Promise.resolve();
  private abort: AbortController | undefined;

  constructor(private readonly o: StartGateOptions) {}

  /** Resolves once the gate is open; rejects when it never will (stopped, lost the lock). */
  get whenOpen(): Promise<void> {
    return this.opened;
  }

  /** Closed, and still waiting for ingestion. */
  get closed(): boolean {
    return this.abort !== undefined;
  }

  close(): void {
    this.openNever();
    const catchUp = this.o.catchUp;
    if (!catchUp) {
      this.opened = Promise.resolve();
      return;
    }
    const ac = new AbortController();
    this.abort = ac;
    this.o.log.info('effects are held until ingestion has caught up with the ledger end seen at start');
    const opened = (async () => {
      const end = await catchUp(ac.signal);
      const last = await this.retryRead('read the outbox', () => this.o.store.lastOutboxEventId(), ac.signal);
      // The runtime's loop applies events in order; the cursor passes a batch once it is committed.
      for (;;) {
        const [next] = await this.retryRead('read the outbox', () => this.o.store.readOutboxEvents(this.o.cursor(), 1), ac.signal);
        if (next === undefined || next.eventId > last) break;
        await sleep(this.o.pollIntervalMs, ac.signal);
      }
      this.o.log.info(
        { ledgerEnd: end, outboxEventId: last },
        'ingestion has caught up with the ledger end seen at start and its events are applied: held effects may start',
      );
    })();
    opened.then(() => {
      if (this.abort === ac) this.abort = undefined;
    }, noop);
    this.opened = opened;
  }

  /** Stopping or standing by: effects still waiting at the gate never start. */
  openNever(): void {
    this.abort?.abort(new NotDurableError(`${this.o.type} runtime stopped before ingestion caught up`));
    this.abort = undefined;
  }

  private retryRead<T>(what: string, read: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return readUntilAborted(read, {
      signal,
      delayMs: (failures) => Math.min(5_000, this.o.reloadDelayMs * 2 ** Math.min(failures, 6)),
      onFailure: (e, failures) => {
        if (failures % 20 === 0) this.o.log.warn({ err: e }, `cannot ${what}; effects stay held`);
      },
    });
  }
}

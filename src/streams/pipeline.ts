import { catchError, map, of, takeUntil, tap, type Observable } from 'rxjs';
import type { Checkpoint } from '../ingestion/checkpoint.js';
import type { Sql } from '../store/db.js';
import type { ParsedBatch, PreparedBatch } from '../ingestion/batch-parse.js';
import { offsetOf, type IngestElement } from '../ingestion/elements.js';
import { ingestBatch, type IngestOptions } from '../store/ingestion.js';
import { prepareBatch } from '../store/ingestion-reads.js';
import type { Backpressure } from './backpressure.js';

/**
 * Source → batches → one DB transaction per batch, strictly in order. Batches are pulled: when
 * the writer is free it takes everything queued (up to `batchMaxSize`), waiting at most
 * `batchMaxWaitMs` for a small batch to fill. So batches grow when the database is the slower
 * side (fewer, larger transactions) and stay small and prompt when the stream is. While a batch
 * is written (once it is parsed), a full next batch is taken and parsed ahead, so this thread
 * parses while Postgres writes; the next transaction uses that parse only if it still holds. A source
 * failure is not allowed to drop what was already received: it queues behind the elements, which
 * are written first, then the pipeline fails with it. Stopping lets the batch in flight commit and
 * drops what is only queued: it is read again from the checkpoint next time.
 *
 * Its state is two small objects changed only through named transitions: the Intake (what is
 * queued, how the source ended, whether stopping, the writer's nap) and the LookAhead (the batch
 * being written once parsed, the next one parsed against it). The writer is a loop over them
 * (writeBatches: nextBatch, its transaction, on).
 */

export interface CommittedBatch {
  checkpoint: Checkpoint;
  elements: number;
  transactions: number;
  skipped: number;
  eventIds: number[];
  /** Whether the batch was parsed while the one before it was being written. */
  parsedAhead: boolean;
  /** What the batch recorded but needs a human (IngestResult.warnings). */
  warnings: { message: string; context: Record<string, unknown> }[];
  /**
   * The batch had committed, but the answer to its COMMIT was lost (the connection went): its retry
   * found it stored and wrote nothing. Its transactions and events are not counted here.
   */
  answerLost?: boolean;
}

export interface PipelineOptions {
  sql: Sql;
  party: string;
  source$: Observable<IngestElement>;
  backpressure: Backpressure;
  batchMaxSize: number;
  batchMaxWaitMs: number;
  /** The stored checkpoint offset when the run starts (0 if none). */
  startOffset: number;
  ingest: Omit<IngestOptions, 'treasuryParty' | 'expectedOffset' | 'prepared' | 'onParsed' | 'mayHaveCommitted'>;
  /** A batch that failed on a transient database error is retried this often (default 5), backing off. */
  dbRetries?: number;
  dbRetryDelayMs?: number;
  /** `requestRace`: the batch met a withdrawal request written meanwhile (isRequestRaceError), not a transient error. */
  onDbRetry?: (error: unknown, attempt: number, cause: 'transient' | 'requestRace') => void;
  stop$: Observable<unknown>;
  onReceived?: (offset: number) => void;
  onCommitted?: (batch: CommittedBatch) => void;
}

type Item = { el: IngestElement } | { fatal: unknown };

/** SQLSTATE classes and client codes after which the same transaction may succeed. */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '08000', '08003', '08006', '53300']);
const TRANSIENT_CLIENT_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);

export function isTransientDbError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_CLIENT_CODES.has(code));
}

/**
 * A withdrawal request written (through the API, or by an exchange's own SQL) between the batch's
 * read of the withdrawal rows and its insert of a `recovered` row for the same id: a request the
 * exchange re-sent after a database restore while ingestion reads its transfer again. The batch
 * run again reads the request's row and attaches the transfer to it; the unique key raised only
 * once the request committed, so no wait is needed.
 */
export function isRequestRaceError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const { code, constraint_name: constraint } = e as { code?: unknown; constraint_name?: unknown };
  return code === '23505' && constraint === 'withdrawals_pkey';
}

export function runPipeline(o: PipelineOptions): Promise<void> {
  const intake = new Intake(o.batchMaxSize);
  const lookAhead = new LookAhead(intake, (els, after) => prepareBatch(o.sql, els, o.party, after));
  const stopSub = o.stop$.subscribe({ next: () => intake.stop(), error: () => intake.stop() });
  const sourceSub = o.source$
    .pipe(
      takeUntil(o.stop$),
      tap((el) => {
        o.backpressure.add(1);
        o.onReceived?.(offsetOf(el));
      }),
      map((el): Item => ({ el })),
      catchError((error: unknown) => of<Item>({ fatal: error })),
    )
    .subscribe({
      next: (item) => {
        if ('el' in item) {
          intake.received(item.el);
          lookAhead.startIfReady();
        } else intake.failed(item.fatal);
      },
      complete: () => {
        intake.completed();
        lookAhead.startIfReady();
      },
    });
  return writeBatches(o, intake, lookAhead).finally(() => {
    sourceSub.unsubscribe();
    stopSub.unsubscribe();
  });
}

/** A batch for the writer, with its parse ahead of its transaction if it has one. */
interface Batch {
  els: IngestElement[];
  prepared: PreparedBatch | undefined;
}

/** The writer: the next batch, its transaction, and on to the next, until the end, a stop or a failure. */
async function writeBatches(o: PipelineOptions, intake: Intake, lookAhead: LookAhead): Promise<void> {
  let committed = o.startOffset;
  for (;;) {
    const batch = await nextBatch(o, intake, lookAhead);
    if (batch === undefined) return;
    const r = await withDbRetries(o, intake, (retry) =>
      ingestBatch(o.sql, batch.els, {
        ...o.ingest,
        treasuryParty: o.party,
        expectedOffset: committed,
        // A retry may follow a run that committed but lost its answer: it recognises its own commit.
        mayHaveCommitted: retry,
        prepared: batch.prepared,
        onParsed: (parsed) => lookAhead.writing(parsed),
      }),
    ).finally(() => lookAhead.written());
    committed = r.checkpoint.offset;
    o.backpressure.remove(batch.els.length);
    o.onCommitted?.({
      checkpoint: r.checkpoint,
      elements: batch.els.length,
      transactions: r.facts.length,
      skipped: r.skipped,
      eventIds: r.eventIds,
      parsedAhead: r.parsedAhead,
      warnings: r.warnings,
      ...(r.alreadyCommitted ? { answerLost: true } : {}),
    });
  }
}

/**
 * The batch to write next: the one parsed ahead if there is one, else what is queued, a small
 * batch given a moment to fill. Undefined once the source has ended and everything is written, or
 * on a stop; a source failure is thrown once what came before it is written.
 */
async function nextBatch(o: PipelineOptions, intake: Intake, lookAhead: LookAhead): Promise<Batch | undefined> {
  for (;;) {
    if (intake.stopped) {
      // Stopped (or the writer's lease was lost): write nothing more.
      intake.throwIfFailed();
      return undefined;
    }
    const ahead = lookAhead.next;
    if (ahead) {
      const prepared = await ahead.prepared;
      lookAhead.taken();
      if (intake.stopped) continue;
      return { els: ahead.els, prepared };
    }
    if (intake.empty) {
      intake.throwIfFailed();
      if (intake.ended) return undefined;
      await intake.nap(60_000);
      continue;
    }
    // A small batch may fill a little, so a slow stream is not written one update at a time.
    if (!intake.hasFullBatch && !intake.ended) await intake.nap(o.batchMaxWaitMs);
    if (intake.stopped) continue;
    return { els: intake.take(), prepared: undefined };
  }
}

/**
 * What the source delivered and the writer has not taken yet, how the source ended, and whether
 * the pipeline is stopping; the writer naps on it until woken (a full batch, the end, a failure).
 * A source failure queues behind the elements: they are written first.
 */
class Intake {
  private readonly queue: IngestElement[] = [];
  /** The source completed, or failed (then it completes too: the failure is kept). */
  private end: 'completed' | { failure: unknown } | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;

  constructor(private readonly batchMaxSize: number) {}

  received(el: IngestElement): void {
    this.queue.push(el);
    // Wake a writer waiting for anything (first element) or for a full batch.
    if (this.queue.length === 1 || this.queue.length >= this.batchMaxSize) this.notify();
  }

  failed(failure: unknown): void {
    this.end = { failure };
    this.notify();
  }

  completed(): void {
    this.end ??= 'completed';
    this.notify();
  }

  stop(): void {
    this.stopping = true;
  }

  /** Stopping lets the batch in flight commit and drops what is only queued (read again from the checkpoint next time). */
  get stopped(): boolean {
    return this.stopping;
  }

  get empty(): boolean {
    return this.queue.length === 0;
  }

  get hasFullBatch(): boolean {
    return this.queue.length >= this.batchMaxSize;
  }

  /** Nothing more will be received (the source completed or failed). */
  get ended(): boolean {
    return this.end !== undefined;
  }

  throwIfFailed(): void {
    if (this.end !== undefined && this.end !== 'completed') throw this.end.failure;
  }

  /** The next batch: everything queued, up to the batch size. */
  take(): IngestElement[] {
    return this.queue.splice(0, this.batchMaxSize);
  }

  /** Resolves when woken or after `ms` (the timer wakes it as an arrival would). */
  nap(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => this.notify(), ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/**
 * The overlap of parsing and writing (src/ingestion/batch-parse.ts): while a batch is written,
 * once it is parsed, the next full batch (or the last one) is taken from the intake and parsed
 * against it, so this thread parses while Postgres writes.
 */
class LookAhead {
  /** The batch being written, once parsed: until it commits, the next one may be parsed against it. */
  private parsed: ParsedBatch | undefined;
  /** The next batch, taken from the intake, and its parse ahead of its own transaction. */
  private ahead: { els: IngestElement[]; prepared: Promise<PreparedBatch | undefined> } | undefined;

  constructor(
    private readonly intake: Intake,
    private readonly prepare: (els: IngestElement[], after: ParsedBatch) => Promise<PreparedBatch | undefined>,
  ) {}

  /** The batch being written is parsed: the next can be parsed against it. */
  writing(parsed: ParsedBatch): void {
    this.parsed = parsed;
    this.startIfReady();
  }

  /** The batch being written committed or failed. */
  written(): void {
    this.parsed = undefined;
  }

  get next(): { readonly els: IngestElement[]; readonly prepared: Promise<PreparedBatch | undefined> } | undefined {
    return this.ahead;
  }

  /** The writer took the batch parsed ahead. */
  taken(): void {
    this.ahead = undefined;
  }

  startIfReady(): void {
    const i = this.intake;
    if (!this.parsed || this.ahead || i.stopped || i.empty || (!i.hasFullBatch && !i.ended)) return;
    const els = i.take();
    this.ahead = { els, prepared: this.prepare(els, this.parsed) };
  }
}

/**
 * The batch transaction rolled back, or (its connection lost) may have committed: running it
 * again is exactly as if it ran once, the retry recognising a commit that landed (`retry`).
 */
async function withDbRetries<T>(o: PipelineOptions, intake: Intake, run: (retry: boolean) => Promise<T>): Promise<T> {
  const max = o.dbRetries ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt > 1);
    } catch (e) {
      const race = isRequestRaceError(e);
      if (attempt > max || !(race || isTransientDbError(e)) || intake.stopped) throw e;
      o.onDbRetry?.(e, attempt, race ? 'requestRace' : 'transient');
      if (!race) await new Promise((r) => setTimeout(r, (o.dbRetryDelayMs ?? 500) * 2 ** (attempt - 1)));
    }
  }
}

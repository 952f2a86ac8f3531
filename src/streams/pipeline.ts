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
  onDbRetry?: (error: unknown, attempt: number) => void;
  stop$: Observable<unknown>;
  onReceived?: (offset: number) => void;
  onCommitted?: (batch: CommittedBatch) => void;
}

type Item = { el: IngestElement } | { fatal: unknown };

/** SQLSTATE classes and client codes after which the same transaction may succeed. */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '08000', '08003', '08006', '53300']);
const TRANSIENT_CLIENT_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

export function isTransientDbError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_CLIENT_CODES.has(code));
}

export function runPipeline(o: PipelineOptions): Promise<void> {
  let committed = o.startOffset;
  let stopping = false;
  let sourceDone = false;
  let fatal: { error: unknown } | undefined;
  const queue: IngestElement[] = [];
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  /**
   * The next batch, taken from the queue while the one before it is being written, and its parse
   * ahead of its own transaction (see src/ingestion/batch-parse.ts).
   */
  let ahead: { els: IngestElement[]; prepared: Promise<PreparedBatch | undefined> } | undefined;
  /** The batch being written, once parsed: until it commits, the next one may be parsed against it. */
  let writing: ParsedBatch | undefined;
  /** A full next batch (or the last one) is parsed while the one before it is written. */
  const parseAhead = () => {
    if (!writing || ahead || stopping || queue.length === 0 || (queue.length < o.batchMaxSize && !sourceDone && !fatal)) return;
    const els = queue.splice(0, o.batchMaxSize);
    ahead = { els, prepared: prepareBatch(o.sql, els, o.party, writing) };
  };

  const stopSub = o.stop$.subscribe({ next: () => (stopping = true), error: () => (stopping = true) });
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
          queue.push(item.el);
          // Wake a writer waiting for anything (first element) or for a full batch.
          if (queue.length === 1 || queue.length >= o.batchMaxSize) notify();
          parseAhead();
        } else {
          fatal = { error: item.fatal };
          notify();
        }
      },
      complete: () => {
        sourceDone = true;
        notify();
        parseAhead();
      },
    });

  /** Resolves when woken (a full batch, the end, a failure) or after `ms`. */
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  async function writer(): Promise<void> {
    for (;;) {
      if (stopping) {
        // Stopped (or the writer's lease was lost): write nothing more.
        if (fatal) throw fatal.error;
        return;
      }
      let els: IngestElement[];
      let prepared: PreparedBatch | undefined;
      if (ahead) {
        els = ahead.els;
        prepared = await ahead.prepared;
        ahead = undefined;
        if (stopping) continue;
      } else {
        if (queue.length === 0) {
          if (fatal) throw fatal.error;
          if (sourceDone) return;
          await nap(60_000);
          continue;
        }
        // A small batch may fill a little, so a slow stream is not written one update at a time.
        if (queue.length < o.batchMaxSize && !sourceDone && !fatal) await nap(o.batchMaxWaitMs);
        if (stopping) continue;
        els = queue.splice(0, o.batchMaxSize);
      }
      const r = await withDbRetries((retry) =>
        ingestBatch(o.sql, els, {
          ...o.ingest,
          treasuryParty: o.party,
          expectedOffset: committed,
          // A retry may follow a run that committed but lost its answer: it recognises its own commit.
          mayHaveCommitted: retry,
          prepared,
          onParsed: (parsed) => {
            writing = parsed;
            parseAhead();
          },
        }),
      ).finally(() => (writing = undefined));
      committed = r.checkpoint.offset;
      o.backpressure.remove(els.length);
      o.onCommitted?.({
        checkpoint: r.checkpoint,
        elements: els.length,
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
   * The batch transaction rolled back, or (its connection lost) may have committed: running it
   * again is exactly as if it ran once, the retry recognising a commit that landed (`retry`).
   */
  async function withDbRetries<T>(run: (retry: boolean) => Promise<T>): Promise<T> {
    const max = o.dbRetries ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(attempt > 1);
      } catch (e) {
        if (attempt > max || !isTransientDbError(e) || stopping) throw e;
        o.onDbRetry?.(e, attempt);
        await new Promise((r) => setTimeout(r, (o.dbRetryDelayMs ?? 500) * 2 ** (attempt - 1)));
      }
    }
  }

  return writer().finally(() => {
    sourceSub.unsubscribe();
    stopSub.unsubscribe();
  });
}

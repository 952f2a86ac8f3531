import { catchError, defer, filter, firstValueFrom, from, Observable, repeat, retry, switchMap, tap, throwError, timer } from 'rxjs';
import { LedgerAuthError } from '../ledger/auth.js';
import { LedgerApiError, type LedgerHttp } from '../ledger/http.js';
import { type LedgerReadClient, treasuryUpdateFormat } from '../ledger/read-client.js';
import { openUpdatesSocket, type UpdatesSocket } from '../ledger/updates-socket.js';
import type { IngestElement } from '../ingestion/elements.js';
import { backoffDelay, RetriesExhaustedError, type BackoffPolicy } from './backoff.js';
import { offsetOf, toIngestElement } from '../ingestion/elements.js';
import { TransactionSlimmer } from '../ingestion/slim.js';
import { continuityErrorOfStream } from './continuity.js';
import { PrunedOffsetError } from '../ingestion/errors.js';
import { Failure } from '../failures.js';

/**
 * The treasury's updates as one Observable that survives the network: the websocket first; on a
 * drop it reconnects after a bounded, jittered exponential backoff, resuming after the last
 * offset received. With `auto`, a websocket that cannot even be opened is followed by a window
 * of HTTP polling (the blocking list form of /v2/updates, a page at a time), after which the
 * websocket is tried again: it is the better stream (no page limit, no idle timeout). Errors that
 * retrying cannot fix (401, 403, 500, 501, pruned offsets, bad data) and exhausted retries end
 * the Observable with an error; anything received, or an HTTP page answered, counts as success.
 */

export type Transport = 'websocket' | 'http' | 'auto';

export interface UpdatesSourceOptions {
  http: LedgerHttp;
  client: LedgerReadClient;
  party: string;
  transport: Transport;
  /** Where to resume: the last offset received (or the stored checkpoint at start). */
  resumeOffset: () => number;
  /** While true, stop reading (backpressure). */
  paused$: Observable<boolean>;
  retry: BackoffPolicy;
  /** HTTP: stream_idle_timeout_ms, how long the node waits for an element before answering a page (default 500, Canton's own). */
  httpIdleTimeoutMs?: number;
  /**
   * HTTP: the longest idle timeout asked for while the node's reads are slower than that (default
   * 5 s; Canton's request timeout is 20 s).
   */
  httpMaxIdleTimeoutMs?: number;
  /** HTTP: pause after a page that was not full; the first step of the back-off after empty pages (default 1 s). */
  httpPollIntervalMs?: number;
  /** HTTP: the longest pause between polls after consecutive empty pages (default 10 s). */
  httpMaxPollIntervalMs?: number;
  /** auto: how long HTTP polling stands in for a websocket that failed to open (default 60 s). */
  httpFallbackWindowMs?: number;
  pingIntervalMs?: number;
  livenessTimeoutMs?: number;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  onTransport?: (transport: 'websocket' | 'http') => void;
  /** HTTP: the first of a run of pages that did not move the offset (once per run, for a log line). */
  onEmptyPages?: (run: EmptyPages) => void;
  /**
   * Runs before every connection but the first (reconnects, and the websocket after an HTTP
   * window): the ledger continuity check. A failure it throws ends the source unless retryable.
   */
  beforeReconnect?: () => Promise<void>;
}

export interface EmptyPages {
  /** The offset the pages start after. */
  offset: number;
  /** The node's ledger end then (undefined: could not be read). */
  ledgerEnd: number | undefined;
  /** The ledger end is ahead: the node's read is slower than the idle timeout, not idle. */
  slowRead: boolean;
  /** The idle timeout asked for next, and the pause before that page. */
  idleTimeoutMs: number;
  delayMs: number;
}

/** Errors after which reconnecting can help. */
export function isRetryableSourceError(e: unknown): boolean {
  return e instanceof LedgerApiError && e.retryable;
}

/** Canton's answer to reading below the pruning offset, made into what the operator must do. */
function classify(e: unknown, begin: number): unknown {
  if (e instanceof LedgerApiError && e.code === 'PARTICIPANT_PRUNED_DATA_ACCESSED')
    return new PrunedOffsetError(begin, undefined, { cause: e });
  // Category 12 is retryable in general, but a ledger end below what was already received is a
  // ledger that went back: waiting for it to grow past `begin` would skip what it now has below.
  const broken = continuityErrorOfStream(e, begin);
  if (broken) return broken;
  if (e instanceof LedgerAuthError)
    return new LedgerApiError(`cannot obtain a Ledger API token: ${e.message}`, {
      status: e.status,
      code: Failure.AUTH_TOKEN,
      retryable: e.retryable,
      cause: e,
    });
  return e;
}

function websocket$(o: UpdatesSourceOptions, begin: number, slimmer: TransactionSlimmer): Observable<IngestElement> {
  return new Observable<IngestElement>((sub) => {
    let socket: UpdatesSocket | undefined;
    let closed = false;
    let pausedSub: { unsubscribe(): void } | undefined;
    o.http.auth.getToken().then(
      (token) => {
        if (closed) return;
        socket = openUpdatesSocket({
          baseUrl: o.http.baseUrl,
          token,
          request: { beginExclusive: begin, updateFormat: treasuryUpdateFormat(o.party) },
          ...(o.pingIntervalMs !== undefined ? { pingIntervalMs: o.pingIntervalMs } : {}),
          ...(o.livenessTimeoutMs !== undefined ? { livenessTimeoutMs: o.livenessTimeoutMs } : {}),
          onElement: (el) => {
            try {
              sub.next(toIngestElement(el, slimmer));
            } catch (e) {
              socket?.close();
              sub.error(e);
            }
          },
          onError: (e) => sub.error(classify(e, begin)),
          onEnd: () => sub.complete(),
        });
        const s = socket;
        pausedSub = o.paused$.subscribe((p) => (p ? s.pause() : s.resume()));
      },
      (e: unknown) => sub.error(classify(e, begin)),
    );
    return () => {
      closed = true;
      pausedSub?.unsubscribe();
      socket?.close();
    };
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * Polls HTTP pages from `begin`; with `windowMs`, completes at the first page boundary after it,
 * back to the websocket. A node answers [] when its read finds no element within the idle timeout,
 * which also runs before the first element: at the ledger end, and also when a filtered read is
 * slower than that (Endpoints.asList in Canton's http/json/v2). So a page that does not move the
 * offset never leads to an immediate repeat: the pause doubles up to httpMaxPollIntervalMs, and
 * resets once a page moves the offset. While the ledger end is ahead the idle timeout doubles too
 * (up to httpMaxIdleTimeoutMs), or a slow read would answer [] forever; it is kept once a page
 * moved, as it is the node's pace, so the next pages do not relearn it.
 */
function http$(
  o: UpdatesSourceOptions,
  begin: number,
  windowMs: number | undefined,
  answered: () => void,
  slimmer: TransactionSlimmer,
): Observable<IngestElement> {
  return new Observable<IngestElement>((sub) => {
    const ac = new AbortController();
    const until = windowMs === undefined ? Infinity : Date.now() + windowMs;
    const baseIdle = o.httpIdleTimeoutMs ?? 500;
    const maxIdle = Math.max(baseIdle, o.httpMaxIdleTimeoutMs ?? 5_000);
    const pause: BackoffPolicy = {
      maxAttempts: Infinity,
      baseDelayMs: o.httpPollIntervalMs ?? 1_000,
      maxDelayMs: o.httpMaxPollIntervalMs ?? 10_000,
      jitter: 0,
    };
    let cursor = begin;
    let idleTimeoutMs = baseIdle;
    let emptyRun = 0;
    void (async () => {
      while (!ac.signal.aborted) {
        await firstValueFrom(o.paused$.pipe(filter((p) => !p)));
        if (ac.signal.aborted) return;
        const from = cursor;
        const page = await o.client.updates(
          { beginExclusive: cursor, updateFormat: treasuryUpdateFormat(o.party) },
          { streamIdleTimeoutMs: idleTimeoutMs, signal: ac.signal },
        );
        const full = page.length >= o.client.listPageSize;
        for (const raw of page) {
          const el = toIngestElement(raw, slimmer);
          cursor = Math.max(cursor, offsetOf(el));
          sub.next(el);
        }
        answered();
        if (Date.now() >= until) break;
        if (cursor > from) {
          emptyRun = 0;
          if (!full) await sleep(pause.baseDelayMs, ac.signal);
          continue;
        }
        emptyRun++;
        const ledgerEnd = await o.client.ledgerEnd(ac.signal).catch(() => undefined);
        const slowRead = ledgerEnd !== undefined && ledgerEnd > cursor;
        if (slowRead) idleTimeoutMs = Math.min(maxIdle, idleTimeoutMs * 2);
        const delayMs = backoffDelay(pause, emptyRun);
        if (emptyRun === 1) o.onEmptyPages?.({ offset: cursor, ledgerEnd, slowRead, idleTimeoutMs, delayMs });
        await sleep(delayMs, ac.signal);
      }
      if (!ac.signal.aborted) sub.complete();
    })().catch((e: unknown) => {
      if (!ac.signal.aborted) sub.error(classify(e, cursor));
    });
    return () => ac.abort();
  });
}

export function updatesSource(o: UpdatesSourceOptions): Observable<IngestElement> {
  // One for the stream, across its reconnects: the transactions it queues share identifiers.
  const slimmer = new TransactionSlimmer();
  let fallBackToHttp = false;
  // Consecutive failed attempts: reset by anything received and by every HTTP page answered, so
  // that a fallback that works keeps the source alive while the websocket stays out of reach.
  let failures = 0;
  const answered = () => (failures = 0);
  let connections = 0;
  const connect$ = defer(() => {
    const begin = o.resumeOffset();
    if (o.transport === 'http') {
      o.onTransport?.('http');
      return http$(o, begin, undefined, answered, slimmer);
    }
    if (o.transport === 'auto' && fallBackToHttp) {
      fallBackToHttp = false;
      o.onTransport?.('http');
      return http$(o, begin, o.httpFallbackWindowMs ?? 60_000, answered, slimmer);
    }
    o.onTransport?.('websocket');
    let received = false;
    return websocket$(o, begin, slimmer).pipe(
      tap(() => {
        received = true;
        answered();
      }),
      catchError((e: unknown) => {
        if (o.transport === 'auto' && !received && isRetryableSourceError(e)) fallBackToHttp = true;
        return throwError(() => e);
      }),
    );
  });
  const attempt$ = defer(() =>
    connections++ === 0 || !o.beforeReconnect ? connect$ : from(o.beforeReconnect()).pipe(switchMap(() => connect$)),
  );
  return attempt$.pipe(
    // An HTTP fallback window ended normally: back to the websocket.
    repeat(),
    retry({
      delay: (e: unknown) => {
        if (!isRetryableSourceError(e)) return throwError(() => e);
        const attempt = ++failures;
        if (attempt > o.retry.maxAttempts) return throwError(() => new RetriesExhaustedError(attempt, e));
        const ms = backoffDelay(o.retry, attempt);
        o.onRetry?.(e, attempt, ms);
        return timer(ms);
      },
    }),
  );
}

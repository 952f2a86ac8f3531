import { catchError, defer, filter, firstValueFrom, Observable, repeat, retry, tap, throwError, timer } from 'rxjs';
import { LedgerAuthError } from '../ledger/auth.js';
import { LedgerApiError, type LedgerHttp } from '../ledger/http.js';
import { HTTP_LIST_MAX, type LedgerReadClient, treasuryUpdateFormat } from '../ledger/read-client.js';
import { openUpdatesSocket, type UpdatesSocket } from '../ledger/updates-socket.js';
import type { IngestElement } from '../store/ingestion.js';
import { backoffDelay, RetriesExhaustedError, type BackoffPolicy } from './backoff.js';
import { offsetOf, toIngestElement } from './elements.js';
import { PrunedOffsetError } from './errors.js';

/**
 * The treasury's updates as one Observable that survives the network: the websocket first; on a
 * drop it reconnects after a bounded, jittered exponential backoff, resuming after the last
 * offset received. With `auto`, a websocket that cannot even be opened is followed by a window
 * of HTTP polling (the blocking list form of /v2/updates, ≤ 200 elements a page), which also
 * catches up, before the websocket is tried again. Errors that retrying cannot fix (401, 403,
 * 500, 501, pruned offsets, bad data) and exhausted retries end the Observable with an error.
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
  pageSize?: number;
  /** HTTP: how long the server waits for more elements before answering a page. */
  httpIdleTimeoutMs?: number;
  /** HTTP: pause between polls at the ledger end. */
  httpPollIntervalMs?: number;
  /** auto: how long HTTP polling stands in for a websocket that failed to open. */
  httpFallbackWindowMs?: number;
  pingIntervalMs?: number;
  livenessTimeoutMs?: number;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  onTransport?: (transport: 'websocket' | 'http') => void;
}

/** Errors after which reconnecting can help. */
export function isRetryableSourceError(e: unknown): boolean {
  return e instanceof LedgerApiError && e.retryable;
}

/** Canton's answer to reading below the pruning offset, made into what the operator must do. */
function classify(e: unknown, begin: number): unknown {
  if (e instanceof LedgerApiError && e.code === 'PARTICIPANT_PRUNED_DATA_ACCESSED') return new PrunedOffsetError(begin, undefined, { cause: e });
  if (e instanceof LedgerAuthError) return new LedgerApiError(`cannot obtain a Ledger API token: ${e.message}`, { status: e.status, code: 'AUTH_TOKEN', retryable: e.retryable, cause: e });
  return e;
}

function websocket$(o: UpdatesSourceOptions, begin: number): Observable<IngestElement> {
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
              sub.next(toIngestElement(el));
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
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Polls HTTP pages from `begin`; `window`: completes after `windowMs` once at the ledger end. */
function http$(o: UpdatesSourceOptions, begin: number, windowMs: number | undefined): Observable<IngestElement> {
  return new Observable<IngestElement>((sub) => {
    const ac = new AbortController();
    const pageSize = Math.min(o.pageSize ?? HTTP_LIST_MAX, HTTP_LIST_MAX);
    const until = windowMs === undefined ? Infinity : Date.now() + windowMs;
    let cursor = begin;
    void (async () => {
      while (!ac.signal.aborted) {
        await firstValueFrom(o.paused$.pipe(filter((p) => !p)));
        if (ac.signal.aborted) return;
        const page = await o.client.updates(
          { beginExclusive: cursor, updateFormat: treasuryUpdateFormat(o.party) },
          { limit: pageSize, streamIdleTimeoutMs: o.httpIdleTimeoutMs ?? 500, signal: ac.signal },
        );
        for (const raw of page) {
          const el = toIngestElement(raw);
          cursor = Math.max(cursor, offsetOf(el));
          sub.next(el);
        }
        if (page.length < pageSize) {
          if (Date.now() >= until) break;
          await sleep(o.httpPollIntervalMs ?? 1000, ac.signal);
        }
      }
      if (!ac.signal.aborted) sub.complete();
    })().catch((e: unknown) => {
      if (!ac.signal.aborted) sub.error(classify(e, cursor));
    });
    return () => ac.abort();
  });
}

export function updatesSource(o: UpdatesSourceOptions): Observable<IngestElement> {
  let fallBackToHttp = false;
  const attempt$ = defer(() => {
    const begin = o.resumeOffset();
    if (o.transport === 'http') {
      o.onTransport?.('http');
      return http$(o, begin, undefined);
    }
    if (o.transport === 'auto' && fallBackToHttp) {
      fallBackToHttp = false;
      o.onTransport?.('http');
      return http$(o, begin, o.httpFallbackWindowMs ?? 60_000);
    }
    o.onTransport?.('websocket');
    let received = false;
    return websocket$(o, begin).pipe(
      tap(() => (received = true)),
      catchError((e: unknown) => {
        if (o.transport === 'auto' && !received && isRetryableSourceError(e)) fallBackToHttp = true;
        return throwError(() => e);
      }),
    );
  });
  return attempt$.pipe(
    // An HTTP fallback window ended normally: back to the websocket.
    repeat(),
    retry({
      resetOnSuccess: true,
      delay: (e: unknown, attempt: number) => {
        if (!isRetryableSourceError(e)) return throwError(() => e);
        if (attempt > o.retry.maxAttempts) return throwError(() => new RetriesExhaustedError(attempt, e));
        const ms = backoffDelay(o.retry, attempt);
        o.onRetry?.(e, attempt, ms);
        return timer(ms);
      },
    }),
  );
}

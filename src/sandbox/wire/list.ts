import { LedgerError, permissionDenied } from '../engine/errors.js';
import type { Claims } from './auth.js';
import { intParam } from './http.js';
import type { ServerSettings } from './settings.js';
import { streamElements, type StreamSpec, type Timeline } from './stream.js';
import type { EventFormat } from './decode/index.js';
import type { ValidUpdateFormat } from './formats.js';

/*
 * The blocking HTTP form of a stream (POST /v2/updates, /v2/state/active-contracts,
 * /v2/commands/completions), as Canton 3.4 serves it: `Endpoints.asList` and
 * `handleListLimit` in community/ledger/ledger-json-api/src/main/scala/com/digitalasset/canton/http/json/v2/Endpoints.scala,
 * with the endpoints' `timeoutOpenEndedStream` in JsUpdateService.scala, JsStateService.scala and
 * JsCommandService.scala, the defaults in WebsocketConfig (http/JsonApiConfig.scala) and the error
 * in JsonApiErrors.MaximumNumberOfElements (ledger-common/…/error/JsonApiErrors.scala):
 *
 * - The server takes min(limit, http-list-max-elements-limit + 1) elements (no `limit`: the
 *   latter), then answers 413 JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED if it holds more than
 *   the node limit. So a `limit` at or below the node limit never gets a 413, and one above it
 *   does as soon as more than the node limit is there to read; the 413 comes after the read, in
 *   place of the whole answer.
 * - The idle timeout (`stream_idle_timeout_ms`, default http-list-wait-time = 0.5 s) applies when
 *   the request gives one or the endpoint deems it open-ended: updates without endInclusive,
 *   completions always, active contracts never. It is Pekko's `idleTimeout`, which runs from the
 *   start of the read: a read whose first element takes longer answers an empty list (200),
 *   without an OffsetCheckpoint.
 */

export interface ListOptions {
  /** `limit` query parameter. */
  readonly limit?: number | undefined;
  /** Return once no element arrived for this long; undefined: read until the stream ends. */
  readonly idleTimeoutMs?: number | undefined;
  /** http-list-max-elements-limit. */
  readonly maxElements: number;
  /** Tests: the read takes this long to produce its first element (a slow filtered read). */
  readonly firstElementDelayMs: number;
  /** Aborted when the client goes away: the read stops instead of holding the server open. */
  readonly signal?: AbortSignal | undefined;
}

/** The list parameters of a request to an endpoint whose request is (or is not) open-ended. */
export function listOptions(
  query: Record<string, string | undefined>,
  settings: ServerSettings,
  openEnded: boolean,
  signal?: AbortSignal,
): ListOptions {
  const idle = intParam(query['stream_idle_timeout_ms'], 'stream_idle_timeout_ms');
  return {
    limit: intParam(query['limit'], 'limit'),
    idleTimeoutMs: idle ?? (openEnded ? settings.listIdleTimeoutMs : undefined),
    maxElements: settings.maxListElements,
    firstElementDelayMs: settings.listFirstElementDelayMs,
    signal,
  };
}

const IDLE = Symbol('idle');

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

async function collect<E>(open: (signal: AbortSignal) => AsyncGenerator<E>, opts: ListOptions): Promise<E[]> {
  const ac = new AbortController();
  const gone = () => ac.abort();
  opts.signal?.addEventListener('abort', gone);
  const aborted = new Promise<typeof IDLE>((resolve) => ac.signal.addEventListener('abort', () => resolve(IDLE)));
  const gen = open(ac.signal);
  const cap = Math.min(opts.limit ?? opts.maxElements + 1, opts.maxElements + 1);
  const out: E[] = [];
  try {
    while (out.length < cap) {
      const next =
        out.length === 0 && opts.firstElementDelayMs > 0 ? delay(opts.firstElementDelayMs, ac.signal).then(() => gen.next()) : gen.next();
      let timer: NodeJS.Timeout | undefined;
      const idle =
        opts.idleTimeoutMs === undefined
          ? undefined
          : new Promise<typeof IDLE>((resolve) => {
              timer = setTimeout(() => resolve(IDLE), opts.idleTimeoutMs);
            });
      const r = await Promise.race(idle ? [next, idle, aborted] : [next, aborted]);
      clearTimeout(timer);
      if (r === IDLE || r.done) break;
      out.push(r.value);
    }
  } finally {
    opts.signal?.removeEventListener('abort', gone);
    ac.abort();
    await gen.return(undefined);
  }
  if (out.length > opts.maxElements) {
    throw LedgerError.of(
      'JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED',
      `The number of matching elements (${out.length}) is greater than the node limit (${opts.maxElements}).`,
      { definiteAnswer: false },
    );
  }
  return out;
}

/** The list form of a stream (updates, completions). */
export function collectList<E>(
  tl: Timeline,
  spec: StreamSpec<E>,
  opts: ListOptions & { readonly checkpointIntervalMs: number },
): Promise<E[]> {
  return collect(
    (signal) => streamElements(tl, spec, { signal, checkpointIntervalMs: opts.checkpointIntervalMs, checkpointOnCatchUp: true }),
    opts,
  );
}

/** The list form of a finite answer (active contracts). */
export function collectArray<E>(elements: readonly E[], opts: ListOptions): Promise<E[]> {
  return collect(async function* () {
    yield* elements;
  }, opts);
}

/** Every party named in a read must be readable by the caller. */
export function authorizeEventFormat(claims: Claims, format: EventFormat | undefined): void {
  if (!format) return;
  claims.requireReadAs(Object.keys(format.filtersByParty ?? {}));
  if (format.filtersForAnyParty && !claims.canReadAnyParty()) {
    throw permissionDenied(`user ${claims.userId} cannot read as any party`);
  }
}

export function authorizeUpdateFormat(claims: Claims, format: ValidUpdateFormat): void {
  authorizeEventFormat(claims, format.includeTransactions?.eventFormat);
  authorizeEventFormat(claims, format.includeReassignments);
}

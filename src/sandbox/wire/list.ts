import { LedgerError, permissionDenied } from '../engine/errors.js';
import type { Claims } from './auth.js';
import { streamElements, type StreamSpec, type Timeline } from './stream.js';
import type { EventFormat } from './decode/index.js';
import type { ValidUpdateFormat } from './formats.js';

export interface ListOptions {
  /** `limit` query parameter: at most this many elements, never a 413. */
  readonly limit?: number | undefined;
  /** `stream_idle_timeout_ms`: return once no element arrived for this long. */
  readonly idleTimeoutMs: number;
  /** http-list-max-elements-limit. */
  readonly maxElements: number;
  readonly checkpointIntervalMs: number;
}

const IDLE = Symbol('idle');

/**
 * The blocking HTTP form of a stream: the elements until the stream ends or stays idle for the
 * idle timeout. Without a `limit`, more than maxElements is a 413
 * JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED, as on a real node.
 */
export async function collectList<E>(tl: Timeline, spec: StreamSpec<E>, opts: ListOptions): Promise<E[]> {
  const ac = new AbortController();
  const gen = streamElements(tl, spec, { signal: ac.signal, checkpointIntervalMs: opts.checkpointIntervalMs, checkpointOnCatchUp: true });
  const cap = opts.limit ?? opts.maxElements + 1;
  const out: E[] = [];
  try {
    while (out.length < cap) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<typeof IDLE>((resolve) => {
        timer = setTimeout(() => resolve(IDLE), opts.idleTimeoutMs);
      });
      const next = await Promise.race([gen.next(), idle]);
      clearTimeout(timer);
      if (next === IDLE || next.done) break;
      out.push(next.value);
    }
  } finally {
    ac.abort();
    await gen.return(undefined);
  }
  if (opts.limit === undefined && out.length > opts.maxElements) {
    throw LedgerError.of(
      'JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED',
      `The number of matching elements (${out.length}) is greater than the node limit (${opts.maxElements}).`,
      { definiteAnswer: false },
    );
  }
  return out;
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

/* eslint-disable no-undef -- browser globals: tsc checks every name against the DOM (tsconfig.console.json) */
// The event feed, live: GET /v1/events/stream (server-sent events) read with fetch, because an
// EventSource cannot send the Authorization header. One stream per tab: a token may hold at most
// 8 open, so a ninth tab gets 429 and reads the feed by polling GET /v1/events instead.

import { api, authHeaders, ApiError } from './api.js';

const POLL_MS = 3000;
const RECONNECT_MS = 1000;

/**
 * The id of the newest event: the stream replays everything after the id it is given, and the
 * console wants only what happens from now on. The feed has no "from the end" yet, so this asks
 * for one event after a probe, doubling then halving: a few dozen small queries, once per page load.
 * @returns {Promise<number>}
 */
async function feedEnd() {
  /** @param {number} after @returns {Promise<number | null>} the first event id after `after` */
  const next = async (after) => {
    const page = await api('GET', `/v1/events?after=${after}&limit=1`);
    return page.events.length > 0 ? page.events[0].eventId : null;
  };
  // Invariants: an event `lo` exists (or lo is 0); once `hi` is known, no event is after it.
  let lo = await next(0);
  if (lo === null) return 0;
  let hi;
  for (let step = 1; hi === undefined; step *= 2) {
    const found = await next(lo + step);
    if (found === null) hi = lo + step;
    else lo = found;
  }
  for (;;) {
    const found = await next(lo);
    if (found === null) return lo;
    lo = found;
    const mid = Math.floor((lo + hi) / 2);
    if (mid <= lo) continue;
    const beyond = await next(mid);
    if (beyond === null) hi = mid;
    else lo = beyond;
  }
}

/**
 * @typedef {{
 *   eventId: number; topic: string; aggregateType: string; aggregateId: string; payload: Record<string, unknown>; createdAt: string
 * }} FeedEvent
 * @param {{ onEvent: (e: FeedEvent) => void; onMode: (mode: 'live' | 'polling' | 'offline', detail?: string) => void }} handlers
 * @returns {() => void} stops the feed
 */
export function startFeed(handlers) {
  const abort = new AbortController();
  let cursor = 0;
  let stopped = false;
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));

  /** @param {string} block one SSE message */
  const dispatch = (block) => {
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('data:')) data += line.slice(5).trimStart();
    }
    if (!data) return;
    const e = /** @type {FeedEvent} */ (JSON.parse(data));
    cursor = Math.max(cursor, e.eventId);
    handlers.onEvent(e);
  };

  const stream = async () => {
    const res = await fetch(`/v1/events/stream?after=${cursor}`, { headers: authHeaders(), signal: abort.signal, cache: 'no-store' });
    if (!res.ok || !res.body) {
      const body = await res.json().catch(() => ({}));
      throw new ApiError(res.status, body);
    }
    handlers.onMode('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let at;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        dispatch(buffer.slice(0, at));
        buffer = buffer.slice(at + 2);
      }
    }
  };

  const poll = async () => {
    const page = await api('GET', `/v1/events?after=${cursor}&limit=500`);
    for (const e of page.events) {
      cursor = Math.max(cursor, e.eventId);
      handlers.onEvent(e);
    }
  };

  void (async () => {
    try {
      cursor = await feedEnd();
    } catch {
      handlers.onMode('offline', 'the event feed cannot be read');
    }
    let polling = false;
    while (!stopped) {
      try {
        if (polling) {
          await poll();
          await wait(POLL_MS);
        } else {
          await stream();
          // The server closed the stream (a restart): open it again where it ended.
          await wait(RECONNECT_MS);
        }
      } catch (e) {
        if (stopped) return;
        if (e instanceof ApiError && e.status === 429) {
          polling = true;
          handlers.onMode('polling', e.message);
        } else if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
          handlers.onMode('offline', e.message);
          return;
        } else {
          handlers.onMode('offline', e instanceof Error ? e.message : String(e));
          await wait(RECONNECT_MS * 3);
        }
      }
    }
  })();

  return () => {
    stopped = true;
    abort.abort();
  };
}

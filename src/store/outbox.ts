import type { Queryable, Tx } from './db.js';
import { checkedPayload, type OutboxEventInput, type StoredOutboxEvent } from '../events/outbox-events.js';
import { settleAll } from '../lib/settle-all.js';

export type { OutboxEventInput } from '../events/outbox-events.js';

/**
 * The outbox of domain events (docs/internals.md). Writers serialise on a transaction-scoped
 * advisory lock taken before their first insert: ids are assigned and committed in the same order,
 * so a reader paging by "event_id > cursor" can never skip an event that commits late.
 */
export const OUTBOX_LOCK_KEY = 7_245_019_312;

/** An event as read back: its payload as written (src/events/outbox-events.ts gives each topic's shape). */
export type OutboxEvent = StoredOutboxEvent;

/**
 * Appends events inside the caller's transaction; returns their ids in order. The events travel
 * as one JSON document (one parameter, whatever their number) and are inserted in their order,
 * so ids follow it. The lock and the insert are sent back to back: the server runs them in that
 * order on the transaction's connection, so the lock is held before the first id is drawn.
 * A payload its topic's schema refuses throws before anything is sent: the feed is a public
 * contract, and a producer that breaks it is a bug to stop at, not to publish.
 */
export async function appendOutboxEvents(tx: Tx, events: readonly OutboxEventInput[]): Promise<number[]> {
  if (events.length === 0) return [];
  const doc = JSON.stringify(
    events.map((e) => ({ t: e.topic, a: e.aggregateType, i: e.aggregateId, p: checkedPayload(e.topic, e.payload) })),
  );
  // Both started here (execute()), lock first: a caller pipelining more statements after this
  // call has them sent after these.
  const [, rows] = await settleAll([
    tx`select pg_advisory_xact_lock(${OUTBOX_LOCK_KEY})`.execute(),
    tx<{ event_id: number }[]>`
      insert into outbox_events (topic, aggregate_type, aggregate_id, payload)
      select e->>'t', e->>'a', e->>'i', e->'p'
      from jsonb_array_elements(${doc}::text::jsonb) with ordinality as v(e, n)
      order by n
      returning event_id`.execute(),
  ]);
  return rows.map((r) => r.event_id).sort((a, b) => a - b);
}

interface OutboxRow {
  event_id: number;
  topic: string;
  aggregate_type: string;
  aggregate_id: string;
  payload: Record<string, unknown>;
  created_at: string;
}

function toEvent(r: OutboxRow): OutboxEvent {
  return {
    eventId: r.event_id,
    topic: r.topic,
    aggregateType: r.aggregate_type,
    aggregateId: r.aggregate_id,
    payload: r.payload,
    createdAt: r.created_at,
  };
}

/** Events after `afterId`, oldest first, optionally only some topics. */
export async function readOutboxEvents(
  db: Queryable,
  opts: { afterId: number; limit: number; topics?: readonly string[] },
): Promise<OutboxEvent[]> {
  const rows = opts.topics
    ? await db<OutboxRow[]>`
        select event_id, topic, aggregate_type, aggregate_id, payload, created_at from outbox_events
        where event_id > ${opts.afterId} and topic = any(${opts.topics as string[]})
        order by event_id limit ${opts.limit}`
    : await db<OutboxRow[]>`
        select event_id, topic, aggregate_type, aggregate_id, payload, created_at from outbox_events
        where event_id > ${opts.afterId}
        order by event_id limit ${opts.limit}`;
  return rows.map(toEvent);
}

/** The newest event id (0 when there is none): every event committed so far is at or below it. */
export async function lastOutboxEventId(db: Queryable): Promise<number> {
  const [row] = await db<{ last: number | null }[]>`select max(event_id)::bigint as last from outbox_events`;
  return Number(row?.last ?? 0);
}

/** A consumer's position; 0 before it has consumed anything. */
export async function readCursor(db: Queryable, consumer: string): Promise<number> {
  const [row] = await db<{ last_event_id: number }[]>`select last_event_id from outbox_cursors where consumer = ${consumer}`;
  return row?.last_event_id ?? 0;
}

/**
 * Moves a consumer's cursor inside the transaction that applied the events, so applying and
 * acknowledging are one atomic step. Refuses to move backwards: that would re-apply events.
 */
export async function advanceCursor(tx: Tx, consumer: string, toEventId: number): Promise<void> {
  const rows = await tx`
    insert into outbox_cursors (consumer, last_event_id) values (${consumer}, ${toEventId})
    on conflict (consumer) do update set last_event_id = excluded.last_event_id, updated_at = now()
    where outbox_cursors.last_event_id <= excluded.last_event_id
    returning consumer`;
  if (rows.length === 0) throw new Error(`outbox cursor of ${consumer} would move backwards to ${toEventId}`);
}

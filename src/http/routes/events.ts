import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { Sql } from '../../store/db.js';
import { readOutboxEvents, type OutboxEvent } from '../../store/outbox.js';
import { errorResponses } from '../schemas.js';
import { OutboxEventSchema } from '../../events/outbox-events.js';
import type { App } from '../server.js';

/** One member per topic, each with its payload's schema (src/events/outbox-events.ts): the feed's contract. */
const Event = OutboxEventSchema;

const POLL_MS = 250;
const HEARTBEAT_MS = 15_000;
const STREAM_BATCH = 500;
/** Open event streams per API token: each holds a connection and polls the database. */
export const MAX_STREAMS_PER_TOKEN = 8;

const topicList = (s: string | undefined) => (s === undefined ? undefined : s.split(',').filter((t) => t.length > 0));

/**
 * Domain events for exchange systems, from the ordered outbox: a page at GET /v1/events?after=<id>
 * and a live server-sent-event stream at GET /v1/events/stream, resumable from an event id
 * (query `after`, or the Last-Event-ID header an EventSource sends when it reconnects). Event ids
 * are committed in order, so "after N" never skips or repeats one.
 */
export function registerEventRoutes(app: App, deps: { sql: Sql; maxStreamsPerToken?: number }): void {
  const { sql } = deps;
  const streams = new Set<AbortController>();
  const openPerToken = new Map<string, number>();
  const maxPerToken = deps.maxStreamsPerToken ?? MAX_STREAMS_PER_TOKEN;
  app.addHook('preClose', async () => {
    for (const s of streams) s.abort();
  });

  app.get(
    '/v1/events',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Domain events after an event id, oldest first',
        tags: ['events'],
        querystring: z.object({
          after: z.coerce.number().int().min(0).default(0),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          topics: z.string().max(1000).optional().describe('Comma-separated topics to include'),
        }),
        response: {
          200: z.object({ events: z.array(Event), lastEventId: z.number().int().describe('Pass as after= for the next page') }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req) => {
      const events = await readOutboxEvents(sql, { afterId: req.query.after, limit: req.query.limit, topics: topicList(req.query.topics) });
      return { events, lastEventId: events.at(-1)?.eventId ?? req.query.after };
    },
  );

  app.get(
    '/v1/events/stream',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Live domain events as server-sent events (text/event-stream); each SSE id is the event id',
        tags: ['events'],
        querystring: z.object({
          after: z.coerce.number().int().min(0).optional(),
          topics: z.string().max(1000).optional(),
        }),
        headers: z.object({ 'last-event-id': z.coerce.number().int().min(0).optional() }).loose(),
        response: errorResponses(400, 401, 403, 429),
      },
    },
    async (req, reply) => {
      const token = req.principal?.name ?? '';
      const open = openPerToken.get(token) ?? 0;
      if (open >= maxPerToken) {
        throw new AppError(
          'RATE_LIMITED',
          `Token "${token}" already has ${open} event streams open (at most ${maxPerToken}): close one first.`,
        );
      }
      openPerToken.set(token, open + 1);
      let cursor = req.headers['last-event-id'] ?? req.query.after ?? 0;
      const topics = topicList(req.query.topics);
      const abort = new AbortController();
      streams.add(abort);
      req.raw.on('close', () => abort.abort());
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-request-id': req.id,
      });
      const write = (chunk: string) => reply.raw.write(chunk);
      const send = (e: OutboxEvent) => write(`id: ${e.eventId}\nevent: ${e.topic}\ndata: ${JSON.stringify(e)}\n\n`);
      let lastWrite = Date.now();
      try {
        write(': stream open\n\n');
        while (!abort.signal.aborted) {
          const batch = await readOutboxEvents(sql, { afterId: cursor, limit: STREAM_BATCH, topics });
          for (const e of batch) send(e);
          if (batch.length > 0) {
            cursor = batch.at(-1)!.eventId;
            lastWrite = Date.now();
          } else {
            if (Date.now() - lastWrite > HEARTBEAT_MS) {
              write(': heartbeat\n\n');
              lastWrite = Date.now();
            }
            await sleep(POLL_MS, undefined, { signal: abort.signal }).catch(() => undefined);
          }
        }
      } catch (e) {
        req.log.warn({ err: e }, 'event stream ended by an error');
      } finally {
        streams.delete(abort);
        const left = (openPerToken.get(token) ?? 1) - 1;
        if (left > 0) openPerToken.set(token, left);
        else openPerToken.delete(token);
        reply.raw.end();
      }
    },
  );
}

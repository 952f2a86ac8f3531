import type { FastifyInstance } from 'fastify';
import { GetEventsByContractIdRequest, GetUpdateByIdRequest, GetUpdateByOffsetRequest, GetUpdatesRequest } from '../decode/index.js';
import { requireEventFormat, updatesQuery, validUpdateFormat } from '../formats.js';
import { register, type WireContext } from '../http.js';
import { authorizeEventFormat, authorizeUpdateFormat, collectList, listOptions } from '../list.js';
import type { UpdateReader } from '../reader.js';
import type { ServerSettings } from '../settings.js';
import { validateRange } from '../stream.js';

export function updateRoutes(app: FastifyInstance, ctx: WireContext, reader: UpdateReader, settings: ServerSettings): void {
  register(app, ctx, {
    method: 'POST',
    url: '/v2/updates',
    op: 'updates',
    body: GetUpdatesRequest,
    handler: async ({ claims, body, query, signal }) => {
      // tapir decodes query parameters with the body, before any service logic.
      const list = listOptions(query, settings, body.endInclusive === undefined, signal);
      const q = updatesQuery(body);
      authorizeUpdateFormat(claims, q.updateFormat);
      validateRange(reader.timeline, q.beginExclusive, q.endInclusive, 'Transactions');
      // JsUpdateService: open-ended when endInclusive is absent.
      return collectList(reader.timeline, reader.updates(q), { ...list, checkpointIntervalMs: settings.checkpointIntervalMs });
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/updates/update-by-id',
    op: 'updateById',
    body: GetUpdateByIdRequest,
    handler: async ({ claims, body }) => {
      const updateFormat = validUpdateFormat(body.updateFormat);
      authorizeUpdateFormat(claims, updateFormat);
      return reader.updateById({ updateId: body.updateId, updateFormat });
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/updates/update-by-offset',
    op: 'updateByOffset',
    body: GetUpdateByOffsetRequest,
    handler: async ({ claims, body }) => {
      const updateFormat = validUpdateFormat(body.updateFormat);
      authorizeUpdateFormat(claims, updateFormat);
      return reader.updateByOffset({ offset: body.offset, updateFormat });
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/events/events-by-contract-id',
    op: 'eventsByContractId',
    body: GetEventsByContractIdRequest,
    handler: async ({ claims, body }) => {
      const eventFormat = requireEventFormat(body.eventFormat);
      authorizeEventFormat(claims, eventFormat);
      return reader.eventsByContractId({ contractId: body.contractId, eventFormat });
    },
  });
}

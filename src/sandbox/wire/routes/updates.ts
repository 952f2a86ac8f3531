import type { FastifyInstance } from 'fastify';
import {
  GetEventsByContractIdRequest,
  GetUpdateByIdRequest,
  GetUpdateByOffsetRequest,
  GetUpdatesRequest,
} from '../../../ledger/schema/index.js';
import { LedgerError } from '../../engine/errors.js';
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
    handler: async ({ claims, body, query }) => {
      if (body.filter !== undefined) {
        throw LedgerError.of('INVALID_ARGUMENT', 'The submitted request has invalid arguments: filter and update_format are mutually exclusive');
      }
      authorizeUpdateFormat(claims, body.updateFormat);
      validateRange(reader.timeline, body.beginExclusive ?? 0, body.endInclusive, 'Transactions');
      // JsUpdateService: open-ended when endInclusive is absent.
      const list = listOptions(query, settings, body.endInclusive === undefined);
      return collectList(reader.timeline, reader.updates(body), { ...list, checkpointIntervalMs: settings.checkpointIntervalMs });
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/updates/update-by-id',
    op: 'updateById',
    body: GetUpdateByIdRequest,
    handler: async ({ claims, body }) => {
      authorizeUpdateFormat(claims, body.updateFormat);
      return reader.updateById(body);
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/updates/update-by-offset',
    op: 'updateByOffset',
    body: GetUpdateByOffsetRequest,
    handler: async ({ claims, body }) => {
      authorizeUpdateFormat(claims, body.updateFormat);
      return reader.updateByOffset(body);
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/events/events-by-contract-id',
    op: 'eventsByContractId',
    body: GetEventsByContractIdRequest,
    handler: async ({ claims, body }) => {
      authorizeEventFormat(claims, body.eventFormat);
      return reader.eventsByContractId(body);
    },
  });
}

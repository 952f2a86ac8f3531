import Fastify, { type FastifyInstance } from 'fastify';
import { sendDecodeError, type WireContext } from './http.js';
import type { UpdateReader } from './reader.js';
import { partyRoutes } from './routes/parties.js';
import { stateRoutes } from './routes/state.js';
import { updateRoutes } from './routes/updates.js';
import { userRoutes } from './routes/users.js';
import type { ServerSettings } from './settings.js';

/**
 * The fastify app of the double. Routes are added by the caller per mode (live or replay);
 * this sets up what every route shares: body parsing as Canton answers it, form bodies for the
 * OAuth endpoint, and no fastify logging (the double logs through the daemon's logger).
 */
export function createApp(): FastifyInstance {
  // forceCloseConnections: stopping cuts every connection, as a node going down does (no 72 s keep-alive wait).
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024, forceCloseConnections: true, routerOptions: { maxParamLength: 2048 } });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });
  app.setErrorHandler((err, _req, reply) => {
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode !== undefined && e.statusCode < 500) return sendDecodeError(reply, e.message ?? 'malformed body');
    return reply.code(500).type('text/plain').send('internal error');
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).type('text/plain').send(`The requested resource could not be found: ${req.method} ${req.url}`);
  });
  return app;
}

/** The read side and the party/user services, common to the live double and replay mode. */
export function registerLedgerReadRoutes(app: FastifyInstance, ctx: WireContext, reader: UpdateReader, settings: ServerSettings): void {
  stateRoutes(app, ctx, reader, settings);
  updateRoutes(app, ctx, reader, settings);
  partyRoutes(app, ctx);
  userRoutes(app, ctx);
}

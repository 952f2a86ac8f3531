import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiToken } from '../config.js';
import { AppError, type ErrorBody } from '../errors.js';
import type { Logger } from '../logger.js';
import { createAuthenticator, type Principal, type RouteAccess } from './auth.js';
import type { HttpMetrics } from './metrics.js';
import { createAuthThrottle } from './auth-throttle.js';

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger, ZodTypeProvider>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Every route states who may call it; a /v1 route without it refuses to register. */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const MAX_BODY_BYTES = 64 * 1024;
const OPS_PATHS = new Set(['/health', '/ready', '/metrics']);
const DOCS_PREFIX = '/docs';
/** SQLSTATEs of text the database refuses: character_not_in_repertoire (NUL, bad UTF-8), untranslatable_character. */
const PG_BAD_TEXT = new Set(['22021', '22P05']);
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Maps whatever a route or fastify itself threw onto the catalogue's `{code, message, details}` body. */
export function toErrorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof AppError) return { status: err.status, body: err.toBody() };
  if (!(err instanceof Error)) return { status: 500, body: new AppError('INTERNAL').toBody() };
  const fe = err as FastifyError;
  if (fe.validation) {
    return {
      status: 400,
      body: {
        code: 'VALIDATION_FAILED',
        message: `Invalid ${fe.validationContext ?? 'request'}`,
        details: {
          issues: fe.validation.map((v) => ({
            field:
              v.instancePath.replace(/^\//, '').replace(/\//g, '.') ||
              (v.params as { missingProperty?: string } | undefined)?.missingProperty ||
              '(root)',
            reason: v.message ?? 'invalid',
          })),
        },
      },
    };
  }
  switch (fe.code) {
    case 'FST_ERR_VALIDATION':
      // A schema whose check threw on the value (rather than reporting an issue): still bad input.
      return {
        status: 400,
        body: {
          code: 'VALIDATION_FAILED',
          message: `Invalid ${fe.validationContext ?? 'request'}`,
          details: { issues: [{ field: '(unknown)', reason: 'invalid value' }] },
        },
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: new AppError('PAYLOAD_TOO_LARGE', `The request body exceeds ${MAX_BODY_BYTES} bytes.`).toBody() };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: new AppError('UNSUPPORTED_MEDIA_TYPE').toBody() };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: new AppError('MALFORMED_BODY').toBody() };
  }
  // Text Postgres cannot store (a NUL character, invalid UTF-8) that got past a schema: bad input.
  if (typeof fe.code === 'string' && PG_BAD_TEXT.has(fe.code)) {
    return {
      status: 400,
      body: { code: 'VALIDATION_FAILED', message: 'A value contains characters that cannot be stored (e.g. NUL).', details: {} },
    };
  }
  if (err instanceof SyntaxError) return { status: 400, body: new AppError('MALFORMED_BODY').toBody() };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { code: 'VALIDATION_FAILED', message: fe.message, details: {} } };
  }
  return { status: 500, body: new AppError('INTERNAL').toBody() };
}

/** The dotted path of the first string (or key) holding a NUL character, if any. */
function nulPath(v: unknown, path = '', depth = 0): string | undefined {
  if (typeof v === 'string') return v.includes('\u0000') ? path : undefined;
  if (typeof v !== 'object' || v === null || depth > 64) return undefined;
  for (const [k, x] of Object.entries(v)) {
    const p = path === '' ? k : `${path}.${k}`;
    if (k.includes('\u0000')) return p;
    const found = nulPath(x, p, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

export interface ServerOptions {
  logger: Logger;
  apiTokens: readonly ApiToken[];
  /** Require a read-scoped token on /health, /ready and /metrics too. */
  protectOpsEndpoints: boolean;
  /**
   * Require a read-scoped token on /metrics (it shows treasury balances and volumes). The daemon
   * sets it unless the server listens on loopback only or METRICS_PUBLIC says otherwise.
   */
  protectMetrics?: boolean;
  metrics?: HttpMetrics;
  version?: string;
  /** Failed authentications per address before it is answered 429 (default 20 per 10 s). */
  authFailures?: { limit?: number; windowMs?: number; summaryMs?: number };
  /** Receiving a whole request (headers and body) may take this long (default 30 s). */
  requestTimeoutMs?: number;
  /** Open connections at most (default 1,000); more are refused by the socket. */
  maxConnections?: number;
  /**
   * A server already listening (bindHttpServer): the app serves on it once ready, instead of
   * binding with `listen`, and closes it when the app closes.
   */
  server?: Server;
}

/** The address could not be bound: a clear reason, no stack (another process holds the port, say). */
export class HttpBindError extends Error {
  override readonly name = 'HttpBindError';
}

function nodeServer(requestTimeoutMs: number | undefined, handler?: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const requestTimeout = requestTimeoutMs ?? 30_000;
  return createServer(
    { requestTimeout, headersTimeout: Math.min(requestTimeout, 60_000), connectionsCheckingInterval: Math.min(1000, requestTimeout) },
    handler,
  );
}

/**
 * Binds the HTTP address before anything else starts, so a port in use stops start-up while
 * nothing (ingestion, machines, the embedded ledger) has run. Until the app takes it over, every
 * request is answered 503 NOT_READY. `localhost` binds the first address it resolves to.
 */
export async function bindHttpServer(opts: { host: string; port: number; requestTimeoutMs?: number }): Promise<Server> {
  const server = nodeServer(opts.requestTimeoutMs, (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' });
    res.end(JSON.stringify(new AppError('NOT_READY', 'The service is starting.').toBody()));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `${opts.host}:${opts.port}`;
      if (e.code === 'EADDRINUSE')
        reject(
          new HttpBindError(`HTTP_HOST/HTTP_PORT ${where} is already in use by another process: stop it or set HTTP_PORT to a free port`),
        );
      else if (e.code === 'EACCES')
        reject(
          new HttpBindError(
            `HTTP_HOST/HTTP_PORT ${where} may not be bound by this user (ports below 1024 need privileges): set HTTP_PORT to 1024 or above`,
          ),
        );
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND')
        reject(new HttpBindError(`HTTP_HOST ${opts.host} is not an address of this machine (${e.code})`));
      else reject(e);
    };
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server;
}

/**
 * The fastify instance with everything every route relies on: zod validation and serialisation,
 * the error catalogue, request ids, bearer-token scopes, OpenAPI generated from the route schemas
 * (GET /openapi.json, docs at /docs) and request metrics. Routes are registered by the caller.
 */
export async function createHttpServer(opts: ServerOptions): Promise<App> {
  const auth = createAuthenticator(opts.apiTokens);
  // Requests on the API whose token is unknown are not logged one by one: the throttle's summary covers them.
  const unknownToken = new WeakSet<object>();
  let appHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const app = Fastify({
    loggerInstance: opts.logger,
    bodyLimit: MAX_BODY_BYTES,
    // A body trickled in over minutes holds a connection and a parser: cut it (408). Node checks
    // the deadline every connectionsCheckingInterval (30 s by default): check it often enough.
    serverFactory: (handler) => {
      if (!opts.server) return nodeServer(opts.requestTimeoutMs, handler);
      appHandler = handler;
      return opts.server;
    },
    // Path parameters include contract ids (a 2-step deposit's id is its transfer instruction's
    // cid, ~140-260 characters): fastify's default of 100 would answer them 414. Routes cap each
    // parameter with their own schema.
    routerOptions: { maxParamLength: 512 },
    // Bad percent-encoding in the path, an over-long parameter: the catalogue's body too.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
      return reply.status(status).send({
        code: 'VALIDATION_FAILED',
        message: err.code === 'FST_ERR_BAD_URL' ? 'Malformed URL (bad percent-encoding)' : 'A path parameter is too long',
        details: {},
      });
    },
    // A caller's x-request-id is kept only when it is a plain token: it is echoed in a response
    // header (a control or non-Latin-1 character there makes Node throw: a 500) and logged.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Probes hit /health and /ready every few seconds; logging each would drown the useful lines.
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      disableRequestLogging: (req) => {
        if (OPS_PATHS.has(req.url)) return true;
        if (!req.url.startsWith('/v1')) return false;
        const raw = (req as { raw?: object }).raw ?? req;
        if (!unknownToken.has(raw) && !auth.knows(req.headers.authorization)) unknownToken.add(raw);
        return unknownToken.has(raw);
      },
    }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // The API speaks JSON only: a text body is refused (415) rather than validated as a string.
  app.removeContentTypeParser('text/plain');

  app.server.maxConnections = opts.maxConnections ?? 1000;
  const bound = opts.server;
  if (bound) {
    // Served from the moment every route is registered; fastify closes only servers it bound itself.
    app.addHook('onReady', async () => {
      bound.removeAllListeners('request');
      if (appHandler) bound.on('request', appHandler);
    });
    app.addHook('onClose', async () => {
      await new Promise<void>((resolve) => {
        bound.close(() => resolve());
        bound.closeIdleConnections();
      });
    });
  }
  const throttle = createAuthThrottle({ logger: opts.logger.child({ component: 'http-auth' }), ...opts.authFailures });
  app.addHook('onClose', async () => throttle.stop());
  // Probes answer anyone (without details); /metrics is protected unless the daemon says otherwise.
  const probeAccess: RouteAccess = opts.protectOpsEndpoints ? 'read' : 'probe';
  const metricsAccess: RouteAccess = opts.protectOpsEndpoints || opts.protectMetrics === true ? 'read' : 'public';

  app.addHook('onRoute', (route) => {
    const url = route.url ?? route.path ?? '';
    if (OPS_PATHS.has(url)) {
      route.config = { ...route.config, access: url === '/metrics' ? metricsAccess : probeAccess };
    } else if (url.startsWith('/v1') && route.config?.access === undefined) {
      throw new Error(`route ${String(route.method)} ${url} does not declare its access scope (config.access)`);
    }
    const access = route.config?.access;
    if (access !== undefined && access !== 'public' && access !== 'probe' && route.schema) {
      route.schema = { ...route.schema, security: [{ bearerAuth: [access] }] };
    }
  });

  // Postgres text cannot hold NUL: refuse it for every route, whatever its schema (after the
  // schemas, so a value they refuse anyway gets their message).
  app.addHook('preHandler', async (req) => {
    for (const [where, value] of [
      ['params', req.params],
      ['querystring', req.query],
      ['body', req.body],
    ] as const) {
      const path = nulPath(value);
      if (path !== undefined) {
        throw new AppError('VALIDATION_FAILED', `Invalid ${where}`, {
          issues: [{ field: path === '' ? '(root)' : path, reason: 'NUL characters are not allowed' }],
        });
      }
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
    const access = req.routeOptions.config.access;
    // Routes outside /v1 without a rule (docs, openapi, 404s) are public by design.
    if (access === undefined || access === 'public') return;
    if (access === 'probe' && req.headers.authorization === undefined) return;
    const wait = throttle.blockedFor(req.ip);
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      throw new AppError('RATE_LIMITED', `Too many failed authentications from this address: try again in ${wait} s.`);
    }
    try {
      req.principal = auth.authorize(access, req.headers.authorization);
    } catch (e) {
      if (e instanceof AppError && e.code === 'UNAUTHENTICATED') throttle.recordFailure(req.ip);
      throw e;
    }
  });

  if (opts.metrics) {
    const metrics = opts.metrics;
    app.addHook('onResponse', async (req, reply) => {
      metrics.observeRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorBody(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else if (body.code !== 'UNAUTHENTICATED' && body.code !== 'RATE_LIMITED') req.log.info({ code: body.code, status }, 'request rejected');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    return reply.status(404).send(new AppError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`).toBody());
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Canton exchange integration',
        description:
          'Deposits, withdrawals and treasury holdings of Canton Network tokens. Errors are `{code, message, details}` with stable codes.',
        version: opts.version ?? '0.1.0',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

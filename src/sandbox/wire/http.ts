import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../logger.js';
import type { SandboxEngine } from '../engine/engine.js';
import { LedgerError, SecurityError } from '../engine/errors.js';
import type { Auth, Claims } from './auth.js';
import { bearerOf } from './auth.js';
import { decodeWith, issuesDetail, type Codec } from './decode/codec.js';
import type { FaultInjector } from './faults.js';

export interface WireContext {
  readonly engine: SandboxEngine;
  readonly auth: Auth;
  readonly faults: FaultInjector;
  readonly logger: Logger;
}

/** The handler asked to answer itself (raw socket, hijacked reply): send nothing more. */
export const HANDLED = Symbol('handled');

export interface HandlerInput<B> {
  readonly claims: Claims;
  readonly body: B;
  readonly params: Record<string, string>;
  readonly query: Record<string, string | undefined>;
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  /** Aborted when the client closes the connection before the answer is sent. */
  readonly signal: AbortSignal;
}

export interface RouteSpec<B> {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly url: string;
  /** Operation name used by fault rules (see README). */
  readonly op: string;
  /** How the real server decodes this body (./decode: Canton's rules, never the client's schemas). */
  readonly body?: Codec<B>;
  /** Skip the Ledger API JWT (registry and OAuth endpoints). */
  readonly public?: boolean;
  handler(input: HandlerInput<B>): Promise<unknown>;
}

export function traceIdOf(req: FastifyRequest): string {
  const tp = req.headers['traceparent'];
  const m = typeof tp === 'string' ? /^00-([0-9a-f]{32})-/.exec(tp) : null;
  return m?.[1] ?? randomUUID().replace(/-/g, '');
}

/**
 * Body decoding failures get what Canton's JSON API (tapir) answers: 400 with a text/plain
 * "Invalid value for: body (…)" — not a JsCantonError.
 */
export function sendDecodeError(reply: FastifyReply, detail: string): FastifyReply {
  return reply.code(400).type('text/plain; charset=utf-8').send(`Invalid value for: body (${detail})`);
}

/** A query or path parameter tapir cannot decode: 400 `text/plain` "Invalid value for: query parameter x". */
export class ParameterDecodeError extends Error {
  override readonly name = 'ParameterDecodeError';
}

export function sendError(ctx: WireContext, req: FastifyRequest, reply: FastifyReply, e: unknown): FastifyReply {
  const traceId = traceIdOf(req);
  if (e instanceof LedgerError) {
    return reply.code(e.httpStatus).type('application/json').send(e.toJs(ctx.engine.ledger.participantId, traceId));
  }
  if (e instanceof SecurityError) {
    ctx.logger.info({ reason: e.reason, path: req.url }, 'sandbox: request refused');
    return reply
      .code(e.httpStatus)
      .type('application/json')
      .send(e.toJs(traceId, randomUUID().slice(0, 8)));
  }
  if (e instanceof ParameterDecodeError) return reply.code(400).type('text/plain; charset=utf-8').send(e.message);
  if (e instanceof ProxyRejection) return reply.code(e.status).type('text/plain; charset=utf-8').send(e.message);
  ctx.logger.error({ err: e, path: req.url }, 'sandbox: internal error');
  const err = LedgerError.of('LEDGER_API_INTERNAL_ERROR', `An internal error occurred: ${(e as Error).message ?? String(e)}`);
  return reply.code(500).type('application/json').send(err.toJs(ctx.engine.ledger.participantId, traceId));
}

/** What a rate-limiting proxy in front of the node answers: not the node's JsCantonError. */
export class ProxyRejection extends Error {
  override readonly name = 'ProxyRejection';
  constructor(readonly status: number) {
    super('Too Many Requests');
  }
}

/** Faults that act before a request is processed: 503, backpressure, a proxy's 429, delays. */
export async function applyEntryFaults(
  ctx: WireContext,
  method: string,
  path: string,
  op: string,
): Promise<LedgerError | ProxyRejection | undefined> {
  for (const a of ctx.faults.fire({ method, path, operation: op }, ['http503', 'backpressure', 'http429', 'delay'])) {
    if (a.kind === 'delay') await new Promise((r) => setTimeout(r, a.ms));
    else if (a.kind === 'http503') {
      return LedgerError.of('SERVICE_NOT_RUNNING', 'The service is not running: injected fault', { definiteAnswer: false });
    } else if (a.kind === 'backpressure') {
      return LedgerError.of('PARTICIPANT_BACKPRESSURE', 'The participant is overloaded: injected fault', { definiteAnswer: true });
    } else {
      return new ProxyRejection(429);
    }
  }
  return undefined;
}

export function register<B = undefined>(app: FastifyInstance, ctx: WireContext, spec: RouteSpec<B>): void {
  app.route({
    method: spec.method,
    url: spec.url,
    handler: async (req, reply) => {
      try {
        const path = req.url.split('?')[0] ?? req.url;
        const fault = await applyEntryFaults(ctx, req.method, path, spec.op);
        if (fault) return sendError(ctx, req, reply, fault);
        const claims = spec.public ? (undefined as unknown as Claims) : await ctx.auth.authenticate(bearerOf(req.headers.authorization));
        let body: unknown = undefined;
        if (spec.body) {
          const decoded = decodeWith(spec.body, req.body ?? undefined);
          if (!decoded.ok) return sendDecodeError(reply, issuesDetail(decoded.issues));
          body = decoded.value;
        }
        const gone = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) gone.abort();
        });
        const result = await spec.handler({
          claims,
          body: body as never,
          params: (req.params ?? {}) as Record<string, string>,
          query: (req.query ?? {}) as Record<string, string | undefined>,
          req,
          reply,
          signal: gone.signal,
        });
        if (result === HANDLED) return reply;
        return reply.code(200).type('application/json').send(result);
      } catch (e) {
        return sendError(ctx, req, reply, e);
      }
    },
  });
}

/** Query parameter as a non-negative integer, or undefined. */
export function intParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new ParameterDecodeError(`Invalid value for: query parameter ${name}`);
  return Number(v);
}

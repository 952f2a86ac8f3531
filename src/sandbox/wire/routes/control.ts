import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  CounterfeitArchiveRequest,
  CounterfeitRequest,
  CreateCustomerRequest,
  RestoreNodeRequest,
  TransferRequest,
  type SandboxControl,
} from '../../control/control.js';
import { LedgerError } from '../../engine/errors.js';
import { FaultRule } from '../faults.js';
import { bearerOf } from '../auth.js';
import type { WireContext } from '../http.js';

export interface ControlRouteDeps {
  readonly control: SandboxControl;
  readonly token: string;
  /** What GET /sandbox/control/info answers (URLs, parties, instruments; never private keys). */
  info(): unknown;
  /** Issues a Ledger API JWT (for a chaos runner in another process). */
  tokenFor(userId: string, expiresInSeconds?: number): Promise<string>;
}

const PREFIX = '/sandbox/control';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The control handle over HTTP, for a double running in its own process (`npm run sandbox`):
 * same operations as SandboxControl, JSON in and out, bearer = the control token. Errors are
 * `{error, code?}` with 400 (bad request or refused action), 401 or 404.
 */
export function controlRoutes(app: FastifyInstance, ctx: WireContext, deps: ControlRouteDeps): void {
  const { control } = deps;

  const route = <S extends z.ZodType>(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    body: S | undefined,
    run: (input: { body: z.output<S>; params: Record<string, string>; query: Record<string, string | undefined> }) => unknown,
  ) => {
    app.route({
      method,
      url: `${PREFIX}${url}`,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const token = bearerOf(req.headers.authorization);
        if (token === undefined || !sameSecret(token, deps.token))
          return reply.code(401).send({ error: 'a valid control token is required' });
        try {
          let parsed: unknown = undefined;
          if (body) {
            const r = body.safeParse(req.body ?? {});
            if (!r.success)
              return reply.code(400).send({ error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
            parsed = r.data;
          }
          const result = await run({
            body: parsed as z.output<S>,
            params: (req.params ?? {}) as Record<string, string>,
            query: (req.query ?? {}) as Record<string, string | undefined>,
          });
          return reply.code(200).send(result ?? {});
        } catch (e) {
          if (e instanceof LedgerError) return reply.code(e.httpStatus === 404 ? 404 : 400).send({ error: e.causeText, code: e.code });
          if (e instanceof RangeError || e instanceof z.ZodError) return reply.code(400).send({ error: e.message });
          ctx.logger.error({ err: e, url }, 'sandbox control: internal error');
          return reply.code(500).send({ error: (e as Error).message });
        }
      },
    });
  };

  route('GET', '/info', undefined, () => deps.info());
  route('POST', '/tokens', z.object({ userId: z.string(), expiresInSeconds: z.int().optional() }), async ({ body }) => ({
    token: await deps.tokenFor(body.userId, body.expiresInSeconds),
  }));
  route('POST', '/customers', CreateCustomerRequest, ({ body }) => control.createCustomer(body));
  route('POST', '/mint', z.object({ party: z.string(), instrument: z.string(), amount: z.string() }), ({ body }) =>
    control.mint(body.party, body.instrument, body.amount),
  );
  route('POST', '/preapprovals', z.object({ party: z.string(), instrument: z.string().default('Amulet') }), ({ body }) =>
    control.createPreapproval(body.party, body.instrument),
  );
  route('POST', '/transfers', TransferRequest, ({ body }) => control.transfer(body));
  route('POST', '/synchronizers', z.object({ alias: z.string().min(1).optional() }), ({ body }) => control.connectSynchronizer(body.alias));
  route('POST', '/instructions/:cid/:choice', z.object({ actor: z.string().optional() }), ({ body, params }) => {
    const choice = params['choice'];
    const cid = params['cid'] ?? '';
    if (choice === 'accept') return control.accept(cid, body.actor);
    if (choice === 'reject') return control.reject(cid, body.actor);
    if (choice === 'withdraw') return control.withdraw(cid, body.actor);
    throw new RangeError(`unknown choice ${choice ?? ''}: accept, reject or withdraw`);
  });
  route('POST', '/expire', undefined, () => ({ expired: control.expireDue() }));
  route('POST', '/counterfeits', CounterfeitRequest, ({ body }) => control.counterfeit(body));
  route('POST', '/counterfeits/:cid/archive', CounterfeitArchiveRequest, ({ body, params }) =>
    control.archiveCounterfeit(params['cid'] ?? '', body),
  );

  route('GET', '/clock', undefined, () => control.clockNow());
  route('POST', '/clock/advance', z.object({ ms: z.int().min(0) }), ({ body }) => ({ time: control.advanceClock(body.ms) }));
  route('POST', '/clock/set', z.object({ time: z.string() }), ({ body }) => ({ time: control.setClock(body.time) }));
  route('POST', '/clock/real', undefined, () => {
    control.useRealTime();
    return control.clockNow();
  });

  route('POST', '/commits/hold', undefined, () => {
    control.holdCommits();
    return {};
  });
  route('POST', '/commits/release', undefined, async () => {
    await control.releaseCommits();
    return {};
  });
  route('POST', '/prune', z.object({ offset: z.int().min(0) }), ({ body }) => {
    control.prune(body.offset);
    return control.books.ledgerEnd();
  });

  route('GET', '/traffic', undefined, () => control.traffic());
  // {limit}: the purchased balance in total (null = unlimited); {add}: a top-up on top of it.
  route(
    'POST',
    '/traffic',
    z.object({ limit: z.int().min(0).nullable().optional(), add: z.int().min(0).optional() }).strict(),
    ({ body }) => {
      if (body.limit !== undefined) control.setTraffic(body.limit);
      if (body.add !== undefined) control.refillTraffic(body.add);
      return control.traffic();
    },
  );
  route('POST', '/node/backup', undefined, () => control.backupNode());
  route('POST', '/node/restore', RestoreNodeRequest, ({ body }) => control.restoreNode(body));
  route('POST', '/node/major-upgrade', undefined, () => control.majorUpgrade());

  route('GET', '/faults', undefined, () => ({ faults: control.faults() }));
  route('POST', '/faults', FaultRule, ({ body }) => ({ id: control.addFault(body) }));
  route('DELETE', '/faults/:id', undefined, ({ params }) => ({ removed: control.removeFault(params['id'] ?? '') }));
  route('DELETE', '/faults', undefined, () => {
    control.clearFaults();
    return {};
  });
  route('POST', '/websockets/drop', undefined, () => {
    control.dropWebsockets();
    return {};
  });

  route('GET', '/books/holdings', undefined, ({ query }) => ({ holdings: control.books.holdings(query['party']) }));
  route('GET', '/books/balances', undefined, ({ query }) => {
    if (!query['party']) throw new RangeError('party is required');
    return { balances: control.books.balances(query['party']) };
  });
  route('GET', '/books/supply', undefined, () => ({ supply: control.books.supply() }));
  route('GET', '/books/transfers', undefined, ({ query }) => ({ transfers: control.books.transfers(query['memo']) }));
  route('GET', '/books/instructions', undefined, ({ query }) => ({ instructions: control.books.instructions(query['party']) }));
  route('GET', '/books/ledger-end', undefined, () => control.books.ledgerEnd());
}

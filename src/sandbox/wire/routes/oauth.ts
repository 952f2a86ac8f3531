import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { register, HANDLED, type WireContext } from '../http.js';

export interface OAuthClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /** The Ledger API user the issued tokens are for. */
  readonly userId: string;
}

const TokenRequest = z.object({
  grant_type: z.string(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  audience: z.string().optional(),
  scope: z.string().optional(),
});

/**
 * A minimal OAuth2 token endpoint (client credentials, RFC 6749 §4.4): form or JSON body,
 * credentials in the body or as HTTP Basic. Token lifetime is configurable so tests can make
 * tokens expire quickly and prove that a client refreshes them.
 */
export function oauthRoutes(
  app: FastifyInstance,
  ctx: WireContext,
  clients: () => readonly OAuthClient[],
  lifetimeSeconds: () => number,
): void {
  register(app, ctx, {
    method: 'POST',
    url: '/oauth/token',
    op: 'oauth.token',
    public: true,
    handler: async ({ req, reply }) => {
      const parsed = TokenRequest.safeParse(req.body);
      if (!parsed.success) {
        reply.code(400).send({ error: 'invalid_request', error_description: 'malformed token request' });
        return HANDLED;
      }
      const body = parsed.data;
      if (body.grant_type !== 'client_credentials') {
        reply.code(400).send({ error: 'unsupported_grant_type' });
        return HANDLED;
      }
      let id = body.client_id;
      let secret = body.client_secret;
      const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
      if (basic?.[1]) {
        const [u, p] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
        id = decodeURIComponent(u ?? '');
        secret = decodeURIComponent(p ?? '');
      }
      const client = clients().find((c) => c.clientId === id && c.clientSecret === secret);
      if (!client) {
        reply.code(401).send({ error: 'invalid_client' });
        return HANDLED;
      }
      const expiresIn = lifetimeSeconds();
      const token = await ctx.auth.issue(client.userId, { expiresInSeconds: expiresIn });
      reply.header('cache-control', 'no-store');
      return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope: body.scope ?? 'daml_ledger_api' };
    },
  });
}

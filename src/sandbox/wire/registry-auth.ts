import type { FastifyInstance } from 'fastify';
import { jwtVerify, type JWTPayload } from 'jose';
import type { Auth } from './auth.js';
import { bearerOf } from './auth.js';

/**
 * Registries behind a bearer token, as a validator's Scan proxy serves the token-standard registry
 * API (option `registryAuth: 'ledger-jwt'`). From Splice (hyperledger-labs/splice):
 * - ValidatorApp.scala mounts the registry resources under /api/validator/v0/scan-proxy behind
 *   AuthenticationOnlyAuthExtractor: authentication only, no authorization, and the user is not
 *   looked up on the participant;
 * - SignatureVerifier.scala: the JWT's signature (HS256 in hs-256-unsafe mode, RS256 with a JWKS),
 *   its expiry, and its `aud` containing the validator app's `auth.audience`;
 * - JwtClaims.scala: the user is the `daml_user` of the `https://canton-network` claim, else `sub`;
 *   a token naming neither is refused;
 * - a refusal is pekko-http's AuthenticationFailedRejection from `authenticateOAuth2` (realm
 *   "splice scan proxy realm"), rendered by pekko's default rejection handler: 401, a
 *   `WWW-Authenticate: Bearer realm="…"` challenge and a text/plain sentence (not a JSON body).
 * The double's validator app shares the participant's HMAC secret and audience, as in Splice's
 * LocalNet (its app-auth.conf files), so a Ledger API token of the double is what it accepts.
 */

const REALM = 'splice scan proxy realm';
const MISSING = 'The resource requires authentication, which was not supplied with the request';
const REJECTED = 'The supplied authentication is invalid';

function userOf(payload: JWTPayload): string | undefined {
  const splice = payload['https://canton-network'];
  const damlUser = splice !== null && typeof splice === 'object' ? (splice as Record<string, unknown>)['daml_user'] : undefined;
  if (typeof damlUser === 'string') return damlUser;
  return payload.sub;
}

/** Why the caller is refused (pekko's two sentences), or undefined when the token is accepted. */
async function refusalOf(auth: Auth, authorization: string | undefined): Promise<string | undefined> {
  const token = bearerOf(authorization);
  if (token === undefined) return MISSING;
  try {
    const { payload } = await jwtVerify(token, auth.secret, { algorithms: ['HS256'], audience: auth.audience });
    return userOf(payload) ? undefined : REJECTED;
  } catch {
    return REJECTED;
  }
}

/** Every request whose path starts with `pathPrefix` needs a JWT the validator app accepts. */
export function requireRegistryJwt(app: FastifyInstance, auth: Auth, pathPrefix: string): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith(pathPrefix)) return;
    const refusal = await refusalOf(auth, req.headers.authorization);
    if (refusal === undefined) return;
    // Answered here: returning the reply ends the request before any handler runs.
    return reply.code(401).header('www-authenticate', `Bearer realm="${REALM}"`).type('text/plain; charset=UTF-8').send(refusal);
  });
}

import type { ApiToken } from '../../src/config.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import type { Sql } from '../../src/store/db.js';
import { testLogger } from './silent-logger.js';
import { TEST_REGISTRY_POLICY } from './registry-policy.js';

export const TEST_TOKENS = {
  read: { name: 'reader', token: 'read-token-0123456789abcdef', scopes: ['read'] },
  write: { name: 'writer', token: 'write-token-0123456789abcdef', scopes: ['read', 'write'] },
  admin: { name: 'ops', token: 'admin-token-0123456789abcdef', scopes: ['read', 'admin'] },
} satisfies Record<string, ApiToken>;

export const auth = (scope: keyof typeof TEST_TOKENS) => ({ authorization: `Bearer ${TEST_TOKENS[scope].token}` });

/** The /v1 API on a test database, driven with app.inject (no sockets). */
export async function buildApiApp(sql: Sql): Promise<App> {
  const app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
  registerApiRoutes(app, { sql, registryPolicy: TEST_REGISTRY_POLICY });
  await app.ready();
  return app;
}

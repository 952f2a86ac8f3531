import type { Registry } from 'prom-client';
import type { App } from '../server.js';

export function registerMetricsRoute(app: App, registry: Registry): void {
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(body);
  });
}

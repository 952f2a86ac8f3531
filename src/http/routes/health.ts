import { z } from 'zod';
import type { HealthReport } from '../../lifecycle.js';
import type { App } from '../server.js';

const ComponentStatusSchema = z.object({ state: z.string(), detail: z.string().optional() });
const HealthBody = z.object({ status: z.enum(['ok', 'failing']), components: z.record(z.string(), ComponentStatusSchema) });
const ReadyBody = z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), z.string()) });

export interface HealthDeps {
  health(): HealthReport;
  /** Resolves when the daemon can serve requests (DB reachable); rejects with the reason otherwise. */
  checkReady(): Promise<Record<string, string>>;
}

/** Liveness (/health) and readiness (/ready), for orchestrators and load balancers. */
export function registerHealthRoutes(app: App, deps: HealthDeps): void {
  app.get('/health', { schema: { response: { 200: HealthBody, 503: HealthBody } } }, async (_req, reply) => {
    const report = deps.health();
    return reply.status(report.healthy ? 200 : 503).send({ status: report.healthy ? 'ok' : 'failing', components: report.components });
  });

  app.get('/ready', { schema: { response: { 200: ReadyBody, 503: ReadyBody } } }, async (req, reply) => {
    try {
      const checks = await deps.checkReady();
      return reply.send({ status: 'ready', checks });
    } catch (e) {
      req.log.warn({ err: e }, 'readiness check failed');
      return reply.status(503).send({ status: 'not_ready', checks: { database: (e as Error).message } });
    }
  });
}

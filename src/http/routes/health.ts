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

/** What failed components say, one sentence each (details only for a reader); undefined when none failed. */
function failedComponents(report: HealthReport, details: boolean): string | undefined {
  const failed = Object.entries(report.components).filter(([, s]) => s.state === 'failed');
  return failed.length === 0
    ? undefined
    : failed.map(([name, s]) => `${name} failed${details && s.detail ? `: ${s.detail}` : ''}`).join('; ');
}

/**
 * Liveness (/health) and readiness (/ready), for orchestrators and load balancers. A failed
 * component (ingestion stopped on bad data, a machine runtime that gave up) turns both red: the
 * daemon answers, but does not do its work, and must not look as if it did.
 * Anyone may ask (a probe has no token) and learns which component is unhealthy; what it says
 * (ledger and registry URLs, error text, party ids) only a caller with a read-scoped token does.
 */
export function registerHealthRoutes(app: App, deps: HealthDeps): void {
  app.get('/health', { schema: { response: { 200: HealthBody, 503: HealthBody } } }, async (req, reply) => {
    const report = deps.health();
    const details = req.principal !== undefined;
    const components = details
      ? report.components
      : Object.fromEntries(Object.entries(report.components).map(([name, s]) => [name, { state: s.state }]));
    return reply.status(report.healthy ? 200 : 503).send({ status: report.healthy ? 'ok' : 'failing', components });
  });

  app.get('/ready', { schema: { response: { 200: ReadyBody, 503: ReadyBody } } }, async (req, reply) => {
    const details = req.principal !== undefined;
    const failed = failedComponents(deps.health(), details);
    const components = failed ?? 'ok';
    let checks: Record<string, string>;
    try {
      checks = await deps.checkReady();
    } catch (e) {
      req.log.warn({ err: e }, 'readiness check failed');
      return reply.status(503).send({ status: 'not_ready', checks: { database: details ? (e as Error).message : 'failing', components } });
    }
    if (failed !== undefined) return reply.status(503).send({ status: 'not_ready', checks: { ...checks, components } });
    return reply.send({ status: 'ready', checks: { ...checks, components } });
  });
}

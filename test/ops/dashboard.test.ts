import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpMetrics } from '../../src/http/metrics.js';
import { createMetrics } from '../../src/metrics.js';
import { createServiceMetrics } from '../../src/service-metrics.js';
import { useMigratedDatabase } from '../support/db.js';
import { declaredMetrics } from '../support/prometheus.js';

/**
 * ops/grafana/cxi-dashboard.json must only query metrics the daemon exposes: a renamed or removed
 * metric fails here instead of leaving an empty panel on the operators' screen.
 */

const { sql } = await useMigratedDatabase();

const DASHBOARD = new URL('../../ops/grafana/cxi-dashboard.json', import.meta.url);
const Datasource = z.object({ type: z.literal('prometheus'), uid: z.literal('${datasource}') });
const Target = z.object({ refId: z.string(), expr: z.string().min(1), datasource: Datasource });
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: z.infer<typeof Datasource> | undefined;
  targets?: z.infer<typeof Target>[] | undefined;
  panels?: Panel[] | undefined;
}
const PanelSchema: z.ZodType<Panel> = z.lazy(() =>
  z.object({
    id: z.number().int(),
    type: z.string(),
    title: z.string().min(1),
    datasource: Datasource.optional(),
    targets: z.array(Target).optional(),
    panels: z.array(PanelSchema).optional(),
  }),
);
const Variable = z.object({ name: z.string(), type: z.string(), query: z.union([z.string(), z.object({ query: z.string() })]).optional() });
const Dashboard = z.object({
  title: z.string(),
  uid: z.string(),
  templating: z.object({ list: z.array(Variable) }),
  panels: z.array(PanelSchema),
});

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Metric names in a PromQL expression (ours all start with cxi_). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(cxi_[a-zA-Z0-9_:]+)/g)].map((m) => m[1]!);
}

/** What the daemon registers (src/daemon.ts): the DB gauges, the service counters, HTTP latency. */
async function daemonExposition(): Promise<Map<string, string>> {
  const { registry } = createMetrics(sql);
  createServiceMetrics(registry);
  createHttpMetrics(registry);
  return declaredMetrics(await registry.metrics());
}

/** The exposed metric a queried series belongs to (histograms are queried by _bucket/_sum/_count). */
function exposedAs(name: string, declared: ReadonlyMap<string, string>): string | undefined {
  if (declared.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && ['histogram', 'summary'].includes(declared.get(m[1]!) ?? '')) return m[1];
  return undefined;
}

describe('Grafana dashboard', () => {
  it('queries only metrics the daemon exposes, through the datasource variable', async () => {
    const dashboard = Dashboard.parse(JSON.parse(await readFile(DASHBOARD, 'utf8')));
    const declared = await daemonExposition();

    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });

    const panels = allPanels(dashboard.panels);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const queries = panels.filter((p) => p.type !== 'row');
    expect(queries.length).toBeGreaterThan(10);
    const exprs: string[] = [];
    for (const p of queries) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
      exprs.push(...(p.targets ?? []).map((t) => t.expr));
    }
    for (const v of dashboard.templating.list) {
      if (v.type === 'query' && v.query !== undefined) exprs.push(typeof v.query === 'string' ? v.query : v.query.query);
    }

    const queried = new Set(exprs.flatMap(metricNames));
    const missing = [...queried].filter((n) => exposedAs(n, declared) === undefined);
    expect(missing).toEqual([]);
    // The metrics this dashboard exists for are all on it.
    for (const name of [
      'cxi_ingestion_lag_offsets',
      'cxi_ledger_end_offset',
      'cxi_updates_ingested_total',
      'cxi_withdrawal_attempts_total',
      'cxi_machine_failures_total',
      'cxi_machines',
      'cxi_http_request_duration_seconds_bucket',
    ]) {
      expect(queried, name).toContain(name);
    }
  });
});

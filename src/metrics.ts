import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Sql } from './store/db.js';
import { listSwitches } from './store/switches.js';

/**
 * The Prometheus registry. Gauges that describe persistent state (ingestion position, machines per
 * state, holdings, switches) are read from the database, so they are right after a restart and
 * whichever instance answers; counters of in-process activity are registered by components.
 * The database is read at most once per CACHE_MS however often /metrics is scraped (all scrapes in
 * between share one answer), and every label comes from a closed set: machine states, statuses,
 * reason codes (src/failures.ts `WithdrawalReasonCode`), onboarded instruments, switch names.
 */
export interface Metrics {
  registry: Registry;
}

interface DbSnapshot {
  checkpoint: { offset: number; recordTime: string | null } | undefined;
  machines: { type: string; state: string; final: boolean; count: number; oldestSeconds: number }[];
  holdings: { instrument: string; count: number; total: string; locked: number }[];
  withdrawals: { status: string; reason: string; count: number }[];
  switches: { name: string; paused: boolean }[];
}

/** Prometheus scrapes every 15-60 s; anything faster reads the same few-seconds-old answer. */
export const METRICS_CACHE_MS = 5000;

async function readSnapshot(sql: Sql): Promise<DbSnapshot> {
  const [checkpoint] = await sql<{ ledger_offset: number; record_time: string | null }[]>`
    select ledger_offset, record_time from ingestion_checkpoint order by updated_at desc limit 1`;
  const machines = await sql<{ machine_type: string; state: string; is_final: boolean; n: number; oldest: number }[]>`
    select machine_type, state_value #>> '{}' as state, is_final, count(*)::int as n,
           coalesce(extract(epoch from now() - min(updated_at)), 0)::float8 as oldest
    from machine_snapshots group by 1, 2, 3`;
  const holdings = await sql<{ instrument: string; n: number; total: string; locked: number }[]>`
    select instrument_admin || '/' || instrument_id as instrument, count(*)::int as n, coalesce(sum(amount), 0)::text as total,
           count(*) filter (where lock is not null)::int as locked
    from holdings where archived_offset is null group by 1`;
  const withdrawals = await sql<{ status: string; reason: string; n: number }[]>`
    select status, coalesce(status_code, '') as reason, count(*)::int as n from withdrawals group by 1, 2`;
  const switches = await listSwitches(sql);
  return {
    checkpoint: checkpoint ? { offset: checkpoint.ledger_offset, recordTime: checkpoint.record_time } : undefined,
    machines: machines.map((m) => ({ type: m.machine_type, state: m.state, final: m.is_final, count: m.n, oldestSeconds: m.oldest })),
    holdings: holdings.map((h) => ({ instrument: h.instrument, count: h.n, total: h.total, locked: h.locked })),
    withdrawals: withdrawals.map((w) => ({ status: w.status, reason: w.reason, count: w.n })),
    switches: switches.map((sw) => ({ name: sw.name, paused: sw.paused })),
  };
}

export function createMetrics(sql: Sql, opts: { cacheMs?: number } = {}): Metrics {
  const cacheMs = opts.cacheMs ?? METRICS_CACHE_MS;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cxi_process_' });

  // One set of queries per scrape, shared by all the gauges below.
  let cached: { at: number; snapshot: Promise<DbSnapshot> } | undefined;
  const snapshot = () => {
    if (!cached || Date.now() - cached.at > cacheMs) {
      cached = { at: Date.now(), snapshot: readSnapshot(sql) };
      cached.snapshot.catch(() => (cached = undefined));
    }
    return cached.snapshot;
  };

  new Gauge({
    name: 'cxi_ingestion_offset',
    help: 'Ledger offset of the last fully ingested update or checkpoint.',
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (s.checkpoint) this.set(s.checkpoint.offset);
    },
  });
  new Gauge({
    name: 'cxi_ingestion_record_time_seconds',
    help: 'Record time (unix seconds) the ingestion has reached.',
    registers: [registry],
    async collect() {
      const s = await snapshot();
      if (s.checkpoint?.recordTime) this.set(Date.parse(s.checkpoint.recordTime) / 1000);
    },
  });
  new Gauge({
    name: 'cxi_machines',
    help: 'Persisted machines by type and state.',
    labelNames: ['type', 'state', 'final'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const m of s.machines) this.set({ type: m.type, state: m.state, final: String(m.final) }, m.count);
    },
  });
  new Gauge({
    name: 'cxi_machine_oldest_in_state_seconds',
    help: 'How long the longest-waiting non-final machine has been in its state.',
    labelNames: ['type', 'state'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const m of s.machines) if (!m.final) this.set({ type: m.type, state: m.state }, m.oldestSeconds);
    },
  });
  new Gauge({
    name: 'cxi_withdrawals',
    help: 'Withdrawals by status and reason code (statusCode in the API; empty while nothing holds them).',
    labelNames: ['status', 'reason'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const w of s.withdrawals) this.set({ status: w.status, reason: w.reason }, w.count);
    },
  });
  new Gauge({
    name: 'cxi_holdings',
    help: 'Active treasury holdings (UTXOs) per instrument.',
    labelNames: ['instrument'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const h of s.holdings) this.set({ instrument: h.instrument }, h.count);
    },
  });
  new Gauge({
    name: 'cxi_holdings_locked',
    help: 'Active treasury holdings that are locked (pending offers) per instrument.',
    labelNames: ['instrument'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const h of s.holdings) this.set({ instrument: h.instrument }, h.locked);
    },
  });
  new Gauge({
    name: 'cxi_holdings_total',
    help: 'Sum of active treasury holdings per instrument (a float for dashboards only; the DB has exact amounts).',
    labelNames: ['instrument'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      // Prometheus only has floats: this is a display value, never used for accounting.
      for (const h of s.holdings) this.set({ instrument: h.instrument }, Number(h.total));
    },
  });
  new Gauge({
    name: 'cxi_paused',
    help: 'Operator pause switches: 1 while the switch (ingestion, withdrawals, acceptance) is paused.',
    labelNames: ['switch'] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      for (const sw of s.switches) this.set({ switch: sw.name }, sw.paused ? 1 : 0);
    },
  });
  return { registry };
}

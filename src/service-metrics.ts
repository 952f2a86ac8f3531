import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import type { TrafficGate } from './gates/traffic.js';
import type { CommittedTransition, RuntimeHooks } from './machines/runtime/index.js';
import { stateName } from './machines/state-path.js';
import { ActorFailure, failureClass, type FailureClass } from './machines/failure.js';
import type { CommittedBatch } from './streams/index.js';

/**
 * Metrics of in-process activity, fed by the components as it happens: ingestion batches (from
 * the ingestion component's committed$), machine transitions (from the runtimes' afterCommit
 * hook), and the ledger end, read from the validator at scrape time. Counters restart at zero with
 * the process, as Prometheus expects; state that must survive restarts is in src/metrics.ts.
 */
export interface ServiceMetrics {
  /** Hooks for the withdrawal and deposit runtimes. */
  readonly runtimeHooks: RuntimeHooks;
  /** Counts what a committed ingestion batch brought. */
  ingested(batch: CommittedBatch): void;
  /** Counts an automatic restart of a failed ingestion run (the component's restarts$). */
  ingestionRestarted(): void;
  /** Where the lag gauges read the ledger end and ingestion's position from (the service wires it). */
  observeIngestion(source: IngestionPositionSource): void;
  /** Where the traffic gauges read the traffic gate's state (the service wires it). */
  observeTraffic(source: Pick<TrafficGate, 'state'>): void;
}

export interface IngestionPositionSource {
  /** The validator's ledger end (GET /v2/state/ledger-end). */
  ledgerEnd(signal: AbortSignal): Promise<number>;
  /** The last committed offset (this process's, else the stored checkpoint); undefined before any. */
  committedOffset(): Promise<number | undefined>;
  /** Elements received, not yet committed. */
  queued(): number;
  /** The recorded ledger-continuity failure's reason (sql/019), undefined while intact. */
  continuityFailure?(): Promise<string | undefined>;
}

export interface ServiceMetricsOptions {
  /** How long one ledger-end answer serves scrapes (default 1 s). */
  ledgerEndCacheMs?: number;
  /** Longest wait for the ledger end during a scrape (default 2 s); the gauges keep their last value. */
  ledgerEndTimeoutMs?: number;
}

// What the hook reads of a machine's context: only these fields, and only when they parse.
const AttemptContext = z.object({ attempt: z.number().int().nonnegative() });
const InstrumentContext = z.object({ instrument: z.object({ admin: z.string(), id: z.string() }) });
const FailedEvent = z.object({ error: z.object({ failure: ActorFailure.optional() }).optional() });
const SignedContext = z.object({
  signed: z.object({ preparedTransactionHash: z.string(), trafficCost: z.number().int().nonnegative().optional() }).nullable().optional(),
});

/** The traffic cost estimate of a transaction the transition signed (a new signed transaction in the context), else 0. */
export function signedTrafficCost(t: Pick<CommittedTransition, 'context' | 'prevContext'>): number {
  const now = SignedContext.safeParse(t.context);
  const signed = now.success ? now.data.signed : undefined;
  if (!signed || signed.trafficCost === undefined) return 0;
  const before = SignedContext.safeParse(t.prevContext);
  const prev = before.success ? before.data.signed : undefined;
  return prev?.preparedTransactionHash === signed.preparedTransactionHash ? 0 : signed.trafficCost;
}

const WITHDRAWAL_TYPE = 'withdrawal';
const EFFECT_ERROR_PREFIX = 'xstate.error.actor';

/** The failure class of an effect's error event (`UNEXPECTED` when it carries no failure): a closed set. */
export function failureCodeOf(event: Record<string, unknown>): FailureClass {
  const parsed = FailedEvent.safeParse(event);
  const failure = parsed.success ? parsed.data.error?.failure : undefined;
  return failure ? failureClass(failure) : 'UNEXPECTED';
}

function instrumentLabel(context: unknown): string {
  const parsed = InstrumentContext.safeParse(context);
  return parsed.success ? `${parsed.data.instrument.admin}/${parsed.data.instrument.id}` : 'unknown';
}

export function createServiceMetrics(registry: Registry, o: ServiceMetricsOptions = {}): ServiceMetrics {
  const cacheMs = o.ledgerEndCacheMs ?? 1000;
  const timeoutMs = o.ledgerEndTimeoutMs ?? 2000;
  let source: IngestionPositionSource | undefined;
  let trafficSource: Pick<TrafficGate, 'state'> | undefined;

  const updates = new Counter({
    name: 'cxi_updates_ingested_total',
    help: 'Ledger transactions of the treasury party newly ingested (duplicates not counted).',
    registers: [registry],
  });
  const elements = new Counter({
    name: 'cxi_ingestion_elements_total',
    help: 'Stream elements (transactions and offset checkpoints) in committed ingestion batches.',
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'cxi_ingestion_duplicates_total',
    help: 'Elements skipped because they were already ingested (replays after a reconnect).',
    registers: [registry],
  });
  const batches = new Counter({
    name: 'cxi_ingestion_batches_total',
    help: 'Ingestion batches committed (one database transaction each).',
    registers: [registry],
  });
  const restarts = new Counter({
    name: 'cxi_ingestion_restarts_total',
    help: 'Automatic restarts of a failed ingestion run (each after a pause; the component is failed until it runs again).',
    registers: [registry],
  });
  const parsedAhead = new Counter({
    name: 'cxi_ingestion_batches_parsed_ahead_total',
    help: 'Ingestion batches parsed while the batch before them was being written (the rest were parsed in their own transaction).',
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'cxi_withdrawal_attempts_total',
    help: 'Withdrawal attempts started (holdings reserved for a new attempt), per instrument.',
    labelNames: ['instrument'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'cxi_machine_failures_total',
    help: 'Failed effects (ledger or database calls) of the machines, by machine type and failure class (a machine failure code, else TRANSIENT_FAILURE or PERMANENT_FAILURE).',
    labelNames: ['type', 'code'] as const,
    registers: [registry],
  });
  const transitions = new Counter({
    name: 'cxi_machine_transitions_total',
    help: 'Committed machine transitions by machine type.',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'cxi_machine_outcomes_total',
    help: 'Machines that reached a final state, by type and state.',
    labelNames: ['type', 'state'] as const,
    registers: [registry],
  });
  const trafficCost = new Counter({
    name: 'cxi_traffic_cost_estimated_bytes_total',
    help: "Synchronizer traffic (bytes) the participant estimated for the transactions the treasury signed, by machine type (withdrawal transfers, deposit accepts): what the validator's traffic pays for.",
    labelNames: ['type'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'cxi_traffic_held',
    help: 'Submissions held because the validator is out of synchronizer traffic: 1 while held (src/gates/traffic.ts), else 0.',
    registers: [registry],
    collect() {
      if (trafficSource) this.set(trafficSource.state().held ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cxi_traffic_held_effects',
    help: 'Machine effects (reservations, prepares, signatures, submissions) waiting for the validator to have traffic again.',
    registers: [registry],
    collect() {
      if (trafficSource) this.set(trafficSource.state().waiting);
    },
  });
  new Counter({
    name: 'cxi_traffic_refusals_total',
    help: 'Submissions the ledger refused for lack of synchronizer traffic (SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT).',
    registers: [registry],
    collect() {
      if (!trafficSource) return;
      this.reset();
      this.inc(trafficSource.state().refusals);
    },
  });
  const ledgerEndErrors = new Counter({
    name: 'cxi_ledger_end_errors_total',
    help: 'Scrapes that could not read the ledger end from the validator.',
    registers: [registry],
    // The read of this scrape first, so its failure is in this scrape's value.
    async collect() {
      await ledgerEnd();
    },
  });

  // One ledger-end request serves every gauge of a scrape (and scrapes in quick succession).
  let cached: { at: number; value: Promise<number | undefined> } | undefined;
  const ledgerEnd = (): Promise<number | undefined> => {
    const s = source;
    if (!s) return Promise.resolve(undefined);
    if (!cached || Date.now() - cached.at > cacheMs) {
      const value = s.ledgerEnd(AbortSignal.timeout(timeoutMs)).catch(() => {
        ledgerEndErrors.inc();
        return undefined;
      });
      cached = { at: Date.now(), value };
    }
    return cached.value;
  };

  new Gauge({
    name: 'cxi_ledger_end_offset',
    help: "The validator's ledger end (offset), read at scrape time.",
    registers: [registry],
    async collect() {
      const end = await ledgerEnd();
      if (end !== undefined) this.set(end);
    },
  });
  new Gauge({
    name: 'cxi_ingestion_lag_offsets',
    help: 'Ledger end minus the last ingested offset (0 when caught up).',
    registers: [registry],
    async collect() {
      const s = source;
      if (!s) return;
      const [end, committed] = await Promise.all([ledgerEnd(), s.committedOffset()]);
      if (end !== undefined) this.set(Math.max(0, end - (committed ?? 0)));
    },
  });
  new Gauge({
    name: 'cxi_ledger_continuity_ok',
    help: 'Whether the ledger is the one ingestion read (1) or not (0, label reason: ledger_end_behind, update_differs, participant_differs, synchronizer_differs): while 0, ingestion and every ledger effect are stopped until `cxi ingestion resync` or `cxi ingestion migrate`.',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const read = source?.continuityFailure;
      if (!read) return;
      const reason = await read().catch(() => 'unknown');
      this.reset();
      if (reason === undefined) this.set({ reason: 'none' }, 1);
      else this.set({ reason }, 0);
    },
  });
  new Gauge({
    name: 'cxi_ingestion_queued',
    help: 'Elements received from the ledger and not yet committed.',
    registers: [registry],
    collect() {
      if (source) this.set(source.queued());
    },
  });

  function afterCommit(t: CommittedTransition): void {
    transitions.inc({ type: t.machineType });
    if (t.eventType.startsWith(EFFECT_ERROR_PREFIX)) failures.inc({ type: t.machineType, code: failureCodeOf(t.event) });
    if (t.isFinal) outcomes.inc({ type: t.machineType, state: stateName(t.to) });
    const cost = signedTrafficCost(t);
    if (cost > 0) trafficCost.inc({ type: t.machineType }, cost);
    if (t.machineType === WITHDRAWAL_TYPE) {
      const now = AttemptContext.safeParse(t.context);
      const before = AttemptContext.safeParse(t.prevContext);
      const prev = before.success ? before.data.attempt : 0;
      if (now.success && now.data.attempt > prev) attempts.inc({ instrument: instrumentLabel(t.context) }, now.data.attempt - prev);
    }
  }

  return {
    runtimeHooks: { afterCommit },
    ingested(b) {
      batches.inc();
      elements.inc(b.elements);
      updates.inc(b.transactions);
      duplicates.inc(b.skipped);
      if (b.parsedAhead) parsedAhead.inc();
    },
    ingestionRestarted() {
      restarts.inc();
    },
    observeIngestion(s) {
      source = s;
      cached = undefined;
    },
    observeTraffic(s) {
      trafficSource = s;
    },
  };
}

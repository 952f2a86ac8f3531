import { filter, merge, NEVER, ReplaySubject, Subject, Subscription, take, tap, type Observable } from 'rxjs';
import { describePause, type Switches } from '../gates/switches.js';
import type { LedgerConfig } from '../config.js';
import { tokenProviderFor, type TokenProvider } from '../ledger/auth.js';
import { LedgerApiError, LedgerHttp } from '../ledger/http.js';
import { LedgerReadClient, listOptionsOf } from '../ledger/read-client.js';
import { LedgerDecodeError } from '../ledger/schema/index.js';
import type { ComponentStatus, Component } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { readCheckpoint, readContinuityFailures, recordContinuityFailure } from '../store/checkpoint.js';
import type { Sql } from '../store/db.js';
import type { FaultPoint } from '../store/ingestion.js';
import { tryAcquireIngestionLease, type IngestionLease } from '../store/ingestion-lease.js';
import { backoffDelay, DEFAULT_BACKOFF, RetriesExhaustedError, type BackoffPolicy } from './backoff.js';
import { Backpressure } from './backpressure.js';
import { checkLedgerContinuity, continuityLedgerOf, LedgerContinuityError, type ContinuityLedger } from './continuity.js';
import { CheckpointConflictError, PrunedOffsetError, UnexpectedSynchronizerError, UpdateParseError } from '../ingestion/errors.js';
import { runPipeline, type CommittedBatch } from './pipeline.js';
import { isRetryableSourceError, updatesSource, type Transport } from './source.js';
import { Failure } from '../failures.js';

/**
 * The ingestion component (ARCHITECTURE.md, arrows 1.a–1.c): the treasury's ledger updates from
 * the stored offset → token-standard facts → Postgres, one transaction per batch, and the outbox
 * events the machines consume. It stops loudly — status `failed` with a reason an operator can
 * act on — on bad data, pruned history, refused credentials or exhausted retries; it never skips.
 */

/**
 * A batch's updates share one transaction's fixed costs (round trips, lookups, the commit's WAL
 * flush). Batches this large form only when Postgres is the slower side (the writer takes what is
 * queued). bench:ingest, N=100k, same window: 1,000 ingests 3-6 % more per second than 500, for
 * about 50 MB more peak RSS.
 */
export const DEFAULT_BATCH_MAX_SIZE = 1000;

export interface IngestionOptions {
  /** Default `auto`: websocket, with HTTP polling while a websocket cannot be opened. */
  transport?: Transport;
  /** Updates per DB transaction (default DEFAULT_BATCH_MAX_SIZE) and the longest wait to fill one (default 50 ms). */
  batchMaxSize?: number;
  batchMaxWaitMs?: number;
  /**
   * Elements held in memory before the source is paused (default 3 batches: one being written,
   * one parsed ahead, one filling; resumes one batch below). Small on purpose: queued transactions that
   * outlive young-generation GC are what GC costs most.
   */
  maxQueue?: number;
  retry?: Partial<BackoffPolicy>;
  /** Retries of a batch transaction that failed on a transient database error (default 5, from 500 ms, doubling). */
  dbRetries?: number;
  dbRetryDelayMs?: number;
  /** See IngestOptions.instructionExpiryGraceMs (default 60 s). */
  instructionExpiryGraceMs?: number;
  /**
   * 'advisory-lock' (default): one writer per treasury party per database, others stand by.
   * 'none': this process is the only one (embedded PGlite: a single connection, guarded by the
   * data-dir lock) — reserving a connection for the lock would starve the batch writer. The
   * checkpoint compare-and-set still refuses a second writer.
   */
  leaderElection?: 'advisory-lock' | 'none';
  /** How often a standby instance tries to become the writer (default 5 s). */
  leaderPollMs?: number;
  /** How often the leader checks it still holds the lock's session (default 10 s). */
  leaseCheckMs?: number;
  pingIntervalMs?: number;
  livenessTimeoutMs?: number;
  /** HTTP reads: see UpdatesSourceOptions. */
  httpPollIntervalMs?: number;
  httpMaxPollIntervalMs?: number;
  httpIdleTimeoutMs?: number;
  httpMaxIdleTimeoutMs?: number;
  httpFallbackWindowMs?: number;
  httpTimeoutMs?: number;
  /** Replaces the token provider built from `ledger.auth` (tests). */
  tokenProvider?: TokenProvider;
  fetch?: typeof fetch;
  /** Tests: fault injection inside batch transactions. */
  faults?: (point: FaultPoint) => void | Promise<void>;
  /** A failed run restarts itself (see IngestionRestartPolicy); defaults DEFAULT_RESTART. */
  restart?: Partial<IngestionRestartPolicy>;
}

/**
 * How a failed run starts again by itself: after a pause that doubles from `baseDelayMs` up to
 * `maxDelayMs`, at most `maxRestarts` times in a row without a batch committed in between (then it
 * stays failed until an operator restarts it). Only failures a restart may cure (ledger or
 * database unreachable, a lost writer lock, refused credentials, a batch refused as another
 * writer's, anything unexpected) are restarted; bad data, pruned history, an unexpected
 * synchronizer and a stored offset beyond the ledger end need an operator and are not.
 */
export interface IngestionRestartPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
  maxRestarts: number;
}

/** 1 s, 2 s, … 5 min: 10 restarts in a row span about 13 minutes. */
export const DEFAULT_RESTART: IngestionRestartPolicy = { baseDelayMs: 1000, maxDelayMs: 300_000, maxRestarts: 10 };

/** One automatic restart of a failed run (IngestionComponent.restarts$). */
export interface IngestionRestart {
  /** Restarts in a row without a committed batch, this one included. */
  attempt: number;
  /** The pause before it. */
  delayMs: number;
  /** Why the run before it stopped (describeFailure). */
  reason: string;
}

export interface IngestionDeps {
  sql: Sql;
  ledger: Pick<LedgerConfig, 'apiUrl' | 'auth' | 'treasuryParty' | 'httpPageSize'>;
  logger: Logger;
  options?: IngestionOptions;
  /**
   * Operator pause switches (src/gates/switches.ts): while `ingestion` is paused the component reads
   * nothing (the batch in flight commits, what is only queued is dropped), keeps its writer lock,
   * reports `paused`, and resumes from the stored checkpoint.
   */
  switches?: Pick<Switches, 'isPaused' | 'state' | 'watch'> & Partial<Pick<Switches, 'refresh'>>;
}

export interface IngestionProgress {
  /** Offset of the last committed batch (the stored checkpoint). */
  committedOffset: number | undefined;
  /** Offset of the last element received from the ledger. */
  receivedOffset: number | undefined;
  /** Received, not yet committed. */
  queued: number;
  transport: 'websocket' | 'http' | undefined;
}

export interface IngestionComponent extends Component {
  /** Every committed batch, after its commit: wakes outbox consumers early. */
  readonly committed$: Observable<CommittedBatch>;
  /** Every automatic restart of a failed run, as it starts (metrics). */
  readonly restarts$: Observable<IngestionRestart>;
  progress(): IngestionProgress;
  /** The ledger end, asked of the validator now (GET /v2/state/ledger-end; metrics). */
  ledgerEnd(signal?: AbortSignal): Promise<number>;
  /** Resolves when the current run has ended (stopped or failed). */
  settled(): Promise<void>;
  /** The ledger reads of continuity checks, for the operator's resync and migrate (src/admin/ledger-recovery.ts). */
  readonly continuityLedger: ContinuityLedger;
}

/** Whether restarting may cure the failure: not bad data, pruned history or a ledger that is not the one ingested. */
export function restartMayCure(e: unknown): boolean {
  if (
    e instanceof UpdateParseError ||
    e instanceof PrunedOffsetError ||
    e instanceof UnexpectedSynchronizerError ||
    e instanceof LedgerDecodeError ||
    e instanceof LedgerContinuityError
  )
    return false;
  if (e instanceof RetriesExhaustedError) return restartMayCure(e.lastError);
  return !(e instanceof LedgerApiError && e.code === 'OFFSET_AFTER_LEDGER_END');
}

/** An operator's sentence for why ingestion stopped. */
export function describeFailure(e: unknown): string {
  if (e instanceof RetriesExhaustedError)
    return `ledger unreachable: ${describeFailure(e.lastError)} (gave up after ${e.attempts} attempts)`;
  if (
    e instanceof UpdateParseError ||
    e instanceof PrunedOffsetError ||
    e instanceof CheckpointConflictError ||
    e instanceof UnexpectedSynchronizerError ||
    e instanceof LedgerContinuityError
  )
    return e.message;
  if (e instanceof LedgerDecodeError) return `bad data from the ledger: ${e.message}`;
  if (e instanceof LedgerApiError) {
    if (e.status === 401 || e.status === 403 || e.code === Failure.AUTH_TOKEN) {
      return `the ledger refused our credentials (${e.message}): check LEDGER_TOKEN or the OAuth2 client, and that the user has CanReadAs on the treasury party`;
    }
    if (e.code === 'OFFSET_AFTER_LEDGER_END')
      return `${e.message}: the stored offset is beyond the ledger end — was the participant restored from a backup? Follow the validator-restore runbook (map the last ingested record time to an offset) before restarting`;
    return e.message;
  }
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export function createIngestionComponent(deps: IngestionDeps): IngestionComponent {
  const { sql, logger: rootLogger } = deps;
  const party = deps.ledger.treasuryParty;
  const o = deps.options ?? {};
  const logger = rootLogger.child({ component: 'ingestion', party });
  const auth = o.tokenProvider ?? tokenProviderFor(deps.ledger.auth, o.fetch ? { fetch: o.fetch } : {});
  const http = new LedgerHttp({
    baseUrl: deps.ledger.apiUrl,
    auth,
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.httpTimeoutMs !== undefined ? { timeoutMs: o.httpTimeoutMs } : {}),
  });
  const client = new LedgerReadClient(http, {
    ...listOptionsOf(deps.ledger),
    onPageSizeLowered: ({ from, to, error }) =>
      logger.warn(
        { from, to, code: error.code, cause: error.cantonError?.cause },
        `the ledger refused ${from} elements per HTTP page (413: its http-list-max-elements-limit is lower); pages now ask for ${to} (set LEDGER_HTTP_PAGE_SIZE to at most the node's limit)`,
      ),
  });
  const continuityLedger = continuityLedgerOf(http, client, party);
  const retryPolicy: BackoffPolicy = { ...DEFAULT_BACKOFF, ...o.retry };
  const restartPolicy: IngestionRestartPolicy = { ...DEFAULT_RESTART, ...o.restart };
  const committed$ = new Subject<CommittedBatch>();
  const restarts$ = new Subject<IngestionRestart>();

  let status: ComponentStatus = { state: 'stopped' };
  let lease: IngestionLease | undefined;
  // Replayed: a stop requested while the run is still starting must reach the pipeline too.
  let stop$ = new ReplaySubject<void>(1);
  let run: Promise<void> = Promise.resolve();
  let standbyTimer: NodeJS.Timeout | undefined;
  let leaseTimer: NodeJS.Timeout | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  /** Automatic restarts since the last committed batch (or explicit start). */
  let restartsInARow = 0;
  /** Why the last run failed, without what happens next. */
  let failure: string | undefined;
  let stopping = false;
  const progress: IngestionProgress = { committedOffset: undefined, receivedOffset: undefined, queued: 0, transport: undefined };
  const batchMaxSize = o.batchMaxSize ?? DEFAULT_BATCH_MAX_SIZE;
  const maxQueue = o.maxQueue ?? 3 * batchMaxSize;
  const backpressure = new Backpressure(maxQueue, maxQueue - batchMaxSize);

  async function releaseLease(): Promise<void> {
    clearInterval(leaseTimer);
    const l = lease;
    lease = undefined;
    await l?.release().catch((e: unknown) => logger.warn({ err: e }, 'releasing the ingestion lock failed (it goes with the session)'));
  }

  /**
   * The run stopped on `e`: failed (red on /health and /ready) and, if a restart may cure it and
   * the budget allows, restarted after a pause; the component stays failed meanwhile.
   */
  function fail(e: unknown): Promise<void> {
    const detail = describeFailure(e);
    failure = detail;
    status = { state: 'failed', detail };
    logger.error({ err: e }, `ingestion stopped: ${detail}`);
    // Part of the run (returned): a resync that stops the run must not see this write land after its own.
    const recorded = e instanceof LedgerContinuityError && !e.stored ? recordBroken(e) : Promise.resolve();
    if (stopping || !restartMayCure(e)) return recorded;
    if (restartsInARow >= restartPolicy.maxRestarts) {
      status = { state: 'failed', detail: `${detail} (not restarted again: ${restartsInARow} restarts in a row committed nothing)` };
      logger.error(
        { restarts: restartsInARow },
        'ingestion is not restarted again: the last restarts in a row committed nothing; restart the daemon once the cause is fixed',
      );
      return recorded;
    }
    const attempt = ++restartsInARow;
    const delayMs = Math.min(restartPolicy.maxDelayMs, restartPolicy.baseDelayMs * 2 ** (attempt - 1));
    status = { state: 'failed', detail: `${detail} (restart ${attempt} of ${restartPolicy.maxRestarts} in ${delayMs} ms)` };
    logger.warn({ attempt, delayMs, maxRestarts: restartPolicy.maxRestarts }, 'ingestion restarts by itself after a pause');
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopping) return;
      restarts$.next({ attempt, delayMs, reason: detail });
      logger.info({ attempt }, 'ingestion restarting');
      begin().catch((err: unknown) => fail(err));
    }, delayMs);
    restartTimer.unref();
    return recorded;
  }

  /**
   * Stores the continuity failure (every instance then holds withdrawals and accepts, and a restart
   * finds it) and tells this process's switches at once. Retried for about a minute: the hold must
   * not be lost to a database blip (this process's ingestion stays failed either way, and any
   * instance's ingestion finds the same difference when it starts).
   */
  async function recordBroken(e: LedgerContinuityError): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await recordContinuityFailure(sql, { treasuryParty: party, reason: e.reason, detail: e.message });
        await deps.switches?.refresh?.();
        return;
      } catch (err) {
        if (attempt >= 15) {
          logger.error(
            { err, attempt },
            'cannot record the ledger continuity failure: other instances do not hold their ledger effects for it',
          );
          return;
        }
        logger.error({ err, attempt }, 'cannot record the ledger continuity failure; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
      }
    }
  }

  /**
   * The ledger is still the one ingestion read (src/streams/continuity.ts), checked against the
   * stored checkpoint; a failure recorded earlier stands until resync or migrate clears it.
   */
  async function verifyContinuity(): Promise<{ participantId: string }> {
    const stored = (await readContinuityFailures(sql)).find((f) => f.treasuryParty === party);
    if (stored) throw new LedgerContinuityError(stored.reason, stored.detail, true);
    return checkLedgerContinuity(continuityLedger, await readCheckpoint(sql, party));
  }

  /**
   * The start-of-session check, retried like the stream's own connection (a ledger unreachable at
   * start is the same as one unreachable later); undefined when the component stopped meanwhile.
   */
  async function verifyContinuityRetrying(): Promise<{ participantId: string } | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await verifyContinuity();
      } catch (e) {
        if (!isRetryableSourceError(e) || stopping) throw e;
        if (attempt > retryPolicy.maxAttempts) throw new RetriesExhaustedError(attempt, e);
        const delayMs = backoffDelay(retryPolicy, attempt);
        logger.warn({ err: e, attempt, delayMs }, 'cannot check the ledger’s identity; retrying');
        const stopped = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => {
            sub.unsubscribe();
            resolve(false);
          }, delayMs);
          const sub = stop$.subscribe({ next: () => (clearTimeout(t), resolve(true)), error: () => (clearTimeout(t), resolve(true)) });
        });
        if (stopped || stopping) return undefined;
      }
    }
  }

  /** A new run: the writer's lock (or standby while another instance holds it), then the stream from the checkpoint. */
  async function begin(): Promise<void> {
    await run;
    stop$ = new ReplaySubject<void>(1);
    status = { state: 'starting' };
    if (!(await becomeLeader())) {
      logger.info('another instance is the ingestion writer; standing by');
      standby();
    }
  }

  /** The leader's run: resume from the checkpoint until stopped or failed, sitting out operator pauses. */
  async function lead(onRunning: () => void): Promise<void> {
    const switches = deps.switches;
    for (;;) {
      if (switches?.isPaused('ingestion')) {
        onRunning();
        if (!(await sitOutPause(switches))) return;
      }
      let paused = false;
      const pause$ = switches
        ? switches.watch('ingestion').pipe(
            filter((x) => x.paused),
            take(1),
            tap(() => (paused = true)),
          )
        : NEVER;
      await readFromCheckpoint(onRunning, merge(stop$, pause$));
      if (stopping || !paused) return;
      logger.info({ committedOffset: progress.committedOffset }, 'ingestion paused by operator after the batch in flight');
    }
  }

  /** Until the switch opens (true) or the component stops (false); a lost lease fails the run. */
  function sitOutPause(switches: NonNullable<IngestionDeps['switches']>): Promise<boolean> {
    progress.transport = undefined;
    progress.receivedOffset = progress.committedOffset;
    return new Promise<boolean>((resolve, reject) => {
      const subs = new Subscription();
      const done = (f: () => void) => {
        subs.unsubscribe();
        f();
      };
      subs.add(
        switches.watch('ingestion').subscribe((x) => {
          if (x.paused) status = { state: 'paused', detail: `ingestion ${describePause(x)}` };
          else done(() => resolve(true));
        }),
      );
      subs.add(stop$.subscribe({ next: () => done(() => resolve(false)), error: (e: unknown) => done(() => reject(e)) }));
    });
  }

  /** One session: from the stored checkpoint until `until$` fires (stop or pause) or the run fails. */
  async function readFromCheckpoint(onRunning: () => void, until$: Observable<unknown>): Promise<void> {
    const verified = await verifyContinuityRetrying();
    if (!verified) return;
    const { participantId } = verified;
    const cp = await readCheckpoint(sql, party);
    const start = cp?.offset ?? 0; // no checkpoint: from the beginning of history (integration guide)
    progress.committedOffset = cp?.offset;
    progress.receivedOffset = start;
    try {
      const pruned = await client.latestPrunedOffsets();
      if (pruned.participantPrunedUpToInclusive > start) throw new PrunedOffsetError(start, pruned.participantPrunedUpToInclusive);
    } catch (e) {
      // A node without the endpoint, or unreachable right now: the stream itself will say.
      if (e instanceof PrunedOffsetError || (e instanceof LedgerApiError && (e.status === 401 || e.status === 403))) throw e;
      logger.debug({ err: e }, 'pruning pre-check skipped');
    }
    backpressure.reset();
    const source$ = updatesSource({
      http,
      client,
      party,
      transport: o.transport ?? 'auto',
      resumeOffset: () => progress.receivedOffset ?? start,
      beforeReconnect: async () => {
        await verifyContinuity();
      },
      paused$: backpressure.paused$,
      retry: retryPolicy,
      ...(o.pingIntervalMs !== undefined ? { pingIntervalMs: o.pingIntervalMs } : {}),
      ...(o.livenessTimeoutMs !== undefined ? { livenessTimeoutMs: o.livenessTimeoutMs } : {}),
      ...(o.httpPollIntervalMs !== undefined ? { httpPollIntervalMs: o.httpPollIntervalMs } : {}),
      ...(o.httpMaxPollIntervalMs !== undefined ? { httpMaxPollIntervalMs: o.httpMaxPollIntervalMs } : {}),
      ...(o.httpIdleTimeoutMs !== undefined ? { httpIdleTimeoutMs: o.httpIdleTimeoutMs } : {}),
      ...(o.httpMaxIdleTimeoutMs !== undefined ? { httpMaxIdleTimeoutMs: o.httpMaxIdleTimeoutMs } : {}),
      ...(o.httpFallbackWindowMs !== undefined ? { httpFallbackWindowMs: o.httpFallbackWindowMs } : {}),
      onRetry: (e, attempt, ms) => logger.warn({ err: e, attempt, delayMs: ms }, 'ledger stream failed; reconnecting'),
      onTransport: (t) => {
        progress.transport = t;
        logger.info(
          { transport: t, from: progress.receivedOffset },
          t === 'http' && (o.transport ?? 'auto') === 'auto'
            ? 'reading updates over HTTP until the websocket is tried again'
            : 'reading updates',
        );
      },
      onEmptyPages: (run) => {
        if (run.slowRead) {
          logger.warn(
            run,
            `the ledger answered an empty HTTP page while its end is ahead: its filtered read is slower than stream_idle_timeout_ms; asking with ${run.idleTimeoutMs} ms`,
          );
        } else logger.debug(run, 'HTTP polling at the ledger end; backing off while nothing arrives');
      },
    });
    status = { state: 'running' };
    onRunning();
    await runPipeline({
      sql,
      party,
      source$,
      backpressure,
      batchMaxSize,
      batchMaxWaitMs: o.batchMaxWaitMs ?? 50,
      startOffset: start,
      stop$: until$,
      ingest: {
        participantId,
        ...(o.instructionExpiryGraceMs !== undefined ? { instructionExpiryGraceMs: o.instructionExpiryGraceMs } : {}),
        ...(o.faults ? { faults: o.faults } : {}),
      },
      ...(o.dbRetries !== undefined ? { dbRetries: o.dbRetries } : {}),
      ...(o.dbRetryDelayMs !== undefined ? { dbRetryDelayMs: o.dbRetryDelayMs } : {}),
      onDbRetry: (e, attempt, cause) =>
        cause === 'requestRace'
          ? logger.info(
              { err: e, attempt },
              'a withdrawal request was written while the batch recorded its transfer as recovered (re-sent after a restore?): the batch runs again and attaches the transfer to the request',
            )
          : logger.warn({ err: e, attempt }, 'batch transaction failed on a transient database error; retrying'),
      onReceived: (offset) => {
        progress.receivedOffset = Math.max(progress.receivedOffset ?? 0, offset);
        progress.queued = backpressure.size;
      },
      onCommitted: (b) => {
        restartsInARow = 0;
        if (b.answerLost)
          logger.warn(
            { offset: b.checkpoint.offset },
            'the answer to a batch’s COMMIT was lost with its connection; its retry found the batch committed and goes on from it',
          );
        progress.committedOffset = b.checkpoint.offset;
        progress.queued = backpressure.size;
        logger.debug(
          { offset: b.checkpoint.offset, elements: b.elements, transactions: b.transactions, events: b.eventIds.length },
          'batch committed',
        );
        for (const w of b.warnings) logger.warn(w.context, w.message);
        committed$.next(b);
      },
    });
  }

  /** Resolves once this instance reads the ledger as the writer (or has failed trying); false: standby. */
  async function becomeLeader(): Promise<boolean> {
    if ((o.leaderElection ?? 'advisory-lock') === 'advisory-lock') {
      const l = await tryAcquireIngestionLease(sql, party);
      if (!l) return false;
      lease = l;
      leaseTimer = setInterval(() => {
        l.check().catch((e: unknown) => {
          if (lease !== l) return;
          stop$.error(e); // ends the source; the run fails with this error
        });
      }, o.leaseCheckMs ?? 10_000);
      leaseTimer.unref();
    }
    let running!: () => void;
    const started = new Promise<void>((r) => (running = r));
    run = lead(running)
      .then(
        () => {
          if (status.state !== 'failed') status = { state: 'stopped' };
        },
        (e: unknown) => fail(e),
      )
      .finally(releaseLease);
    await Promise.race([started, run]);
    return true;
  }

  function standby(): void {
    status = { state: 'paused', detail: `standby: another instance holds the ingestion lock for ${party}` };
    standbyTimer = setTimeout(() => {
      standbyTimer = undefined;
      if (stopping) return;
      becomeLeader().then(
        (ok) => {
          if (ok) logger.info('took over as the ingestion writer');
          else if (!stopping) standby();
        },
        (e: unknown) => {
          logger.warn({ err: e }, 'cannot try the ingestion lock; retrying');
          if (!stopping) standby();
        },
      );
    }, o.leaderPollMs ?? 5000);
    standbyTimer.unref();
  }

  return {
    name: 'ingestion',
    committed$: committed$.asObservable(),
    restarts$: restarts$.asObservable(),
    progress: () => ({ ...progress, queued: backpressure.size }),
    ledgerEnd: (signal) => client.ledgerEnd(signal),
    settled: () => run,
    continuityLedger,
    status: () => status,
    async start() {
      if (status.state === 'running' || status.state === 'starting') return;
      stopping = false;
      // An operator's start: now, with a fresh restart budget.
      clearTimeout(restartTimer);
      restartTimer = undefined;
      restartsInARow = 0;
      await begin();
    },
    async stop() {
      stopping = true;
      clearTimeout(standbyTimer);
      // A restart that was due is not: the component stays failed, for the reason it failed.
      if (restartTimer !== undefined) status = { state: 'failed', detail: failure ?? '' };
      clearTimeout(restartTimer);
      restartTimer = undefined;
      if (status.state !== 'failed') status = { state: 'stopping' };
      stop$.next();
      stop$.complete();
      await run;
      await releaseLease();
      if (status.state !== 'failed') status = { state: 'stopped' };
    },
  };
}

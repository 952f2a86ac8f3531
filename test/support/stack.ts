/**
 * The whole service in one process for end-to-end tests: the ledger double (src/sandbox) + a fresh
 * migrated database + instruments onboarded from the double + the daemon's parts — ingestion, the
 * withdrawal and deposit runtimes with the real ledger effects (src/machines/effects), and the HTTP
 * API — all talking over the real wire (HTTP + websocket), with helpers to crash and restart the
 * daemon on the same database and ledger, move the ledger clock, and wait for outcomes.
 *
 *   const stack = await startStack();                  // manual clock by default
 *   afterEach(() => stack.close());
 *   await stack.fundTreasury('Amulet', '1000', 5);      // 5 holdings of 1000 CC
 *   const bob = stack.customer({ preapproval: true });
 *   await stack.requestWithdrawal({ withdrawalId: 'w1', receiver: bob, instrument: 'Amulet', amount: '10' });
 *   await stack.waitForWithdrawal('w1', 'completed');
 *   await stack.crash(); await stack.restart();         // a process kill, then a new process
 *
 * Clock: with `clock: 'manual'` the ledger's record time moves only with `advanceClock`, and starts
 * `clockLeadMs` (default 5 min) AHEAD of the wall clock: the withdrawal machine stamps
 * `Transfer.requestedAt` with the wall clock, and the ledger refuses a requestedAt in its future.
 * Attempt deadlines are wall clock + `attemptTtlMs` (default 15 min here), so nothing expires until
 * a test advances the clock past them — keep a test (wall time) shorter than the lead.
 *
 * The daemon parts are built by `startDaemonParts`, usable on their own against any ledger
 * (bench/withdraw.ts runs them against a double in another process).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Switches } from '../../src/gates/switches.js';
import type { TrafficGate } from '../../src/gates/traffic.js';
import type { ApiToken, LedgerConfig } from '../../src/config.js';
import { tokenProviderFor } from '../../src/ledger/auth.js';
import { createRegistryTokens, NO_REGISTRY_CREDENTIALS, type RegistryTokensOptions } from '../../src/ledger/registry-auth.js';
import { createHttpMetrics } from '../../src/http/metrics.js';
import { registerMetricsRoute } from '../../src/http/routes/metrics.js';
import { registerHealthRoutes } from '../../src/http/routes/health.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { healthOf } from '../../src/lifecycle.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import type { Logger } from '../../src/logger.js';
import type { DbRestoreRecovery } from '../../src/admin/db-restore-recovery.js';
import type { DepositPolicy } from '../../src/machines/deposit.context.js';
import type { LedgerEffectsOptions } from '../../src/machines/effects/index.js';
import type { MachineRuntime } from '../../src/machines/runtime/index.js';
import type { WithdrawalPolicy } from '../../src/machines/withdrawal.context.js';
import { startSandbox, type Sandbox, type SandboxInstrumentInfo, type SandboxOptionsInput } from '../../src/sandbox/index.js';
import { createDepositAccount } from '../../src/store/accounts.js';
import { connect, type Sql } from '../../src/store/db.js';
import { findDeposit, type DepositRow } from '../../src/store/deposits.js';
import { upsertInstrument } from '../../src/store/instruments.js';
import { migrate } from '../../src/store/migrate.js';
import { findWithdrawal, type WithdrawalRow } from '../../src/store/withdrawals.js';
import { createMetrics } from '../../src/metrics.js';
import { createServiceMetrics } from '../../src/service-metrics.js';
import { createService, type RuntimeTimings, type ServiceOptions } from '../../src/service.js';
import type { IngestionComponent, IngestionOptions } from '../../src/streams/index.js';
import { createTestDatabase } from './db.js';
import { TEST_REGISTRY_POLICY } from './registry-policy.js';
import { testLogger } from './silent-logger.js';

// ---------------------------------------------------------------- the daemon's parts

/** Bearer token of the stack's HTTP API (read + write + admin scopes). */
export const STACK_API_TOKEN: ApiToken = { name: 'stack', token: 'stack-token-0123456789abcdef', scopes: ['read', 'write', 'admin'] };

/** Fast timings for tests: outbox polls every 20 ms, quick leadership. */
export const TEST_RUNTIME_TIMINGS: RuntimeTimings = {
  pollIntervalMs: 20,
  discoverIntervalMs: 200,
  leaderRetryMs: 50,
  leaderCheckMs: 1_000,
  stopTimeoutMs: 2_000,
  reloadDelayMs: 100,
};

/** Backoffs of tens of milliseconds, a 15-minute attempt deadline, offers that live an hour. */
export const TEST_WITHDRAWAL_POLICY: Partial<WithdrawalPolicy> = {
  attemptTtlMs: 15 * 60_000,
  maxAttempts: 3,
  maxTransientRetries: 6,
  backoff: { initialMs: 50, maxMs: 500, factor: 2 },
  fundsRecheckMs: 200,
  fundsTimeoutMs: 60_000,
  offerTtlMs: 3_600_000,
};

export const TEST_DEPOSIT_POLICY: Partial<DepositPolicy> = {
  maxAcceptAttempts: 3,
  backoff: { initialMs: 50, maxMs: 500, factor: 2 },
  acceptConfirmMs: 5_000,
  acceptTtlMs: 10 * 60_000,
};

export const TEST_INGESTION_OPTIONS: IngestionOptions = {
  batchMaxWaitMs: 5,
  leaderPollMs: 50,
  retry: { baseDelayMs: 10, maxDelayMs: 200, maxAttempts: 50 },
  dbRetryDelayMs: 10,
};

export interface DaemonPartsOptions extends Pick<
  ServiceOptions,
  | 'sql'
  | 'ledger'
  | 'logger'
  | 'withdrawalPolicy'
  | 'depositPolicy'
  | 'runtime'
  | 'ingestion'
  | 'effects'
  | 'intercept'
  | 'registryTokens'
  | 'registryPolicy'
  | 'traffic'
> {
  /**
   * 'test' (default): the fast TEST_* timings and policies under the overrides below. 'daemon':
   * the components' own defaults (what src/daemon.ts runs), under the overrides — for benchmarks.
   */
  profile?: 'test' | 'daemon';
  /** Port of the HTTP API (0 = any free port). */
  httpPort?: number;
  /** Prometheus metrics as the daemon wires them, served on GET /metrics (default off). */
  metrics?: boolean;
}

/** One "process" of the daemon: what src/daemon.ts runs against a ledger, minus the embedded bits. */
export interface DaemonParts {
  readonly ingestion: IngestionComponent;
  readonly withdrawals: MachineRuntime;
  readonly deposits: MachineRuntime;
  /** The operator pause switches of this "process" (src/gates/switches.ts). */
  readonly switches: Switches;
  /** Recovery after a database restore (src/admin/db-restore-recovery.ts). */
  readonly recovery: DbRestoreRecovery;
  /** The validator's traffic gate of this "process" (src/gates/traffic.ts). */
  readonly traffic: TrafficGate;
  readonly app: App;
  /** The metrics registry (options.metrics), a fresh one per start like a new process. */
  readonly metrics: Registry | undefined;
  /** Base URL of the HTTP API. */
  readonly apiUrl: string;
  /** Graceful: HTTP closes, effects in flight settle and persist, ingestion finishes its batch. */
  stop(): Promise<void>;
  /**
   * What a killed process leaves: runtimes abort at once (no drain; effects in flight are
   * abandoned, their persisted state says they may have run), ingestion stops, HTTP connections
   * are cut. Only the database and the ledger remember anything.
   */
  crash(): Promise<void>;
}

export async function startDaemonParts(o: DaemonPartsOptions): Promise<DaemonParts> {
  const { sql, ledger, logger } = o;
  const test = (o.profile ?? 'test') === 'test';
  // Uncached: tests scrape before and after what they do (the cache has its own test, test/http/ops-endpoints.test.ts).
  const registry = o.metrics ? createMetrics(sql, { cacheMs: 0 }).registry : undefined;
  // As the daemon builds them: the effects and the onboarding API share one set of registry tokens.
  const registryTokens =
    o.registryTokens ?? createRegistryTokens({ config: NO_REGISTRY_CREDENTIALS, ledger: tokenProviderFor(ledger.auth) });
  // The double's registries are http on loopback: allowed as the sandbox allows them.
  const registryPolicy = o.registryPolicy ?? TEST_REGISTRY_POLICY;
  // Built per start, like a new process: the key file is read and checked again.
  const service = createService({
    sql,
    ledger,
    logger,
    runtime: { ...(test ? TEST_RUNTIME_TIMINGS : {}), ...o.runtime },
    ingestion: { ...(test ? TEST_INGESTION_OPTIONS : {}), ...o.ingestion },
    withdrawalPolicy: { ...(test ? TEST_WITHDRAWAL_POLICY : {}), ...o.withdrawalPolicy },
    depositPolicy: { ...(test ? TEST_DEPOSIT_POLICY : {}), ...o.depositPolicy },
    // Tests that want UTXO management run the job themselves, step by step.
    holdingsJob: false,
    registryTokens,
    registryPolicy,
    ...(o.effects ? { effects: o.effects } : {}),
    ...(o.intercept ? { intercept: o.intercept } : {}),
    ...(o.traffic ? { traffic: o.traffic } : {}),
    ...(registry ? { metrics: createServiceMetrics(registry) } : {}),
  });
  const { ingestion, withdrawals, deposits, switches, recovery, traffic } = service;
  const app = await createHttpServer({
    logger,
    apiTokens: [STACK_API_TOKEN],
    protectOpsEndpoints: false,
    ...(registry ? { metrics: createHttpMetrics(registry) } : {}),
  });
  if (registry) registerMetricsRoute(app, registry);
  registerApiRoutes(app, {
    sql,
    registryTokens,
    registryPolicy,
    operator: service.operator,
    reconciliation: service.reconciliation,
    holdingAdoption: service.holdingAdoption,
    switches,
    ingestion,
    recovery,
    traffic,
    ledgerRecovery: service.ledgerRecovery,
  });
  registerHealthRoutes(app, { health: () => healthOf(service.components), checkReady: async () => ({ database: 'ok' }) });

  const started: { stop(): Promise<void> }[] = [];
  try {
    for (const c of service.components) {
      await c.start();
      started.push(c);
    }
    await app.listen({ host: '127.0.0.1', port: o.httpPort ?? 0 });
  } catch (e) {
    for (const c of started.reverse()) await c.stop().catch(() => {});
    await app.close().catch(() => {});
    throw e;
  }
  const addr = app.server.address() as AddressInfo;
  let ended: Promise<void> | undefined;
  return {
    ingestion,
    withdrawals,
    deposits,
    switches,
    recovery,
    traffic,
    app,
    metrics: registry,
    apiUrl: `http://127.0.0.1:${addr.port}`,
    stop() {
      ended ??= (async () => {
        await app.close();
        // Reverse start order, as the daemon stops them.
        for (const c of [...service.components].reverse()) await c.stop();
      })();
      return ended;
    },
    crash() {
      ended ??= (async () => {
        app.server.closeAllConnections();
        await Promise.all([
          withdrawals.abort(),
          deposits.abort(),
          ingestion.stop(),
          app.close(),
          switches.stop(),
          recovery.stop(),
          traffic.stop(),
        ]);
      })();
      return ended;
    },
  };
}

// ---------------------------------------------------------------- the stack

export interface StackOptions {
  /** Default 'manual' (see the file comment); 'real' follows the wall clock. */
  clock?: 'manual' | 'real';
  /** Manual clock: how far the ledger's time starts ahead of the wall clock (default 5 min). */
  clockLeadMs?: number;
  /** Passed to startSandbox (clock and treasury are set by the stack unless given here). */
  sandbox?: SandboxOptionsInput;
  withdrawalPolicy?: Partial<WithdrawalPolicy>;
  depositPolicy?: Partial<DepositPolicy>;
  runtime?: RuntimeTimings;
  ingestion?: IngestionOptions;
  effects?: LedgerEffectsOptions;
  intercept?: DaemonPartsOptions['intercept'];
  /** The traffic gate's settings (rate cap, probe backoff). */
  traffic?: DaemonPartsOptions['traffic'];
  /** Serve Prometheus metrics on the daemon's GET /metrics (DaemonParts.metrics). */
  metrics?: boolean;
  /** REGISTRY_CREDENTIALS as the daemon reads them, given the double (the stack adds its ledger token for mode `ledger`). */
  registryTokens?: (sandbox: Sandbox) => Omit<RegistryTokensOptions, 'ledger'>;
  /** Database pool size (default 20). */
  poolMax?: number;
  /** false: start without the daemon (tests of the effects alone); restart() starts it. */
  daemon?: boolean;
  logger?: Logger;
}

export interface StackInstrument extends SandboxInstrumentInfo {
  /** instruments.transfer_policy as onboarded. */
  transferPolicy: 'direct-or-offer' | 'offer-only';
}

export interface WithdrawalRequestInput {
  withdrawalId: string;
  receiver: string;
  /** Instrument id or symbol ("Amulet", "CC", "UTK"). */
  instrument: string;
  amount: string;
  account?: string;
}

export interface Stack {
  readonly sandbox: Sandbox;
  readonly sql: Sql;
  /** The stack's database, for another process (a daemon in a child process). */
  readonly dbUrl: string;
  readonly ledger: LedgerConfig;
  readonly treasury: string;
  /** By id and by symbol: cc / utk shortcuts for the double's defaults. */
  readonly cc: StackInstrument;
  readonly utk: StackInstrument;
  instrument(key: string): StackInstrument;
  /** The key file written for the treasury (what TREASURY_KEY_FILE names). */
  readonly keyFile: string;
  /** The running daemon parts; replaced by restart(). */
  readonly daemon: DaemonParts;
  readonly logger: Logger;

  /** Kill the daemon (see DaemonParts.crash). The ledger and the database stay. */
  crash(): Promise<void>;
  /** Start a new daemon on the same database and ledger (crashing the running one first, if any). */
  restart(overrides?: Partial<Pick<StackOptions, 'intercept' | 'withdrawalPolicy' | 'depositPolicy' | 'effects'>>): Promise<DaemonParts>;

  /** A party of the double (optionally with a Canton Coin preapproval: it receives 1-step). */
  customer(o?: { preapproval?: boolean; fund?: { instrument: string; amount: string }[] }): string;
  /** Mints `count` treasury holdings of `amount` and (daemon running) waits until ingestion has them. */
  fundTreasury(instrument: string, amount: string, count?: number): Promise<void>;
  /** A deposit account (for deposit tests): its memo is what customers put in transfers. */
  depositAccount(memo: string, customerRef?: string): Promise<string>;

  /** POST /v1/withdrawals over HTTP; returns the response status and body. */
  requestWithdrawal(w: WithdrawalRequestInput): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Any call to the stack's HTTP API with its token. */
  api(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;

  /** Advance the ledger's record time and (daemon running) wait until ingestion has seen the new time. */
  advanceClock(ms: number): Promise<void>;
  /** Until ingestion has committed everything up to the double's current ledger end. */
  caughtUp(timeoutMs?: number): Promise<void>;
  waitForWithdrawal(id: string, until: string | string[] | ((w: WithdrawalRow) => boolean), timeoutMs?: number): Promise<WithdrawalRow>;
  waitForDeposit(id: string, until: string | string[] | ((d: DepositRow) => boolean), timeoutMs?: number): Promise<DepositRow>;

  /** Stops everything and drops the database. */
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const logger = opts.logger ?? testLogger();
  const manual = (opts.clock ?? 'manual') === 'manual';
  const lead = opts.clockLeadMs ?? 5 * 60_000;
  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => logger.error({ err: e }, 'stack cleanup failed'));
  };
  try {
    const sandbox = await startSandbox(
      {
        clock: manual ? { mode: 'manual', start: new Date(Date.now() + lead).toISOString() } : { mode: 'real' },
        commitDelayMs: 2,
        checkpointIntervalMs: 50,
        ...opts.sandbox,
        treasury: { onboarding: 'direct', ...opts.sandbox?.treasury },
      },
      logger,
    );
    cleanups.push(() => sandbox.stop());
    const t = sandbox.treasury;
    if (!t) throw new Error('the stack needs a treasury: do not set sandbox.treasury.onboarding to "none"');

    const db = await createTestDatabase();
    const sql = connect({ url: db.url, max: opts.poolMax ?? 20 });
    cleanups.push(async () => {
      await sql.end({ timeout: 5 });
      await db.drop();
    });
    await migrate(sql);

    const dir = await mkdtemp(join(tmpdir(), 'cxi-stack-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const keyFile = join(dir, 'treasury.key');
    await writeFile(keyFile, t.privateKeyPem, { mode: 0o600 });

    const instruments: StackInstrument[] = [];
    for (const i of sandbox.instruments) {
      const transferPolicy = i.supportsPreapproval ? 'direct-or-offer' : 'offer-only';
      // As the sandbox onboards them: the double's sender fee is the reserve coin selection covers.
      const feeReserve = { rate: i.senderFee.rate, flat: i.senderFee.flat };
      await upsertInstrument(sql, {
        admin: i.admin,
        id: i.id,
        registryUrl: i.registryUrl,
        displayDecimals: 10,
        transferPolicy,
        feeReserve,
        enabled: true,
      });
      instruments.push({ ...i, transferPolicy });
    }
    const instrument = (key: string): StackInstrument => {
      const found = instruments.find((i) => i.id === key || i.symbol === key);
      if (!found) throw new Error(`no instrument ${key} on the double`);
      return found;
    };

    const ledger: LedgerConfig = {
      apiUrl: sandbox.jsonApiUrl,
      userId: t.userId,
      auth: { kind: 'static', token: await sandbox.tokenFor(t.userId, { expiresInSeconds: 24 * 3600 }) },
      treasuryParty: t.party,
      treasuryKeyFile: keyFile,
    };

    let current: Omit<StackOptions, 'sandbox' | 'clock' | 'clockLeadMs' | 'poolMax' | 'logger' | 'daemon' | 'registryTokens'> = {
      ...(opts.intercept ? { intercept: opts.intercept } : {}),
      ...(opts.withdrawalPolicy ? { withdrawalPolicy: opts.withdrawalPolicy } : {}),
      ...(opts.depositPolicy ? { depositPolicy: opts.depositPolicy } : {}),
      ...(opts.runtime ? { runtime: opts.runtime } : {}),
      ...(opts.ingestion ? { ingestion: opts.ingestion } : {}),
      ...(opts.effects ? { effects: opts.effects } : {}),
      ...(opts.traffic ? { traffic: opts.traffic } : {}),
      ...(opts.metrics ? { metrics: true } : {}),
    };
    // Registry tokens are built per start, like a new process's (fresh token caches).
    const registryTokens = () =>
      opts.registryTokens
        ? { registryTokens: createRegistryTokens({ ...opts.registryTokens(sandbox), ledger: tokenProviderFor(ledger.auth) }) }
        : {};
    const launch = () => startDaemonParts({ sql, ledger, logger, ...current, ...registryTokens() });
    let daemon: DaemonParts | undefined = opts.daemon === false ? undefined : await launch();
    let crashed = false;
    cleanups.push(async () => {
      await daemon?.stop();
    });

    const api = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => {
      if (!daemon) throw new Error('the daemon is not running');
      const res = await fetch(daemon.apiUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${STACK_API_TOKEN.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    const caughtUp = async (timeoutMs = 15_000) => {
      const end = sandbox.control.books.ledgerEnd().offset;
      const until = Date.now() + timeoutMs;
      for (;;) {
        const d = daemon;
        if (d) {
          const s = d.ingestion.status();
          if (s.state === 'failed') throw new Error(`ingestion failed: ${s.detail ?? ''}`);
          if ((d.ingestion.progress().committedOffset ?? -1) >= end) return;
        }
        if (Date.now() > until) throw new Error(`ingestion at ${d?.ingestion.progress().committedOffset ?? 'nothing'}, ledger end ${end}`);
        await sleep(5);
      }
    };

    const poll = async <T>(what: string, read: () => Promise<T | undefined>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> => {
      const until = Date.now() + timeoutMs;
      let last: T | undefined;
      for (;;) {
        last = await read();
        if (last !== undefined && ok(last)) return last;
        const failed = daemon && [daemon.ingestion, daemon.withdrawals, daemon.deposits].find((c) => c.status().state === 'failed');
        if (failed) throw new Error(`${failed.name} failed while waiting for ${what}: ${failed.status().detail ?? ''}`);
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
        await sleep(10);
      }
    };
    const matcher = <T extends { status: string }>(until: string | string[] | ((v: T) => boolean)) =>
      typeof until === 'function' ? until : (v: T) => (Array.isArray(until) ? until.includes(v.status) : v.status === until);

    const stack: Stack = {
      sandbox,
      sql,
      dbUrl: db.url,
      ledger,
      treasury: t.party,
      keyFile,
      cc: instrument('Amulet'),
      utk: instrument('UTK'),
      instrument,
      get daemon() {
        if (!daemon) throw new Error('the daemon is not running (crashed): call restart()');
        return daemon;
      },
      logger,
      async crash() {
        const d = daemon;
        daemon = undefined;
        crashed = true;
        await d?.crash();
      },
      async restart(overrides = {}) {
        if (daemon && !crashed) await stack.crash();
        current = { ...current, ...overrides };
        daemon = await launch();
        crashed = false;
        return daemon;
      },
      customer(o = {}) {
        return sandbox.control.createCustomer({ preapproval: o.preapproval ?? false, fund: o.fund ?? [] }).party;
      },
      async fundTreasury(key, amount, count = 1) {
        for (let i = 0; i < count; i++) sandbox.control.mint(t.party, instrument(key).id, amount);
        if (daemon) await caughtUp();
      },
      async depositAccount(memo, customerRef = memo) {
        return (await createDepositAccount(sql, { customerRef, memo })).account.accountId;
      },
      requestWithdrawal(w) {
        const i = instrument(w.instrument);
        return api('POST', '/v1/withdrawals', {
          withdrawalId: w.withdrawalId,
          account: w.account ?? 'acct-1',
          instrument: { admin: i.admin, id: i.id },
          amount: w.amount,
          receiver: w.receiver,
        });
      },
      api,
      async advanceClock(ms) {
        sandbox.control.advanceClock(ms);
        if (daemon) await caughtUp();
      },
      caughtUp,
      waitForWithdrawal(id, until, timeoutMs = 15_000) {
        return poll(`withdrawal ${id} ${String(until)}`, () => findWithdrawal(sql, id), matcher<WithdrawalRow>(until), timeoutMs);
      },
      waitForDeposit(id, until, timeoutMs = 15_000) {
        return poll(`deposit ${id} ${String(until)}`, () => findDeposit(sql, id), matcher<DepositRow>(until), timeoutMs);
      },
      close: runCleanups,
    };
    return stack;
  } catch (e) {
    await runCleanups();
    throw e;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

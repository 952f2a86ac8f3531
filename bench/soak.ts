import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { z } from 'zod';
import { createLogger } from '../src/logger.js';
import { connect } from '../src/store/db.js';
import { upsertInstrument } from '../src/store/instruments.js';
import { migrate } from '../src/store/migrate.js';
import { STACK_API_TOKEN, startDaemonParts } from '../test/support/stack.js';

/**
 * `npm run soak [-- --duration 2m] [--rate 30] [--mix 3:3:4] [--sample 5s] [--warmup 20%]`
 *
 * A steady load for a long time, to see what stays flat: the ledger double in its own process
 * (real clock, a pool of treasury holdings, preapproved receivers), a fresh database on the real
 * Postgres, and the daemon's parts in this process with the daemon's own timings (ingestion, the
 * withdrawal and deposit runtimes with the real ledger effects, the HTTP API). An open-loop
 * generator starts `rate` operations per second in the ratio `mix` = deposits : withdrawals :
 * status queries — deposits are customer transfers to the treasury through the double's control
 * API (1 in 4 as a 2-step offer the deposit runtime accepts; memos of known accounts, 1 in 10
 * unknown), withdrawals are POST /v1/withdrawals, queries are GETs of withdrawals, deposits,
 * accounts and holdings. Reports throughput, p50/p99 of every kind of call and of withdrawal
 * completion (request → `completed`), deposit ingestion lag (ledger record time → row written),
 * and this process's RSS and heap every `sample`, with a verdict: memory is flat when the median
 * of the last third of the samples after warm-up is within max(10 %, 16 MB) of the first third's.
 * Exit code 1 when a withdrawal failed or was paid twice, an HTTP call answered 5xx, or memory grew.
 * Postgres: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres.
 */
// Not strict: `npm run bench -- …` hands every bench the same arguments (bench/run-all.ts).
const { values } = parseArgs({
  strict: false,
  options: {
    duration: { type: 'string', default: '2m' },
    rate: { type: 'string', default: '30' },
    mix: { type: 'string', default: '3:3:4' },
    sample: { type: 'string', default: '5s' },
    warmup: { type: 'string', default: '20%' },
    holdings: { type: 'string', default: '300' },
    receivers: { type: 'string', default: '20' },
    'max-in-flight': { type: 'string', default: '256' },
  },
});
const str = (v: string | boolean | undefined, fallback: string): string => (typeof v === 'string' ? v : fallback);

/** "90s", "2m", "1500ms", "120" (seconds) → ms. */
function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: ${s} (e.g. 90s, 2m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Number(m[1]) * unit;
}

const DURATION_MS = parseDuration(str(values.duration, '2m'));
const RATE = Number(str(values.rate, '30'));
const SAMPLE_MS = parseDuration(str(values.sample, '5s'));
const warmupArg = str(values.warmup, '20%');
const WARMUP_MS = warmupArg.endsWith('%') ? (DURATION_MS * Number(warmupArg.slice(0, -1))) / 100 : parseDuration(warmupArg);
const MIX = str(values.mix, '3:3:4').split(':').map(Number);
const MAX_IN_FLIGHT = Number(str(values['max-in-flight'], '256'));
const ACCOUNTS = 50;
if (MIX.length !== 3 || MIX.some((x) => !Number.isFinite(x) || x < 0) || MIX.every((x) => x === 0))
  throw new Error('--mix is deposits:withdrawals:queries, e.g. 3:3:4');
if (!(RATE > 0) || !(DURATION_MS > 0)) throw new Error('--rate and --duration must be positive');
const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const DoubleInfo = z.object({
  url: z.string(),
  token: z.string(),
  party: z.string(),
  userId: z.string(),
  keyFile: z.string(),
  instrument: z.object({
    admin: z.string(),
    id: z.string(),
    registryUrl: z.string(),
    senderFee: z.object({ rate: z.string(), flat: z.string() }),
  }),
  receivers: z.array(z.string()).min(1),
  controlUrl: z.string(),
  controlToken: z.string(),
});

// ---------------------------------------------------------------- measurement helpers

type Kind =
  | 'deposit (double control API)'
  | 'POST /v1/withdrawals'
  | 'GET /v1/withdrawals/:id'
  | 'GET /v1/deposits'
  | 'GET /v1/accounts/:id'
  | 'GET /v1/holdings';

class Latencies {
  readonly byKind = new Map<Kind, { ms: number[]; errors: number; statuses: Map<number, number> }>();
  record(kind: Kind, ms: number, status: number, ok: boolean): void {
    let k = this.byKind.get(kind);
    if (!k) this.byKind.set(kind, (k = { ms: [], errors: 0, statuses: new Map() }));
    k.ms.push(ms);
    k.statuses.set(status, (k.statuses.get(status) ?? 0) + 1);
    if (!ok) k.errors++;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}

interface MemorySample {
  atS: number;
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
}

const mb = (b: number) => b / 1024 / 1024;
const gc = (globalThis as { gc?: () => void }).gc;

function sampleMemory(started: number): MemorySample {
  // With --expose-gc (npm run soak) the heap is measured after a full collection: live data only.
  gc?.();
  const m = process.memoryUsage();
  return {
    atS: (Date.now() - started) / 1000,
    rssMb: mb(m.rss),
    heapUsedMb: mb(m.heapUsed),
    heapTotalMb: mb(m.heapTotal),
    externalMb: mb(m.external),
  };
}

/** Flat: the last third's median is within max(10 %, 16 MB) of the first third's (samples after warm-up). */
function memoryVerdict(
  samples: readonly MemorySample[],
  warmupS: number,
  pick: (s: MemorySample) => number,
): { first: number; last: number; growth: number; flat: boolean; n: number } {
  const steady = samples.filter((s) => s.atS >= warmupS);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const first = median(steady.slice(0, third).map(pick));
  const last = median(steady.slice(-third).map(pick));
  const growth = last - first;
  return { first, last, growth, flat: steady.length >= 3 && growth <= Math.max(0.1 * first, 16), n: steady.length };
}

// ---------------------------------------------------------------- the run

let exitCode = 0;
const t0 = Date.now();
const double = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    fileURLToPath(new URL('./support/withdraw-double.ts', import.meta.url)),
    '--holdings',
    str(values.holdings, '300'),
    '--receivers',
    str(values.receivers, '20'),
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
const info = DoubleInfo.parse(
  JSON.parse(
    await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: double.stdout });
      rl.once('line', (l) => {
        rl.close();
        resolve(l);
      });
      double.once('exit', (code) => reject(new Error(`the ledger double exited with ${code}`)));
    }),
  ),
);
const HOLDINGS = Number(str(values.holdings, '300'));
console.log(
  `ledger double ready after ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${double.pid}): ${HOLDINGS} treasury holdings, ${info.receivers.length} preapproved receivers`,
);

const dbName = `cxi_soak_${randomBytes(4).toString('hex')}`;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database "${dbName}"`);
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${dbName}`;
const sql = connect({ url: dbUrl.toString(), max: 20 });
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'error', pretty: false });

async function control(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${info.controlUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${info.controlToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

try {
  await migrate(sql);
  // As the sandbox onboards it: the double's sender fee is the reserve coin selection covers.
  const feeReserve = { rate: info.instrument.senderFee.rate, flat: info.instrument.senderFee.flat };
  await upsertInstrument(sql, {
    admin: info.instrument.admin,
    id: info.instrument.id,
    registryUrl: info.instrument.registryUrl,
    displayDecimals: 10,
    transferPolicy: 'direct-or-offer',
    feeReserve,
    enabled: true,
  });
  const daemon = await startDaemonParts({
    sql,
    logger,
    ledger: {
      apiUrl: info.url,
      userId: info.userId,
      auth: { kind: 'static', token: info.token },
      treasuryParty: info.party,
      treasuryKeyFile: info.keyFile,
    },
    profile: 'daemon',
  });
  const api = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${daemon.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${STACK_API_TOKEN.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  try {
    // Depositors (funded for the whole run) and deposit accounts; then wait for the pool.
    const depositors: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await control('/customers', { fund: [{ instrument: 'Amulet', amount: '10000000' }] });
      depositors.push(z.object({ party: z.string() }).parse(r.body).party);
    }
    const accounts: string[] = [];
    for (let i = 0; i < ACCOUNTS; i++) {
      const r = await api('POST', '/v1/accounts', { customerRef: `soak-customer-${i}`, memo: `soak-memo-${i}` });
      if (r.status !== 201) throw new Error(`POST /v1/accounts: ${r.status} ${JSON.stringify(r.body)}`);
      accounts.push(z.object({ accountId: z.string() }).parse(r.body).accountId);
    }
    for (;;) {
      const [r] = await sql<{ n: number }[]>`select count(*)::int as n from holdings where archived_offset is null`;
      if (r!.n >= HOLDINGS) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    console.log(
      `ready after ${((Date.now() - t0) / 1000).toFixed(1)} s; soaking for ${DURATION_MS / 1000} s at ${RATE} ops/s (deposits:withdrawals:queries ${MIX.join(':')}), memory every ${SAMPLE_MS / 1000} s${gc ? ' after a full GC' : ''}, warm-up ${(WARMUP_MS / 1000).toFixed(0)} s`,
    );

    const lat = new Latencies();
    const samples: MemorySample[] = [];
    const withdrawals: string[] = [];
    const runId = randomBytes(3).toString('hex');
    let deposits = 0;
    let inFlight = 0;
    let started = 0;
    let skipped = 0;
    const fiveHundreds: string[] = [];
    const pending = new Set<Promise<void>>();
    const timed = async (kind: Kind, call: () => Promise<{ status: number; body: unknown }>, ok: (status: number) => boolean) => {
      const t = performance.now();
      let status = 0;
      try {
        const r = await call();
        status = r.status;
        if (status >= 500 && fiveHundreds.length < 20) fiveHundreds.push(`${kind}: ${status} ${JSON.stringify(r.body).slice(0, 200)}`);
      } catch (e) {
        if (fiveHundreds.length < 20) fiveHundreds.push(`${kind}: ${(e as Error).message}`);
      }
      lat.record(kind, performance.now() - t, status, ok(status));
    };
    const total = MIX.reduce((a, b) => a + b, 0);
    const op = (i: number): Promise<void> => {
      const r = Math.random() * total;
      if (r < MIX[0]!) {
        const n = deposits++;
        const memo = n % 10 === 9 ? `soak-unknown-${n}` : `soak-memo-${n % ACCOUNTS}`;
        return timed(
          'deposit (double control API)',
          () =>
            control('/transfers', {
              from: depositors[n % depositors.length],
              to: info.party,
              instrument: 'Amulet',
              amount: `${1 + (n % 50)}.${n % 7}`,
              memo,
              mode: n % 4 === 3 ? 'offer' : 'auto',
            }),
          (s) => s === 200,
        );
      }
      if (r < MIX[0]! + MIX[1]!) {
        const id = `soak-${runId}-${i}`;
        withdrawals.push(id);
        return timed(
          'POST /v1/withdrawals',
          () =>
            api('POST', '/v1/withdrawals', {
              withdrawalId: id,
              account: accounts[i % accounts.length],
              instrument: { admin: info.instrument.admin, id: info.instrument.id },
              amount: String(1 + (i % 9)),
              receiver: info.receivers[i % info.receivers.length],
            }),
          (s) => s === 201,
        );
      }
      const q = i % 4;
      if (q === 0 && withdrawals.length > 0) {
        // A recent one: the exchange polls what it just requested.
        const id = withdrawals[Math.max(0, withdrawals.length - 1 - Math.floor(Math.random() * 50))]!;
        return timed(
          'GET /v1/withdrawals/:id',
          () => api('GET', `/v1/withdrawals/${id}`),
          (s) => s === 200 || s === 404,
        );
      }
      if (q === 1)
        return timed(
          'GET /v1/deposits',
          () => api('GET', '/v1/deposits?limit=20'),
          (s) => s === 200,
        );
      if (q === 2)
        return timed(
          'GET /v1/accounts/:id',
          () => api('GET', `/v1/accounts/${encodeURIComponent(accounts[i % accounts.length]!)}`),
          (s) => s === 200,
        );
      return timed(
        'GET /v1/holdings',
        () => api('GET', '/v1/holdings'),
        (s) => s === 200,
      );
    };

    const soakStart = Date.now();
    samples.push(sampleMemory(soakStart));
    const sampler = setInterval(() => {
      const s = sampleMemory(soakStart);
      samples.push(s);
      const done = [...lat.byKind.values()].reduce((a, k) => a + k.ms.length, 0);
      console.log(
        `  t=${s.atS.toFixed(0).padStart(4)} s  ops ${done}/${started} (in flight ${inFlight})  RSS ${s.rssMb.toFixed(0)} MB  heap ${s.heapUsedMb.toFixed(0)}/${s.heapTotalMb.toFixed(0)} MB`,
      );
    }, SAMPLE_MS);
    // Open loop: the schedule does not wait for answers (a slow daemon shows as latency, not as a
    // lower offered rate), bounded by max-in-flight so an overload does not run this process out of memory.
    while (Date.now() - soakStart < DURATION_MS) {
      const due = Math.floor(((Date.now() - soakStart) / 1000) * RATE);
      while (started < due) {
        const i = started++;
        if (inFlight >= MAX_IN_FLIGHT) {
          skipped++;
          continue;
        }
        inFlight++;
        const p: Promise<void> = op(i).finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      await new Promise((res) => setTimeout(res, 10));
    }
    await Promise.all(pending);
    const soakSeconds = (Date.now() - soakStart) / 1000;
    const [backlog] = await sql<{ open: number }[]>`
      select count(*) filter (where status not in ('completed', 'failed', 'cancelled', 'stalled'))::int as open
      from withdrawals where withdrawal_id like ${`soak-${runId}-%`}`;

    // Drain: let the withdrawals requested near the end finish (no new load meanwhile).
    const drainStart = Date.now();
    let open = 0;
    for (;;) {
      const [r] = await sql<{ open: number }[]>`
        select count(*) filter (where status not in ('completed', 'failed', 'cancelled', 'stalled'))::int as open
        from withdrawals where withdrawal_id like ${`soak-${runId}-%`}`;
      open = r!.open;
      if (open === 0 || Date.now() - drainStart > 120_000) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    clearInterval(sampler);
    samples.push(sampleMemory(soakStart));

    // ---------------------------------------------------------------- report
    const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
    const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
    console.log(
      `\nsoak: ${soakSeconds.toFixed(0)} s at ${RATE} ops/s offered; ${started} operations scheduled, ${skipped} skipped (over ${MAX_IN_FLIGHT} in flight); ${backlog!.open} withdrawals unfinished when the load stopped; drain ${((Date.now() - drainStart) / 1000).toFixed(1)} s`,
    );
    console.log('\n| call | n | per s | p50 (ms) | p99 (ms) | max (ms) | unexpected | statuses |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const [kind, k] of [...lat.byKind.entries()].sort()) {
      const s = [...k.ms].sort((a, b) => a - b);
      const statuses = [...k.statuses.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([st, n]) => `${st}×${n}`)
        .join(' ');
      console.log(
        `| ${kind} | ${s.length} | ${f1(s.length / soakSeconds)} | ${f1(percentile(s, 50))} | ${f1(percentile(s, 99))} | ${f0(s.at(-1) ?? NaN)} | ${k.errors} | ${statuses} |`,
      );
    }

    const [w] = await sql<
      {
        requested: number;
        completed: number;
        failed: number;
        stalled: number;
        p50: number | null;
        p99: number | null;
        max: number | null;
        first: string | null;
        last: string | null;
      }[]
    >`
      with c as (
        select w.withdrawal_id, w.status, w.requested_at, t.at as completed_at
        from withdrawals w
        left join machine_transitions t on t.machine_type = 'withdrawal' and t.machine_id = w.withdrawal_id and t.to_state = '"completed"'::jsonb
        where w.withdrawal_id like ${`soak-${runId}-%`})
      select count(*)::int as requested,
             count(*) filter (where status = 'completed')::int as completed,
             count(*) filter (where status in ('failed', 'cancelled'))::int as failed,
             count(*) filter (where status = 'stalled')::int as stalled,
             percentile_cont(0.5) within group (order by extract(epoch from completed_at - requested_at) * 1000)::float as p50,
             percentile_cont(0.99) within group (order by extract(epoch from completed_at - requested_at) * 1000)::float as p99,
             max(extract(epoch from completed_at - requested_at) * 1000)::float as max,
             min(requested_at)::text as first, max(completed_at)::text as last
      from c`;
    const reasons = await sql<{ status: string; reason: string | null; n: number }[]>`
      select status, right(regexp_replace(regexp_replace(status_reason, 'soak-[0-9a-f]+-[0-9]+(-[0-9]+)?', '…', 'g'), '[0-9]+[.][0-9]+', 'N', 'g'), 140) as reason,
             count(*)::int as n
      from withdrawals where withdrawal_id like ${`soak-${runId}-%`} and status <> 'completed' group by 1, 2 order by n desc limit 5`;
    const span = w!.first && w!.last ? (Date.parse(w!.last) - Date.parse(w!.first)) / 1000 : NaN;
    console.log(
      `\nwithdrawals: ${w!.requested} requested, ${w!.completed} completed (${f1(w!.completed / span)}/s), ${w!.failed} failed/cancelled, ${w!.stalled} stalled, ${open} still open; request → completed p50 ${f0(w!.p50 ?? NaN)} ms, p99 ${f0(w!.p99 ?? NaN)} ms, max ${f0(w!.max ?? NaN)} ms`,
    );
    if (reasons.length > 0)
      console.log(`  not completed: ${reasons.map((x) => `${x.status} ×${x.n}${x.reason ? ` (${x.reason})` : ''}`).join('; ')}`);
    const [firstStalled] = await sql<{ withdrawal_id: string; reason: string | null }[]>`
      select withdrawal_id, status_reason as reason from withdrawals where withdrawal_id like ${`soak-${runId}-%`} and status = 'stalled' order by requested_at limit 1`;
    if (firstStalled) console.log(`  first stalled: ${firstStalled.withdrawal_id}: ${firstStalled.reason ?? ''}`);
    // Where a withdrawal spends its time: the stay in each state, transition to transition.
    const stays = await sql<{ state: string; n: number; p50: number; p99: number }[]>`
      with t as (
        select t.to_state::text as state, extract(epoch from lead(t.at) over (partition by t.machine_id order by t.seq) - t.at) * 1000 as ms
        from machine_transitions t where t.machine_type = 'withdrawal' and t.machine_id like ${`soak-${runId}-%`})
      select left(state, 60) as state, count(*)::int as n,
             percentile_cont(0.5) within group (order by ms)::float as p50, percentile_cont(0.99) within group (order by ms)::float as p99
      from t where ms is not null group by 1 order by p50 desc limit 8`;
    // Where the wait is: ledger commit → ingested (transferred event written) → the machine completes.
    const hops = await sql<{ hop: string; p50: number; p99: number }[]>`
      with h as (
        select 'ledger commit → ingested' as hop, extract(epoch from e.created_at - w.transfer_record_time) * 1000 as ms
          from outbox_events e join withdrawals w on w.withdrawal_id = e.aggregate_id
          where e.topic in ('withdrawal.transferred', 'withdrawal.offered') and e.aggregate_id like ${`soak-${runId}-%`}
        union all
        select 'transferred event → completed', extract(epoch from t.at - e.created_at) * 1000
          from outbox_events e join machine_transitions t on t.outbox_event_id = e.event_id and t.machine_type = 'withdrawal'
          where e.topic = 'withdrawal.transferred' and e.aggregate_id like ${`soak-${runId}-%`})
      select hop, percentile_cont(0.5) within group (order by ms)::float as p50, percentile_cont(0.99) within group (order by ms)::float as p99 from h group by hop`;
    console.log(`  hops (ms): ${hops.map((x) => `${x.hop} p50 ${f0(x.p50)} p99 ${f0(x.p99)}`).join('; ')}`);
    // Steady or building up: completion latency of the first and the last third of the requests.
    const thirds = await sql<{ third: number; n: number; p50: number | null }[]>`
      with c as (
        select ntile(3) over (order by w.requested_at) as third, extract(epoch from t.at - w.requested_at) * 1000 as ms
        from withdrawals w
        left join machine_transitions t on t.machine_type = 'withdrawal' and t.machine_id = w.withdrawal_id and t.to_state = '"completed"'::jsonb
        where w.withdrawal_id like ${`soak-${runId}-%`})
      select third, count(ms)::int as n, percentile_cont(0.5) within group (order by ms)::float as p50 from c group by third order by third`;
    console.log(`  request → completed p50 by third of the run: ${thirds.map((x) => `${f0(x.p50 ?? NaN)} ms`).join(' → ')}`);
    console.log(`  time in state (ms): ${stays.map((x) => `${x.state} ×${x.n} p50 ${f0(x.p50)} p99 ${f0(x.p99)}`).join('; ')}`);
    const [d] = await sql<
      { n: number; credited: number; unattributed: number; offered: number; lag50: number | null; lag99: number | null }[]
    >`
      select count(*)::int as n,
             count(*) filter (where status = 'credited')::int as credited,
             count(*) filter (where status = 'unattributed')::int as unattributed,
             count(*) filter (where status not in ('credited', 'unattributed'))::int as offered,
             percentile_cont(0.5) within group (order by extract(epoch from created_at - coalesce(credit_record_time, created_at)) * 1000)::float as lag50,
             percentile_cont(0.99) within group (order by extract(epoch from created_at - coalesce(credit_record_time, created_at)) * 1000)::float as lag99
      from deposits where memo like 'soak-%' and kind = 'one_step'`;
    const [d2] = await sql<{ n: number; credited: number; unattributed: number; other: number }[]>`
      select count(*)::int as n, count(*) filter (where status = 'credited')::int as credited,
             count(*) filter (where status = 'unattributed')::int as unattributed,
             count(*) filter (where status not in ('credited', 'unattributed'))::int as other
      from deposits where memo like 'soak-%' and kind = 'two_step'`;
    const sentDeposits = lat.byKind.get('deposit (double control API)')?.statuses.get(200) ?? 0;
    console.log(
      `deposits: ${sentDeposits} sent; ingested 1-step ${d!.n} (${d!.credited} credited, ${d!.unattributed} unattributed), 2-step ${d2!.n} (${d2!.credited} credited, ${d2!.unattributed} unattributed, ${d2!.other} not accepted: unknown memo, or still in flight); 1-step ledger → ingested p50 ${f0(d!.lag50 ?? NaN)} ms, p99 ${f0(d!.lag99 ?? NaN)} ms`,
    );

    // Exactly once, from the double's own books.
    const books = z
      .object({ transfers: z.array(z.object({ memo: z.string().nullable() })) })
      .parse(
        await (await fetch(`${info.controlUrl}/books/transfers`, { headers: { authorization: `Bearer ${info.controlToken}` } })).json(),
      );
    const perMemo = new Map<string, number>();
    for (const t of books.transfers) if (t.memo?.startsWith(`soak-${runId}-`)) perMemo.set(t.memo, (perMemo.get(t.memo) ?? 0) + 1);
    const paidTwice = [...perMemo.values()].filter((c) => c > 1).length;
    console.log(`ledger transfers with a soak withdrawal memo: ${perMemo.size}, paid twice: ${paidTwice}`);

    // Judged on the samples taken under load; the drain (no new requests) is shown, not judged.
    const warmupS = WARMUP_MS / 1000;
    const underLoad = samples.filter((x) => x.atS <= soakSeconds + 1);
    const rss = memoryVerdict(underLoad, warmupS, (s) => s.rssMb);
    const heap = memoryVerdict(underLoad, warmupS, (s) => s.heapUsedMb);
    console.log(
      `\nmemory (${samples.length} samples, ${rss.n} under load after warm-up; the last ${samples.length - underLoad.length} during the drain):`,
    );
    console.log(
      `  samples t(s):RSS/heap MB  ${samples.map((s) => `${s.atS.toFixed(0)}:${s.rssMb.toFixed(0)}/${s.heapUsedMb.toFixed(0)}`).join('  ')}`,
    );
    console.log(
      `  RSS  first third ${f1(rss.first)} MB → last third ${f1(rss.last)} MB (${rss.growth >= 0 ? '+' : ''}${f1(rss.growth)} MB): ${rss.flat ? 'flat' : 'GROWING'}`,
    );
    console.log(
      `  heap first third ${f1(heap.first)} MB → last third ${f1(heap.last)} MB (${heap.growth >= 0 ? '+' : ''}${f1(heap.growth)} MB): ${heap.flat ? 'flat' : 'GROWING'}`,
    );
    console.log(
      `cores: ${availableParallelism()}, node ${process.version}, load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );

    const problems: string[] = [];
    if (fiveHundreds.length > 0) problems.push(`server errors: ${fiveHundreds.slice(0, 5).join('; ')}`);
    if (w!.failed + w!.stalled > 0) problems.push(`${w!.failed + w!.stalled} withdrawals failed, cancelled or stalled`);
    if (open > 0) problems.push(`${open} withdrawals still open after the drain`);
    if (paidTwice > 0) problems.push(`${paidTwice} withdrawals paid twice`);
    if (!rss.flat || !heap.flat) problems.push('memory grew');
    if (problems.length > 0) {
      console.log(`\nVERDICT: FAILED — ${problems.join('; ')}`);
      exitCode = 1;
    } else {
      console.log('\nVERDICT: ok — no server errors, every withdrawal completed once, memory flat');
    }
  } finally {
    await daemon.stop();
  }
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await sql.end({ timeout: 5 });
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
  double.kill('SIGTERM');
}
process.exitCode = exitCode;

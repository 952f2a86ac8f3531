import { spawn } from 'node:child_process';
import { processCpuMs } from './support/process-cpu.js';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { createLogger } from '../src/logger.js';
import { DEPOSIT_CONSUMER, DEPOSIT_TOPICS } from '../src/machines/runtime/deposit.js';
import { connect } from '../src/store/db.js';
import { readCursor } from '../src/store/outbox.js';
import { upsertInstrument } from '../src/store/instruments.js';
import { migrate } from '../src/store/migrate.js';
import type { LedgerConfig } from '../src/config.js';
import type { SignatureRecord } from '../src/machines/effects/index.js';
import { STACK_API_TOKEN, startDaemonParts } from '../test/support/stack.js';
import { softHsmWithKey } from './support/softhsm-key.js';

/**
 * `npm run bench:withdraw [-- --n 2000] [--concurrency 64] [--holdings N] [--signer file|pkcs11|both]`
 *
 * N withdrawals requested over HTTP (the exchange's POST /v1/withdrawals, `concurrency` requests in
 * flight) against the ledger double (its own process, real clock, a pool of one 1000 CC holding
 * per withdrawal, 1-step receivers), executed by the daemon's parts in this process: ingestion,
 * the withdrawal runtime with the real ledger effects (registry, prepare, verify + sign, execute),
 * the HTTP API. Prints completed withdrawals per second (first request → last completion), p50/p99
 * of request → completed (database clock: requested_at → the transition into `completed`), and
 * this process's peak RSS; then checks every withdrawal paid exactly once in the double's books.
 * The treasury signs with its key file (`--signer file`, the default) or through PKCS#11 with the
 * key imported into a SoftHSM2 token made for the run (`pkcs11`); `both` runs the bench once per
 * signer. Either way it prints the signer's latency per withdrawal (time in `sign`, as logged with
 * each signature).
 * Postgres: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres
 * (a database is created and dropped per run).
 */
// Not strict: `npm run bench -- …` hands every bench the same arguments (bench/run-all.ts).
const { values } = parseArgs({
  strict: false,
  options: {
    n: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    holdings: { type: 'string' },
    receivers: { type: 'string', default: '50' },
    'pool-max': { type: 'string', default: '20' },
    signer: { type: 'string', default: 'file' },
  },
});
const SIGNER = typeof values.signer === 'string' ? values.signer : 'file';
if (!['file', 'pkcs11', 'both'].includes(SIGNER)) throw new Error(`--signer must be file, pkcs11 or both, got ${SIGNER}`);
if (SIGNER === 'both') {
  // One whole run per signer, one after the other: each its own double, database and process.
  let code = 0;
  for (const signer of ['file', 'pkcs11']) {
    console.log(`\n== bench:withdraw --signer ${signer}`);
    const args = process.argv
      .slice(2)
      .flatMap((a, i, all) => (a === '--signer' || all[i - 1] === '--signer' || a.startsWith('--signer=') ? [] : [a]));
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--signer', signer], {
      stdio: 'inherit',
    });
    code = Math.max(code, await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1))));
  }
  process.exit(code);
}
const arg = (v: string | boolean | undefined, fallback: string): string => (typeof v === 'string' ? v : fallback);
// A list ("2000,5000", as bench:ingest takes) runs its first size.
const N = Number(arg(values.n, '2000').split(',')[0]);
const CONCURRENCY = Number(arg(values.concurrency, '64'));
const HOLDINGS = Number(arg(values.holdings, String(N)));
const TARGET = 200;
const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface DoubleInfo {
  url: string;
  token: string;
  party: string;
  userId: string;
  keyFile: string;
  instrument: { admin: string; id: string; registryUrl: string; senderFee: { rate: string; flat: string } };
  receivers: string[];
  controlUrl: string;
  controlToken: string;
}

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);

const t0 = Date.now();
// BENCH_DOUBLE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the double's process too.
const doubleArgs = (process.env.BENCH_DOUBLE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const double = spawn(
  process.execPath,
  [
    ...doubleArgs,
    '--import',
    'tsx',
    fileURLToPath(new URL('./support/withdraw-double.ts', import.meta.url)),
    '--holdings',
    String(HOLDINGS),
    '--receivers',
    arg(values.receivers, '50'),
  ],
  {
    stdio: ['pipe', 'pipe', 'inherit'],
  },
);
const info = await new Promise<DoubleInfo>((resolve, reject) => {
  const rl = createInterface({ input: double.stdout });
  rl.once('line', (l) => {
    rl.close();
    resolve(JSON.parse(l) as DoubleInfo);
  });
  double.once('exit', (code) => reject(new Error(`the ledger double exited with ${code}`)));
});
console.log(
  `ledger double ready after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${HOLDINGS} treasury holdings, ${info.receivers.length} preapproved receivers`,
);

const dbName = `cxi_bench_withdraw_${randomBytes(4).toString('hex')}`;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database "${dbName}"`);
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${dbName}`;
const sql = connect({ url: dbUrl.toString(), max: Number(arg(values['pool-max'], '20')) });
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'error', pretty: false });

let exitCode = 0;
const signatures: SignatureRecord[] = [];
let stopHsm: (() => Promise<void>) | undefined;
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
  const connection = {
    apiUrl: info.url,
    userId: info.userId,
    auth: { kind: 'static' as const, token: info.token },
    treasuryParty: info.party,
  };
  const hsm = SIGNER === 'pkcs11' ? await softHsmWithKey(info.keyFile) : undefined;
  if (hsm) stopHsm = () => hsm.hsm.close();
  const ledger: LedgerConfig = hsm ? { ...connection, treasuryPkcs11: hsm.config } : { ...connection, treasuryKeyFile: info.keyFile };
  const daemon = await startDaemonParts({
    sql,
    logger,
    ledger,
    // What the daemon runs: the components' default timings and policies.
    profile: 'daemon',
    effects: { onSigned: (s) => signatures.push(s) },
  });
  try {
    // The pool must be ingested before it can be reserved.
    for (;;) {
      const [r] = await sql<{ n: number }[]>`select count(*)::int as n from holdings where archived_offset is null`;
      if (r!.n >= HOLDINGS) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Funding the pool made deposits (the treasury's own mints, unattributed): their machines must
    // be done before the clock starts, or their work is counted against the withdrawals.
    for (;;) {
      const [r] = await sql<
        { last: number | null }[]
      >`select max(event_id)::bigint as last from outbox_events where topic = any(${DEPOSIT_TOPICS as unknown as string[]})`;
      if ((await readCursor(sql, DEPOSIT_CONSUMER)) >= (r!.last ?? 0)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(
      `pool ingested after ${((Date.now() - t0) / 1000).toFixed(1)} s; requesting ${N} withdrawals, ${CONCURRENCY} requests in flight…`,
    );

    // CPU from here to the last completion, per process: what one withdrawal costs each of them.
    const backends = async () =>
      (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${dbName}`).reduce(
        (sum, r) => sum + processCpuMs(r.pid),
        0,
      );
    const cpuStart = { daemon: process.cpuUsage(), pg: await backends(), double: processCpuMs(double.pid ?? 0) };
    const started = performance.now();
    let next = 0;
    const failures: string[] = [];
    const post = async (i: number) => {
      const res = await fetch(`${daemon.apiUrl}/v1/withdrawals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${STACK_API_TOKEN.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          withdrawalId: `bench-${i}`,
          account: `acct-${i % 100}`,
          instrument: { admin: info.instrument.admin, id: info.instrument.id },
          amount: String(1 + (i % 9)),
          receiver: info.receivers[i % info.receivers.length],
        }),
      });
      if (res.status !== 201) failures.push(`bench-${i}: HTTP ${res.status} ${await res.text()}`);
    };
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, N) }, async () => {
        for (let i = next++; i < N; i = next++) await post(i);
      }),
    );
    const requestedIn = (performance.now() - started) / 1000;
    if (failures.length > 0) throw new Error(`requests refused: ${failures.slice(0, 3).join('; ')}`);

    let done = 0;
    for (let lastChange = Date.now(), last = -1; done < N;) {
      const [r] = await sql<{ done: number; stuck: number }[]>`
        select count(*) filter (where status in ('completed', 'failed', 'cancelled'))::int as done,
               count(*) filter (where status in ('stalled', 'failed'))::int as stuck
        from withdrawals where withdrawal_id like 'bench-%'`;
      done = r!.done;
      if (r!.stuck > 0) {
        const stuck = await sql<{ id: string; status: string; reason: string | null }[]>`
          select withdrawal_id as id, status, status_reason as reason from withdrawals
          where withdrawal_id like 'bench-%' and status in ('stalled', 'failed') limit 5`;
        throw new Error(
          `${r!.stuck} withdrawals failed or stalled: ${stuck.map((w) => `${w.id} ${w.status} (${w.reason ?? 'no reason'})`).join('; ')}`,
        );
      }
      if (done !== last) {
        last = done;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > 180_000) {
        const states = await sql<{ status: string; reason: string | null; n: number }[]>`
          select status, left(status_reason, 120) as reason, count(*)::int as n from withdrawals where withdrawal_id like 'bench-%' group by 1, 2 order by n desc limit 10`;
        throw new Error(
          `no progress for 180 s at ${done}/${N}: ${states.map((x) => `${x.status} ×${x.n}${x.reason ? ` (${x.reason})` : ''}`).join('; ')}`,
        );
      }
      // Timings come from the database's clocks: polling slowly only spares the daemon's thread.
      if (done < N) await new Promise((res) => setTimeout(res, 250));
    }
    const daemonCpu = process.cpuUsage(cpuStart.daemon);
    const cpuPer = {
      daemon: (daemonCpu.user + daemonCpu.system) / 1000 / N,
      pg: ((await backends()) - cpuStart.pg) / N,
      double: (processCpuMs(double.pid ?? 0) - cpuStart.double) / N,
    };

    const [span] = await sql<{ first: string; last: string }[]>`
      select min(w.requested_at)::text as first, max(t.at)::text as last
      from withdrawals w join machine_transitions t on t.machine_type = 'withdrawal' and t.machine_id = w.withdrawal_id and t.to_state = '"completed"'::jsonb
      where w.withdrawal_id like 'bench-%'`;
    const latencies = await sql<{ ms: number }[]>`
      select extract(epoch from (t.at - w.requested_at)) * 1000 as ms
      from withdrawals w join machine_transitions t on t.machine_type = 'withdrawal' and t.machine_id = w.withdrawal_id and t.to_state = '"completed"'::jsonb
      where w.withdrawal_id like 'bench-%' order by ms`;
    const seconds = (Date.parse(span!.last) - Date.parse(span!.first)) / 1000;
    // The hops between components: outbox event written → applied by the runtime; ledger commit → ingested.
    const hops = await sql<{ hop: string; p50: number; p99: number }[]>`
      with h as (
        select 'requested event → machine created' as hop, extract(epoch from t.at - e.created_at) * 1000 as ms
          from outbox_events e join machine_transitions t on t.outbox_event_id = e.event_id and t.machine_type = 'withdrawal'
          where e.topic = 'withdrawal.requested' and e.aggregate_id like 'bench-%'
        union all
        select 'committed on the ledger → ingested', extract(epoch from e.created_at - w.transfer_record_time) * 1000
          from outbox_events e join withdrawals w on w.withdrawal_id = e.aggregate_id
          where e.topic in ('withdrawal.transferred', 'withdrawal.offered') and e.aggregate_id like 'bench-%'
        union all
        select 'transferred event → machine completed', extract(epoch from t.at - e.created_at) * 1000
          from outbox_events e join machine_transitions t on t.outbox_event_id = e.event_id and t.machine_type = 'withdrawal'
          where e.topic = 'withdrawal.transferred' and e.aggregate_id like 'bench-%')
      select hop, percentile_cont(0.5) within group (order by ms)::float as p50, percentile_cont(0.99) within group (order by ms)::float as p99
      from h group by hop`;
    // Where a withdrawal spends its time: each state's stay, from the transition into it to the next one.
    const stays = await sql<{ state: string; n: number; mean: number; p50: number; p99: number }[]>`
      with t as (
        select t.machine_id, t.at,
               case jsonb_typeof(t.to_state) when 'string' then t.to_state #>> '{}'
                 else (select k || '.' || coalesce(t.to_state ->> k, '') from jsonb_object_keys(t.to_state) k limit 1) end as state,
               lead(t.at) over (partition by t.machine_id order by t.seq) as next_at
        from machine_transitions t where t.machine_type = 'withdrawal' and t.machine_id like 'bench-%')
      select state, count(*)::int as n,
             avg(extract(epoch from next_at - at) * 1000)::float as mean,
             percentile_cont(0.5) within group (order by extract(epoch from next_at - at) * 1000)::float as p50,
             percentile_cont(0.99) within group (order by extract(epoch from next_at - at) * 1000)::float as p99
      from t where next_at is not null group by state order by mean desc`;
    // Effects that failed on the way (retried by the machines): which, and why.
    const errors = await sql<{ effect: string; code: string; n: number }[]>`
      select replace(event_type, 'xstate.error.actor.', '') as effect, coalesce(event #>> '{error,failure,code}', 'unknown') as code, count(*)::int as n
      from machine_transitions where machine_type = 'withdrawal' and machine_id like 'bench-%' and event_type like 'xstate.error.actor.%'
      group by 1, 2 order by n desc`;
    const pct = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.ms);

    // Exactly once, from the double's own books.
    const books = (await (
      await fetch(`${info.controlUrl}/books/transfers`, { headers: { authorization: `Bearer ${info.controlToken}` } })
    ).json()) as { transfers: { memo: string | null }[] };
    const perMemo = new Map<string, number>();
    for (const t of books.transfers) if (t.memo?.startsWith('bench-')) perMemo.set(t.memo, (perMemo.get(t.memo) ?? 0) + 1);
    const paidTwice = [...perMemo.values()].filter((c) => c > 1).length;

    console.log(
      '\n| N | completed/s | p50 request→completed (ms) | p99 (ms) | peak RSS (MB) | requests took (s) | CPU per withdrawal (ms): daemon + Postgres + double |',
    );
    console.log('|---|---|---|---|---|---|---|');
    console.log(
      `| ${N.toLocaleString('en-US')} | ${(latencies.length / seconds).toFixed(0)} | ${pct(50).toFixed(0)} | ${pct(99).toFixed(0)} | ${(peakRss / 1024 / 1024).toFixed(0)} | ${requestedIn.toFixed(1)} | ${cpuPer.daemon.toFixed(1)} + ${cpuPer.pg.toFixed(1)} + ${cpuPer.double.toFixed(1)} |`,
    );
    console.log(
      `(the daemon's parts are one Node thread: at ${cpuPer.daemon.toFixed(1)} ms of CPU per withdrawal they cannot exceed ${(1000 / cpuPer.daemon).toFixed(0)} withdrawals/s, however many cores Postgres and the ledger get)`,
    );
    console.log(`\nhops (ms): ${hops.map((x) => `${x.hop} p50 ${x.p50.toFixed(0)} p99 ${x.p99.toFixed(0)}`).join('; ')}`);
    console.log(
      `time in each state (ms): ${stays.map((x) => `${x.state} (${x.n}) mean ${x.mean.toFixed(0)} p50 ${x.p50.toFixed(0)} p99 ${x.p99.toFixed(0)}`).join('; ')}`,
    );
    if (errors.length > 0) console.log(`effect failures (retried): ${errors.map((e) => `${e.effect} ${e.code} ×${e.n}`).join('; ')}`);
    const signs = signatures
      .filter((x) => x.withdrawalId?.startsWith('bench-'))
      .map((x) => x.ms)
      .sort((a, b) => a - b);
    const at = (p: number) => signs[Math.min(signs.length - 1, Math.floor((p / 100) * signs.length))] ?? NaN;
    const mean = signs.reduce((a, b) => a + b, 0) / Math.max(1, signs.length);
    console.log(
      `signing (${SIGNER}${signatures[0] ? ` ${signatures[0].keyId}` : ''}): ${signs.length} signatures for ${N} withdrawals, per signature p50 ${at(50).toFixed(2)} ms, p99 ${at(99).toFixed(2)} ms, mean ${mean.toFixed(2)} ms; per withdrawal ${((mean * signs.length) / N).toFixed(2)} ms`,
    );
    console.log(`completed ${latencies.length}/${N}; ledger transfers with a bench memo: ${perMemo.size}, paid twice: ${paidTwice}`);
    console.log(
      `cores: ${availableParallelism()}, node ${process.version}, load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
    if (latencies.length !== N || perMemo.size !== N || paidTwice > 0) {
      console.log('FAILED: every withdrawal must complete and be paid exactly once');
      exitCode = 1;
    } else if (latencies.length / seconds < TARGET) {
      console.log(`below the target of ${TARGET} withdrawals/s`);
    }
  } finally {
    await daemon.stop();
  }
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  clearInterval(sampler);
  await sql.end({ timeout: 5 });
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
  double.kill('SIGTERM');
  await stopHsm?.();
}
process.exitCode = exitCode;

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_BATCH_MAX_SIZE } from '../src/streams/index.js';

/**
 * `npm run bench:ingest [-- --n 100000[,…]] [--batch 1000] [--ledger double,replay]`
 *
 * For each N: the ledger double (own process) holds N recorded-shape 1-step deposits; a fresh
 * measurement process reads the websocket stream raw (JSON.parse only) and then ingests it fully
 * into a fresh Postgres database. Prints updates/s of both, their ratio and ingestion's peak RSS;
 * several N show whether memory stays flat. Two ledgers: `double` serves the stream from the
 * double itself, which builds and serialises every frame on the same two cores as ingestion and
 * Postgres; `replay` serves the same frames recorded from it (bench/support/replay-ledger.ts), so
 * the ledger costs this machine little more than its socket writes — a validator's own work is
 * done on its own hardware. Postgres: BENCH_DATABASE_URL, else TEST_DATABASE_URL,
 * else postgres://postgres@127.0.0.1:5432/postgres (a database is created and dropped per run).
 */
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    batch: { type: 'string', default: String(DEFAULT_BATCH_MAX_SIZE) },
    ledger: { type: 'string', default: 'double,replay' },
  },
});
const sizes = values.n.split(',').map((s) => Number(s.trim()));
const ledgers = values.ledger.split(',').map((s) => s.trim());
for (const l of ledgers) if (l !== 'double' && l !== 'replay') throw new Error(`--ledger: unknown ledger ${l} (double or replay)`);
const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const TARGET_RATE = 5000;
const TARGET_RATIO = 0.5;

// BENCH_INGEST_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the ingestion
// process, BENCH_DOUBLE_NODE_ARGS the ledger double.
const argsFrom = (env: string | undefined) => (env ?? '').split(' ').filter((a) => a !== '');
const ingestArgs = argsFrom(process.env.BENCH_INGEST_NODE_ARGS);
const doubleArgs = argsFrom(process.env.BENCH_DOUBLE_NODE_ARGS);

function child(script: string, args: string[], nodeArgs: string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, '--import', 'tsx', here(script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function firstLine(p: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: p.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    p.once('exit', (code) => reject(new Error(`${p.spawnargs.join(' ')} exited with ${code}`)));
  });
}

interface Result {
  n: number;
  ledger: string;
  transactions: number;
  rawPerSecond: number;
  fullPerSecond: number;
  peakRssMb: number;
  nodeCpuUsPerUpdate: number;
  pgCpuUsPerUpdate: number;
  doubleCpuUsPerUpdateRaw: number;
  doubleCpuUsPerUpdateFull: number;
  deposits: number;
  events: number;
  batches: number;
  batchesParsedAhead: number;
}

const results: Result[] = [];
for (const n of sizes) {
  const t0 = Date.now();
  const double = child('./support/ledger-double.ts', ['--n', String(n)], doubleArgs);
  const replay: ChildProcess[] = [];
  try {
    const ledger = JSON.parse(await firstLine(double)) as {
      url: string;
      token: string;
      party: string;
      ledgerEnd: number;
      transactions: number;
      instruments: unknown;
    };
    console.log(
      `N=${n}: the double holds ${ledger.transactions} deposits (ledger end ${ledger.ledgerEnd}) after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    for (const mode of ledgers) {
      let served = { url: ledger.url, pid: double.pid! };
      if (mode === 'replay') {
        const r = child('./support/replay-ledger.ts', [
          '--url',
          ledger.url,
          '--token',
          ledger.token,
          '--party',
          ledger.party,
          '--ledger-end',
          String(ledger.ledgerEnd),
        ]);
        replay.push(r);
        const info = JSON.parse(await firstLine(r)) as { url: string; frames: number };
        served = { url: info.url, pid: r.pid! };
        console.log(`N=${n}: replaying ${info.frames} recorded frames; measuring…`);
      } else {
        console.log(`N=${n}: served by the double; measuring…`);
      }
      const run = child(
        './support/ingest-run.ts',
        [
          '--url',
          served.url,
          '--token',
          ledger.token,
          '--party',
          ledger.party,
          '--ledger-end',
          String(ledger.ledgerEnd),
          '--transactions',
          String(ledger.transactions),
          '--admin-url',
          adminUrl,
          '--batch',
          values.batch,
          '--double-pid',
          String(served.pid),
          '--instruments',
          JSON.stringify(ledger.instruments),
        ],
        ingestArgs,
      );
      const r = JSON.parse(await firstLine(run)) as Omit<Result, 'n' | 'ledger'>;
      results.push({ n, ledger: mode, ...r });
    }
  } finally {
    for (const r of replay) r.kill('SIGTERM');
    double.kill('SIGTERM');
  }
}

const f = (x: number) => Math.round(x).toLocaleString('en-US');
console.log(
  '\n| N | ledger | raw read (updates/s) | full ingestion (updates/s) | ratio | peak RSS of ingestion (MB) | CPU per update: ingestion process + Postgres (µs) | CPU per update of the ledger: raw read, full (µs) | cores busy during (b) | batches parsed ahead |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  // CPU seconds per second of all three processes during full ingestion: well below the core
  // count means the processes wait on each other, not on the machine.
  const busy = (r.fullPerSecond * (r.nodeCpuUsPerUpdate + r.pgCpuUsPerUpdate + r.doubleCpuUsPerUpdateFull)) / 1e6;
  console.log(
    `| ${f(r.n)} | ${r.ledger} | ${f(r.rawPerSecond)} | ${f(r.fullPerSecond)} | ${(r.fullPerSecond / r.rawPerSecond).toFixed(2)} | ${r.peakRssMb.toFixed(0)} | ${f(r.nodeCpuUsPerUpdate)} + ${f(r.pgCpuUsPerUpdate)} | ${f(r.doubleCpuUsPerUpdateRaw)}, ${f(r.doubleCpuUsPerUpdateFull)} | ${busy.toFixed(2)} | ${r.batchesParsedAhead}/${r.batches} |`,
  );
}
console.log(
  '(CPU per update hardly depends on what else runs here. With the ledger on another machine (the replay rows), 2 cores ingest at most min(1e6 / ingestion µs, 2e6 / sum) updates/s: the ingestion process is one thread. ' +
    'Cores busy well below 2 mean ingestion and Postgres wait on each other: batch transactions commit one at a time (the next batch is parsed meanwhile).)',
);
let ok = true;
for (const r of results) {
  // The treasury also sees the creation of its own preapproval: one update more than deposits.
  if (r.deposits !== r.n || r.transactions < r.n) {
    console.log(`N=${r.n}: ingested ${r.transactions} updates and ${r.deposits} deposits, expected ${r.n} deposits`);
    ok = false;
  }
  if (r.fullPerSecond < TARGET_RATE) console.log(`N=${r.n}, ${r.ledger}: below the target of ${TARGET_RATE} updates/s`);
  if (r.fullPerSecond / r.rawPerSecond < TARGET_RATIO) console.log(`N=${r.n}, ${r.ledger}: below the target ratio ${TARGET_RATIO}`);
}
const os = await import('node:os');
console.log(
  `cores: ${os.availableParallelism()}, node ${process.version}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
process.exitCode = ok ? 0 : 1;

import { processCpuMs } from './process-cpu.js';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { createLogger } from '../../src/logger.js';
import { connect } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { createIngestionComponent, DEFAULT_BATCH_MAX_SIZE } from '../../src/streams/index.js';
import { frameOffset, openTreasuryStream, type UpdateFrame } from './treasury-stream.js';

/**
 * One benchmark measurement, in a process of its own so that its peak RSS is ingestion's alone:
 * (a) read the whole /v2/updates websocket stream and JSON.parse every frame — the ceiling;
 * (b) full ingestion of the same stream into a fresh Postgres database (parse, facts, holdings,
 * deposits, outbox, checkpoint). Prints one JSON line of results.
 */
const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    party: { type: 'string' },
    'ledger-end': { type: 'string' },
    transactions: { type: 'string' },
    'admin-url': { type: 'string' },
    batch: { type: 'string', default: String(DEFAULT_BATCH_MAX_SIZE) },
    'max-queue': { type: 'string' },
    'double-pid': { type: 'string' },
    /** JSON [{admin, id}]: onboarded before ingesting (only onboarded instruments count). */
    instruments: { type: 'string', default: '[]' },
  },
});
const url = values.url!;
const token = values.token!;
const party = values.party!;
const ledgerEnd = Number(values['ledger-end']);
const adminUrl = values['admin-url']!;

const doublePid = values['double-pid'] ? Number(values['double-pid']) : undefined;

const doubleCpuMs = () => (doublePid === undefined ? 0 : processCpuMs(doublePid));

let peakRss = 0;
// Every 100 ms: each reading costs this (measured) process about 0.2 ms, 1% of its CPU at 20 ms, and
// a heap does not grow and shrink back within 100 ms.
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);

/** (a) The ceiling: frames off the socket, JSON.parse, nothing else. */
function rawRead(): Promise<{ seconds: number; transactions: number; bytes: number; doubleCpuMs: number }> {
  return new Promise((resolve, reject) => {
    const double0 = doubleCpuMs();
    let started = 0;
    let transactions = 0;
    let bytes = 0;
    const ws = openTreasuryStream({ url, token, party }, () => (started = performance.now()));
    ws.on('message', (data: Buffer) => {
      bytes += data.length;
      const el = JSON.parse(data.toString()) as UpdateFrame;
      if (el.update?.Transaction) transactions++;
      if ((frameOffset(el) ?? 0) >= ledgerEnd) {
        const seconds = (performance.now() - started) / 1000;
        ws.close();
        resolve({ seconds, transactions, bytes, doubleCpuMs: doubleCpuMs() - double0 });
      }
    });
    ws.on('error', reject);
  });
}

async function fullIngestion(): Promise<{
  batches: { committed: number; parsedAhead: number };
  seconds: number;
  transactions: number;
  deposits: number;
  events: number;
  nodeCpuMs: number;
  pgCpuMs: number;
  doubleCpuMs: number;
}> {
  const dbName = `cxi_bench_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${dbName}"`);
  await admin.unsafe(`create database "${dbName}"`);
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${dbName}`;
  const sql = connect({ url: dbUrl.toString(), max: 4 });
  try {
    await migrate(sql);
    const accounts = Array.from({ length: 1000 }, (_, i) => ({
      account_id: `acct-${i}`,
      memo: `memo-${i}`,
      customer_ref: `customer-${i}`,
    }));
    await sql`insert into deposit_accounts ${sql(accounts)}`;
    for (const i of JSON.parse(values.instruments) as { admin: string; id: string }[]) {
      await sql`insert into instruments (admin_party, instrument_id, registry_url) values (${i.admin}, ${i.id}, 'http://registry.invalid')`;
    }
    const c = createIngestionComponent({
      sql,
      logger: createLogger({ level: 'error', pretty: false }),
      ledger: { apiUrl: url, auth: { kind: 'static', token }, treasuryParty: party },
      options: {
        transport: 'websocket',
        batchMaxSize: Number(values.batch),
        batchMaxWaitMs: 20,
        ...(values['max-queue'] ? { maxQueue: Number(values['max-queue']) } : {}),
      },
    });
    // CPU spent by this process and by the database backends serving it, per update: the cost of
    // ingestion itself, independent of what else runs on the machine (the double, other jobs).
    const backendCpu = async () => {
      const pids = await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${dbName}`;
      return pids.reduce((ms, { pid }) => ms + processCpuMs(pid), 0);
    };
    const batches = { committed: 0, parsedAhead: 0 };
    c.committed$.subscribe((b) => {
      batches.committed++;
      if (b.parsedAhead) batches.parsedAhead++;
    });
    await sql`select 1`; // open the pool's connections before the first reading
    const pg0 = await backendCpu();
    const double0 = doubleCpuMs();
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    await c.start();
    while ((c.progress().committedOffset ?? -1) < ledgerEnd) {
      if (c.status().state === 'failed') throw new Error(`ingestion failed: ${c.status().detail}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const pgMs = (await backendCpu()) - pg0;
    const doubleMs = doubleCpuMs() - double0;
    await c.stop();
    const [counts] = await sql<{ updates: number; deposits: number; events: number }[]>`
      select (select count(*) from ingested_updates)::int as updates, (select count(*) from deposits)::int as deposits,
             (select count(*) from outbox_events)::int as events`;
    return {
      batches,
      seconds,
      transactions: counts!.updates,
      deposits: counts!.deposits,
      events: counts!.events,
      nodeCpuMs: (cpu.user + cpu.system) / 1000,
      pgCpuMs: pgMs,
      doubleCpuMs: doubleMs,
    };
  } finally {
    await sql.end({ timeout: 5 });
    await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
    await admin.end();
  }
}

const raw = await rawRead();
const rssAfterRaw = process.memoryUsage().rss;
peakRss = 0; // (b) alone
const full = await fullIngestion();
clearInterval(sampler);
process.stdout.write(
  `${JSON.stringify({
    transactions: full.transactions,
    rawSeconds: raw.seconds,
    rawPerSecond: raw.transactions / raw.seconds,
    rawMegabytes: raw.bytes / 1e6,
    fullSeconds: full.seconds,
    fullPerSecond: full.transactions / full.seconds,
    deposits: full.deposits,
    events: full.events,
    batches: full.batches.committed,
    batchesParsedAhead: full.batches.parsedAhead,
    peakRssMb: peakRss / 1e6,
    nodeCpuUsPerUpdate: (full.nodeCpuMs * 1000) / full.transactions,
    pgCpuUsPerUpdate: (full.pgCpuMs * 1000) / full.transactions,
    doubleCpuUsPerUpdateRaw: (raw.doubleCpuMs * 1000) / raw.transactions,
    doubleCpuUsPerUpdateFull: (full.doubleCpuMs * 1000) / full.transactions,
    rssAfterRawMb: rssAfterRaw / 1e6,
  })}\n`,
);

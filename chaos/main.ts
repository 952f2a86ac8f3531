/**
 * `npm run chaos -- [--kills 100] [--seed s] [--pg-restarts 3] [--restores 3] [--validator-restores 0] [--drain-timeout-s 300] [--keep]`
 *
 * A fault campaign against the real daemon: the ledger double runs in its own process, the daemon
 * runs as a child process on a fresh Postgres database (127.0.0.1:5432, trust auth) and is killed
 * with SIGKILL at random moments and restarted, while scripted customers deposit, the exchange
 * requests withdrawals, ledger faults are injected through the double's control API, Postgres
 * is restarted a few times and the database is restored from a backup taken while withdrawals
 * were in flight. With `--validator-restores N` the double's node is restored N times from a
 * backup taken a few lives earlier (the updates after it redelivered at renumbered offsets, as a
 * restored validator gets them again from the synchronizer) while the daemon runs; the daemon must
 * stop on it (ledger continuity), and the driver runs `cxi ingestion resync` as the operator
 * would (README "Validator restored from backup"). Then it drains and checks the money-safety invariants against the
 * double's own books. One summary line; exit code 0 clean, 1 a violation, 2 the campaign itself
 * could not run. `--seed` fixes every random decision of the campaign (the moments depend on the
 * machine's speed, so a rerun follows the same script, not the same interleaving).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { Rng } from '../src/sandbox/util/rng.js';
import { DaemonApi } from './daemon-api.js';
import { DoubleControl } from './double.js';
import { FaultInjector } from './faults.js';
import { sleep } from './http.js';
import { checkInvariants, pendingWork, readDb, type Finding } from './invariants.js';
import {
  createDatabase,
  dropDatabase,
  endSessions,
  freePort,
  otherClients,
  pgCluster,
  restartPostgres,
  spawnDaemon,
  startSandboxProcess,
  type DaemonProcess,
  type SandboxProcess,
} from './processes.js';
import {
  backupDatabase,
  inFlightPayouts,
  readEvents,
  restoreDatabase,
  restoreDiff,
  restoreToolsAvailable,
  type RestoreRecord,
} from './restore.js';
import { Workload } from './workload.js';

interface Options {
  kills: number;
  seed: string;
  pgRestarts: number;
  restores: number;
  validatorRestores: number;
  drainTimeoutMs: number;
  keep: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '100' },
      seed: { type: 'string' },
      'pg-restarts': { type: 'string' },
      restores: { type: 'string' },
      'validator-restores': { type: 'string', default: '0' },
      'drain-timeout-s': { type: 'string', default: '300' },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, s: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0`);
    return n;
  };
  const cluster = pgCluster();
  let pgRestarts = values['pg-restarts'] === undefined ? (cluster ? 3 : 0) : int('pg-restarts', values['pg-restarts']);
  if (pgRestarts > 0 && !cluster) {
    log('Postgres restarts need root and pg_ctlcluster (one cluster under /etc/postgresql): running without them');
    pgRestarts = 0;
  }
  let restores: number;
  if (values.restores === undefined) {
    restores = restoreToolsAvailable() ? 3 : 0;
    if (restores === 0) log('restores need pg_dump and pg_restore on the PATH: running without them');
  } else {
    restores = int('restores', values.restores);
    if (restores > 0 && !restoreToolsAvailable()) throw new Error('--restores needs pg_dump and pg_restore on the PATH');
  }
  return {
    kills: int('kills', values.kills),
    seed: values.seed ?? randomBytes(4).toString('hex'),
    pgRestarts,
    restores,
    validatorRestores: int('validator-restores', values['validator-restores']),
    drainTimeoutMs: int('drain-timeout-s', values['drain-timeout-s']) * 1000,
    keep: values.keep,
  };
}

/**
 * The daemon's error-level log lines, grouped by component and message (most frequent first): a
 * component that stopped (e.g. ingestion on an unexpected database error) shows here even when a
 * later kill restarted it before the drain.
 */
function daemonErrors(file: string): string[] {
  const counts = new Map<string, number>();
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof entry !== 'object' || entry === null) continue;
    const { level, component, msg } = entry as { level?: unknown; component?: unknown; msg?: unknown };
    if (typeof level !== 'number' || level < 50) continue;
    const key = `${typeof component === 'string' ? component : '?'}: ${typeof msg === 'string' ? msg.slice(0, 140) : '?'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, n]) => `${k} ×${n}`);
}

const log = (msg: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function main(): Promise<number> {
  const o = options();
  const started = Date.now();
  const rng = new Rng(`chaos-main:${o.seed}`);
  const uniform = (min: number, max: number) => min + rng.int(max - min);
  const dir = mkdtempSync(path.join(tmpdir(), 'cxi-chaos-'));
  const dbName = `cxi_chaos_${randomBytes(5).toString('hex')}`;
  if (o.restores > o.kills) log(`--restores ${o.restores}: a restore ends one of the ${o.kills} kills, so ${o.kills} at most`);
  const restoreCount = Math.min(o.restores, o.kills);
  const validatorRestoreCount = Math.min(o.validatorRestores, o.kills);
  log(
    `seed=${o.seed} kills=${o.kills} pgRestarts=${o.pgRestarts} restores=${restoreCount} validatorRestores=${validatorRestoreCount}; logs in ${dir}`,
  );

  let sandbox: SandboxProcess | undefined;
  let daemon: DaemonProcess | undefined;
  let dbCreated = false;
  const unexpectedExits: string[] = [];
  const notes: Finding[] = [];
  const restores: RestoreRecord[] = [];
  let found = true;
  try {
    sandbox = await startSandboxProcess({ dataDir: dir, seed: o.seed, logFile: path.join(dir, 'sandbox.log') });
    const sb = sandbox.details;
    const double = new DoubleControl({ jsonApiUrl: sb.jsonApiUrl, controlToken: sb.controlToken });
    const dbUrl = await createDatabase(dbName);
    dbCreated = true;
    const port = await freePort();
    const apiToken = randomBytes(24).toString('base64url');
    const api = new DaemonApi(`http://127.0.0.1:${port}`, apiToken);
    const spawnOne = () =>
      spawnDaemon({ databaseUrl: dbUrl, sandbox: sb, port, apiToken, dataDir: dir, logFile: path.join(dir, 'daemon.log') });
    const watch = (d: DaemonProcess) => {
      void d.exited.then((how) => {
        if (!d.killedByUs) unexpectedExits.push(String(how));
      });
      return d;
    };

    daemon = watch(spawnOne());
    if (!(await daemon.waitReady(60_000))) throw new Error(`the daemon did not become ready; see ${dir}/daemon.log`);
    for (const i of sb.instruments) {
      await api.onboardInstrument({
        admin: i.admin,
        id: i.id,
        registryUrl: i.registryUrl,
        transferPolicy: i.supportsPreapproval ? 'direct-or-offer' : 'offer-only',
        ...(i.senderFee ? { feeReserve: i.senderFee } : {}),
        // Amulet gets a pool and merging, so the holdings job's self-transfers run under chaos too.
        utxoPolicy: i.supportsPreapproval
          ? { mergeThreshold: 3, smallAmount: '60', maxInputs: 20, poolSize: 36, poolTargetAmount: '1000' }
          : {},
      });
    }
    const workload = new Workload(double, sb, o.seed, () => api);
    await workload.setup({ customers: 6, accounts: 5 });
    await workload.openAccounts(api);
    const faults = new FaultInjector(double, o.seed);

    // ---- the campaign ----
    workload.start(400);
    faults.start(700, 2500);
    const pgAt = new Set<number>();
    while (pgAt.size < Math.min(o.pgRestarts, o.kills)) pgAt.add(1 + rng.int(Math.max(1, o.kills)));
    let pgRestarts = 0;
    let pgSkipped = 0;
    // Restore i ends kill restoreKills[i]; its backup is taken in the same life or up to 3 lives
    // earlier, after the previous restore (so each restore rolls back to a point after the last).
    const shuffled = (xs: number[]) => {
      const out: number[] = [];
      for (const ys = [...xs]; ys.length > 0;) out.push(...ys.splice(rng.int(ys.length), 1));
      return out;
    };
    const lives = Array.from({ length: o.kills }, (_, i) => i + 1);
    // Not on a Postgres restart's kill unless there are too few others.
    const restoreKills =
      restoreCount === 0
        ? []
        : [...shuffled(lives.filter((k) => !pgAt.has(k))), ...shuffled([...pgAt])].slice(0, restoreCount).sort((a, b) => a - b);
    const restoreAt = new Map<number, number>();
    const backupAt = new Map<number, number>();
    restoreKills.forEach((r, i) => {
      const lo = i === 0 ? 1 : restoreKills[i - 1]! + 1;
      restoreAt.set(r, i + 1);
      backupAt.set(Math.max(lo, r - rng.int(4)), i + 1);
    });
    const backups = new Map<number, { file: string; life: number; inFlight: string[] }>();

    // Validator restore i happens during life nodeRestoreLives[i] (not a database restore's or a
    // Postgres restart's when others remain), from a node backup taken at the start of that life
    // or up to 3 lives earlier.
    const nodeRestoreLives =
      validatorRestoreCount === 0
        ? []
        : [
            ...shuffled(lives.filter((k) => !pgAt.has(k) && !restoreAt.has(k))),
            ...shuffled(lives.filter((k) => pgAt.has(k) || restoreAt.has(k))),
          ]
            .slice(0, validatorRestoreCount)
            .sort((a, b) => a - b);
    const nodeRestoreAt = new Map<number, number>();
    const nodeBackupAt = new Map<number, number>();
    nodeRestoreLives.forEach((r, i) => {
      const lo = i === 0 ? 1 : nodeRestoreLives[i - 1]! + 1;
      nodeRestoreAt.set(r, i + 1);
      nodeBackupAt.set(Math.max(lo, r - rng.int(4)), i + 1);
    });
    const nodeBackups = new Map<number, { backupId: string; ledgerEnd: number }>();
    const daemonNow = (): DaemonProcess => {
      if (!daemon) throw new Error('no daemon running');
      return daemon;
    };
    let validatorRestores = 0;
    let resyncWithoutDetection = 0;
    let operatorResyncs = 0;
    const continuityViolations: string[] = [];

    /**
     * Ready, as an operator gets a daemon ready: a ledger continuity failure after a validator
     * restore (also one that a database restore from before it brings back: the backup names the
     * old offsets) is answered with `cxi ingestion resync`, as its message says. One without any
     * validator restore is a finding, left alone.
     */
    const ready = async (d: DaemonProcess, timeoutMs: number): Promise<boolean> => {
      const until = Date.now() + timeoutMs;
      while (d.alive() && Date.now() < until) {
        if (await d.waitReady(Math.min(3000, Math.max(1, until - Date.now())))) return true;
        const st = await api.ingestion().catch(() => undefined);
        if (st?.state !== 'failed' || !/ledger continuity broken/.test(st.detail ?? '')) continue;
        if (validatorRestores === 0) {
          if (continuityViolations.length === 0) continuityViolations.push(st.detail ?? '');
          return false;
        }
        const summary = await api.resync().catch((e: unknown) => [`refused: ${String(e)}`]);
        operatorResyncs += 1;
        log(`operator resync (ingestion said: ${(st.detail ?? '').slice(0, 60)}…): ${summary.slice(0, 2).join('; ')}`);
      }
      return false;
    };

    /**
     * The double's node restored from backup `index` with the daemon running: its ingestion must stop
     * on the renumbered ledger (ledger continuity); then the operator's resync, and ingestion runs on.
     */
    const restoreNode = async (index: number, kill: number) => {
      const backup = nodeBackups.get(index);
      if (!backup) throw new Error(`validator restore ${index}: no node backup was taken`);
      const shift = 1 + rng.int(20);
      const r = await double.restoreNode(backup.backupId, shift);
      validatorRestores += 1;
      // The daemon notices at its next reconnect (the restore cut every stream); a ledger that kept
      // its last transaction's offset (nothing of the treasury after the backup) may not show it.
      let seen: string | undefined;
      for (let i = 0; i < 100 && seen === undefined; i++) {
        const st = await api.ingestion().catch(() => undefined);
        if (st?.state === 'failed' && /ledger continuity broken/.test(st.detail ?? '')) seen = st.detail ?? '';
        else await sleep(100);
      }
      if (seen === undefined) resyncWithoutDetection += 1;
      const summary = await api.resync();
      log(
        `validator restore ${index} (life ${kill}): node back to offset ${r.backupLedgerEnd}, later updates redelivered ${shift} offsets on (ledger end ${r.ledgerEnd}); ` +
          `${seen === undefined ? 'not detected within 10 s' : `detected: ${seen.slice(0, 80)}…`}; resync: ${summary.slice(0, 2).join('; ')}`,
      );
      if (!(await ready(daemonNow(), 60_000)))
        throw new Error(`validator restore ${index}: the daemon is not ready after resync; see ${dir}/daemon.log`);
    };

    const withDb = async <T>(fn: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
      const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
      try {
        return await fn(sql);
      } finally {
        await sql.end({ timeout: 5 });
      }
    };

    const takeBackup = async (index: number, life: number) => {
      // A moment when payouts are between reserving and the ledger's answer (up to 20 s of waiting).
      const inFlight = await withDb(async (sql) => {
        for (let i = 0; ; i++) {
          const now = await inFlightPayouts(sql);
          if (now.length > 0 || i >= 100) return now;
          await sleep(200);
        }
      });
      const file = path.join(dir, `backup-${index}.dump`);
      await backupDatabase(dbName, file);
      backups.set(index, { file, life, inFlight });
      log(
        `backup ${index} (life ${life}): ${inFlight.length} payouts in flight${inFlight.length > 0 ? ` (${inFlight.slice(0, 8).join(', ')}${inFlight.length > 8 ? ', …' : ''})` : ''}`,
      );
    };

    /** The daemon has exited: replace its database by backup `index`, with the workload paused. */
    const restore = async (index: number, kill: number) => {
      const backup = backups.get(index);
      if (!backup) throw new Error(`restore ${index}: no backup was taken`);
      // No request to the daemon in flight while its database is replaced: a 201 read after the
      // snapshot below would count as acknowledged for a row the restore then takes away.
      await workload.stop();
      const terminated = await endSessions(dbName);
      if (terminated > 0) log(`restore ${index}: ${terminated} backends of the killed daemon were still open after 10 s; terminated`);
      const ledgerEndAtRestore = (await double.ledgerEnd()).offset;
      const [before, eventsBefore] = await withDb((sql) => Promise.all([readDb(sql, sb.treasury.party), readEvents(sql)]));
      await restoreDatabase(dbName, backup.file);
      const [after, eventsAfter] = await withDb((sql) => Promise.all([readDb(sql, sb.treasury.party), readEvents(sql)]));
      const maxEventIdAfter = eventsAfter.at(-1)?.event_id ?? 0;
      const resend = workload.forgetLostRequests(new Set(after.withdrawals.map((w) => w.withdrawal_id)));
      const rec: RestoreRecord = {
        index,
        backupLife: backup.life,
        restoreKill: kill,
        inFlightAtBackup: backup.inFlight,
        ledgerEndAtRestore,
        before,
        eventsBefore,
        after,
        maxEventIdAfter,
      };
      restores.push(rec);
      const diff = restoreDiff(rec);
      const list = (xs: string[]) =>
        xs.length === 0 ? 'none' : `${xs.length} (${xs.slice(0, 8).join(', ')}${xs.length > 8 ? ', …' : ''})`;
      log(
        `restore ${index} (kill ${kill}, backup of life ${backup.life}): checkpoint ${before.checkpointOffset ?? 'none'}→${after.checkpointOffset ?? 'none'}, ` +
          `${diff.rolledBackEvents} outbox events rolled back; withdrawals lost ${list(diff.lostWithdrawals)}, reverted ${list(diff.revertedWithdrawals)}; ` +
          `deposits lost ${list(diff.lostDeposits)}, reverted ${list(diff.revertedDeposits)}; ${resend.length} acknowledged requests to re-send`,
      );
      workload.start(400);
    };

    for (let k = 1; k <= o.kills; k++) {
      const d: DaemonProcess = daemon;
      // Every 12th life lasts past the holdings job's first run (30 s), so its self-transfers are killed too.
      const long = k % 12 === 6;
      const backupHere = backupAt.get(k);
      const restoreHere = restoreAt.get(k);
      const nodeBackupHere = nodeBackupAt.get(k);
      const nodeRestoreHere = nodeRestoreAt.get(k);
      if (
        !long &&
        !pgAt.has(k) &&
        backupHere === undefined &&
        nodeBackupHere === undefined &&
        nodeRestoreHere === undefined &&
        rng.float() < 0.2
      ) {
        // Early: during start-up (migrations, restoring machines, first ingestion batch).
        await sleep(uniform(100, 2500));
      } else {
        await ready(d, 60_000);
        if (pgAt.has(k)) {
          // Wait up to 30 s for a moment when nobody else uses the server.
          let others = await otherClients(dbName);
          for (let i = 0; i < 30 && others.length > 0; i++) {
            await sleep(1000);
            others = await otherClients(dbName);
          }
          if (others.length > 0) {
            pgSkipped += 1;
            log(`Postgres restart ${k} skipped: other databases are in use (${others.join(', ')})`);
          } else {
            log(`restarting Postgres (kill ${k})`);
            await restartPostgres(pgCluster() ?? '');
            pgRestarts += 1;
          }
        }
        if (backupHere !== undefined) await takeBackup(backupHere, k);
        if (nodeBackupHere !== undefined) {
          nodeBackups.set(nodeBackupHere, await double.backupNode());
          log(`node backup ${nodeBackupHere} (life ${k}) at offset ${nodeBackups.get(nodeBackupHere)!.ledgerEnd}`);
        }
        if (nodeRestoreHere !== undefined) {
          // Let the daemon ingest past the backup first, so the restore takes something away.
          await sleep(uniform(3000, 8000));
          await restoreNode(nodeRestoreHere, k);
        }
        // A backup restored at the end of its own life: let withdrawals go on past it first.
        const afterBackup = backupHere !== undefined && restoreHere !== undefined;
        await sleep(long ? uniform(32_000, 45_000) : afterBackup ? uniform(5000, 15_000) : uniform(300, 3000));
      }
      d.markKilled();
      d.kill('SIGKILL');
      await d.exited;
      if (restoreHere !== undefined) await restore(restoreHere, k);
      daemon = watch(spawnOne());
      if (k % 10 === 0)
        log(
          `kill ${k}/${o.kills}: ${workload.record.deposits.length} deposits, ${workload.record.withdrawals.size} withdrawals, ${faults.injected} faults`,
        );
    }

    // ---- drain ----
    await workload.stop();
    const faultsFired = await faults.stop();
    log(`drain: faults off (${faults.injected} injected, ${faultsFired} fired)`);
    const sql = postgres(dbUrl, { max: 2, onnotice: () => {} });
    let drained = false;
    let clockSteps = 0;
    let lastPending = '';
    let lastChange = Date.now();
    let pending: string[] = [];
    let streak = 0;
    try {
      const until = Date.now() + o.drainTimeoutMs;
      while (Date.now() < until) {
        if (!daemon.alive()) daemon = watch(spawnOne());
        await ready(daemon, 30_000);
        await workload.sendPending(100);
        await workload.settle();
        const db = await readDb(sql, sb.treasury.party);
        const end = await double.ledgerEnd();
        const offers = await workload.treasuryOffers();
        pending = [
          ...pendingWork(db),
          ...db.withdrawals.filter((w) => w.status === 'pending_acceptance').map((w) => `withdrawal ${w.withdrawal_id} pending_acceptance`),
          ...(workload.unacknowledged() > 0 ? [`${workload.unacknowledged()} withdrawal requests not acknowledged`] : []),
          ...((db.checkpointOffset ?? -1) < end.offset ? [`ingestion at ${db.checkpointOffset ?? 'none'}, ledger end ${end.offset}`] : []),
          ...(offers.length > 0 ? [`${offers.length} treasury offers to answer`] : []),
        ];
        streak = pending.length === 0 ? streak + 1 : 0;
        if (streak >= 2) {
          drained = true;
          break;
        }
        const signature = pending.filter((p) => !p.startsWith('ingestion at')).join('|');
        if (signature !== lastPending) {
          lastPending = signature;
          lastChange = Date.now();
        } else if (pending.length > 0 && Date.now() - lastChange > 20_000 && clockSteps < 6) {
          // Attempts whose submission was lost wait for their deadline (10 min of record time).
          const t = await double.advanceClock(11 * 60_000);
          clockSteps += 1;
          lastChange = Date.now();
          log(
            `drain: nothing moved for 20 s (${pending.length} pending, e.g. ${pending[0] ?? ''}); record-time clock advanced 11 min to ${t}`,
          );
        }
        await sleep(1000);
      }
      if (clockSteps > 0) await double.useRealTime();
      if (!drained)
        notes.push({ invariant: 'drain', detail: `not drained after ${o.drainTimeoutMs / 1000} s: ${pending.slice(0, 20).join('; ')}` });
      log(drained ? `drained${clockSteps > 0 ? ` (record-time clock advanced ${clockSteps}×)` : ''}` : 'drain timed out');

      // ---- invariants ----
      const db = await readDb(sql, sb.treasury.party);
      const events = restores.length === 0 ? [] : await readEvents(sql, Math.min(...restores.map((r) => r.maxEventIdAfter)));
      const result = await checkInvariants({
        db,
        double,
        api,
        record: workload.record,
        treasury: sb.treasury.party,
        restores: { records: restores, events },
      });
      const violations = [
        ...result.violations,
        ...(drained ? [] : notes.filter((n) => n.invariant === 'drain')),
        ...continuityViolations.map((detail) => ({
          invariant: 'ledger-continuity',
          detail: `ingestion stopped on ledger continuity without a validator restore: ${detail}`,
        })),
      ];
      daemon.markKilled();
      daemon.kill('SIGTERM');
      const how = await Promise.race([daemon.exited, sleep(30_000).then(() => 'timeout')]);
      if (how !== 0) violations.push({ invariant: 'graceful-stop', detail: `the daemon's SIGTERM stop ended with ${String(how)}` });
      const seconds = Math.round((Date.now() - started) / 1000);
      for (const n of result.notes) process.stdout.write(`  note ${n.invariant}: ${n.detail}\n`);
      const errors = daemonErrors(path.join(dir, 'daemon.log'));
      if (errors.length > 0) process.stdout.write(`  note daemon-errors: ${errors.join('; ')}\n`);
      if (unexpectedExits.length > 0)
        process.stdout.write(
          `  note daemon-exits: the daemon exited on its own ${unexpectedExits.length}× (${unexpectedExits.join(', ')}); see ${dir}/daemon.log\n`,
        );
      if (operatorResyncs > 0)
        process.stdout.write(
          `  note operator-resyncs: ${operatorResyncs} resync(s) after a restart found ledger continuity broken (a database restore from before a validator restore)\n`,
        );
      if (resyncWithoutDetection > 0)
        process.stdout.write(
          `  note validator-restores: ${resyncWithoutDetection} not detected within 10 s before the operator's resync (nothing of the treasury after the backup, or a reconnect still pending)\n`,
        );
      if (pgSkipped > 0) process.stdout.write(`  note pg-restarts: ${pgSkipped} skipped because other databases were in use\n`);
      if (result.failures.size > 0) {
        process.stdout.write(`  failed withdrawals by reason: ${[...result.failures].map(([r, n]) => `${r} ×${n}`).join('; ')}\n`);
      }
      for (const f of violations) process.stdout.write(`  VIOLATION ${f.invariant}: ${f.detail}\n`);
      const c = result.counts;
      process.stdout.write(
        `chaos: kills=${o.kills} faults=${faults.injected} pgRestarts=${pgRestarts} restores=${restores.length} validatorRestores=${validatorRestores} deposits=${c.deposits} withdrawals=${c.withdrawals} violations=${violations.length} seed=${o.seed}` +
          ` (completed=${c.completed} failed=${c.failed} notFinal=${result.notes.filter((n) => n.invariant === 'not-final').length} selfTransfers=${c.selfTransfers} credited=${c.credited} unattributed=${c.unattributed} faultsFired=${faultsFired} clockSteps=${clockSteps} ${seconds}s)\n`,
      );
      found = violations.length > 0 || result.notes.length > 0 || unexpectedExits.length > 0;
      return violations.length === 0 ? 0 : 1;
    } finally {
      await sql.end({ timeout: 5 }).catch(() => {});
    }
  } finally {
    if (daemon?.alive()) {
      daemon.markKilled();
      daemon.kill('SIGKILL');
    }
    await sandbox?.stop();
    if (dbCreated && !o.keep) await dropDatabase(dbName).catch((e: unknown) => log(`could not drop ${dbName}: ${String(e)}`));
    if (!found && !o.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir} (sandbox.log, daemon.log)${o.keep ? ` and database ${dbName}` : ''}`);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`campaign failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(2);
  },
);

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, readdirSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import postgres from 'postgres';
import { z } from 'zod';
import { requestJson, sleep } from './http.js';

/**
 * The processes of a campaign: the ledger double (`src/sandbox/cli.ts`), a fresh database on the
 * local Postgres server, and the daemon (`src/main.ts`), each run as `node --import tsx` so that a
 * SIGKILL reaches the process itself (the `tsx` launcher would leave its child running).
 */

export const REPO = path.resolve(import.meta.dirname, '..');

const SandboxDetails = z.object({
  jsonApiUrl: z.string(),
  controlUrl: z.string(),
  controlToken: z.string(),
  treasuryToken: z.string(),
  keyFile: z.string(),
  treasury: z.object({ party: z.string(), userId: z.string() }),
  instruments: z.array(
    z.object({
      admin: z.string(),
      id: z.string(),
      symbol: z.string(),
      registryUrl: z.string(),
      supportsPreapproval: z.boolean(),
      /** What the sender pays on top of a transfer: onboarded as the instrument's fee reserve. */
      senderFee: z.object({ rate: z.string(), flat: z.string() }).optional(),
    }),
  ),
});
export type SandboxDetails = z.infer<typeof SandboxDetails>;

export interface SandboxProcess {
  details: SandboxDetails;
  child: ChildProcess;
  stop(): Promise<void>;
}

function exitOf(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode ?? child.exitCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
}

/** Starts the double in its own process; resolves once it has written its details file. */
export async function startSandboxProcess(opts: { dataDir: string; seed: string; logFile: string }): Promise<SandboxProcess> {
  const log = openSync(opts.logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/sandbox/cli.ts',
      '--data-dir',
      opts.dataDir,
      '--seed',
      opts.seed,
      '--log-level',
      'warn',
      '--checkpoint-interval-ms',
      '500',
    ],
    { cwd: REPO, stdio: ['ignore', 'pipe', log], env: { ...process.env, LOG_PRETTY: 'false' } },
  );
  closeSync(log);
  const exited = exitOf(child);
  const detailsFile = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = /^\s*details\s+(\S+)/.exec(line);
      if (m?.[1]) resolve(m[1]);
    });
    void exited.then((how) => reject(new Error(`the ledger double exited before it was ready (${String(how)}); see ${opts.logFile}`)));
  });
  child.stdout!.resume();
  const details = SandboxDetails.parse(JSON.parse(readFileSync(detailsFile, 'utf8')));
  return {
    details,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** A port nobody listens on right now (the daemon reuses it across restarts). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

export const ADMIN_URL = process.env['CHAOS_ADMIN_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function urlFor(database: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

function adminSql(): postgres.Sql {
  return postgres(ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 10 });
}

export async function createDatabase(name: string): Promise<string> {
  const sql = adminSql();
  try {
    await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  return urlFor(name);
}

export async function dropDatabase(name: string): Promise<void> {
  const sql = adminSql();
  try {
    await sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface DaemonEnv {
  databaseUrl: string;
  sandbox: SandboxDetails;
  port: number;
  apiToken: string;
  dataDir: string;
  logFile: string;
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<NodeJS.Signals | number | null>;
  /** Resolves true once GET /ready answers 200, false if the process exits first. */
  waitReady(timeoutMs: number): Promise<boolean>;
  kill(signal: NodeJS.Signals): void;
  alive(): boolean;
  /** Marks the coming exit as the campaign's doing (not a crash). */
  markKilled(): void;
  readonly killedByUs: boolean;
}

export function spawnDaemon(e: DaemonEnv): DaemonProcess {
  const log = openSync(e.logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: e.databaseUrl,
    DATABASE_POOL_MAX: '10',
    DATA_DIR: e.dataDir,
    LEDGER_API_URL: e.sandbox.jsonApiUrl,
    LEDGER_USER_ID: e.sandbox.treasury.userId,
    LEDGER_TOKEN: e.sandbox.treasuryToken,
    TREASURY_PARTY: e.sandbox.treasury.party,
    TREASURY_KEY_FILE: e.sandbox.keyFile,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(e.port),
    API_TOKENS: JSON.stringify([{ name: 'chaos', token: e.apiToken, scopes: ['read', 'write', 'admin'] }]),
    // The double's registries are http on loopback, in another process: allowed as a development set-up allows them.
    REGISTRY_ALLOW_HTTP: 'true',
    REGISTRY_ALLOW_HOSTS: '["127.0.0.1"]',
    LOG_LEVEL: process.env['CHAOS_DAEMON_LOG_LEVEL'] ?? 'info',
    LOG_PRETTY: 'false',
  };
  delete env['CONFIG_FILE'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: REPO, stdio: ['ignore', log, log], env });
  closeSync(log);
  const exited = exitOf(child);
  const url = `http://127.0.0.1:${e.port}`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  let killedByUs = false;
  return {
    child,
    url,
    exited,
    alive,
    markKilled: () => {
      killedByUs = true;
    },
    get killedByUs() {
      return killedByUs;
    },
    kill: (signal) => {
      if (alive()) child.kill(signal);
    },
    waitReady: async (timeoutMs) => {
      const until = Date.now() + timeoutMs;
      while (alive() && Date.now() < until) {
        try {
          await requestJson({ url: `${url}/ready`, schema: z.unknown(), timeoutMs: 2000 });
          return true;
        } catch {
          await sleep(100);
        }
      }
      return false;
    },
  };
}

/** The local cluster's version directory, or undefined when it cannot be restarted from here. */
export function pgCluster(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  if (!existsSync('/usr/bin/pg_ctlcluster') || !existsSync('/etc/postgresql')) return undefined;
  const versions = readdirSync('/etc/postgresql');
  return versions.length === 1 ? versions[0] : undefined;
}

/**
 * Other clients of the server (tests of other work running at the same time): a restart would
 * break them, so the campaign skips its restart then. Returns the databases they use.
 */
export async function otherClients(ownDatabase: string): Promise<string[]> {
  const sql = adminSql();
  try {
    const rows = await sql<{ datname: string }[]>`
      select distinct datname from pg_stat_activity
      where datname is not null and datname not in (${ownDatabase}, 'postgres') and pid <> pg_backend_pid()`;
    return rows.map((r) => r.datname);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Waits until no server backend works for `database` any more (a SIGKILLed client's backends end
 * once they notice the closed socket, after the statement they are running, possibly a COMMIT),
 * then terminates any left after `timeoutMs`. Returns how many had to be terminated.
 */
export async function endSessions(database: string, timeoutMs = 10_000): Promise<number> {
  const sql = adminSql();
  try {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const rows = await sql<
        { pid: number }[]
      >`select pid from pg_stat_activity where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
      if (rows.length === 0) return 0;
      if (Date.now() >= until) {
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
        return rows.length;
      }
      await sleep(100);
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Restarts the local Postgres server and waits until it answers again. */
export async function restartPostgres(version: string): Promise<void> {
  const r = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`pg_ctlcluster restart failed (${String(r.status)}): ${r.stderr}`);
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const sql = adminSql();
    try {
      await sql`select 1`;
      return;
    } catch {
      await sleep(250);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }
  throw new Error('Postgres did not come back within 60 s of its restart');
}

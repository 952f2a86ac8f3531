import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readSavedLedger, replayJournal } from '../../src/sandbox/durable.js';
import { SandboxEngine } from '../../src/sandbox/engine/engine.js';
import { SandboxOptions } from '../../src/sandbox/options.js';
import { startPersistentSandbox } from '../../src/sandbox/persistent.js';
import { testLogger } from '../support/silent-logger.js';
import { TreasuryWallet } from './support/treasury-wallet.js';
import { WireClient } from './support/wire-client.js';

/**
 * Issue 20: the embedded default never loses committed ledger state. A saved double killed with
 * SIGKILL right after commits must come back with every commit it had answered: the daemon's
 * database may already hold them (its checkpoint, credits, completed withdrawals).
 */

const CLI = fileURLToPath(new URL('../../src/sandbox/cli.ts', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  controlUrl: string;
  controlToken: string;
  treasury: string;
}

/** `npm run sandbox -- --persist` in a process of its own; resolves once it serves. */
async function startChild(dataDir: string): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--persist', '--data-dir', dataDir, '--log-level', 'silent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('Daemon against it')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}: ${err}`)));
  });
  const info = JSON.parse(readFileSync(path.join(dataDir, 'sandbox', 'sandbox.json'), 'utf8')) as {
    controlUrl: string;
    controlToken: string;
    treasury: { party: string };
  };
  return { child, controlUrl: info.controlUrl, controlToken: info.controlToken, treasury: info.treasury.party };
}

async function control<T>(r: Running, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${r.controlUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${r.controlToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function kill(r: Running): Promise<void> {
  const exited = new Promise<void>((resolve) => r.child.once('exit', () => resolve()));
  r.child.kill('SIGKILL');
  await exited;
}

describe('a saved double survives SIGKILL with every commit it answered (issue 20)', () => {
  it('SIGKILL right after commits: the restarted double has them all, at the same offsets', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'cxi-durable-'));
    dirs.push(dataDir);
    const first = await startChild(dataDir);
    const committed: { offset: number; updateId: string }[] = [];
    let holdings: unknown;
    try {
      const customer = await control<{ party: string }>(first, 'POST', '/customers', {
        hint: 'carol',
        preapproval: true,
        fund: [{ instrument: 'Amulet', amount: '100' }],
      });
      for (let i = 1; i <= 5; i++)
        committed.push(await control(first, 'POST', '/mint', { party: first.treasury, instrument: 'Amulet', amount: `${i}` }));
      committed.push(
        await control(first, 'POST', '/transfers', {
          from: customer.party,
          to: first.treasury,
          instrument: 'Amulet',
          amount: '7',
          memo: 'acct-1',
        }),
      );
      holdings = (await control<{ holdings: unknown[] }>(first, 'GET', `/books/holdings?party=${encodeURIComponent(first.treasury)}`))
        .holdings;
    } finally {
      // No stop, no signal handler: the process is gone the moment the answers are in.
      await kill(first);
    }

    const second = await startChild(dataDir);
    try {
      const end = await control<{ offset: number }>(second, 'GET', '/books/ledger-end');
      expect(end.offset).toBeGreaterThanOrEqual(Math.max(...committed.map((c) => c.offset)));
      expect(
        (await control<{ holdings: unknown[] }>(second, 'GET', `/books/holdings?party=${encodeURIComponent(second.treasury)}`)).holdings,
      ).toEqual(holdings);
      // The ledger goes on after the last answered commit, not over it.
      const next = await control<{ offset: number }>(second, 'POST', '/mint', {
        party: second.treasury,
        instrument: 'Amulet',
        amount: '1',
      });
      expect(next.offset).toBe(end.offset + 1);
    } finally {
      await kill(second);
    }
  });

  it('what is on disk right after an interactive submission committed holds it, its completion and its dedup entry', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cxi-durable-'));
    dirs.push(dir);
    const options = { commitDelayMs: 1, treasury: { fund: [{ instrument: 'Amulet', amount: '300' }] } };
    const { sb } = await startPersistentSandbox(dir, options, testLogger());
    try {
      const { party: alice } = sb.control.createCustomer({ hint: 'alice', preapproval: true });
      const wallet = new TreasuryWallet(sb, new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange')));
      const [input] = wallet.holdings('Amulet');
      const { prepared } = await wallet.prepareTransfer({
        receiver: alice,
        instrumentId: 'Amulet',
        amount: '10',
        memo: 'wd-1',
        inputs: [input?.contractId ?? ''],
        commandId: 'wd-1',
      });
      expect((await wallet.execute(prepared.body, { path: '/v2/interactive-submission/executeAndWait' })).status).toBe(200);

      // The files as a SIGKILL would leave them now (the double still runs: nothing was stopped).
      const saved = readSavedLedger(path.join(dir, 'ledger.json'))!;
      const parsed = SandboxOptions.parse(options);
      const image = new SandboxEngine({ instruments: parsed.instruments, restore: saved.snapshot });
      replayJournal(image, saved.journal);
      expect(image.ledger.ledgerEnd).toBe(sb.engine.ledger.ledgerEnd);
      expect(image.stateDigest()).toBe(sb.engine.stateDigest());
      expect(image.ledger.completions.map((c) => c.commandId)).toContain('wd-1');
      expect([...image.ledger.dedup.keys()]).toEqual([...sb.engine.ledger.dedup.keys()]);
      expect(image.ledger.parties.has(alice)).toBe(true);
    } finally {
      await sb.stop();
    }
  });

  it('a node restore or a major upgrade is on disk as it is in memory: the journal cannot replay a replaced state', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cxi-durable-'));
    dirs.push(dir);
    const options = { treasury: { fund: [{ instrument: 'Amulet', amount: '300' }] } };
    const { sb } = await startPersistentSandbox(dir, options, testLogger());
    const image = () => {
      const saved = readSavedLedger(path.join(dir, 'ledger.json'))!;
      const engine = new SandboxEngine({ instruments: SandboxOptions.parse(options).instruments, restore: saved.snapshot });
      replayJournal(engine, saved.journal);
      return engine;
    };
    try {
      const treasury = sb.treasury?.party ?? '';
      const backup = sb.control.backupNode();
      sb.control.mint(treasury, 'Amulet', '5');
      sb.control.restoreNode({ backupId: backup.backupId, offsetShift: 3 });
      sb.control.mint(treasury, 'Amulet', '7');
      expect(image().stateDigest()).toBe(sb.engine.stateDigest());
      expect(image().ledger.ledgerEnd).toBe(sb.engine.ledger.ledgerEnd);
      sb.control.majorUpgrade();
      sb.control.mint(treasury, 'Amulet', '9');
      expect(image().stateDigest()).toBe(sb.engine.stateDigest());
      expect(image().ledger.synchronizerId).toBe(sb.engine.ledger.synchronizerId);
    } finally {
      await sb.stop();
    }
  });
});

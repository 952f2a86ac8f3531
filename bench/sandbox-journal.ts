import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/logger.js';
import { startSandbox } from '../src/sandbox/start.js';
import type { Sandbox } from '../src/sandbox/start.js';

/**
 * `npm run bench:sandbox-journal [-- --commits 2000 --dir /path]`: what journalling every commit of a
 * saved double (src/sandbox/durable.ts: one write + fdatasync before a reader sees it) costs per
 * commit, against the same double in memory only. Commits are mints (the double's own parties), so
 * the difference is the journal's alone. `--dir` picks the disk (default: the OS temp dir).
 */
const { values } = parseArgs({ options: { commits: { type: 'string', default: '2000' }, dir: { type: 'string' } } });
const commits = Number(values.commits);
const logger = createLogger({ level: 'silent', pretty: false });

async function run(label: string, stateFile: string | undefined): Promise<number> {
  const sb: Sandbox = await startSandbox({ ...(stateFile ? { stateFile } : {}), treasury: { fund: [] } }, logger);
  try {
    const treasury = sb.treasury!.party;
    for (let i = 0; i < 50; i++) sb.control.mint(treasury, 'Amulet', '1');
    const started = process.hrtime.bigint();
    for (let i = 0; i < commits; i++) {
      sb.control.mint(treasury, 'Amulet', '1');
      // The journal's flush of a step no reader was told about runs in a microtask: let it.
      await Promise.resolve();
    }
    const us = Number(process.hrtime.bigint() - started) / 1000 / commits;
    console.log(`${label.padEnd(28)} ${us.toFixed(1).padStart(8)} µs/commit  (${commits} commits)`);
    return us;
  } finally {
    await sb.stop();
  }
}

const dir = mkdtempSync(path.join(values.dir ?? tmpdir(), 'cxi-journal-bench-'));
try {
  const memory = await run('in memory', undefined);
  const journal = await run('journalled (write + fdatasync)', path.join(dir, 'ledger.json'));
  console.log(`journal cost: ${(journal - memory).toFixed(1)} µs per commit on ${dir}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

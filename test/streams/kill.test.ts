import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { readCheckpoint } from '../../src/store/checkpoint.js';
import { createIngestionComponent } from '../../src/streams/index.js';
import { useMigratedDatabase } from '../support/db.js';
import { ingestionSnapshot, onboardInstruments, resetIngestionTables } from './support/db-state.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * The real thing: the ingesting process is SIGKILLed — between batches, and inside a batch
 * transaction (its connection dies with it, the transaction is aborted by Postgres) — and a new
 * process resumes. The database must equal an uninterrupted run's, byte for byte.
 */

const { sql, url } = await useMigratedDatabase({ max: 10 });
const logger = testLogger();
const CHILD = fileURLToPath(new URL('./support/ingest-child.ts', import.meta.url));
let sb: Sandbox | undefined;

afterEach(async () => {
  await sb?.stop();
  sb = undefined;
});

async function accounts(): Promise<void> {
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a'), ('acct-2', 'memo-2', 'b')`;
}

/** Runs the child until `until` says so (given each stdout line), then SIGKILLs it. */
function runChild(s: Sandbox, token: string, args: string[], until: (line: string) => boolean): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, '--db', url, '--ledger', s.jsonApiUrl, '--token', token, '--party', s.treasury!.party, ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (until(line)) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited with ${code}`))));
  });
}

describe('ingestion process killed', () => {
  it('between batches and inside a batch transaction: the next process completes it, same database', async () => {
    await resetIngestionTables(sql);
    await accounts();
    sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } });
    await onboardInstruments(sql, sb.instruments);
    const s = sb;
    const T = s.treasury!.party;
    const alice = s.control.createCustomer({
      fund: [
        { instrument: 'Amulet', amount: '10000' },
        { instrument: 'UTK', amount: '10000' },
      ],
    }).party;
    for (let i = 0; i < 30; i++) {
      s.control.transfer({
        from: alice,
        to: T,
        instrument: 'Amulet',
        amount: String(1 + i),
        memo: i % 3 === 0 ? 'memo-1' : i % 3 === 1 ? 'memo-2' : null,
      });
      if (i % 4 === 0) {
        const o = s.control.transfer({ from: alice, to: T, instrument: 'UTK', amount: String(2 + i), memo: 'memo-2' });
        if (i % 8 === 0) s.control.accept(o.transferInstructionCid!);
      }
    }
    const token = await s.tokenFor(s.treasury!.userId);

    // Reference: one uninterrupted run.
    const ref = createIngestionComponent({
      sql,
      logger,
      ledger: { apiUrl: s.jsonApiUrl, auth: { kind: 'static', token }, treasuryParty: T },
    });
    await ref.start();
    const end = (await (await fetch(`${s.jsonApiUrl}/v2/state/ledger-end`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      offset: number;
    };
    while ((ref.progress().committedOffset ?? 0) < end.offset) await new Promise((r) => setTimeout(r, 10));
    await ref.stop();
    const reference = await ingestionSnapshot(sql);
    await resetIngestionTables(sql);
    await accounts();

    // Killed between batches (after its third commit).
    let commits = 0;
    await runChild(s, token, ['--batch', '4'], (line) => line.startsWith('committed') && ++commits === 3);
    const afterFirst = (await readCheckpoint(sql, T))!.offset;
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThan(end.offset);

    // Killed inside its second batch transaction, with rows written but not committed.
    await runChild(s, token, ['--batch', '4', '--hang-at', '2'], (line) => line === 'hanging');
    // Postgres notices the dead connection and aborts the transaction; its row lock goes with it.
    const afterSecond = (await readCheckpoint(sql, T))!.offset;
    expect(afterSecond).toBeGreaterThan(afterFirst);
    expect(afterSecond).toBeLessThan(end.offset);

    // A third process completes the ingestion.
    await runChild(s, token, ['--batch', '4'], (line) => line === `committed ${end.offset}`);
    expect(await ingestionSnapshot(sql)).toEqual(reference);
  });
});

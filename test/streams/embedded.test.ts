import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox } from '../../src/sandbox/index.js';
import { connect } from '../../src/store/db.js';
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres } from '../../src/store/embedded-postgres.js';
import { listActiveHoldings } from '../../src/store/holdings.js';
import { migrate } from '../../src/store/migrate.js';
import { createIngestionComponent } from '../../src/streams/index.js';
import { depositsOf, onboardInstruments } from './support/db-state.js';
import { testLogger } from '../support/silent-logger.js';

/** `npm start` runs on embedded PGlite: one connection, so no leader election for ingestion. */
const dir = await mkdtemp(join(tmpdir(), 'cxi-ingestion-'));
const pg = await startEmbeddedPostgres(dir);
const sql = connect({ url: pg.url, max: EMBEDDED_POOL_MAX });
await migrate(sql);
afterAll(async () => {
  await sql.end({ timeout: 5 });
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('ingestion on embedded PGlite (single connection)', () => {
  it('ingests deposits from the ledger double with leader election off', async () => {
    const sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } });
    try {
      await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a')`;
      await onboardInstruments(sql, sb.instruments);
      const T = sb.treasury!.party;
      const c = createIngestionComponent({
        sql,
        logger: testLogger(),
        ledger: { apiUrl: sb.jsonApiUrl, auth: { kind: 'static', token: await sb.tokenFor(sb.treasury!.userId) }, treasuryParty: T },
        options: { leaderElection: 'none', batchMaxWaitMs: 10 },
      });
      await c.start();
      const alice = sb.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '100' }] }).party;
      const last = sb.control.transfer({ from: alice, to: T, instrument: 'Amulet', amount: '7', memo: 'memo-1' });
      sb.control.transfer({ from: alice, to: T, instrument: 'Amulet', amount: '3', memo: null });
      const end = last.offset + 1;
      while ((c.progress().committedOffset ?? 0) < end) {
        expect(c.status().state).not.toBe('failed');
        await new Promise((r) => setTimeout(r, 10));
      }
      await c.stop();
      expect((await depositsOf(sql)).map((d) => [d.status, d.account_id, d.credited_amount])).toEqual(
        expect.arrayContaining([
          ['credited', 'acct-1', '7.0000000000'],
          ['unattributed', null, '3.0000000000'],
        ]),
      );
      expect((await listActiveHoldings(sql, T)).map((h) => h.amount).sort()).toEqual(['3.0000000000', '7.0000000000']);
    } finally {
      await sb.stop();
    }
  });
});

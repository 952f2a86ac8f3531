import { describe, expect, it } from 'vitest';
import { lockCheckpoint } from '../../src/store/checkpoint.js';
import { lockCheckpointOffset } from '../../src/store/holding-adoptions.js';
import { useMigratedDatabase } from '../support/db.js';

const { sql } = await useMigratedDatabase({ max: 4 });

/**
 * Onboarding a token (its holding adoption) and ingestion's batches serialise on the party's
 * checkpoint lock, also before the first batch, when there is no checkpoint row to lock: else an
 * onboarding committed while that batch read the instruments adopts nothing (no checkpoint yet)
 * while the batch ignores the token's holdings (not onboarded yet), and a genuine holding is lost
 * to the books (found by the chaos campaign: 50,000 CC on the ledger, none in the database).
 */
describe('the checkpoint lock', () => {
  it('holds an ingestion batch back while an onboarding holds it, with no checkpoint row yet', async () => {
    const party = `lock-test::1220${'ab'.repeat(32)}`;
    let releaseOnboarding!: () => void;
    const onboardingHolds = new Promise<void>((r) => (releaseOnboarding = r));
    let locked!: () => void;
    const onboardingLocked = new Promise<void>((r) => (locked = r));
    const onboarding = sql.begin(async (tx) => {
      expect(await lockCheckpointOffset(tx, party)).toBeUndefined();
      locked();
      await onboardingHolds;
    });
    await onboardingLocked;
    let batchLocked = false;
    const batch = sql.begin(async (tx) => {
      await lockCheckpoint(tx, party);
      batchLocked = true;
    });
    // The batch's session waits on the advisory lock (this database's: test files run alongside).
    for (;;) {
      const [w] = await sql<{ n: number }[]>`
        select count(*)::int as n from pg_locks
        where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`;
      if (w!.n > 0) break;
      expect(batchLocked).toBe(false);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(batchLocked).toBe(false);
    releaseOnboarding();
    await onboarding;
    await batch;
    expect(batchLocked).toBe(true);
  });
});

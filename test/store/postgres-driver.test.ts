import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { useMigratedDatabase } from '../support/db.js';

/**
 * The driver's transaction bookkeeping under a saturated pool (patches/postgres+3.4.9.patch).
 * postgres.js 3.4.9 can send a transaction's BEGIN on a busy connection without reserving it
 * (porsager/postgres#1189, #823): the server is then in a transaction the driver does not know of,
 * and the next ordinary query runs inside it — for us, a write acknowledged and never committed.
 */

const { url } = await useMigratedDatabase({ max: 1 });
type Options = postgres.Options<Record<string, postgres.PostgresType>>;
/** An option the driver reads (src/index.js parseOptions) and its type declarations omit. */
const PIPELINE_OF_ONE = { max_pipeline: 1 } as Options;
const opened: postgres.Sql[] = [];
function pool(options: Options): postgres.Sql {
  const sql = postgres(url, { onnotice: () => {}, ...options });
  opened.push(sql);
  return sql;
}
afterAll(async () => {
  for (const sql of opened) await sql.end({ timeout: 5 });
});

describe('postgres.js transactions on a saturated pool', () => {
  it('a BEGIN that fills a busy connection’s pipeline still reserves it: the transaction commits alone, the next query outside it', async () => {
    const setup = pool({ max: 1 });
    await setup`create table driver_probe (v text not null)`;
    // One connection, one query in flight, room for one more: BEGIN is what fills the pipeline.
    const sql = pool({ max: 1, ...PIPELINE_OF_ONE });
    await sql`select 1`;
    const slow = sql`select pg_sleep(0.2)`.execute();
    const tx = sql.begin(async (t) => {
      await t`insert into driver_probe values ('in the transaction')`;
    });
    const plain = slow.then(() => sql`insert into driver_probe values ('after it')`);
    await Promise.all([slow, tx, plain]);
    await sql.end({ timeout: 5 });
    // Seen from another connection once that one is closed: both committed.
    const rows = await setup<{ v: string }[]>`select v from driver_probe order by v`;
    expect(rows.map((r) => r.v)).toEqual(['after it', 'in the transaction']);
  });
});

import postgres from 'postgres';
import type { Logger } from '../logger.js';

/** The postgres.js client used everywhere; `Tx` is what `sql.begin` hands to its callback. */
export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;
/** Either a pool or an open transaction: repositories accept both so callers choose the transaction. */
export type Queryable = Sql | Tx;

const INT8_OID = 20;
const TIMESTAMPTZ_OID = 1184;

/**
 * int8 arrives as text. Offsets and counts fit a JS number in practice; refuse silently rounding
 * one that does not, rather than corrupt a resume point.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} exceeds JavaScript's safe integer range`);
  return n;
}

/**
 * timestamptz as an ISO-8601 string with the database's full microsecond precision: Canton record
 * times have microseconds and a JS Date would drop them. The session runs in UTC, so the text form
 * is "2025-10-14 11:29:19.916535+00".
 */
function parseTimestamptz(text: string): string {
  return text.replace(' ', 'T').replace(/\+00(:00)?$/, 'Z');
}

export interface ConnectOptions {
  url: string;
  max: number;
  logger?: Logger;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
}

export function connect(opts: ConnectOptions): Sql {
  return postgres(opts.url, {
    max: opts.max,
    idle_timeout: 60,
    connect_timeout: 10,
    connection: { application_name: opts.applicationName ?? 'canton-exchange-integration', TimeZone: 'UTC' },
    types: {
      int8: { to: INT8_OID, from: [INT8_OID], serialize: (n: number | bigint | string) => String(n), parse: parseInt8 },
      timestamptz: {
        to: TIMESTAMPTZ_OID,
        from: [TIMESTAMPTZ_OID],
        serialize: (v: string | Date) => (v instanceof Date ? v.toISOString() : v),
        parse: parseTimestamptz,
      },
    },
    onnotice: (notice) => opts.logger?.debug({ notice: notice.message }, 'postgres notice'),
  });
}

/**
 * First statement of a transaction whose every statement reads or writes rows by key: no
 * sequential scans for the rest of it. The planner's default costs price a batch's few hundred
 * key lookups above reading a table of tens of thousands of rows, so a table that grows with
 * history (deposits) was read whole by every ingestion batch. It also makes cached generic plans
 * of "= any($1)" safe (they guess the array's size). Started at once (execute()), so it goes out
 * before whatever the caller pipelines behind it.
 */
export function keyedStatementsOnly(tx: Tx): PromiseLike<unknown> {
  return tx`select set_config('enable_seqscan', 'off', true)`.execute();
}

/** Readiness: can we run a query right now? */
export async function ping(sql: Sql): Promise<void> {
  await sql`select 1`;
}

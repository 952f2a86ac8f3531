import { referencedContracts, parseAhead, type ParsedBatch, type PreparedBatch } from '../ingestion/batch-parse.js';
import type { IngestElement } from '../ingestion/elements.js';
import { instrumentKey } from '../ingestion/facts.js';
import { keyedStatementsOnly, type Sql, type Tx } from './db.js';
import { fetchActiveHoldings } from './holdings.js';
import { fetchInstructions } from './ingestion-rows.js';
import { settleAll } from '../lib/settle-all.js';

/**
 * The reads a batch is parsed against (src/ingestion/batch-parse.ts), in its transaction or, for
 * a batch parsed ahead, in a read-only transaction of their own.
 */

/**
 * What parsing a batch needs from the database, started at once (execute()) in this order so a
 * caller can pipeline them behind its own statements: which of its updates are already ingested,
 * the treasury's holdings and the transfer instructions among the contracts it references, and
 * the onboarded instruments (a contract of any other counts for nothing: src/ingestion/parser.ts). The
 * instruments table holds a row per token the exchange handles, so it is read whole: one more
 * statement in the same round trip.
 */
export function startBatchLookups(tx: Tx, party: string, elements: readonly IngestElement[]) {
  const candidates = elements.flatMap((el) => (el.kind === 'transaction' ? [el.tx] : []));
  const candidateIds = [...new Set(candidates.map((t) => t.updateId))];
  const referenced = referencedContracts(candidates);
  return [
    candidateIds.length === 0
      ? Promise.resolve(new Set<string>())
      : tx<{ update_id: string }[]>`select update_id from ingested_updates where update_id = any(${candidateIds}::text[])`
          .execute()
          .then((rows) => new Set(rows.map((r) => r.update_id))),
    fetchActiveHoldings(tx, party, referenced),
    fetchInstructions(tx, referenced),
    fetchOnboarded(tx),
  ] as const;
}

/** instrumentKey of every onboarded instrument (enabled or not: disabling stops withdrawals, not deposits). */
async function fetchOnboarded(tx: Tx): Promise<Set<string>> {
  const rows = await tx<{ admin_party: string; instrument_id: string }[]>`select admin_party, instrument_id from instruments`.execute();
  return new Set(rows.map((r) => instrumentKey({ admin: r.admin_party, id: r.instrument_id })));
}

/**
 * Parses `elements` ahead of their transaction, as they will be once `after` has committed:
 * database reads (in a read-only transaction of their own: `after` may or may not have committed yet) overlaid
 * with `after`'s effects (parseAhead). Undefined when that is not possible — any failure here, bad data
 * included, is for the batch's own transaction to meet and report.
 */
export async function prepareBatch(
  sql: Sql,
  elements: readonly IngestElement[],
  party: string,
  after: ParsedBatch,
): Promise<PreparedBatch | undefined> {
  try {
    const [, already, holdings, instructions, onboarded] = await sql.begin('read only', (tx) =>
      settleAll([keyedStatementsOnly(tx), ...startBatchLookups(tx, party, elements)]),
    );
    return await parseAhead(elements, party, after, { already, holdings, instructions, onboarded });
  } catch {
    return undefined;
  }
}

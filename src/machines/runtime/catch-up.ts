import type { Logger } from '../../logger.js';
import { readCheckpoint, readContinuityFailures } from '../../store/checkpoint.js';
import type { Queryable } from '../../store/db.js';
import type { CatchUp } from './types.js';
import { readUntilAborted, sleep } from '../../lib/abortable.js';

/**
 * "Ingestion has read everything the ledger had when I asked": the ledger end read now, then the
 * stored checkpoint (written in the transaction of the batch it covers, whoever runs ingestion —
 * this process or another instance) until it reaches that offset. Every update up to there is in
 * the database with its consequences: holdings archived, the transfer recorded on its withdrawal
 * row, and the outbox events, all in the batch's transaction.
 *
 * Reads that fail (ledger unreachable, database blip) are retried with backoff, loudly: while the
 * ledger cannot be read nothing can be decided against it, and the caller's work waits. So does
 * it while ledger continuity is broken (sql/019): a checkpoint beyond the end of a ledger that
 * went back says nothing about that ledger, and only an operator's resync or migrate ends the wait.
 */
export interface IngestionCatchUpOptions {
  db: Queryable;
  treasuryParty: string;
  /** The ledger end (offset) as the ledger API reports it. */
  ledgerEnd(signal: AbortSignal): Promise<number>;
  logger: Logger;
  /** How often the checkpoint is read while ingestion is behind (default 100 ms). */
  pollMs?: number;
}

const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 5_000;
/** Log again about a wait that lasts, every this many ms. */
const REPORT_EVERY_MS = 30_000;

export function createIngestionCatchUp(o: IngestionCatchUpOptions): CatchUp {
  const pollMs = o.pollMs ?? 100;
  const log = o.logger.child({ component: 'catch-up' });

  const retrying = <T>(what: string, read: () => Promise<T>, signal: AbortSignal): Promise<T> =>
    readUntilAborted(read, {
      signal,
      delayMs: (failures) => Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** failures),
      onFailure: (e, failures) => {
        if (failures === 0 || failures % 20 === 0)
          log.warn({ err: e, failures: failures + 1 }, `cannot ${what}; retrying (work that waits for ingestion to catch up stays held)`);
      },
    });

  return async (signal) => {
    const end = await retrying('read the ledger end', () => o.ledgerEnd(signal), signal);
    const began = Date.now();
    let reported = began;
    for (;;) {
      const [cp, broken] = await retrying(
        'read the ingestion checkpoint',
        () => Promise.all([readCheckpoint(o.db, o.treasuryParty), readContinuityFailures(o.db)]),
        signal,
      );
      const at = cp?.offset ?? 0;
      if (at >= end && broken.length === 0) return end;
      if (Date.now() - reported >= REPORT_EVERY_MS) {
        reported = Date.now();
        if (broken.length > 0)
          log.warn(
            { waitingMs: reported - began, reason: broken[0]!.reason },
            `still waiting: ledger continuity is broken: ${broken[0]!.detail}`,
          );
        else
          log.warn(
            { ledgerEnd: end, ingestedThrough: at, waitingMs: reported - began },
            'still waiting for ingestion to reach the ledger end (is ingestion paused, failed or far behind?)',
          );
      }
      await sleep(pollMs, signal);
    }
  };
}

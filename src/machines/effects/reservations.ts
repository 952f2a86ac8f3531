import { Failure, familyCode } from '../../failures.js';
import { sleep } from '../../lib/abortable.js';
import type { Sql } from '../../store/db.js';
import { attemptStanding, releaseReservations, ReservationRefused, reserveHoldings } from '../../store/reservations.js';
import { ActorError, type ActorFailure } from '../failure.js';
import type { CatchUp } from '../runtime/types.js';
import type { ReleaseReservationOutput, WithdrawalDbActors } from '../withdrawal.actors.js';

/**
 * The withdrawal machine's DB effects: the reservation SQL (src/store/reservations.ts) as actors,
 * whatever it throws in the terms a machine decides on (ActorError).
 */

export interface ReservationActorsOptions {
  /**
   * Ingestion catching up with the ledger end (createIngestionCatchUp): checkAttempt waits for it.
   * Without it checkAttempt cannot tell where an attempt stands and says so (non-retryable): the
   * machine then waits for the ledger's own word (transfer or expiry), never guesses.
   */
  catchUp?: CatchUp;
}

/** The DB-side actors of the withdrawal machine. */
export function createReservationActors(sql: Sql, opts: ReservationActorsOptions = {}): WithdrawalDbActors {
  return {
    async checkAttempt(input, signal) {
      if (!opts.catchUp)
        throw new ActorError({
          code: Failure.CHECK_UNAVAILABLE,
          message: 'no view of ingestion against the ledger end was configured',
          retryable: false,
        });
      const ingestedThrough = await opts.catchUp(signal);
      for (let failures = 0; ; failures++) {
        try {
          return { ...(await attemptStanding(sql, input)), ingestedThrough };
        } catch (e) {
          const failure = dbActorError(e, 'check attempt');
          if (!failure.failure.retryable) throw failure;
          await sleep(Math.min(5_000, 200 * 2 ** Math.min(failures, 5)), signal);
        }
      }
    },
    reserveHoldings: async (input) => {
      try {
        return await reserveHoldings(sql, input);
      } catch (e) {
        throw dbActorError(e, 'reserve');
      }
    },
    releaseReservation: async (input): Promise<ReleaseReservationOutput> => {
      try {
        const r = await sql.begin((tx) => releaseReservations(tx, input, { strict: true }));
        return { released: r.released.length };
      } catch (e) {
        throw dbActorError(e, 'release');
      }
    },
  };
}

/**
 * A refusal of the database as it gave it; otherwise connection, contention and resource problems
 * are worth retrying, a bad statement or constraint is not.
 */
export function dbActorError(e: unknown, what: string): ActorError {
  if (e instanceof ActorError) return e;
  if (e instanceof ReservationRefused) return new ActorError(e.failure);
  const sqlState = e !== null && typeof e === 'object' && 'code' in e ? String((e as { code: unknown }).code) : '';
  const message = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  const transientClass =
    /^(08|40|53|57P|55P03)/.test(sqlState) || /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|CONNECTION_|EPIPE|CONNECT_TIMEOUT)/.test(sqlState);
  const failure: ActorFailure = {
    code: sqlState ? familyCode('DB_', sqlState) : Failure.DB_ERROR,
    message,
    retryable: transientClass || sqlState === '23505',
  };
  return new ActorError(failure);
}

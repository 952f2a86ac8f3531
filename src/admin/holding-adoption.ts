import type { Tx } from '../store/db.js';
import { adoptHoldings, lockCheckpointOffset } from '../store/holding-adoptions.js';
import { isSignedByAdmin, type LedgerHoldingsSource } from './reconciliation/ledger-holdings.js';

/**
 * Onboarding a token adopts the treasury's genuine holdings of it that the ledger already has.
 * Until a token is onboarded, ingestion records its holdings as ignored deposits, never as the
 * treasury's funds (the counterfeit rule cannot tell a real token from a fabricated one before
 * the exchange has said which admin is real). Once it is onboarded, the treasury's active holdings
 * of it, signed by its admin, are read at the ingestion checkpoint (ingestion waits on the locked
 * checkpoint meanwhile) and join the pool in the same transaction that onboards the instrument;
 * from the next batch on, ingestion counts the token itself. Deposits already ignored stay ignored:
 * who sent them and for which account is for the operator to settle, not for a guess.
 */
export interface HoldingAdoption {
  /** Adopts inside the onboarding transaction; returns how many holdings joined and at which offset. */
  adopt(tx: Tx, instrument: { admin: string; id: string }, by: string): Promise<{ adopted: number; atOffset: number | null }>;
}

export function createHoldingAdoption(deps: { treasury: string; ledger: LedgerHoldingsSource }): HoldingAdoption {
  return {
    async adopt(tx, instrument, by) {
      const atOffset = await lockCheckpointOffset(tx, deps.treasury);
      if (atOffset === undefined) return { adopted: 0, atOffset: null };
      const held = await deps.ledger.treasuryHoldingsAt(atOffset);
      const genuine = held.filter(
        (h) => h.instrument.admin === instrument.admin && h.instrument.id === instrument.id && isSignedByAdmin(h),
      );
      return { adopted: await adoptHoldings(tx, deps.treasury, genuine, atOffset, by), atOffset };
    },
  };
}

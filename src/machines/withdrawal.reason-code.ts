import { z } from 'zod';
import { failureClass, type ActorFailure } from './failure.js';

/**
 * Why a withdrawal is where it is, as a stable code from a closed set: the withdrawal's
 * `statusCode` in the API and the `reason` label of `cxi_withdrawals`. The words (`statusReason`)
 * carry ids, amounts and ledger error text; a code carries none of them, so a dashboard or an
 * exchange's automation can branch on it and a metric has a bounded number of series.
 * A failure of an effect is named by the machine's own failure codes where it has one, otherwise
 * only as transient or permanent: ledger and registry error ids are open-ended (and a hostile
 * server could invent them), they stay in the words.
 */
export const WithdrawalReasonCode = z.enum([
  // Waiting, not failing.
  'WAITING_FOR_FUNDS',
  'INPUT_UNAVAILABLE',
  'ATTEMPT_EXPIRED',
  // An effect failed; the machine retries or has stopped.
  'TRANSIENT_FAILURE',
  'PERMANENT_FAILURE',
  'RETRIES_EXHAUSTED',
  'ATTEMPTS_EXHAUSTED',
  'INSTRUCTION_NOT_FOUND',
  'DUPLICATE_COMMAND',
  'PREPARED_TX_MISMATCH',
  'RELEASE_REFUSED',
  'UNEXPECTED',
  // Decided by policy or by an operator.
  'INSUFFICIENT_FUNDS',
  'INSTRUMENT_UNAVAILABLE',
  'TRANSFER_KIND_REFUSED',
  // Decided by the ledger before anything moved: the receiver party does not exist there.
  'RECEIVER_UNKNOWN',
  'OPERATOR_CANCEL',
  'OPERATOR_FAIL',
  // Decided by the ledger.
  'TRANSFER_FAILED',
  'OFFER_REJECTED',
  'OFFER_WITHDRAWN',
  'OFFER_EXPIRED',
  'OFFER_FAILED',
]);
export type WithdrawalReasonCode = z.infer<typeof WithdrawalReasonCode>;

/** An effect's failure as a reason code: the machine's own code, else only its kind (failure.ts `failureClass`). */
export function failureReasonCode(f: ActorFailure): WithdrawalReasonCode {
  return failureClass(f);
}

/** How an offer of ours closed unaccepted. */
export function offerClosedReasonCode(outcome: 'rejected' | 'withdrawn' | 'expired' | 'failed'): WithdrawalReasonCode {
  return ({ rejected: 'OFFER_REJECTED', withdrawn: 'OFFER_WITHDRAWN', expired: 'OFFER_EXPIRED', failed: 'OFFER_FAILED' } as const)[outcome];
}

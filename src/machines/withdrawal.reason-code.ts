import type { WithdrawalReasonCode } from '../failures.js';
import { failureClass, type ActorFailure } from './failure.js';

/**
 * Which reason code a withdrawal gets for what happened to it; the closed set itself is
 * src/failures.ts `WithdrawalReasonCode`.
 */

/** An effect's failure as a reason code: its catalogue code, else only its kind (failure.ts `failureClass`). */
export function failureReasonCode(f: ActorFailure): WithdrawalReasonCode {
  return failureClass(f);
}

/** How an offer of ours closed unaccepted. */
export function offerClosedReasonCode(outcome: 'rejected' | 'withdrawn' | 'expired' | 'failed'): WithdrawalReasonCode {
  return ({ rejected: 'OFFER_REJECTED', withdrawn: 'OFFER_WITHDRAWN', expired: 'OFFER_EXPIRED', failed: 'OFFER_FAILED' } as const)[outcome];
}

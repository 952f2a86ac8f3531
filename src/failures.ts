import { z } from 'zod';

/**
 * The one catalogue of failure codes the service raises itself when an effect, a ledger call or a
 * registry call fails (the HTTP API's own error codes are in errors.ts). Each code says whether the
 * caller may try again and what it means, in one line; the code that raises a failure names it
 * from here (`Failure.X`), never as a string of its own (eslint checks this), and README's
 * "Failure codes" table lists them (a test checks that too).
 *
 * Codes the ledger itself sends (Canton error ids such as CONTRACT_NOT_FOUND) are not ours: they
 * pass through unchanged in messages and logs, and a metric or reason code names them only by
 * their retryability (machines/failure.ts `failureClass`).
 *
 * `retry`: `yes` worth another try after a backoff; `no` trying again cannot help; `per answer`
 * the raiser decides from what the other side said (a ledger error's category, an HTTP status).
 */
export type Retry = 'yes' | 'no' | 'per answer';

interface FailureEntry {
  readonly retry: Retry;
  readonly meaning: string;
}

export const FAILURE_CATALOGUE = {
  // The machines react to these by name (withdrawal.context.ts / deposit.context.ts).
  INPUT_UNAVAILABLE: { retry: 'per answer', meaning: 'an input holding of the transaction is archived or unknown to the ledger' },
  INSTRUCTION_NOT_FOUND: {
    retry: 'no',
    meaning: 'the transfer instruction is no longer active (accepted, withdrawn, rejected or expired)',
  },
  DUPLICATE_COMMAND: { retry: 'per answer', meaning: 'the ledger already has this command: it counts as submitted' },
  PREPARED_TX_MISMATCH: {
    retry: 'no',
    meaning: 'the prepared transaction is not what was asked for, or its hash does not verify: not signed',
  },
  RELEASE_REFUSED: { retry: 'no', meaning: 'the database refused to release holdings of an attempt that may have committed' },
  UNEXPECTED: { retry: 'yes', meaning: 'something failed that is not classified: retried within the budget' },
  RECEIVER_UNKNOWN: {
    retry: 'no',
    meaning: "the ledger does not know the transfer's receiver (no participant hosts the party): the withdrawal fails and is re-credited",
  },
  // The validator's traffic, not the withdrawal's (gates/traffic.ts holds every submission meanwhile).
  TRAFFIC_EXHAUSTED: {
    retry: 'yes',
    meaning: "the validator's synchronizer traffic is spent: refused before sequencing, resubmitted once traffic is back, never counted",
  },
  TRAFFIC_COST_OUTDATED: {
    retry: 'yes',
    meaning: "the sequencer refused the submission's traffic cost as outdated: resubmitted, never counted",
  },
  // Effects: what may be signed and with which configuration.
  NOT_OUR_PARTY: { retry: 'no', meaning: 'the transaction would act for a party this service does not sign for' },
  INSTRUMENT_DISABLED: { retry: 'no', meaning: 'the instrument is disabled by configuration' },
  INSTRUMENT_NOT_CONFIGURED: { retry: 'no', meaning: 'the instrument is not onboarded: no registry is known for it' },
  REGISTRY_AUTH_CONFIG: { retry: 'no', meaning: "the instrument's registry auth setting cannot be used" },
  SIGNING_KEY: { retry: 'no', meaning: 'the treasury key cannot sign (missing, unreadable or not the treasury key)' },
  SIGNER_UNAVAILABLE: { retry: 'yes', meaning: 'the signer (HSM) did not answer or refused the session; tried again' },
  BAD_RESPONSE: { retry: 'no', meaning: 'the ledger or registry answered with a body that is not what its API defines' },
  INVALID_REQUEST: { retry: 'no', meaning: 'the request this service built does not pass its own schema (a bug)' },
  NO_DATABASE: { retry: 'no', meaning: 'the effect needs the database but was built without it' },
  INSTRUCTION_UNKNOWN: { retry: 'yes', meaning: 'ingestion has not recorded this transfer instruction yet' },
  REGISTRY_INSTRUCTION_UNKNOWN: { retry: 'yes', meaning: 'the registry does not know an instruction the ledger has active (yet)' },
  // Reservations and attempt bookkeeping (store/reservations.ts).
  STALE_ATTEMPT: { retry: 'no', meaning: 'the withdrawal has moved to a later attempt than the one asking' },
  ATTEMPT_ALREADY_USED: { retry: 'no', meaning: 'this attempt was already reserved and released: attempts are never reused' },
  STALE_ATTEMPT_SUBMITTED: { retry: 'no', meaning: 'the attempt was submitted and is past its deadline: its outcome comes from ingestion' },
  WITHDRAWAL_NOT_FOUND: { retry: 'no', meaning: 'no withdrawal with this id' },
  WITHDRAWAL_FINAL: { retry: 'no', meaning: 'the withdrawal is already completed or failed' },
  CHECK_UNAVAILABLE: { retry: 'no', meaning: 'no view of ingestion against the ledger end was configured' },
  DB_ERROR: { retry: 'per answer', meaning: 'a database call failed without a SQL state' },
  // Ledger API and registry calls (src/ledger).
  NETWORK_ERROR: { retry: 'yes', meaning: 'no answer: connection refused, reset or lost' },
  TIMEOUT: { retry: 'yes', meaning: 'no answer within the call timeout' },
  WS_CLOSED: { retry: 'yes', meaning: 'the websocket closed before the stream ended' },
  WS_STALE: { retry: 'yes', meaning: 'the websocket sent neither a frame nor a pong within the liveness limit' },
  INVALID_RESPONSE: { retry: 'no', meaning: 'an error answer whose body is not JSON' },
  RESPONSE_TOO_LARGE: { retry: 'no', meaning: 'the answer is larger than the limit for this kind of call; refused while streaming' },
  AUTH_TOKEN: { retry: 'per answer', meaning: 'no access token could be obtained from the OAuth server' },
  REGISTRY_URL_REFUSED: { retry: 'per answer', meaning: 'the registry URL or its address is refused by the registry URL policy' },
  REGISTRY_UNAUTHORIZED: { retry: 'no', meaning: 'the registry did not accept the token sent (HTTP 401)' },
  REGISTRY_FORBIDDEN: { retry: 'no', meaning: 'the registry refused access for the token sent (HTTP 403)' },
  REGISTRY_NOT_FOUND: { retry: 'no', meaning: 'the registry has no such resource (HTTP 404)' },
  REGISTRY_BAD_REQUEST: { retry: 'no', meaning: 'the registry refused the request as invalid (HTTP 400)' },
} as const satisfies Record<string, FailureEntry>;

export type FailureCode = keyof typeof FAILURE_CATALOGUE;

/** Each code by its own name, for raising: `Failure.INPUT_UNAVAILABLE`. */
export const Failure = Object.freeze(Object.fromEntries(Object.keys(FAILURE_CATALOGUE).map((c) => [c, c]))) as {
  readonly [K in FailureCode]: K;
};

export const FAILURE_CODES = Object.keys(FAILURE_CATALOGUE) as [FailureCode, ...FailureCode[]];

/**
 * Why a withdrawal is where it is, as a stable code from a closed set: the withdrawal's
 * `statusCode` in the API and the `reason` label of `cxi_withdrawals`. The words (`statusReason`)
 * carry ids, amounts and ledger error text; a code carries none of them, so a dashboard or an
 * exchange's automation can branch on it and a metric has a bounded number of series.
 * A failure of an effect is named by its code from the failure catalogue (above) where
 * it has one, otherwise only as transient or permanent: ledger and registry error ids are
 * open-ended (and a hostile server could invent them), they stay in the words. Which code a
 * withdrawal gets: src/machines/withdrawal.reason-code.ts.
 */
export const WithdrawalReasonCode = z.enum([
  ...FAILURE_CODES,
  // Waiting, not failing.
  'WAITING_FOR_FUNDS',
  'ATTEMPT_EXPIRED',
  // An effect failed; the machine retries or has stopped.
  'TRANSIENT_FAILURE',
  'PERMANENT_FAILURE',
  'RETRIES_EXHAUSTED',
  'ATTEMPTS_EXHAUSTED',
  // Decided by policy or by an operator.
  'INSUFFICIENT_FUNDS',
  'INSTRUMENT_UNAVAILABLE',
  'TRANSFER_KIND_REFUSED',
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

/** Codes formed as a prefix and the other side's number: one entry each, for the same table. */
export const FAILURE_FAMILIES = {
  HTTP_: {
    retry: 'per answer',
    meaning:
      'the Ledger API answered with this HTTP status and no Canton error (retried for 429, 502, 503 and 504; never for 401, 403, 500, 501)',
  },
  REGISTRY_HTTP_: { retry: 'per answer', meaning: 'the registry answered with this HTTP status (retried as HTTP_)' },
  DB_: {
    retry: 'per answer',
    meaning: 'a database call failed with this SQL state (connection, contention and resource states are retried)',
  },
} as const satisfies Record<string, FailureEntry>;

export type FailureFamily = keyof typeof FAILURE_FAMILIES;

/** A code of a family: `familyCode('HTTP_', 503)` is `HTTP_503`. */
export function familyCode(family: FailureFamily, suffix: string | number): string {
  return `${family}${suffix}`;
}

export function isCatalogued(code: string): code is FailureCode {
  return Object.hasOwn(FAILURE_CATALOGUE, code);
}

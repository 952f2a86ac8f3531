import type {
  AttemptStanding,
  CheckAttemptInput,
  ReleaseReservationInput,
  ReservedHolding,
  ReserveHoldingsInput,
  ReserveHoldingsOutput,
} from '../store/reservations.js';
import type {
  ChoiceContext,
  ExecuteSubmissionInput,
  ExecuteSubmissionOutput,
  InstrumentRef,
  PreparedSubmission,
  SignedSubmission,
  VerifyAndSignInput,
} from './submission.js';

/**
 * The effects of the withdrawal machine. Each is a named `fromPromise` actor in the machine's
 * `setup({ actors })`; implementations are plain async functions supplied with
 * `machine.provide({ actors: withdrawalActorLogic(impl) })`. Inputs and outputs are plain JSON
 * (amounts decimal strings, times ISO strings) because they are persisted in snapshots and an
 * actor that was running at a crash is re-run with the same input on restore: every effect must be
 * idempotent for its input or guarded by the safety rule (README).
 *
 * Failures are thrown as `ActorError` (src/machines/failure.ts): `retryable`, `definiteAnswer`,
 * `code`, `status` decide backoff vs stop.
 */

/**
 * The DB effects' inputs and outputs are the reservation SQL's own (src/store/reservations.ts,
 * which documents them): claim holdings for an attempt, free them, read where an attempt stands.
 */
export type { AttemptStanding, CheckAttemptInput, ReleaseReservationInput, ReservedHolding, ReserveHoldingsInput, ReserveHoldingsOutput };
export interface ReleaseReservationOutput {
  released: number;
}

export interface CheckAttemptOutput {
  standing: AttemptStanding;
  /** The ledger offset ingestion had reached when the database was read. */
  ingestedThrough: number;
  /** In words, for the machine's history. */
  detail: string;
}

/** The transfer we intend, as the registry's transfer-factory endpoint wants it. */
export interface TransferIntent {
  withdrawalId: string;
  attempt: number;
  sender: string;
  receiver: string;
  amount: string;
  instrument: InstrumentRef;
  inputHoldingCids: string[];
  /** Transfer.requestedAt: must be in the past when the command is interpreted. */
  requestedAt: string;
  executeBefore: string;
  /** meta.values["splice.lfdecentralizedtrust.org/reason"] = withdrawal id. */
  memo: string;
}

/** POST /registry/transfer-instruction/v1/transfer-factory for the intent. */
export type FetchTransferFactoryInput = TransferIntent;
export interface TransferFactoryOutput extends ChoiceContext {
  factoryId: string;
  transferKind: 'self' | 'direct' | 'offer';
}

/** POST /v2/interactive-submission/prepare of TransferFactory_Transfer with the reserved inputs. */
export interface PrepareTransferInput extends TransferIntent {
  factory: TransferFactoryOutput;
  /** Deterministic per attempt: withdrawal-<id>-<attempt>; command dedup is a bonus, not the guarantee. */
  commandId: string;
  /** = the attempt's deadline: after it the ledger cannot commit this transaction. */
  maxRecordTime: string;
}

/**
 * Our own 2-step offer, withdrawn (TransferInstruction_Withdraw as the sender, with the registry's
 * withdraw context): the instruction is archived and the holdings it locked return to the treasury.
 * Safe to repeat — a withdraw archives the instruction, so a second one fails or is a duplicate.
 */
export interface WithdrawOfferInput {
  withdrawalId: string;
  instrument: InstrumentRef;
  transferInstructionCid: string;
  /** Deterministic per withdrawal (withdrawal-<id>-withdraw-offer): a repeat after a commit is a duplicate. */
  commandId: string;
}
export interface WithdrawOfferOutput {
  duplicate?: boolean;
}

export interface WithdrawalActors {
  reserveHoldings(input: ReserveHoldingsInput, signal: AbortSignal): Promise<ReserveHoldingsOutput>;
  releaseReservation(input: ReleaseReservationInput, signal: AbortSignal): Promise<ReleaseReservationOutput>;
  /** Waits for ingestion to reach the ledger end, then reads the attempt's standing. Only rejects when aborted. */
  checkAttempt(input: CheckAttemptInput, signal: AbortSignal): Promise<CheckAttemptOutput>;
  fetchTransferFactory(input: FetchTransferFactoryInput, signal: AbortSignal): Promise<TransferFactoryOutput>;
  prepareTransfer(input: PrepareTransferInput, signal: AbortSignal): Promise<PreparedSubmission>;
  /** Decode the prepared transaction, recompute its hash, compare with `expected`, then sign. */
  verifyAndSign(input: VerifyAndSignInput, signal: AbortSignal): Promise<SignedSubmission>;
  executeSubmission(input: ExecuteSubmissionInput, signal: AbortSignal): Promise<ExecuteSubmissionOutput>;
  /** Context, prepare, verify + sign, execute of the withdraw in one effect: it can only return our funds. */
  withdrawOffer(input: WithdrawOfferInput, signal: AbortSignal): Promise<WithdrawOfferOutput>;
}

/** The DB-side effects, implemented in src/machines/effects/reservations.ts (createReservationActors). */
export type WithdrawalDbActors = Pick<WithdrawalActors, 'reserveHoldings' | 'releaseReservation' | 'checkAttempt'>;
/** The ledger-side effects, implemented by the ledger client. */
export type WithdrawalLedgerActors = Omit<WithdrawalActors, keyof WithdrawalDbActors>;

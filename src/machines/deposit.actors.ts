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
 * The effects of the deposit machine (2-step offers: accept the TransferInstruction). Same rules as
 * withdrawal.actors.ts: plain JSON in and out, re-run on restore, failures thrown as ActorError.
 * Accepting is idempotent on the ledger: the accept archives the instruction, so a duplicate accept
 * fails (the actor should report that as INSTRUCTION_NOT_FOUND) and can never credit twice.
 */

/** POST /registry/transfer-instruction/v1/{cid}/choice-contexts/accept — a fresh context every time. */
export interface FetchAcceptContextInput {
  depositId: string;
  transferInstructionCid: string;
  instrument: InstrumentRef;
}

/** /v2/interactive-submission/prepare of TransferInstruction_Accept with the disclosed contracts. */
export interface PrepareAcceptInput extends FetchAcceptContextInput {
  /** The treasury party: the receiver, acting. */
  actAs: string;
  context: ChoiceContext;
  /** Stable per deposit: deposit-accept-<id>; duplicates are also stopped by the archived instruction. */
  commandId: string;
  maxRecordTime: string;
}

export interface DepositActors {
  fetchAcceptContext(input: FetchAcceptContextInput, signal: AbortSignal): Promise<ChoiceContext>;
  prepareAccept(input: PrepareAcceptInput, signal: AbortSignal): Promise<PreparedSubmission>;
  verifyAndSign(input: VerifyAndSignInput, signal: AbortSignal): Promise<SignedSubmission>;
  executeSubmission(input: ExecuteSubmissionInput, signal: AbortSignal): Promise<ExecuteSubmissionOutput>;
}

import { z } from 'zod';

/**
 * Types shared by both machines for interactive submission (prepare → verify + sign → execute).
 * The ledger engineer implements `verifyAndSign` and `executeSubmission` once; the withdrawal and
 * deposit machines both call them with these inputs.
 */

export const JsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValue), z.record(z.string(), JsonValue)]),
);
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export const JsonObject = z.record(z.string(), JsonValue);
export type JsonObject = z.infer<typeof JsonObject>;

export const InstrumentRef = z.object({ admin: z.string().min(1), id: z.string().min(1) });
export type InstrumentRef = z.infer<typeof InstrumentRef>;

/** A contract the submitter cannot see, passed through from the registry unchanged. */
export const DisclosedContract = z.object({
  templateId: z.string().optional(),
  contractId: z.string().optional(),
  createdEventBlob: z.string(),
  synchronizerId: z.string().optional(),
});
export type DisclosedContract = z.infer<typeof DisclosedContract>;

/** A registry choice context: extra data for the choice plus the contracts to disclose. */
export const ChoiceContext = z.object({
  choiceContextData: JsonObject,
  disclosedContracts: z.array(DisclosedContract),
});
export type ChoiceContext = z.infer<typeof ChoiceContext>;

/** What /v2/interactive-submission/prepare answered, plus the command id it was asked with. */
export const PreparedSubmission = z.object({
  commandId: z.string().min(1),
  preparedTransaction: z.string().min(1),
  /** base64 of the hash the participant computed; verifyAndSign must recompute and compare. */
  preparedTransactionHash: z.string().min(1),
  hashingSchemeVersion: z.string().min(1),
  /**
   * The participant's estimate of what submitting it costs the validator in synchronizer traffic
   * (bytes; prepare's `costEstimation.totalTrafficCostEstimation`). Absent when the node gives none
   * (older nodes) and in snapshots written before it was kept.
   */
  trafficCost: z.number().int().nonnegative().optional(),
});
export type PreparedSubmission = z.infer<typeof PreparedSubmission>;

/**
 * What the signer must find in the prepared transaction before signing: the request we sent.
 * A mismatch is thrown as PREPARED_TX_MISMATCH (non-retryable).
 */
export const ExpectedAction = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('transfer'),
    commandId: z.string(),
    /** The contract the registry named as its transfer factory: the only contract the root may exercise. */
    factoryId: z.string(),
    sender: z.string(),
    receiver: z.string(),
    amount: z.string(),
    instrument: InstrumentRef,
    inputHoldingCids: z.array(z.string()),
    memo: z.string(),
    executeBefore: z.string(),
    maxRecordTime: z.string(),
  }),
  z.object({
    kind: z.literal('accept'),
    commandId: z.string(),
    actAs: z.string(),
    transferInstructionCid: z.string(),
    /** The offer's instrument: its admin must sign the instruction, and what the treasury receives is its holding. */
    instrument: InstrumentRef,
  }),
  /** The sender withdraws its own offer: the instruction and the holdings it locked are consumed. */
  z.object({
    kind: z.literal('withdraw'),
    commandId: z.string(),
    actAs: z.string(),
    transferInstructionCid: z.string(),
    lockedHoldingCids: z.array(z.string()),
    /** The offer's instrument: its admin must sign the instruction, and what comes back is its holding. */
    instrument: InstrumentRef,
  }),
]);
export type ExpectedAction = z.infer<typeof ExpectedAction>;

export interface VerifyAndSignInput {
  prepared: PreparedSubmission;
  expected: ExpectedAction;
}

export const SignedSubmission = PreparedSubmission.extend({
  /** base64 Ed25519 signature over the decoded hash. */
  signature: z.string().min(1),
  /** Fingerprint of the signing key ("1220…"). */
  signedBy: z.string().min(1),
});
export type SignedSubmission = z.infer<typeof SignedSubmission>;

export interface ExecuteSubmissionInput {
  /** New per execute call; the same signed transaction may be executed several times. */
  submissionId: string;
  signed: SignedSubmission;
}

/**
 * /execute is asynchronous: success only means "accepted for processing". The outcome comes from
 * ingestion. DUPLICATE_COMMAND should be returned as success (`duplicate: true`), not thrown.
 */
export interface ExecuteSubmissionOutput {
  duplicate?: boolean;
}

import { z } from 'zod';
import {
  ContractId,
  DamlValue,
  DeduplicationPeriod,
  Duration,
  IdentifierString,
  Int32,
  Int64,
  Offset,
  opt,
  optNonEmpty,
  PartyId,
  SynchronizerId,
  Timestamp,
  UpdateId,
} from './common.js';
import { TransactionFormat } from './filters.js';
import { EmptyCase, oneOf, valueWrapped } from './oneof.js';
import { Signature, SigningAlgorithmSpec } from './signatures.js';
import { JsTransaction } from './updates.js';

/** For an interface choice, `templateId` holds the interface id ("#pkg:Mod:Iface"). */
export const CreateCommand = z.object({
  templateId: IdentifierString,
  createArguments: DamlValue,
});
export type CreateCommand = z.infer<typeof CreateCommand>;

export const ExerciseCommand = z.object({
  templateId: IdentifierString,
  contractId: ContractId,
  choice: z.string().min(1),
  choiceArgument: DamlValue,
});
export type ExerciseCommand = z.infer<typeof ExerciseCommand>;

export const CreateAndExerciseCommand = z.object({
  templateId: IdentifierString,
  createArguments: DamlValue,
  choice: z.string().min(1),
  choiceArgument: DamlValue,
});
export type CreateAndExerciseCommand = z.infer<typeof CreateAndExerciseCommand>;

export const ExerciseByKeyCommand = z.object({
  templateId: IdentifierString,
  contractKey: DamlValue,
  choice: z.string().min(1),
  choiceArgument: DamlValue,
});
export type ExerciseByKeyCommand = z.infer<typeof ExerciseByKeyCommand>;

/** NO `value` wrapper on command cases. */
export const Command = oneOf('Command', {
  CreateCommand,
  ExerciseCommand,
  CreateAndExerciseCommand,
  ExerciseByKeyCommand,
});
export type Command = z.infer<typeof Command>;
export type CommandInput = z.input<typeof Command>;

/**
 * A contract the submitter cannot see, made available by its blob. Only the blob is required
 * by the Ledger API; the registry always sends all four (see registry.ts, which keeps its extra
 * debug fields — they are not part of this shape and are not forwarded).
 */
export const DisclosedContract = z.object({
  templateId: opt(IdentifierString),
  contractId: opt(ContractId),
  createdEventBlob: z.string().min(1),
  synchronizerId: opt(SynchronizerId),
});
export type DisclosedContract = z.infer<typeof DisclosedContract>;

export const PrefetchContractKey = z.object({
  templateId: IdentifierString,
  contractKey: DamlValue,
});
export type PrefetchContractKey = z.infer<typeof PrefetchContractKey>;

/**
 * Body of submit-and-wait / async submit. The change id (userId, actAs set, commandId) is the
 * deduplication key; `submissionId` distinguishes retries of the same change.
 */
export const JsCommands = z.object({
  commands: z.array(Command),
  commandId: z.string(),
  actAs: z.array(PartyId),
  userId: opt(z.string()),
  readAs: opt(z.array(PartyId)),
  workflowId: optNonEmpty(),
  deduplicationPeriod: opt(DeduplicationPeriod),
  minLedgerTimeAbs: opt(Timestamp),
  minLedgerTimeRel: opt(Duration),
  submissionId: opt(z.string()),
  disclosedContracts: opt(z.array(DisclosedContract)),
  synchronizerId: opt(SynchronizerId),
  packageIdSelectionPreference: opt(z.array(z.string())),
  prefetchContractKeys: opt(z.array(PrefetchContractKey)),
  tapsMaxPasses: opt(Int32),
});
export type JsCommands = z.infer<typeof JsCommands>;
export type JsCommandsInput = z.input<typeof JsCommands>;

export const SubmitAndWaitResponse = z.object({
  updateId: UpdateId,
  completionOffset: Offset,
});
export type SubmitAndWaitResponse = z.infer<typeof SubmitAndWaitResponse>;

export const JsSubmitAndWaitForTransactionRequest = z.object({
  commands: JsCommands,
  transactionFormat: opt(TransactionFormat),
});
export type JsSubmitAndWaitForTransactionRequest = z.infer<typeof JsSubmitAndWaitForTransactionRequest>;
export type JsSubmitAndWaitForTransactionRequestInput = z.input<typeof JsSubmitAndWaitForTransactionRequest>;

export const JsSubmitAndWaitForTransactionResponse = z.object({
  transaction: JsTransaction,
});
export type JsSubmitAndWaitForTransactionResponse = z.infer<typeof JsSubmitAndWaitForTransactionResponse>;

/** `{}`: the outcome of an async submit arrives on the completion stream. */
export const SubmitResponse = z.object({});
export type SubmitResponse = z.infer<typeof SubmitResponse>;

export const MinLedgerTime = z.object({
  time: opt(
    oneOf('MinLedgerTime.time', {
      MinLedgerTimeAbs: valueWrapped(Timestamp),
      MinLedgerTimeRel: valueWrapped(Duration),
      Empty: EmptyCase,
    }),
  ),
});
export type MinLedgerTime = z.infer<typeof MinLedgerTime>;

export const CostEstimationHints = z.object({
  disabled: opt(z.boolean()),
  expectedSignatures: opt(z.array(SigningAlgorithmSpec)),
});
export type CostEstimationHints = z.infer<typeof CostEstimationHints>;

/**
 * POST /v2/interactive-submission/prepare. Only single-command transactions are supported by
 * the node. No dedup period or submissionId here: those belong to execute. Set `maxRecordTime`
 * so that "definitely not committed" becomes knowable once record time passes it.
 *
 * `synchronizerId` ("" = the participant chooses) and `packageIdSelectionPreference` ([] = none)
 * are required although the OpenAPI does not say so: Canton 3.4's JsPrepareSubmissionRequest
 * (JsInteractiveSubmissionService.scala) declares them without a default, and a body without them
 * is refused with 400 "Invalid value for: body (Missing required field …)".
 */
export const JsPrepareSubmissionRequest = z.object({
  userId: opt(z.string()),
  commandId: z.string(),
  commands: z.array(Command),
  minLedgerTime: opt(MinLedgerTime),
  actAs: z.array(PartyId),
  readAs: opt(z.array(PartyId)),
  disclosedContracts: opt(z.array(DisclosedContract)),
  synchronizerId: SynchronizerId,
  packageIdSelectionPreference: z.array(z.string()),
  verboseHashing: opt(z.boolean()),
  prefetchContractKeys: opt(z.array(PrefetchContractKey)),
  maxRecordTime: opt(Timestamp),
  estimateTrafficCost: opt(CostEstimationHints),
  tapsMaxPasses: opt(Int32),
});
export type JsPrepareSubmissionRequest = z.infer<typeof JsPrepareSubmissionRequest>;
export type JsPrepareSubmissionRequestInput = z.input<typeof JsPrepareSubmissionRequest>;

export const HashingSchemeVersion = z.enum(['HASHING_SCHEME_VERSION_UNSPECIFIED', 'HASHING_SCHEME_VERSION_V2']);
export type HashingSchemeVersion = z.infer<typeof HashingSchemeVersion>;

export const CostEstimation = z.object({
  estimationTimestamp: Timestamp,
  confirmationRequestTrafficCostEstimation: Int64,
  confirmationResponseTrafficCostEstimation: Int64,
  totalTrafficCostEstimation: Int64,
});
export type CostEstimation = z.infer<typeof CostEstimation>;

/**
 * `preparedTransaction` is base64 protobuf, passed to execute unchanged. `preparedTransactionHash`
 * (base64) is what gets signed — but only after decoding the transaction and checking it.
 */
export const JsPrepareSubmissionResponse = z.object({
  preparedTransaction: z.string().min(1),
  preparedTransactionHash: z.string().min(1),
  hashingSchemeVersion: HashingSchemeVersion,
  hashingDetails: opt(z.string()),
  costEstimation: opt(CostEstimation),
});
export type JsPrepareSubmissionResponse = z.infer<typeof JsPrepareSubmissionResponse>;

export const SinglePartySignatures = z.object({
  party: PartyId,
  signatures: z.array(Signature),
});
export type SinglePartySignatures = z.infer<typeof SinglePartySignatures>;

export const PartySignatures = z.object({
  signatures: z.array(SinglePartySignatures),
});
export type PartySignatures = z.infer<typeof PartySignatures>;

/**
 * `deduplicationPeriod` is required by Canton 3.4 (JsExecuteSubmissionRequest declares it without a
 * default), whatever the OpenAPI says; `{"Empty": {}}` asks for the participant's maximum.
 */
const executeFields = {
  preparedTransaction: z.string().min(1),
  partySignatures: PartySignatures,
  deduplicationPeriod: DeduplicationPeriod,
  // Required, unlike in JsCommands: it is how the completion of an execute is found.
  submissionId: z.string(),
  userId: opt(z.string()),
  hashingSchemeVersion: HashingSchemeVersion,
  minLedgerTime: opt(MinLedgerTime),
};

/** POST /v2/interactive-submission/execute (async; returns `{}`). */
export const JsExecuteSubmissionRequest = z.object(executeFields);
export type JsExecuteSubmissionRequest = z.infer<typeof JsExecuteSubmissionRequest>;
export type JsExecuteSubmissionRequestInput = z.input<typeof JsExecuteSubmissionRequest>;

/** POST /v2/interactive-submission/executeAndWait — same body as execute. */
export const JsExecuteSubmissionAndWaitRequest = z.object(executeFields);
export type JsExecuteSubmissionAndWaitRequest = z.infer<typeof JsExecuteSubmissionAndWaitRequest>;
export type JsExecuteSubmissionAndWaitRequestInput = z.input<typeof JsExecuteSubmissionAndWaitRequest>;

export const JsExecuteSubmissionAndWaitForTransactionRequest = z.object({
  ...executeFields,
  transactionFormat: opt(TransactionFormat),
});
export type JsExecuteSubmissionAndWaitForTransactionRequest = z.infer<typeof JsExecuteSubmissionAndWaitForTransactionRequest>;
export type JsExecuteSubmissionAndWaitForTransactionRequestInput = z.input<typeof JsExecuteSubmissionAndWaitForTransactionRequest>;

export const ExecuteSubmissionResponse = z.object({});
export type ExecuteSubmissionResponse = z.infer<typeof ExecuteSubmissionResponse>;

export const ExecuteSubmissionAndWaitResponse = z.object({
  updateId: UpdateId,
  completionOffset: Offset,
});
export type ExecuteSubmissionAndWaitResponse = z.infer<typeof ExecuteSubmissionAndWaitResponse>;

export const JsExecuteSubmissionAndWaitForTransactionResponse = z.object({
  transaction: JsTransaction,
});
export type JsExecuteSubmissionAndWaitForTransactionResponse = z.infer<typeof JsExecuteSubmissionAndWaitForTransactionResponse>;

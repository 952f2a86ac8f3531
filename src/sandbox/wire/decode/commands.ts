import {
  anyJson,
  bytes,
  configured,
  enumOf,
  field,
  int,
  long,
  oneof,
  option,
  proto,
  relaxed,
  seq,
  str,
  timestamp,
  adt,
  valueCase,
  withDefault,
  bool,
  type Decoded,
} from './codec.js';
import { TransactionFormat } from './formats.js';
import { identifier } from './identifier.js';

/**
 * Command submission and interactive submission request bodies, from Canton 3.4's
 * JsCommandService.scala and JsInteractiveSubmissionService.scala (case classes and the codec
 * each is decoded with) and the protos they embed (commands.proto, crypto.proto,
 * interactive_submission_service.proto).
 */

/** protobuf.duration.Duration: `deriveConfiguredCodec` of the ScalaPB class (JsSchema.scala). */
export const Duration = configured({ seconds: withDefault(long, 0), nanos: withDefault(int, 0) });
export type Duration = Decoded<typeof Duration>;

// JsCommand.Command (JsCommandService.scala): configured, no defaults; arguments are raw JSON
// that the transcoder checks against the package later.
export const CreateCommand = configured({ templateId: field(identifier), createArguments: field(anyJson) });
export const ExerciseCommand = configured({
  templateId: field(identifier),
  contractId: field(str),
  choice: field(str),
  choiceArgument: field(anyJson),
});
export const CreateAndExerciseCommand = configured({
  templateId: field(identifier),
  createArguments: field(anyJson),
  choice: field(str),
  choiceArgument: field(anyJson),
});
export const ExerciseByKeyCommand = configured({
  templateId: field(identifier),
  contractKey: field(anyJson),
  choice: field(str),
  choiceArgument: field(anyJson),
});
export const Command = adt('JsCommand.Command', { CreateCommand, ExerciseCommand, CreateAndExerciseCommand, ExerciseByKeyCommand });
export type Command = Decoded<typeof Command>;

/** commands.proto DisclosedContract, `deriveRelaxedCodec` (JsCommandService.scala). */
export const DisclosedContract = relaxed({
  templateId: proto(option(identifier)),
  contractId: proto(str),
  createdEventBlob: proto(bytes),
  synchronizerId: proto(str),
});
export type DisclosedContract = Decoded<typeof DisclosedContract>;

/** js.PrefetchContractKey (js/package.scala), configured: the key itself is required. */
export const PrefetchContractKey = configured({ templateId: field(option(identifier)), contractKey: field(anyJson) });

/** The completion/commands DeduplicationPeriod ADT; its cases are relaxed ScalaPB wrappers. */
export const DeduplicationPeriod = adt('DeduplicationPeriod', {
  DeduplicationDuration: valueCase(Duration),
  DeduplicationOffset: relaxed({ value: proto(long) }),
  Empty: configured({}),
});
export type DeduplicationPeriod = Decoded<typeof DeduplicationPeriod>;

/** JsCommands (JsCommandService.scala): commands, commandId and actAs have no default. */
export const JsCommands = configured({
  commands: field(seq(Command)),
  commandId: field(str),
  actAs: field(seq(str)),
  userId: withDefault(option(str), undefined),
  readAs: withDefault(seq(str), []),
  workflowId: withDefault(option(str), undefined),
  deduplicationPeriod: withDefault(option(DeduplicationPeriod), undefined),
  minLedgerTimeAbs: withDefault(option(timestamp), undefined),
  minLedgerTimeRel: withDefault(option(Duration), undefined),
  submissionId: withDefault(option(str), undefined),
  disclosedContracts: withDefault(seq(DisclosedContract), []),
  synchronizerId: withDefault(option(str), undefined),
  packageIdSelectionPreference: withDefault(seq(str), []),
  prefetchContractKeys: withDefault(seq(PrefetchContractKey), []),
  tapsMaxPasses: withDefault(option(int), undefined),
});
export type JsCommands = Decoded<typeof JsCommands>;

export const JsSubmitAndWaitForTransactionRequest = configured({
  commands: field(JsCommands),
  transactionFormat: withDefault(option(TransactionFormat), undefined),
});

// ------------------------------------------------------------------ interactive submission

/** MinLedgerTime (relaxed) with its oneof `time` (an ADT of relaxed wrappers). */
export const MinLedgerTime = relaxed({
  time: proto(oneof('MinLedgerTime.Time', { MinLedgerTimeAbs: valueCase(timestamp), MinLedgerTimeRel: valueCase(Duration) })),
});
export type MinLedgerTime = Decoded<typeof MinLedgerTime>;

export const SigningAlgorithmSpec = enumOf([
  'SIGNING_ALGORITHM_SPEC_UNSPECIFIED',
  'SIGNING_ALGORITHM_SPEC_ED25519',
  'SIGNING_ALGORITHM_SPEC_EC_DSA_SHA_256',
  'SIGNING_ALGORITHM_SPEC_EC_DSA_SHA_384',
]);

/** CostEstimationHints: `deriveConfiguredCodec` of the ScalaPB class, so every field defaults. */
export const CostEstimationHints = configured({
  disabled: withDefault(bool, false),
  expectedSignatures: withDefault(seq(SigningAlgorithmSpec), []),
});

/**
 * JsPrepareSubmissionRequest (JsInteractiveSubmissionService.scala). Beyond the OpenAPI's
 * required list, `synchronizerId` ("" lets the participant choose) and
 * `packageIdSelectionPreference` ([] for none) have no default in the class, so they are required.
 */
export const JsPrepareSubmissionRequest = configured({
  userId: withDefault(str, ''),
  commandId: field(str),
  commands: field(seq(Command)),
  minLedgerTime: withDefault(option(MinLedgerTime), undefined),
  actAs: field(seq(str)),
  readAs: withDefault(seq(str), []),
  disclosedContracts: withDefault(seq(DisclosedContract), []),
  synchronizerId: field(str),
  packageIdSelectionPreference: field(seq(str)),
  verboseHashing: withDefault(bool, false),
  prefetchContractKeys: withDefault(seq(PrefetchContractKey), []),
  maxRecordTime: field(option(timestamp)),
  estimateTrafficCost: withDefault(option(CostEstimationHints), undefined),
  tapsMaxPasses: withDefault(option(int), undefined),
});
export type JsPrepareSubmissionRequest = Decoded<typeof JsPrepareSubmissionRequest>;

export const SignatureFormat = enumOf([
  'SIGNATURE_FORMAT_UNSPECIFIED',
  'SIGNATURE_FORMAT_RAW',
  'SIGNATURE_FORMAT_DER',
  'SIGNATURE_FORMAT_CONCAT',
  'SIGNATURE_FORMAT_SYMBOLIC',
]);

/** crypto.proto Signature, relaxed: both enums are required in practice. */
export const Signature = relaxed({
  format: proto(SignatureFormat),
  signature: proto(bytes),
  signedBy: proto(str),
  signingAlgorithmSpec: proto(SigningAlgorithmSpec),
});
export type Signature = Decoded<typeof Signature>;

export const SinglePartySignatures = relaxed({ party: proto(str), signatures: proto(seq(Signature)) });
export const PartySignatures = relaxed({ signatures: proto(seq(SinglePartySignatures)) });
export type PartySignatures = Decoded<typeof PartySignatures>;

export const HashingSchemeVersion = enumOf(['HASHING_SCHEME_VERSION_UNSPECIFIED', 'HASHING_SCHEME_VERSION_V2']);

/**
 * JsExecuteSubmissionRequest / …AndWaitRequest (JsInteractiveSubmissionService.scala):
 * `preparedTransaction`, `partySignatures`, `deduplicationPeriod`, `submissionId` and
 * `hashingSchemeVersion` have no default. The OpenAPI does not list `deduplicationPeriod` as
 * required; the class does.
 */
const executeFields = {
  preparedTransaction: field(bytes),
  partySignatures: field(PartySignatures),
  deduplicationPeriod: field(DeduplicationPeriod),
  submissionId: field(str),
  userId: withDefault(str, ''),
  hashingSchemeVersion: field(HashingSchemeVersion),
  minLedgerTime: withDefault(option(MinLedgerTime), undefined),
};
export const JsExecuteSubmissionRequest = configured(executeFields);
export type JsExecuteSubmissionRequest = Decoded<typeof JsExecuteSubmissionRequest>;
export const JsExecuteSubmissionAndWaitRequest = configured(executeFields);
export const JsExecuteSubmissionAndWaitForTransactionRequest = configured({
  ...executeFields,
  transactionFormat: withDefault(option(TransactionFormat), undefined),
});

/**
 * Cross-checks the zod schemas against the specs: every hand-built, complete 3.4.12 example below
 * must (a) be valid per the spec document, strictly, (b) parse with our zod schema to exactly
 * itself (so the schema knows every field — zod strips unknown keys, which would show up as a
 * difference), and (c) together the examples must use every property of every spec component
 * they touch, so "complete" is checked rather than claimed.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as S from '../../src/ledger/schema/index.js';
import {
  expectSpecValid,
  expectWsFrameValid,
  ledgerApiSpec,
  ledgerAsyncApiSpec,
  specErrors,
  tokenMetadataSpec,
  transferInstructionSpec,
  type LoadedSpec,
} from '../support/spec-validator.js';

const PKG = 'a1'.repeat(32);
const IFACE_PKG = 'b2'.repeat(32);
const TREASURY = 'treasury::1220' + 'ab'.repeat(32);
const ALICE = 'alice::1220' + 'cd'.repeat(32);
const DSO = 'DSO::1220' + 'ef'.repeat(32);
const SYNC = 'global-domain::1220' + '12'.repeat(32);
const SYNC2 = 'other-domain::1220' + '34'.repeat(32);
const CID = '00' + 'aa'.repeat(32) + 'ca1112' + 'bb'.repeat(32);
const CID2 = '00' + 'cc'.repeat(32) + 'ca1112' + 'dd'.repeat(32);
const UPDATE_ID = '1220' + '9f'.repeat(32);

const holdingView = {
  owner: TREASURY,
  instrumentId: { admin: DSO, id: 'Amulet' },
  amount: '200.0000000000',
  lock: null,
  meta: { values: { [S.MetadataKey.reason]: 'acct-42' } },
};

const protoAny = {
  typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo',
  value: 'CgNGT08=',
  unknownFields: { fields: { '1': { varint: [1], fixed64: [2], fixed32: [3], lengthDelimited: ['AA=='] } } },
  valueDecoded: '{"reason":"FOO"}',
};

const createdEvent = {
  offset: 107,
  nodeId: 2,
  contractId: CID,
  templateId: `${PKG}:Splice.Amulet:Amulet`,
  contractKey: null,
  createArgument: { dso: DSO, owner: TREASURY, amount: { initialAmount: '200.0000000000' } },
  createdEventBlob: 'CgMyLjES',
  interfaceViews: [
    {
      interfaceId: `${IFACE_PKG}:Splice.Api.Token.HoldingV1:Holding`,
      viewStatus: { code: 0, message: '', details: [protoAny] },
      viewValue: holdingView,
    },
  ],
  witnessParties: [TREASURY],
  signatories: [DSO, TREASURY],
  observers: [ALICE],
  createdAt: '2026-05-01T10:00:00.000114Z',
  packageName: 'splice-amulet',
  representativePackageId: PKG,
  acsDelta: true,
} satisfies z.input<typeof S.CreatedEvent>;

const exercisedEvent = {
  offset: 107,
  nodeId: 0,
  contractId: CID2,
  templateId: `${PKG}:Splice.AmuletRules:AmuletRules`,
  interfaceId: `${IFACE_PKG}:Splice.Api.Token.TransferInstructionV1:TransferFactory`,
  choice: 'TransferFactory_Transfer',
  choiceArgument: { expectedAdmin: DSO },
  actingParties: [ALICE],
  consuming: false,
  witnessParties: [TREASURY],
  lastDescendantNodeId: 3,
  exerciseResult: { output: { tag: 'TransferInstructionResult_Failed', value: {} } },
  packageName: 'splice-amulet',
  implementedInterfaces: [`${IFACE_PKG}:Splice.Api.Token.TransferInstructionV1:TransferFactory`],
  acsDelta: false,
} satisfies z.input<typeof S.ExercisedEvent>;

const archivedEvent = {
  offset: 107,
  nodeId: 1,
  contractId: CID2,
  templateId: `${PKG}:Splice.Amulet:Amulet`,
  witnessParties: [TREASURY],
  packageName: 'splice-amulet',
  implementedInterfaces: [`${IFACE_PKG}:Splice.Api.Token.HoldingV1:Holding`],
} satisfies z.input<typeof S.ArchivedEvent>;

const traceContext = { traceparent: '00-5272bc75d4e43cc836ad878ee28fd812-63cd1b00c1d96ad3-01', tracestate: 'k=v' };

const transaction = {
  updateId: UPDATE_ID,
  commandId: 'wd-7f3c',
  workflowId: 'wf-1',
  effectiveAt: '2026-05-01T10:00:00Z',
  events: [{ ExercisedEvent: exercisedEvent }, { ArchivedEvent: archivedEvent }, { CreatedEvent: createdEvent }],
  offset: 107,
  synchronizerId: SYNC,
  traceContext,
  recordTime: '2026-05-01T10:00:00.000114Z',
  externalTransactionHash: 'q2V5aGFzaA==',
  paidTrafficCost: 11046,
} satisfies z.input<typeof S.JsTransaction>;

const unassignedEvent = {
  reassignmentId: 'r-1',
  contractId: CID,
  templateId: `${PKG}:Splice.Amulet:Amulet`,
  source: SYNC,
  target: SYNC2,
  submitter: TREASURY,
  reassignmentCounter: 1,
  assignmentExclusivity: '2026-05-01T10:05:00Z',
  witnessParties: [TREASURY],
  packageName: 'splice-amulet',
  offset: 108,
  nodeId: 0,
} satisfies z.input<typeof S.UnassignedEvent>;

const reassignment = {
  updateId: UPDATE_ID,
  commandId: 'reassign-1',
  workflowId: 'wf-2',
  offset: 108,
  events: [
    { JsUnassignedEvent: { value: unassignedEvent } },
    {
      JsAssignmentEvent: {
        source: SYNC2,
        target: SYNC,
        reassignmentId: 'r-2',
        submitter: TREASURY,
        reassignmentCounter: 2,
        createdEvent,
      },
    },
  ],
  traceContext,
  recordTime: '2026-05-01T10:00:01Z',
  synchronizerId: SYNC,
  paidTrafficCost: 10,
} satisfies z.input<typeof S.JsReassignment>;

const offsetCheckpoint = {
  offset: 110,
  synchronizerTimes: [{ synchronizerId: SYNC, recordTime: '2026-05-01T10:00:02.5Z' }],
};

const topologyTransaction = {
  updateId: UPDATE_ID,
  offset: 109,
  synchronizerId: SYNC,
  recordTime: '2026-05-01T10:00:01Z',
  events: [
    {
      event: {
        ParticipantAuthorizationAdded: {
          value: { partyId: TREASURY, participantId: 'PAR::p1', participantPermission: 'PARTICIPANT_PERMISSION_CONFIRMATION' },
        },
      },
    },
    {
      event: {
        ParticipantAuthorizationChanged: {
          value: { partyId: TREASURY, participantId: 'PAR::p1', participantPermission: 'PARTICIPANT_PERMISSION_SUBMISSION' },
        },
      },
    },
    { event: { ParticipantAuthorizationRevoked: { value: { partyId: TREASURY, participantId: 'PAR::p2' } } } },
    { event: { Empty: {} } },
  ],
  traceContext,
} satisfies z.input<typeof S.JsTopologyTransaction>;

const eventFormat = {
  filtersByParty: {
    [TREASURY]: {
      cumulative: [
        { identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: false } } } },
        {
          identifierFilter: {
            InterfaceFilter: {
              value: { interfaceId: S.HOLDING_INTERFACE_ID, includeInterfaceView: true, includeCreatedEventBlob: true },
            },
          },
        },
        {
          identifierFilter: {
            TemplateFilter: { value: { templateId: '#splice-amulet:Splice.Amulet:Amulet', includeCreatedEventBlob: true } },
          },
        },
        { identifierFilter: { Empty: {} } },
      ],
    },
  },
  filtersForAnyParty: { cumulative: [] },
  verbose: true,
} satisfies S.EventFormatInput;

const updateFormat = {
  includeTransactions: { eventFormat, transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' },
  includeReassignments: eventFormat,
  includeTopologyEvents: { includeParticipantAuthorizationEvents: { parties: [TREASURY] } },
} satisfies S.UpdateFormatInput;

const disclosedContract = {
  templateId: `${PKG}:Splice.AmuletRules:AmuletRules`,
  contractId: CID2,
  createdEventBlob: 'CgMyLjES',
  synchronizerId: SYNC,
};

const duration = { seconds: 86400, nanos: 0 };

const exerciseTransferFactory = {
  ExerciseCommand: {
    templateId: S.TRANSFER_FACTORY_INTERFACE_ID,
    contractId: CID,
    choice: 'TransferFactory_Transfer',
    choiceArgument: { expectedAdmin: DSO },
  },
} satisfies S.CommandInput;

const jsCommands = {
  commands: [
    { CreateCommand: { templateId: '#pkg:Mod:T', createArguments: { owner: TREASURY } } },
    exerciseTransferFactory,
    {
      CreateAndExerciseCommand: {
        templateId: '#pkg:Mod:T',
        createArguments: { owner: TREASURY },
        choice: 'Go',
        choiceArgument: {},
      },
    },
    { ExerciseByKeyCommand: { templateId: '#pkg:Mod:T', contractKey: TREASURY, choice: 'Go', choiceArgument: {} } },
  ],
  commandId: 'wd-7f3c',
  actAs: [TREASURY],
  userId: 'exchange-svc',
  readAs: [ALICE],
  workflowId: 'wf-1',
  deduplicationPeriod: { DeduplicationDuration: { value: duration } },
  minLedgerTimeAbs: '2026-05-01T10:00:00Z',
  minLedgerTimeRel: { seconds: 5, nanos: 500 },
  submissionId: '3b0c-1',
  disclosedContracts: [disclosedContract],
  synchronizerId: SYNC,
  packageIdSelectionPreference: [PKG],
  prefetchContractKeys: [{ templateId: '#pkg:Mod:T', contractKey: TREASURY }],
  tapsMaxPasses: 3,
} satisfies S.JsCommandsInput;

const signature = {
  format: 'SIGNATURE_FORMAT_CONCAT',
  signature: '3q2+7w==',
  signedBy: '1220' + 'ab'.repeat(32),
  signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519',
} satisfies z.input<typeof S.Signature>;

const executeRequest = {
  preparedTransaction: 'CrsBCgMyLjES',
  partySignatures: { signatures: [{ party: TREASURY, signatures: [signature] }] },
  deduplicationPeriod: { DeduplicationOffset: { value: 4700 } },
  submissionId: '8d1e-1',
  userId: 'exchange-svc',
  hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
  minLedgerTime: { time: { MinLedgerTimeAbs: { value: '2026-05-01T10:00:00Z' } } },
} satisfies S.JsExecuteSubmissionRequestInput;

const completion = {
  commandId: 'wd-7f3c',
  status: { code: 6, message: 'DUPLICATE_COMMAND(10,8d1e): already processed', details: [protoAny] },
  updateId: UPDATE_ID,
  userId: 'exchange-svc',
  actAs: [TREASURY],
  submissionId: '8d1e-1',
  deduplicationPeriod: { Empty: {} },
  traceContext,
  offset: 4711,
  synchronizerTime: { synchronizerId: SYNC, recordTime: '2026-05-01T10:00:01Z' },
  paidTrafficCost: 5,
} satisfies z.input<typeof S.Completion>;

const user = {
  id: 'exchange-svc',
  primaryParty: TREASURY,
  isDeactivated: false,
  metadata: { resourceVersion: '3', annotations: { team: 'treasury' } },
  identityProviderId: '',
};

const allRights = [
  { kind: { CanActAs: { value: { party: TREASURY } } } },
  { kind: { CanReadAs: { value: { party: TREASURY } } } },
  { kind: { CanExecuteAs: { value: { party: TREASURY } } } },
  { kind: { CanReadAsAnyParty: { value: {} } } },
  { kind: { CanExecuteAsAnyParty: { value: {} } } },
  { kind: { ParticipantAdmin: { value: {} } } },
  { kind: { IdentityProviderAdmin: { value: {} } } },
  { kind: { Empty: {} } },
] satisfies z.input<typeof S.Right>[];

const partyDetails = {
  party: TREASURY,
  isLocal: true,
  localMetadata: { resourceVersion: '1', annotations: { k: 'v' } },
  identityProviderId: '',
};

const registryDisclosed = {
  ...disclosedContract,
  debugPackageName: 'splice-amulet',
  debugPayload: { dso: DSO },
  debugCreatedAt: '2026-05-01T10:00:00Z',
};

const choiceContext = {
  choiceContextData: { values: { 'amulet-rules': { tag: 'AV_ContractId', value: CID2 } } },
  disclosedContracts: [registryDisclosed],
};

const instrument = {
  id: 'Amulet',
  name: 'Canton Coin',
  symbol: 'CC',
  totalSupply: '1000000.0',
  totalSupplyAsOf: '2026-05-01T10:00:00Z',
  decimals: 10,
  supportedApis: { 'splice-api-token-metadata-v1': 1, 'splice-api-token-transfer-instruction-v1': 1 },
};

interface Example {
  readonly title: string;
  readonly spec: () => LoadedSpec;
  readonly specName: string;
  readonly schema: z.ZodType;
  readonly value: unknown;
}

const L = () => ledgerApiSpec();
const TI = transferInstructionSpec;
const TM = tokenMetadataSpec;

const EXAMPLES: Example[] = [
  // updates
  {
    title: 'update: Transaction',
    spec: L,
    specName: 'JsGetUpdatesResponse',
    schema: S.JsGetUpdatesResponse,
    value: { update: { Transaction: { value: transaction } } },
  },
  {
    title: 'update: Reassignment',
    spec: L,
    specName: 'JsGetUpdatesResponse',
    schema: S.JsGetUpdatesResponse,
    value: { update: { Reassignment: { value: reassignment } } },
  },
  {
    title: 'update: OffsetCheckpoint',
    spec: L,
    specName: 'JsGetUpdatesResponse',
    schema: S.JsGetUpdatesResponse,
    value: { update: { OffsetCheckpoint: { value: offsetCheckpoint } } },
  },
  {
    title: 'update: TopologyTransaction',
    spec: L,
    specName: 'JsGetUpdatesResponse',
    schema: S.JsGetUpdatesResponse,
    value: { update: { TopologyTransaction: { value: topologyTransaction } } },
  },
  {
    title: 'update-by-id response',
    spec: L,
    specName: 'JsGetUpdateResponse',
    schema: S.JsGetUpdateResponse,
    value: { update: { Transaction: { value: transaction } } },
  },
  {
    title: 'transaction lookup response',
    spec: L,
    specName: 'JsGetTransactionResponse',
    schema: S.JsGetTransactionResponse,
    value: { transaction },
  },
  {
    title: 'GetUpdatesRequest',
    spec: L,
    specName: 'GetUpdatesRequest',
    schema: S.GetUpdatesRequest,
    value: { beginExclusive: 1234, endInclusive: 2000, updateFormat },
  },
  {
    title: 'GetUpdateByIdRequest',
    spec: L,
    specName: 'GetUpdateByIdRequest',
    schema: S.GetUpdateByIdRequest,
    value: { updateId: UPDATE_ID, updateFormat },
  },
  {
    title: 'GetUpdateByOffsetRequest',
    spec: L,
    specName: 'GetUpdateByOffsetRequest',
    schema: S.GetUpdateByOffsetRequest,
    value: { offset: 107, updateFormat },
  },
  // state
  { title: 'ledger end', spec: L, specName: 'GetLedgerEndResponse', schema: S.GetLedgerEndResponse, value: { offset: 4711 } },
  {
    title: 'latest pruned offsets',
    spec: L,
    specName: 'GetLatestPrunedOffsetsResponse',
    schema: S.GetLatestPrunedOffsetsResponse,
    value: { participantPrunedUpToInclusive: 1000, allDivulgedContractsPrunedUpToInclusive: 900 },
  },
  {
    title: 'connected synchronizers',
    spec: L,
    specName: 'GetConnectedSynchronizersResponse',
    schema: S.GetConnectedSynchronizersResponse,
    value: {
      connectedSynchronizers: [{ synchronizerAlias: 'global', synchronizerId: SYNC, permission: 'PARTICIPANT_PERMISSION_SUBMISSION' }],
    },
  },
  {
    title: 'GetActiveContractsRequest',
    spec: L,
    specName: 'GetActiveContractsRequest',
    schema: S.GetActiveContractsRequest,
    value: { activeAtOffset: 4711, eventFormat },
  },
  {
    title: 'ACS: JsActiveContract',
    spec: L,
    specName: 'JsGetActiveContractsResponse',
    schema: S.JsGetActiveContractsResponse,
    value: { workflowId: 'wf-1', contractEntry: { JsActiveContract: { createdEvent, synchronizerId: SYNC, reassignmentCounter: 0 } } },
  },
  {
    title: 'ACS: JsIncompleteAssigned',
    spec: L,
    specName: 'JsGetActiveContractsResponse',
    schema: S.JsGetActiveContractsResponse,
    value: {
      contractEntry: {
        JsIncompleteAssigned: {
          assignedEvent: { source: SYNC2, target: SYNC, reassignmentId: 'r-3', submitter: TREASURY, reassignmentCounter: 3, createdEvent },
        },
      },
    },
  },
  {
    title: 'ACS: JsIncompleteUnassigned',
    spec: L,
    specName: 'JsGetActiveContractsResponse',
    schema: S.JsGetActiveContractsResponse,
    value: { contractEntry: { JsIncompleteUnassigned: { createdEvent, unassignedEvent } } },
  },
  {
    title: 'ACS: JsEmpty',
    spec: L,
    specName: 'JsGetActiveContractsResponse',
    schema: S.JsGetActiveContractsResponse,
    value: { contractEntry: { JsEmpty: {} } },
  },
  {
    title: 'events-by-contract-id request',
    spec: L,
    specName: 'GetEventsByContractIdRequest',
    schema: S.GetEventsByContractIdRequest,
    value: { contractId: CID, eventFormat },
  },
  {
    title: 'events-by-contract-id response',
    spec: L,
    specName: 'JsGetEventsByContractIdResponse',
    schema: S.JsGetEventsByContractIdResponse,
    value: { created: { createdEvent, synchronizerId: SYNC }, archived: { archivedEvent, synchronizerId: SYNC } },
  },
  {
    title: 'contract-by-id request',
    spec: L,
    specName: 'GetContractRequest',
    schema: S.GetContractRequest,
    value: { contractId: CID, queryingParties: [TREASURY] },
  },
  { title: 'contract-by-id response', spec: L, specName: 'GetContractResponse', schema: S.GetContractResponse, value: { createdEvent } },
  // commands
  { title: 'JsCommands', spec: L, specName: 'JsCommands', schema: S.JsCommands, value: jsCommands },
  {
    title: 'submit-and-wait response',
    spec: L,
    specName: 'SubmitAndWaitResponse',
    schema: S.SubmitAndWaitResponse,
    value: { updateId: UPDATE_ID, completionOffset: 4711 },
  },
  {
    title: 'submit-and-wait-for-transaction request',
    spec: L,
    specName: 'JsSubmitAndWaitForTransactionRequest',
    schema: S.JsSubmitAndWaitForTransactionRequest,
    value: { commands: jsCommands, transactionFormat: { eventFormat, transactionShape: 'TRANSACTION_SHAPE_ACS_DELTA' } },
  },
  {
    title: 'submit-and-wait-for-transaction response',
    spec: L,
    specName: 'JsSubmitAndWaitForTransactionResponse',
    schema: S.JsSubmitAndWaitForTransactionResponse,
    value: { transaction },
  },
  { title: 'async submit response', spec: L, specName: 'SubmitResponse', schema: S.SubmitResponse, value: {} },
  {
    title: 'prepare request',
    spec: L,
    specName: 'JsPrepareSubmissionRequest',
    schema: S.JsPrepareSubmissionRequest,
    value: {
      userId: 'exchange-svc',
      commandId: 'wd-7f3c',
      commands: [exerciseTransferFactory],
      minLedgerTime: { time: { MinLedgerTimeRel: { value: { seconds: 1, nanos: 0 } } } },
      actAs: [TREASURY],
      readAs: [TREASURY],
      disclosedContracts: [disclosedContract],
      synchronizerId: SYNC,
      packageIdSelectionPreference: [PKG],
      verboseHashing: false,
      prefetchContractKeys: [{ templateId: '#pkg:Mod:T', contractKey: TREASURY }],
      maxRecordTime: '2026-05-01T10:10:00Z',
      estimateTrafficCost: { disabled: false, expectedSignatures: ['SIGNING_ALGORITHM_SPEC_ED25519'] },
      tapsMaxPasses: 2,
    } satisfies S.JsPrepareSubmissionRequestInput,
  },
  {
    title: 'prepare response',
    spec: L,
    specName: 'JsPrepareSubmissionResponse',
    schema: S.JsPrepareSubmissionResponse,
    value: {
      preparedTransaction: 'CrsBCgMyLjES',
      preparedTransactionHash: 'q2V5aGFzaA==',
      hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
      hashingDetails: 'details',
      costEstimation: {
        estimationTimestamp: '2026-05-01T10:00:00Z',
        confirmationRequestTrafficCostEstimation: 10234,
        confirmationResponseTrafficCostEstimation: 812,
        totalTrafficCostEstimation: 11046,
      },
    },
  },
  {
    title: 'execute request',
    spec: L,
    specName: 'JsExecuteSubmissionRequest',
    schema: S.JsExecuteSubmissionRequest,
    value: executeRequest,
  },
  { title: 'execute response', spec: L, specName: 'ExecuteSubmissionResponse', schema: S.ExecuteSubmissionResponse, value: {} },
  {
    title: 'executeAndWait request',
    spec: L,
    specName: 'JsExecuteSubmissionAndWaitRequest',
    schema: S.JsExecuteSubmissionAndWaitRequest,
    value: executeRequest,
  },
  {
    title: 'executeAndWait response',
    spec: L,
    specName: 'ExecuteSubmissionAndWaitResponse',
    schema: S.ExecuteSubmissionAndWaitResponse,
    value: { updateId: UPDATE_ID, completionOffset: 4711 },
  },
  {
    title: 'executeAndWaitForTransaction request',
    spec: L,
    specName: 'JsExecuteSubmissionAndWaitForTransactionRequest',
    schema: S.JsExecuteSubmissionAndWaitForTransactionRequest,
    value: { ...executeRequest, transactionFormat: { eventFormat, transactionShape: 'TRANSACTION_SHAPE_ACS_DELTA' } },
  },
  {
    title: 'executeAndWaitForTransaction response',
    spec: L,
    specName: 'JsExecuteSubmissionAndWaitForTransactionResponse',
    schema: S.JsExecuteSubmissionAndWaitForTransactionResponse,
    value: { transaction },
  },
  // completions
  {
    title: 'completions request',
    spec: L,
    specName: 'CompletionStreamRequest',
    schema: S.CompletionStreamRequest,
    value: { userId: 'exchange-svc', parties: [TREASURY], beginExclusive: 4700 },
  },
  {
    title: 'completion: Completion',
    spec: L,
    specName: 'CompletionStreamResponse',
    schema: S.CompletionStreamResponse,
    value: { completionResponse: { Completion: { value: completion } } },
  },
  {
    title: 'completion: OffsetCheckpoint',
    spec: L,
    specName: 'CompletionStreamResponse',
    schema: S.CompletionStreamResponse,
    value: { completionResponse: { OffsetCheckpoint: { value: offsetCheckpoint } } },
  },
  {
    title: 'completion: Empty',
    spec: L,
    specName: 'CompletionStreamResponse',
    schema: S.CompletionStreamResponse,
    value: { completionResponse: { Empty: {} } },
  },
  // errors
  {
    title: 'JsCantonError',
    spec: L,
    specName: 'JsCantonError',
    schema: S.JsCantonError,
    value: {
      code: 'DUPLICATE_COMMAND',
      cause: 'A command with the given command id has already been successfully processed',
      correlationId: '8d1e',
      traceId: '4bf9',
      context: { existing_submission_id: '3b0c', participant: 'participant1', category: '10', definite_answer: 'false' },
      resources: [['CONTRACT_ID', CID]],
      errorCategory: 10,
      grpcCodeValue: 6,
      retryInfo: '1 second',
      definiteAnswer: false,
    },
  },
  // version
  {
    title: 'version',
    spec: L,
    specName: 'GetLedgerApiVersionResponse',
    schema: S.GetLedgerApiVersionResponse,
    value: {
      version: '3.4.12',
      features: {
        experimental: { staticTime: { supported: false }, commandInspectionService: { supported: true } },
        userManagement: { supported: true, maxRightsPerUser: 1000, maxUsersPageSize: 1000 },
        partyManagement: { maxPartiesPageSize: 10000 },
        offsetCheckpoint: { maxOffsetCheckpointEmissionDelay: { seconds: 75, nanos: 0 } },
        packageFeature: { maxVettedPackagesPageSize: 100 },
      },
    },
  },
  // parties and users
  {
    title: 'list parties',
    spec: L,
    specName: 'ListKnownPartiesResponse',
    schema: S.ListKnownPartiesResponse,
    value: { partyDetails: [partyDetails], nextPageToken: 'p2' },
  },
  { title: 'get party', spec: L, specName: 'GetPartiesResponse', schema: S.GetPartiesResponse, value: { partyDetails: [partyDetails] } },
  {
    title: 'allocate party request',
    spec: L,
    specName: 'AllocatePartyRequest',
    schema: S.AllocatePartyRequest,
    value: {
      partyIdHint: 'treasury',
      localMetadata: { resourceVersion: '', annotations: {} },
      identityProviderId: '',
      synchronizerId: SYNC,
      userId: 'exchange-svc',
    },
  },
  {
    title: 'allocate party response',
    spec: L,
    specName: 'AllocatePartyResponse',
    schema: S.AllocatePartyResponse,
    value: { partyDetails },
  },
  {
    title: 'participant id',
    spec: L,
    specName: 'GetParticipantIdResponse',
    schema: S.GetParticipantIdResponse,
    value: { participantId: 'PAR::participant1::1220ab' },
  },
  {
    title: 'generate-topology request',
    spec: L,
    specName: 'GenerateExternalPartyTopologyRequest',
    schema: S.GenerateExternalPartyTopologyRequest,
    value: {
      synchronizer: SYNC,
      partyHint: 'treasury',
      publicKey: { format: S.CRYPTO_KEY_FORMAT_RAW, keyData: 'MCowBQYDK2VwAyEA', keySpec: S.SIGNING_KEY_SPEC_EC_CURVE25519 },
      localParticipantObservationOnly: false,
      otherConfirmingParticipantUids: ['PAR::p2'],
      confirmationThreshold: 1,
      observingParticipantUids: ['PAR::p3'],
    },
  },
  {
    title: 'generate-topology response',
    spec: L,
    specName: 'GenerateExternalPartyTopologyResponse',
    schema: S.GenerateExternalPartyTopologyResponse,
    value: { partyId: TREASURY, publicKeyFingerprint: '1220' + 'ab'.repeat(32), topologyTransactions: ['CgEx'], multiHash: 'EiB=' },
  },
  {
    title: 'allocate external party request',
    spec: L,
    specName: 'AllocateExternalPartyRequest',
    schema: S.AllocateExternalPartyRequest,
    value: {
      synchronizer: SYNC,
      onboardingTransactions: [{ transaction: 'CgEx', signatures: [signature] }],
      multiHashSignatures: [signature],
      identityProviderId: '',
    },
  },
  {
    title: 'allocate external party response',
    spec: L,
    specName: 'AllocateExternalPartyResponse',
    schema: S.AllocateExternalPartyResponse,
    value: { partyId: TREASURY },
  },
  {
    title: 'list users',
    spec: L,
    specName: 'ListUsersResponse',
    schema: S.ListUsersResponse,
    value: { users: [user], nextPageToken: 'u2' },
  },
  { title: 'create user request', spec: L, specName: 'CreateUserRequest', schema: S.CreateUserRequest, value: { user, rights: allRights } },
  { title: 'create user response', spec: L, specName: 'CreateUserResponse', schema: S.CreateUserResponse, value: { user } },
  { title: 'get user / authenticated user', spec: L, specName: 'GetUserResponse', schema: S.GetUserResponse, value: { user } },
  { title: 'list rights', spec: L, specName: 'ListUserRightsResponse', schema: S.ListUserRightsResponse, value: { rights: allRights } },
  {
    title: 'grant rights request',
    spec: L,
    specName: 'GrantUserRightsRequest',
    schema: S.GrantUserRightsRequest,
    value: { userId: 'exchange-svc', rights: allRights, identityProviderId: '' },
  },
  {
    title: 'grant rights response',
    spec: L,
    specName: 'GrantUserRightsResponse',
    schema: S.GrantUserRightsResponse,
    value: { newlyGrantedRights: allRights },
  },
  {
    title: 'revoke rights request',
    spec: L,
    specName: 'RevokeUserRightsRequest',
    schema: S.RevokeUserRightsRequest,
    value: { userId: 'exchange-svc', rights: allRights, identityProviderId: '' },
  },
  {
    title: 'revoke rights response',
    spec: L,
    specName: 'RevokeUserRightsResponse',
    schema: S.RevokeUserRightsResponse,
    value: { newlyRevokedRights: allRights },
  },
  // registry: transfer instruction
  {
    title: 'transfer-factory request',
    spec: TI,
    specName: 'GetFactoryRequest',
    schema: S.GetFactoryRequest,
    value: {
      choiceArguments: { expectedAdmin: DSO, extraArgs: { context: { values: {} }, meta: { values: {} } } },
      excludeDebugFields: true,
    },
  },
  {
    title: 'transfer-factory response',
    spec: TI,
    specName: 'TransferFactoryWithChoiceContext',
    schema: S.TransferFactoryWithChoiceContext,
    value: { factoryId: CID, transferKind: 'direct', choiceContext },
  },
  {
    title: 'choice-context request',
    spec: TI,
    specName: 'GetChoiceContextRequest',
    schema: S.GetChoiceContextRequest,
    value: { meta: { k: 'v' }, excludeDebugFields: false },
  },
  { title: 'choice-context response', spec: TI, specName: 'ChoiceContext', schema: S.RegistryChoiceContext, value: choiceContext },
  {
    title: 'registry disclosed contract',
    spec: TI,
    specName: 'DisclosedContract',
    schema: S.RegistryDisclosedContract,
    value: registryDisclosed,
  },
  {
    title: 'registry error (transfer instruction)',
    spec: TI,
    specName: 'ErrorResponse',
    schema: S.RegistryErrorResponse,
    value: { error: 'not found' },
  },
  // registry: token metadata
  {
    title: 'registry info',
    spec: TM,
    specName: 'GetRegistryInfoResponse',
    schema: S.GetRegistryInfoResponse,
    value: { adminId: DSO, supportedApis: { 'splice-api-token-metadata-v1': 1 } },
  },
  { title: 'instrument', spec: TM, specName: 'Instrument', schema: S.Instrument, value: instrument },
  {
    title: 'instruments page',
    spec: TM,
    specName: 'ListInstrumentsResponse',
    schema: S.ListInstrumentsResponse,
    value: { instruments: [instrument], nextPageToken: 'Amulet' },
  },
  { title: 'registry error (metadata)', spec: TM, specName: 'ErrorResponse', schema: S.RegistryErrorResponse, value: { error: 'boom' } },
];

// ---------------------------------------------------------------------------------------------
// Coverage: which properties of which spec components the examples exercise.

type Raw = Record<string, unknown>;
const isRaw = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function refName(schema: Raw): string | undefined {
  return typeof schema['$ref'] === 'string' ? schema['$ref'].split('/').pop() : undefined;
}

/** Records, per component, which of its declared properties occur in `value`. */
function recordCoverage(spec: LoadedSpec, component: string, value: unknown, seen: Map<string, Set<string>>): void {
  const visit = (schema: unknown, v: unknown, owner: string): void => {
    if (!isRaw(schema)) return;
    const ref = refName(schema);
    if (ref !== undefined) return visit(spec.schemas[ref], v, `${spec.name}#${ref}`);
    if (Array.isArray(schema['oneOf']) && isRaw(v)) {
      for (const branch of schema['oneOf']) {
        const b = isRaw(branch) && refName(branch) ? spec.schemas[refName(branch) ?? ''] : branch;
        const req = isRaw(b) && Array.isArray(b['required']) ? (b['required'] as string[]) : [];
        if (req.length > 0 && req.every((k) => k in v)) visit(branch, v, owner);
      }
      return;
    }
    if (Array.isArray(v) && schema['items'] !== undefined) {
      for (const x of v) visit(schema['items'], x, owner);
      return;
    }
    if (!isRaw(v)) return;
    const props = isRaw(schema['properties']) ? schema['properties'] : {};
    const declared = seen.get(owner) ?? new Set<string>();
    seen.set(owner, declared);
    for (const [k, ps] of Object.entries(props)) {
      if (k in v) {
        declared.add(k);
        visit(ps, v[k], owner);
      } else if (!declared.has(k)) declared.add(`!${k}`);
    }
    if (isRaw(schema['additionalProperties'])) {
      for (const [k, x] of Object.entries(v)) if (!(k in props)) visit(schema['additionalProperties'], x, owner);
    }
  };
  visit({ $ref: `#/components/schemas/${component}` }, value, `${spec.name}#${component}`);
}

/** Fields deliberately left out of the examples: legacy request alternatives. */
const NOT_EXERCISED = new Set([
  'ledger-api-3.4.12/openapi.yaml#GetUpdatesRequest.filter',
  'ledger-api-3.4.12/openapi.yaml#GetUpdatesRequest.verbose',
  'ledger-api-3.4.12/openapi.yaml#GetActiveContractsRequest.filter',
  'ledger-api-3.4.12/openapi.yaml#GetActiveContractsRequest.verbose',
  'ledger-api-3.4.12/openapi.yaml#Duration.unknownFields',
]);

describe('hand-built 3.4.12 examples: zod ⇔ spec', () => {
  it.each(EXAMPLES.map((e) => [e.title, e] as const))('%s', (_title, ex) => {
    expectSpecValid(ex.spec, ex.specName, ex.value);
    const parsed = ex.schema.safeParse(ex.value);
    expect(parsed.error?.issues ?? []).toEqual([]);
    // Parsing strips unknown keys: equality proves the zod schema declares every field used.
    expect(parsed.data).toEqual(ex.value);
  });

  it('together the examples use every property of every component they touch', () => {
    const seen = new Map<string, Set<string>>();
    for (const ex of EXAMPLES) recordCoverage(ex.spec(), ex.specName, ex.value, seen);
    const missing: string[] = [];
    for (const [owner, props] of seen) {
      for (const p of props) {
        if (p.startsWith('!') && !props.has(p.slice(1))) {
          const name = `${owner}.${p.slice(1)}`;
          if (!NOT_EXERCISED.has(name)) missing.push(name);
        }
      }
    }
    expect([...new Set(missing)].sort()).toEqual([]);
  });
});

describe('websocket frames (asyncapi)', () => {
  it('element frames are valid per the asyncapi document', () => {
    expectWsFrameValid('JsGetUpdatesResponse', { update: { Transaction: { value: transaction } } });
    expectWsFrameValid('JsGetActiveContractsResponse', { contractEntry: { JsEmpty: {} } });
    expectWsFrameValid('CompletionStreamResponse', { completionResponse: { Completion: { value: completion } } });
    expectSpecValid(ledgerAsyncApiSpec, 'Either_JsCantonError_JsGetUpdatesResponse', {
      update: { OffsetCheckpoint: { value: offsetCheckpoint } },
    });
    expectSpecValid(ledgerAsyncApiSpec, 'GetUpdatesRequest', { beginExclusive: 0, updateFormat });
  });

  it('an error frame cannot satisfy the spec Either (a spec quirk) but is a valid JsCantonError', () => {
    const frame = { code: 'PARTICIPANT_PRUNED_DATA_ACCESSED', cause: 'pruned', context: {}, errorCategory: 9, grpcCodeValue: 9 };
    expect(S.isJsCantonErrorFrame(frame)).toBe(true);
    expect(specErrors(ledgerAsyncApiSpec, 'Either_JsCantonError_JsGetUpdatesResponse', frame)).not.toEqual([]);
    expectWsFrameValid('JsGetUpdatesResponse', frame);
    expect(S.JsCantonError.parse(frame).code).toBe('PARTICIPANT_PRUNED_DATA_ACCESSED');
  });
});

describe('the spec validator and zod agree on broken examples', () => {
  const cases: [string, string, z.ZodType, unknown, string][] = [
    [
      'transaction without updateId',
      'JsGetUpdatesResponse',
      S.JsGetUpdatesResponse,
      { update: { Transaction: { value: { ...transaction, updateId: undefined } } } },
      'updateId',
    ],
    ['created event without createArgument', 'JsGetUpdatesResponse', S.JsGetUpdatesResponse, withoutCreateArgument(), 'createArgument'],
    [
      'completion without synchronizerTime',
      'CompletionStreamResponse',
      S.CompletionStreamResponse,
      { completionResponse: { Completion: { value: { ...completion, synchronizerTime: undefined } } } },
      'synchronizerTime',
    ],
    ['filter case not value-wrapped', 'GetUpdatesRequest', S.GetUpdatesRequest, unwrappedFilter(), 'WildcardFilter'],
    [
      'unknown transactionShape',
      'TransactionFormat',
      S.TransactionFormat,
      { eventFormat: {}, transactionShape: 'FLAT' },
      'transactionShape',
    ],
    ['offset as a string', 'GetLedgerEndResponse', S.GetLedgerEndResponse, { offset: '4711' }, 'offset'],
  ];

  it.each(cases)('%s', (_t, specName, schema, value, field) => {
    const clean = JSON.parse(JSON.stringify(value)) as unknown;
    const specErrs = specErrors(ledgerApiSpec, specName, clean);
    expect(specErrs.join('\n')).toContain(field);
    const r = schema.safeParse(clean);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [...i.path.map(String), i.message].join('.')).join('\n')).toContain(field);
  });
});

function withoutCreateArgument(): unknown {
  const { createArgument: _omit, ...rest } = createdEvent;
  return { update: { Transaction: { value: { ...transaction, events: [{ CreatedEvent: rest }] } } } };
}

function unwrappedFilter(): unknown {
  return {
    updateFormat: {
      includeTransactions: {
        transactionShape: 'TRANSACTION_SHAPE_ACS_DELTA',
        eventFormat: {
          filtersByParty: { [TREASURY]: { cumulative: [{ identifierFilter: { WildcardFilter: { includeCreatedEventBlob: true } } }] } },
        },
      },
    },
  };
}

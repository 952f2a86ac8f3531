import { z } from 'zod';
import { ContractId, Int64, Offset, opt, optNonEmpty, ParticipantPermission, PartyId, SynchronizerId } from './common.js';
import { ArchivedEvent, CreatedEvent } from './events.js';
import { EventFormat, TransactionFilter } from './filters.js';
import { EmptyCase, oneOf } from './oneof.js';
import { UnassignedEvent } from './updates.js';

/** GET /v2/state/ledger-end. Proto3 omits a zero offset; absent = 0 = empty ledger. */
export const GetLedgerEndResponse = z.object({
  offset: Offset.optional().default(0),
});
export type GetLedgerEndResponse = z.infer<typeof GetLedgerEndResponse>;

/** GET /v2/state/latest-pruned-offsets. Absent = 0 = nothing pruned. */
export const GetLatestPrunedOffsetsResponse = z.object({
  participantPrunedUpToInclusive: Offset.optional().default(0),
  allDivulgedContractsPrunedUpToInclusive: Offset.optional().default(0),
});
export type GetLatestPrunedOffsetsResponse = z.infer<typeof GetLatestPrunedOffsetsResponse>;

export const ConnectedSynchronizer = z.object({
  synchronizerAlias: z.string(),
  synchronizerId: SynchronizerId,
  permission: ParticipantPermission,
});
export type ConnectedSynchronizer = z.infer<typeof ConnectedSynchronizer>;

/** GET /v2/state/connected-synchronizers. An empty repeated field may be omitted. */
export const GetConnectedSynchronizersResponse = z.object({
  connectedSynchronizers: opt(z.array(ConnectedSynchronizer)),
});
export type GetConnectedSynchronizersResponse = z.infer<typeof GetConnectedSynchronizersResponse>;

/**
 * POST /v2/state/active-contracts (and its websocket). `activeAtOffset` must be <= ledger end and
 * above the pruning offset; `filter`/`verbose` are the legacy alternative to `eventFormat`.
 */
export const GetActiveContractsRequest = z.object({
  filter: opt(TransactionFilter),
  verbose: opt(z.boolean()),
  activeAtOffset: Offset,
  eventFormat: EventFormat,
});
export type GetActiveContractsRequest = z.infer<typeof GetActiveContractsRequest>;
export type GetActiveContractsRequestInput = z.input<typeof GetActiveContractsRequest>;

export const JsActiveContract = z.object({
  createdEvent: CreatedEvent,
  synchronizerId: SynchronizerId,
  reassignmentCounter: Int64,
});
export type JsActiveContract = z.infer<typeof JsActiveContract>;

/** Same as JsAssignmentEvent but with `submitter` optional. */
export const JsAssignedEvent = z.object({
  source: SynchronizerId,
  target: SynchronizerId,
  reassignmentId: z.string(),
  submitter: opt(PartyId),
  reassignmentCounter: Int64,
  createdEvent: CreatedEvent,
});
export type JsAssignedEvent = z.infer<typeof JsAssignedEvent>;

export const JsIncompleteAssigned = z.object({
  assignedEvent: JsAssignedEvent,
});
export type JsIncompleteAssigned = z.infer<typeof JsIncompleteAssigned>;

export const JsIncompleteUnassigned = z.object({
  createdEvent: CreatedEvent,
  unassignedEvent: UnassignedEvent,
});
export type JsIncompleteUnassigned = z.infer<typeof JsIncompleteUnassigned>;

/** NO `value` wrapper on any case here, unlike Update. */
export const JsContractEntry = oneOf('JsContractEntry', {
  JsActiveContract,
  JsIncompleteAssigned,
  JsIncompleteUnassigned,
  JsEmpty: EmptyCase,
});
export type JsContractEntry = z.infer<typeof JsContractEntry>;

/**
 * One ACS element. `contractEntry` is optional in the spec but required here: an element
 * without one says nothing, and treating it as "no contract" could hide a holding.
 */
export const JsGetActiveContractsResponse = z.object({
  workflowId: optNonEmpty(),
  contractEntry: JsContractEntry,
});
export type JsGetActiveContractsResponse = z.infer<typeof JsGetActiveContractsResponse>;

export const GetEventsByContractIdRequest = z.object({
  contractId: ContractId,
  eventFormat: EventFormat,
});
export type GetEventsByContractIdRequest = z.infer<typeof GetEventsByContractIdRequest>;
export type GetEventsByContractIdRequestInput = z.input<typeof GetEventsByContractIdRequest>;

export const JsCreated = z.object({
  createdEvent: CreatedEvent,
  synchronizerId: SynchronizerId,
});
export type JsCreated = z.infer<typeof JsCreated>;

export const JsArchived = z.object({
  archivedEvent: ArchivedEvent,
  synchronizerId: SynchronizerId,
});
export type JsArchived = z.infer<typeof JsArchived>;

/** Both absent is impossible in practice: an invisible contract is a 404 JsCantonError. */
export const JsGetEventsByContractIdResponse = z.object({
  created: opt(JsCreated),
  archived: opt(JsArchived),
});
export type JsGetEventsByContractIdResponse = z.infer<typeof JsGetEventsByContractIdResponse>;

/** POST /v2/contracts/contract-by-id (new in 3.4.12). */
export const GetContractRequest = z.object({
  contractId: ContractId,
  queryingParties: opt(z.array(PartyId)),
});
export type GetContractRequest = z.infer<typeof GetContractRequest>;

export const GetContractResponse = z.object({
  createdEvent: CreatedEvent,
});
export type GetContractResponse = z.infer<typeof GetContractResponse>;

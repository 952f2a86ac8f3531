import { z } from 'zod';
import {
  ContractId,
  IdentifierString,
  Int32,
  Int64,
  OffsetCheckpoint,
  Offset,
  opt,
  optNonEmpty,
  ParticipantPermission,
  PartyId,
  SynchronizerId,
  Timestamp,
  TraceContext,
  UpdateId,
} from './common.js';
import { CreatedEvent, Event } from './events.js';
import { TransactionFilter, UpdateFormat } from './filters.js';
import { EmptyCase, oneOf, valueWrapped } from './oneof.js';

export const GetUpdatesRequest = z.object({
  beginExclusive: opt(Offset),
  // Absent = tail the ledger forever.
  endInclusive: opt(Offset),
  filter: opt(TransactionFilter),
  verbose: opt(z.boolean()),
  updateFormat: UpdateFormat,
});
export type GetUpdatesRequest = z.infer<typeof GetUpdatesRequest>;
export type GetUpdatesRequestInput = z.input<typeof GetUpdatesRequest>;

/**
 * `externalTransactionHash` is the hash an external party signed: it ties a prepare/execute to
 * the committed transaction. `commandId`/`workflowId` "" (proto default) parse as absent.
 */
export const JsTransaction = z.object({
  updateId: UpdateId,
  commandId: optNonEmpty(),
  workflowId: optNonEmpty(),
  effectiveAt: Timestamp,
  events: z.array(Event),
  offset: Offset,
  synchronizerId: SynchronizerId,
  traceContext: opt(TraceContext),
  recordTime: Timestamp,
  externalTransactionHash: opt(z.string()),
  paidTrafficCost: opt(Int64),
});
export type JsTransaction = z.infer<typeof JsTransaction>;

export const UnassignedEvent = z.object({
  reassignmentId: z.string(),
  contractId: ContractId,
  templateId: IdentifierString,
  source: SynchronizerId,
  target: SynchronizerId,
  submitter: opt(PartyId),
  reassignmentCounter: Int64,
  assignmentExclusivity: opt(z.string()),
  witnessParties: z.array(PartyId),
  packageName: z.string(),
  offset: Offset,
  nodeId: Int32,
});
export type UnassignedEvent = z.infer<typeof UnassignedEvent>;

/** Differs from JsAssignedEvent (ACS) only in `submitter` being required here. */
export const JsAssignmentEvent = z.object({
  source: SynchronizerId,
  target: SynchronizerId,
  reassignmentId: z.string(),
  submitter: PartyId,
  reassignmentCounter: Int64,
  createdEvent: CreatedEvent,
});
export type JsAssignmentEvent = z.infer<typeof JsAssignmentEvent>;

/** Asymmetric in the spec: the assignment case is bare, the unassignment case is value-wrapped. */
export const JsReassignmentEvent = oneOf('JsReassignmentEvent', {
  JsAssignmentEvent,
  JsUnassignedEvent: valueWrapped(UnassignedEvent),
});
export type JsReassignmentEvent = z.infer<typeof JsReassignmentEvent>;

export const JsReassignment = z.object({
  updateId: UpdateId,
  commandId: optNonEmpty(),
  workflowId: optNonEmpty(),
  offset: Offset,
  events: z.array(JsReassignmentEvent),
  traceContext: opt(TraceContext),
  recordTime: Timestamp,
  synchronizerId: SynchronizerId,
  paidTrafficCost: opt(Int64),
});
export type JsReassignment = z.infer<typeof JsReassignment>;

const ParticipantAuthorizationChange = z.object({
  partyId: PartyId,
  participantId: z.string(),
  participantPermission: ParticipantPermission,
});

export const TopologyEvent = z.object({
  event: opt(
    oneOf('TopologyEvent', {
      ParticipantAuthorizationAdded: valueWrapped(ParticipantAuthorizationChange),
      ParticipantAuthorizationChanged: valueWrapped(ParticipantAuthorizationChange),
      ParticipantAuthorizationRevoked: valueWrapped(z.object({ partyId: PartyId, participantId: z.string() })),
      Empty: EmptyCase,
    }),
  ),
});
export type TopologyEvent = z.infer<typeof TopologyEvent>;

export const JsTopologyTransaction = z.object({
  updateId: UpdateId,
  offset: Offset,
  synchronizerId: SynchronizerId,
  recordTime: Timestamp,
  events: z.array(TopologyEvent),
  traceContext: opt(TraceContext),
});
export type JsTopologyTransaction = z.infer<typeof JsTopologyTransaction>;

/** All four cases are value-wrapped: `{"Transaction": {"value": JsTransaction}}` etc. */
export const Update = oneOf('Update', {
  Transaction: valueWrapped(JsTransaction),
  Reassignment: valueWrapped(JsReassignment),
  OffsetCheckpoint: valueWrapped(OffsetCheckpoint),
  TopologyTransaction: valueWrapped(JsTopologyTransaction),
});
export type Update = z.infer<typeof Update>;

/**
 * One element of `/v2/updates` (HTTP list item or websocket frame). `update` is optional in the
 * spec (a proto oneof can be unset) but an element without one carries nothing to checkpoint,
 * so it is required here: ingestion fails closed rather than skipping it.
 */
export const JsGetUpdatesResponse = z.object({
  update: Update,
});
export type JsGetUpdatesResponse = z.infer<typeof JsGetUpdatesResponse>;

export const GetUpdateByIdRequest = z.object({
  updateId: UpdateId,
  updateFormat: UpdateFormat,
});
export type GetUpdateByIdRequest = z.infer<typeof GetUpdateByIdRequest>;
export type GetUpdateByIdRequestInput = z.input<typeof GetUpdateByIdRequest>;

export const GetUpdateByOffsetRequest = z.object({
  offset: Offset,
  updateFormat: UpdateFormat,
});
export type GetUpdateByOffsetRequest = z.infer<typeof GetUpdateByOffsetRequest>;
export type GetUpdateByOffsetRequestInput = z.input<typeof GetUpdateByOffsetRequest>;

/** update-by-id / update-by-offset response (a 404 JsCantonError when not visible). */
export const JsGetUpdateResponse = z.object({
  update: Update,
});
export type JsGetUpdateResponse = z.infer<typeof JsGetUpdateResponse>;

/** Response of the transaction-only lookups and of submit-and-wait-for-transaction variants. */
export const JsGetTransactionResponse = z.object({
  transaction: JsTransaction,
});
export type JsGetTransactionResponse = z.infer<typeof JsGetTransactionResponse>;

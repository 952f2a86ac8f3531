import { z } from 'zod';
import { ContractId, DamlValue, IdentifierString, Int32, JsStatus, Offset, opt, optNonEmpty, PartyId, Timestamp } from './common.js';
import { oneOf } from './oneof.js';

/**
 * An interface view computed for a created contract. `viewStatus.code` is a gRPC status (0 = OK);
 * on failure `viewValue` is absent, and a caller must not treat that as "not a Holding".
 */
export const JsInterfaceView = z.object({
  interfaceId: IdentifierString,
  viewStatus: JsStatus,
  viewValue: DamlValue.optional(),
});
export type JsInterfaceView = z.infer<typeof JsInterfaceView>;

const NodeId = Int32.nonnegative();

/**
 * `acsDelta` and `representativePackageId` are required by the 3.4.12 spec but absent from every
 * node older than 3.4.12 (and from all recorded data), so they are optional here. The ledger
 * double sends them.
 */
export const CreatedEvent = z.object({
  offset: Offset,
  nodeId: NodeId,
  contractId: ContractId,
  templateId: IdentifierString,
  contractKey: DamlValue.optional(),
  createArgument: DamlValue,
  // "" is what Canton sends when the filter did not ask for blobs: that is not a blob.
  createdEventBlob: optNonEmpty(),
  interfaceViews: opt(z.array(JsInterfaceView)),
  witnessParties: z.array(PartyId),
  signatories: z.array(PartyId),
  observers: opt(z.array(PartyId)),
  createdAt: Timestamp,
  packageName: z.string(),
  representativePackageId: opt(z.string()),
  acsDelta: opt(z.boolean()),
});
export type CreatedEvent = z.infer<typeof CreatedEvent>;

export const ArchivedEvent = z.object({
  offset: Offset,
  nodeId: NodeId,
  contractId: ContractId,
  templateId: IdentifierString,
  witnessParties: z.array(PartyId),
  packageName: z.string(),
  implementedInterfaces: opt(z.array(IdentifierString)),
});
export type ArchivedEvent = z.infer<typeof ArchivedEvent>;

/**
 * In LEDGER_EFFECTS shape the exercise tree is flattened in pre-order: node c is a descendant of
 * exercise e iff e.nodeId < c.nodeId <= e.lastDescendantNodeId. `interfaceId` is set when the
 * choice was exercised through an interface (e.g. TransferFactory_Transfer).
 */
export const ExercisedEvent = z.object({
  offset: Offset,
  nodeId: NodeId,
  contractId: ContractId,
  templateId: IdentifierString,
  interfaceId: opt(IdentifierString),
  choice: z.string(),
  choiceArgument: DamlValue,
  actingParties: z.array(PartyId),
  consuming: z.boolean(),
  witnessParties: z.array(PartyId),
  lastDescendantNodeId: NodeId,
  exerciseResult: DamlValue.optional(),
  packageName: z.string(),
  implementedInterfaces: opt(z.array(IdentifierString)),
  acsDelta: opt(z.boolean()),
});
export type ExercisedEvent = z.infer<typeof ExercisedEvent>;

/** Items of `JsTransaction.events`: NO `value` wrapper, unlike most oneofs. */
export const Event = oneOf('Event', {
  CreatedEvent,
  ArchivedEvent,
  ExercisedEvent,
});
export type Event = z.infer<typeof Event>;

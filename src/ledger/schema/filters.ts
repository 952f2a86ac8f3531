import { z } from 'zod';
import { IdentifierString, opt, PartyId } from './common.js';
import { EmptyCase, oneOf, valueWrapped } from './oneof.js';

export const WildcardFilter = z.object({
  includeCreatedEventBlob: opt(z.boolean()),
});
export type WildcardFilter = z.infer<typeof WildcardFilter>;

export const InterfaceFilter = z.object({
  interfaceId: IdentifierString,
  includeInterfaceView: opt(z.boolean()),
  includeCreatedEventBlob: opt(z.boolean()),
});
export type InterfaceFilter = z.infer<typeof InterfaceFilter>;

export const TemplateFilter = z.object({
  templateId: IdentifierString,
  includeCreatedEventBlob: opt(z.boolean()),
});
export type TemplateFilter = z.infer<typeof TemplateFilter>;

/** Every case but `Empty` is wrapped in `{"value": …}`. */
export const IdentifierFilter = oneOf('IdentifierFilter', {
  WildcardFilter: valueWrapped(WildcardFilter),
  InterfaceFilter: valueWrapped(InterfaceFilter),
  TemplateFilter: valueWrapped(TemplateFilter),
  Empty: EmptyCase,
});
export type IdentifierFilter = z.infer<typeof IdentifierFilter>;

/** `identifierFilter` is optional in the spec (unset = wildcard without blobs). */
export const CumulativeFilter = z.object({
  identifierFilter: opt(IdentifierFilter),
});
export type CumulativeFilter = z.infer<typeof CumulativeFilter>;

/** The filters are OR-ed; empty or absent = wildcard. */
export const Filters = z.object({
  cumulative: opt(z.array(CumulativeFilter)),
});
export type Filters = z.infer<typeof Filters>;

export const EventFormat = z.object({
  filtersByParty: opt(z.record(PartyId, Filters)),
  filtersForAnyParty: opt(Filters),
  verbose: opt(z.boolean()),
});
export type EventFormat = z.infer<typeof EventFormat>;
export type EventFormatInput = z.input<typeof EventFormat>;

/** Legacy (`filter` on flats/trees/ACS requests); new code uses EventFormat. */
export const TransactionFilter = z.object({
  filtersByParty: opt(z.record(PartyId, Filters)),
  filtersForAnyParty: opt(Filters),
});
export type TransactionFilter = z.infer<typeof TransactionFilter>;

export const TransactionShape = z.enum([
  'TRANSACTION_SHAPE_UNSPECIFIED',
  'TRANSACTION_SHAPE_ACS_DELTA',
  'TRANSACTION_SHAPE_LEDGER_EFFECTS',
]);
export type TransactionShape = z.infer<typeof TransactionShape>;

export const TransactionFormat = z.object({
  eventFormat: EventFormat,
  transactionShape: TransactionShape,
});
export type TransactionFormat = z.infer<typeof TransactionFormat>;
export type TransactionFormatInput = z.input<typeof TransactionFormat>;

export const TopologyFormat = z.object({
  includeParticipantAuthorizationEvents: opt(
    z.object({
      parties: opt(z.array(PartyId)),
    }),
  ),
});
export type TopologyFormat = z.infer<typeof TopologyFormat>;

/** An unset member means that kind of update is not streamed at all. */
export const UpdateFormat = z.object({
  includeTransactions: opt(TransactionFormat),
  includeReassignments: opt(EventFormat),
  includeTopologyEvents: opt(TopologyFormat),
});
export type UpdateFormat = z.infer<typeof UpdateFormat>;
export type UpdateFormatInput = z.input<typeof UpdateFormat>;

import { bool, enumOf, map, oneof, option, proto, relaxed, seq, str, valueCase, type Decoded } from './codec.js';
import { identifier } from './identifier.js';

/**
 * Event and update formats (transaction_filter.proto), all ScalaPB messages decoded with
 * `deriveRelaxedCodec` (JsSchema.scala `JsServicesCommonCodecs`, JsUpdateService.scala), except
 * the oneof `IdentifierFilter`, an ADT.
 */

export const WildcardFilter = relaxed({ includeCreatedEventBlob: proto(bool) });
export const TemplateFilter = relaxed({ templateId: proto(option(identifier)), includeCreatedEventBlob: proto(bool) });
export const InterfaceFilter = relaxed({
  interfaceId: proto(option(identifier)),
  includeInterfaceView: proto(bool),
  includeCreatedEventBlob: proto(bool),
});

export const IdentifierFilter = oneof('IdentifierFilter', {
  WildcardFilter: valueCase(WildcardFilter),
  TemplateFilter: valueCase(TemplateFilter),
  InterfaceFilter: valueCase(InterfaceFilter),
});

export const CumulativeFilter = relaxed({ identifierFilter: proto(IdentifierFilter) });
export const Filters = relaxed({ cumulative: proto(seq(CumulativeFilter)) });
export type Filters = Decoded<typeof Filters>;

export const EventFormat = relaxed({
  filtersByParty: proto(map(Filters)),
  filtersForAnyParty: proto(option(Filters)),
  verbose: proto(bool),
});
export type EventFormat = Decoded<typeof EventFormat>;

export const TransactionShape = enumOf([
  'TRANSACTION_SHAPE_UNSPECIFIED',
  'TRANSACTION_SHAPE_ACS_DELTA',
  'TRANSACTION_SHAPE_LEDGER_EFFECTS',
]);
export type TransactionShape = Decoded<typeof TransactionShape>;

/** `transactionShape` is an enum in a relaxed message: required in practice. */
export const TransactionFormat = relaxed({ eventFormat: proto(option(EventFormat)), transactionShape: proto(TransactionShape) });
export type TransactionFormat = Decoded<typeof TransactionFormat>;

export const ParticipantAuthorizationTopologyFormat = relaxed({ parties: proto(seq(str)) });
export const TopologyFormat = relaxed({ includeParticipantAuthorizationEvents: proto(option(ParticipantAuthorizationTopologyFormat)) });

export const UpdateFormat = relaxed({
  includeTransactions: proto(option(TransactionFormat)),
  includeReassignments: proto(option(EventFormat)),
  includeTopologyEvents: proto(option(TopologyFormat)),
});
export type UpdateFormat = Decoded<typeof UpdateFormat>;

/** LegacyDTOs.TransactionFilter (LegacyDTOs.scala), decoded relaxed. */
export const LegacyTransactionFilter = relaxed({ filtersByParty: proto(map(Filters)), filtersForAnyParty: proto(option(Filters)) });

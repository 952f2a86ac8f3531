import { bool, long, option, proto, relaxed, seq, str, withDefault, type Decoded } from './codec.js';
import { EventFormat, LegacyTransactionFilter, UpdateFormat } from './formats.js';

/**
 * Read request bodies. Every one is decoded with `deriveRelaxedCodec`, so all fields are optional
 * on the wire (numbers default to 0): JsUpdateService.scala (LegacyDTOs.GetUpdatesRequest for
 * POST /v2/updates and its websocket, GetUpdateByIdRequest, GetUpdateByOffsetRequest),
 * JsStateService.scala (LegacyDTOs.GetActiveContractsRequest), JsEventService.scala
 * (GetEventsByContractIdRequest), JsCommandService.scala (CompletionStreamRequest). Field lists
 * from LegacyDTOs.scala and update_service.proto, event_query_service.proto,
 * command_completion_service.proto.
 */

/** LegacyDTOs.GetUpdatesRequest: `verbose` is declared `= false`; the rest are pre-filled. */
export const GetUpdatesRequest = relaxed({
  beginExclusive: proto(long),
  endInclusive: proto(option(long)),
  filter: proto(option(LegacyTransactionFilter)),
  verbose: withDefault(bool, false),
  updateFormat: proto(option(UpdateFormat)),
});
export type GetUpdatesRequest = Decoded<typeof GetUpdatesRequest>;

/** LegacyDTOs.GetActiveContractsRequest. */
export const GetActiveContractsRequest = relaxed({
  filter: proto(option(LegacyTransactionFilter)),
  verbose: withDefault(bool, false),
  activeAtOffset: proto(long),
  eventFormat: proto(option(EventFormat)),
});
export type GetActiveContractsRequest = Decoded<typeof GetActiveContractsRequest>;

export const GetUpdateByIdRequest = relaxed({ updateId: proto(str), updateFormat: proto(option(UpdateFormat)) });
export type GetUpdateByIdRequest = Decoded<typeof GetUpdateByIdRequest>;

export const GetUpdateByOffsetRequest = relaxed({ offset: proto(long), updateFormat: proto(option(UpdateFormat)) });
export type GetUpdateByOffsetRequest = Decoded<typeof GetUpdateByOffsetRequest>;

export const GetEventsByContractIdRequest = relaxed({ contractId: proto(str), eventFormat: proto(option(EventFormat)) });
export type GetEventsByContractIdRequest = Decoded<typeof GetEventsByContractIdRequest>;

export const CompletionStreamRequest = relaxed({ userId: proto(str), parties: proto(seq(str)), beginExclusive: proto(long) });
export type CompletionStreamRequest = Decoded<typeof CompletionStreamRequest>;

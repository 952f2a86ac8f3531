import { z } from 'zod';
import {
  DeduplicationPeriod,
  Int64,
  JsStatus,
  Offset,
  OffsetCheckpoint,
  opt,
  PartyId,
  SynchronizerTime,
  TraceContext,
  UpdateId,
} from './common.js';
import { EmptyCase, oneOf, valueWrapped } from './oneof.js';

/** Only completions of `userId` (or the token's user) are visible. */
export const CompletionStreamRequest = z.object({
  userId: opt(z.string()),
  parties: z.array(PartyId),
  beginExclusive: opt(Offset),
});
export type CompletionStreamRequest = z.infer<typeof CompletionStreamRequest>;
export type CompletionStreamRequestInput = z.input<typeof CompletionStreamRequest>;

/**
 * Committed iff `updateId` is set and `status` is absent or has code 0. A failed completion
 * carries the gRPC code and "<ERROR_ID>(<category>,<correlation id>): <cause>" as message.
 * Match it to a submission by `commandId` + `submissionId`.
 */
export const Completion = z.object({
  commandId: z.string(),
  status: opt(JsStatus),
  updateId: opt(UpdateId),
  userId: z.string(),
  actAs: z.array(PartyId),
  submissionId: opt(z.string()),
  deduplicationPeriod: opt(DeduplicationPeriod),
  traceContext: opt(TraceContext),
  offset: Offset,
  synchronizerTime: SynchronizerTime,
  paidTrafficCost: opt(Int64),
});
export type Completion = z.infer<typeof Completion>;

/** `Completion` and `OffsetCheckpoint` are value-wrapped, `Empty` is not. */
export const CompletionResponse = oneOf('CompletionResponse', {
  Completion: valueWrapped(Completion),
  OffsetCheckpoint: valueWrapped(OffsetCheckpoint),
  Empty: EmptyCase,
});
export type CompletionResponse = z.infer<typeof CompletionResponse>;

/** `completionResponse` is optional in the spec, required here (see JsGetUpdatesResponse). */
export const CompletionStreamResponse = z.object({
  completionResponse: CompletionResponse,
});
export type CompletionStreamResponse = z.infer<typeof CompletionStreamResponse>;

import { z } from 'zod';
import { EmptyCase, oneOf, valueWrapped } from './oneof.js';

/**
 * Canton's JSON encoder writes `null` for an unset optional field (recorded data has
 * `"tracestate": null`, `"interfaceId": null`); absent and null mean the same, so both parse to
 * an absent key. The spec itself never marks a field nullable.
 */
export function opt<T extends z.ZodType>(schema: T) {
  return schema
    .nullable()
    .transform((v): NonNullable<z.output<T>> | undefined => v ?? undefined)
    .optional();
}

/**
 * Proto3 strings default to "": Canton sends `"commandId": ""` / `"workflowId": ""` when unset,
 * which must not be mistaken for a real id (e.g. matching a completion to "").
 */
export function optNonEmpty(schema: z.ZodString = z.string()) {
  return schema
    .nullable()
    .transform((v): string | undefined => (v === null || v === '' ? undefined : v))
    .optional();
}

/** int64 as a JSON number. Anything outside 2^53 would silently lose digits in JS, so it fails. */
export const Int64 = z.int();
export type Int64 = z.infer<typeof Int64>;

export const Int32 = z.int32();
export type Int32 = z.infer<typeof Int32>;

/**
 * Ledger offset: a participant-local, strictly increasing int64 (0 = before the first update).
 * Not comparable across participants or across a node restore.
 */
export const Offset = z.int().nonnegative();
export type Offset = z.infer<typeof Offset>;

export const TIMESTAMP_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An ISO-8601 instant exactly as the ledger sent it. Canton uses microsecond precision with a
 * variable number of fractional digits ("…:00Z", "….000145Z"); `Date` would drop the micros, so
 * the original string is kept and `timestampToMicros` gives an exact, comparable value.
 */
export const Timestamp = z
  .string()
  .regex(TIMESTAMP_PATTERN, 'must be an ISO-8601 timestamp with a time zone')
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a valid date and time');
export type Timestamp = z.infer<typeof Timestamp>;

/** Microseconds since the epoch; sub-microsecond digits are truncated (Daml time is microseconds). */
export function timestampToMicros(ts: string): bigint {
  const m = TIMESTAMP_PATTERN.exec(ts);
  if (!m) throw new RangeError(`not an ISO-8601 timestamp: ${ts}`);
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const wholeMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(wholeMs)) throw new RangeError(`invalid timestamp: ${ts}`);
  let zoneMinutes = 0;
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    zoneMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const micros = BigInt(frac.padEnd(6, '0').slice(0, 6));
  return (BigInt(wholeMs) - BigInt(zoneMinutes) * 60_000n) * 1000n + micros;
}

/** -1, 0 or 1 by instant (not by string), exact to the microsecond. */
export function compareTimestamps(a: string, b: string): -1 | 0 | 1 {
  const x = timestampToMicros(a);
  const y = timestampToMicros(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Party id, "<hint>::<namespace fingerprint>". Kept opaque: the ledger is the authority. */
export const PartyId = z.string().min(1);
export type PartyId = z.infer<typeof PartyId>;

export const ContractId = z.string().min(1);
export type ContractId = z.infer<typeof ContractId>;

export const UpdateId = z.string().min(1);
export type UpdateId = z.infer<typeof UpdateId>;

export const SynchronizerId = z.string();
export type SynchronizerId = z.infer<typeof SynchronizerId>;

/**
 * Template or interface id: "<64-hex package id>:Module.Path:Entity" (what the server emits) or
 * "#<package-name>:Module.Path:Entity" (what clients send). See identifiers.ts for matching.
 */
export const IDENTIFIER_PATTERN = /^#?[^:]+:[^:]+:[^:]+$/;
export const IdentifierString = z.string().regex(IDENTIFIER_PATTERN, 'must be "<package>:<Module.Path>:<Entity>"');
export type IdentifierString = z.infer<typeof IdentifierString>;

/**
 * A Daml-LF JSON value (createArgument, choiceArgument, exerciseResult, viewValue, contract keys).
 * Left as `unknown` so it is forwarded byte-for-byte; token-standard.ts types the ones we read.
 */
export const DamlValue = z.unknown();
export type DamlValue = z.infer<typeof DamlValue>;

export const Duration = z.object({
  seconds: Int64,
  nanos: Int32,
  // Scalapb leaks this into the generated spec; Canton never sends anything meaningful in it.
  unknownFields: z.unknown().optional(),
});
export type Duration = z.infer<typeof Duration>;

/** `{"DeduplicationDuration": {"value": Duration}} | {"DeduplicationOffset": {"value": int64}} | {"Empty": {}}` */
export const DeduplicationPeriod = oneOf('DeduplicationPeriod', {
  DeduplicationDuration: valueWrapped(Duration),
  DeduplicationOffset: valueWrapped(Offset),
  Empty: EmptyCase,
});
export type DeduplicationPeriod = z.infer<typeof DeduplicationPeriod>;

export const TraceContext = z.object({
  traceparent: opt(z.string()),
  tracestate: opt(z.string()),
});
export type TraceContext = z.infer<typeof TraceContext>;

export const SynchronizerTime = z.object({
  synchronizerId: SynchronizerId,
  recordTime: Timestamp,
});
export type SynchronizerTime = z.infer<typeof SynchronizerTime>;

/** protobuf UnknownFieldSet.Field, as the spec exposes it. */
export const ProtoField = z.object({
  varint: opt(z.array(Int64)),
  fixed64: opt(z.array(Int64)),
  fixed32: opt(z.array(Int32)),
  lengthDelimited: opt(z.array(z.string())),
});

export const ProtoAny = z.object({
  typeUrl: z.string(),
  value: z.string(),
  unknownFields: z.object({ fields: z.record(z.string(), ProtoField) }),
  valueDecoded: opt(z.string()),
});
export type ProtoAny = z.infer<typeof ProtoAny>;

/** google.rpc.Status: `code` is a gRPC status code, 0 = OK. */
export const JsStatus = z.object({
  code: Int32,
  message: z.string(),
  details: opt(z.array(ProtoAny)),
});
export type JsStatus = z.infer<typeof JsStatus>;

export const ParticipantPermission = z.enum([
  'PARTICIPANT_PERMISSION_UNSPECIFIED',
  'PARTICIPANT_PERMISSION_SUBMISSION',
  'PARTICIPANT_PERMISSION_CONFIRMATION',
  'PARTICIPANT_PERMISSION_OBSERVATION',
]);
export type ParticipantPermission = z.infer<typeof ParticipantPermission>;

/** Both OffsetCheckpoint elements (updates and completions) use this payload. */
export const OffsetCheckpoint = z.object({
  offset: Offset,
  synchronizerTimes: opt(z.array(SynchronizerTime)),
});
export type OffsetCheckpoint = z.infer<typeof OffsetCheckpoint>;

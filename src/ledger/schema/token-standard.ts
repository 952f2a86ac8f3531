import { z } from 'zod';
import { LedgerNumeric } from '../../lib/decimal.js';
import { ContractId, opt, PartyId, Timestamp } from './common.js';
import type { JsInterfaceView } from './events.js';
import { sameQualifiedName } from './identifiers.js';

/**
 * The token-standard Daml types as Daml-LF JSON (choiceArgument, exerciseResult, interface
 * viewValue). Amounts are Daml `Decimal` strings parsed with LedgerNumeric (normalised to 10
 * fractional digits, never JS numbers). Optional = null or the value; variants = {tag, value}.
 */

export const HOLDING_INTERFACE_ID = '#splice-api-token-holding-v1:Splice.Api.Token.HoldingV1:Holding';
export const TRANSFER_FACTORY_INTERFACE_ID =
  '#splice-api-token-transfer-instruction-v1:Splice.Api.Token.TransferInstructionV1:TransferFactory';
export const TRANSFER_INSTRUCTION_INTERFACE_ID =
  '#splice-api-token-transfer-instruction-v1:Splice.Api.Token.TransferInstructionV1:TransferInstruction';

export const TransferChoice = {
  FactoryTransfer: 'TransferFactory_Transfer',
  Accept: 'TransferInstruction_Accept',
  Reject: 'TransferInstruction_Reject',
  Withdraw: 'TransferInstruction_Withdraw',
} as const;

/** Well-known metadata keys. The reason carries our memo (deposit account id / withdrawal id). */
export const MetadataKey = {
  reason: 'splice.lfdecentralizedtrust.org/reason',
  txKind: 'splice.lfdecentralizedtrust.org/tx-kind',
  sender: 'splice.lfdecentralizedtrust.org/sender',
  burned: 'splice.lfdecentralizedtrust.org/burned',
} as const;

/**
 * A Daml map of text to text, accepted in both encodings seen in the wild — an object (TextMap, as
 * JSON Ledger API v2 sends it) or a list of [key, value] pairs (GenMap, and older tooling for
 * Metadata) — and normalised to a plain record. A key repeated in the pair form is ambiguous (which
 * memo is the real one?) and fails. Hand-rolled rather than z.record so that both encodings treat
 * every key, even "__proto__", as plain data.
 */
export type StringMapInput = Readonly<Record<string, string>> | readonly (readonly [string, string])[];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const StringMap = z
  .custom<StringMapInput>((v) => Array.isArray(v) || isPlainObject(v), 'must be a map: an object or a list of [key, value] pairs')
  .transform((v, ctx): Record<string, string> => {
    const entries: [string, string][] = [];
    const seen = new Set<string>();
    const raw: [PropertyKey, unknown][] = Array.isArray(v)
      ? (v as readonly unknown[]).map((e, i) => [i, e])
      : Object.entries(v).map(([k, val]) => [k, [k, val]]);
    for (const [at, entry] of raw) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
        const message = Array.isArray(v) ? 'must be a [text, text] pair' : 'must be text';
        ctx.addIssue({ code: 'custom', path: [at], message });
        continue;
      }
      const [k, val] = entry as [string, string];
      if (seen.has(k)) ctx.addIssue({ code: 'custom', path: [at], message: `duplicate map key "${k}"` });
      seen.add(k);
      entries.push([k, val]);
    }
    // fromEntries defines own properties, so a "__proto__" key stays data, not a prototype.
    return Object.fromEntries(entries);
  });

export const Metadata = z.object({
  values: StringMap,
});
export type Metadata = z.infer<typeof Metadata>;
export type MetadataInput = z.input<typeof Metadata>;

export const InstrumentId = z.object({
  admin: PartyId,
  id: z.string().min(1),
});
export type InstrumentId = z.infer<typeof InstrumentId>;

/** Daml RelTime; Int64 travels as a string in Daml-LF JSON (numbers are tolerated on input). */
export const RelTime = z.object({
  microseconds: z.union([z.string().regex(/^-?\d+$/), z.int()]).transform((v) => String(v)),
});
export type RelTime = z.infer<typeof RelTime>;

/** Older Lock versions only have `holders`, hence every other field is optional. */
export const Lock = z.object({
  holders: z.array(PartyId),
  expiresAt: opt(Timestamp),
  expiresAfter: opt(RelTime),
  context: opt(z.string()),
});
export type Lock = z.infer<typeof Lock>;

/**
 * Holdings and transfers never have negative amounts (the registries refuse them, and so does the
 * Integration DB): one arriving is bad data, refused here so the error names the update.
 */
const NonNegativeNumeric = LedgerNumeric.refine((a) => !a.startsWith('-') || /^-0(\.0*)?$/.test(a), 'must not be negative');

export const HoldingView = z.object({
  owner: PartyId,
  instrumentId: InstrumentId,
  amount: NonNegativeNumeric,
  lock: opt(Lock),
  meta: Metadata,
});
export type HoldingView = z.infer<typeof HoldingView>;

export const Transfer = z.object({
  sender: PartyId,
  receiver: PartyId,
  amount: NonNegativeNumeric,
  instrumentId: InstrumentId,
  requestedAt: Timestamp,
  executeBefore: Timestamp,
  inputHoldingCids: z.array(ContractId),
  meta: Metadata,
});
export type Transfer = z.infer<typeof Transfer>;
export type TransferInput = z.input<typeof Transfer>;

/** A nullary constructor's payload is Unit, `{}`; tolerate it missing. */
const UnitValue = z.object({}).optional();

export const TransferInstructionStatus = z.discriminatedUnion('tag', [
  z.object({ tag: z.literal('TransferPendingReceiverAcceptance'), value: UnitValue }),
  z.object({
    tag: z.literal('TransferPendingInternalWorkflow'),
    // Daml `Map Party Text`: a GenMap, i.e. [[party, text], …] in JSON — both encodings accepted.
    value: z.object({ pendingActions: StringMap }),
  }),
]);
export type TransferInstructionStatus = z.infer<typeof TransferInstructionStatus>;

export const TransferInstructionView = z.object({
  originalInstructionCid: opt(ContractId),
  transfer: Transfer,
  status: TransferInstructionStatus,
  meta: Metadata,
});
export type TransferInstructionView = z.infer<typeof TransferInstructionView>;

export const TransferFactoryView = z.object({
  admin: PartyId,
  meta: Metadata,
});
export type TransferFactoryView = z.infer<typeof TransferFactoryView>;

/**
 * Registry-provided context (`choiceContextData` of the registry API): values are AnyValue
 * variants ({tag: "AV_ContractId", value: …}) that only the registry's own Daml code interprets,
 * so they pass through untouched.
 */
export const AnyValue = z.unknown();
export const ChoiceContext = z.looseObject({
  values: z.record(z.string(), AnyValue),
});
export type ChoiceContext = z.infer<typeof ChoiceContext>;

export const ExtraArgs = z.object({
  context: ChoiceContext,
  meta: Metadata,
});
export type ExtraArgs = z.infer<typeof ExtraArgs>;
export type ExtraArgsInput = z.input<typeof ExtraArgs>;

/** choiceArgument of TransferFactory_Transfer. */
export const TransferFactoryTransferArg = z.object({
  expectedAdmin: PartyId,
  transfer: Transfer,
  extraArgs: ExtraArgs,
});
export type TransferFactoryTransferArg = z.infer<typeof TransferFactoryTransferArg>;
export type TransferFactoryTransferArgInput = z.input<typeof TransferFactoryTransferArg>;

/** choiceArgument of TransferInstruction_Accept / _Reject / _Withdraw. */
export const TransferInstructionChoiceArg = z.object({
  extraArgs: ExtraArgs,
});
export type TransferInstructionChoiceArg = z.infer<typeof TransferInstructionChoiceArg>;

export const TransferInstructionResultOutput = z.discriminatedUnion('tag', [
  z.object({
    tag: z.literal('TransferInstructionResult_Pending'),
    value: z.object({ transferInstructionCid: ContractId }),
  }),
  z.object({
    tag: z.literal('TransferInstructionResult_Completed'),
    value: z.object({ receiverHoldingCids: z.array(ContractId) }),
  }),
  z.object({ tag: z.literal('TransferInstructionResult_Failed'), value: UnitValue }),
]);
export type TransferInstructionResultOutput = z.infer<typeof TransferInstructionResultOutput>;

/** exerciseResult of TransferFactory_Transfer and of the TransferInstruction choices. */
export const TransferInstructionResult = z.object({
  output: TransferInstructionResultOutput,
  senderChangeCids: z.array(ContractId),
  meta: Metadata,
});
export type TransferInstructionResult = z.infer<typeof TransferInstructionResult>;

/**
 * The first view of `interfaceId` (either form) among an event's interface views, matched by
 * module + entity: views carry no package name to compare (see sameQualifiedName).
 */
export function findInterfaceView(views: readonly JsInterfaceView[] | undefined, interfaceId: string): JsInterfaceView | undefined {
  return views?.find((v) => sameQualifiedName(v.interfaceId, interfaceId));
}

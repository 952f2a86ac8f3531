import { z } from 'zod';
import { ContractId, IdentifierString, opt, PartyId, SynchronizerId } from './common.js';
import type { DisclosedContract as LedgerDisclosedContract } from './commands.js';

/**
 * Token-standard registry APIs (off-ledger, one per token admin):
 * transfer-instruction-v1.yaml and token-metadata-v1.yaml.
 */

/**
 * POST /registry/transfer-instruction/v1/transfer-factory. `choiceArguments` is the
 * TransferFactory_Transfer argument in Daml JSON with `extraArgs.context` and `extraArgs.meta`
 * empty; it goes to the registry as built, so it is not reshaped here.
 */
export const GetFactoryRequest = z.object({
  choiceArguments: z.record(z.string(), z.unknown()),
  excludeDebugFields: opt(z.boolean()),
});
export type GetFactoryRequest = z.infer<typeof GetFactoryRequest>;

/** POST …/{transferInstructionId}/choice-contexts/{accept|reject|withdraw} */
export const GetChoiceContextRequest = z.object({
  meta: opt(z.record(z.string(), z.string())),
  excludeDebugFields: opt(z.boolean()),
});
export type GetChoiceContextRequest = z.infer<typeof GetChoiceContextRequest>;

/**
 * A disclosed contract as the registry sends it: all four ledger fields required, plus optional
 * `debug*` fields (untrusted; not part of the Ledger API shape). Loose so nothing is dropped on
 * the way through; use `toLedgerDisclosedContract` when building a ledger command.
 */
export const RegistryDisclosedContract = z.looseObject({
  templateId: IdentifierString,
  contractId: ContractId,
  createdEventBlob: z.string().min(1),
  synchronizerId: SynchronizerId,
  debugPackageName: opt(z.string()),
  debugPayload: opt(z.record(z.string(), z.unknown())),
  debugCreatedAt: opt(z.string()),
});
export type RegistryDisclosedContract = z.infer<typeof RegistryDisclosedContract>;

export function toLedgerDisclosedContract(c: RegistryDisclosedContract): LedgerDisclosedContract {
  return {
    templateId: c.templateId,
    contractId: c.contractId,
    createdEventBlob: c.createdEventBlob,
    synchronizerId: c.synchronizerId,
  };
}

/**
 * `choiceContextData` becomes `extraArgs.context` of the choice verbatim (it is the Daml
 * ChoiceContext `{values: {…AnyValue…}}`), and the disclosed contracts go to the command.
 */
export const RegistryChoiceContext = z.object({
  choiceContextData: z.record(z.string(), z.unknown()),
  disclosedContracts: z.array(RegistryDisclosedContract),
});
export type RegistryChoiceContext = z.infer<typeof RegistryChoiceContext>;

/** `direct` only when the receiver pre-approved transfers; `offer` = 2-step; `self` = same party. */
export const TransferKind = z.enum(['self', 'direct', 'offer']);
export type TransferKind = z.infer<typeof TransferKind>;

export const TransferFactoryWithChoiceContext = z.object({
  factoryId: ContractId,
  transferKind: TransferKind,
  choiceContext: RegistryChoiceContext,
});
export type TransferFactoryWithChoiceContext = z.infer<typeof TransferFactoryWithChoiceContext>;

/** Body of the registry APIs' 4xx/5xx responses (both specs). */
export const RegistryErrorResponse = z.object({
  error: z.string(),
});
export type RegistryErrorResponse = z.infer<typeof RegistryErrorResponse>;

/** API name → supported minor version, e.g. {"splice-api-token-metadata-v1": 1}. */
export const SupportedApis = z.record(z.string(), z.int32());
export type SupportedApis = z.infer<typeof SupportedApis>;

/** GET /registry/metadata/v1/info */
export const GetRegistryInfoResponse = z.object({
  adminId: PartyId,
  supportedApis: SupportedApis,
});
export type GetRegistryInfoResponse = z.infer<typeof GetRegistryInfoResponse>;

/**
 * GET /registry/metadata/v1/instruments/{instrumentId}. `totalSupply` is informational and not
 * necessarily at our scale, so it stays the registry's string.
 */
export const Instrument = z.object({
  id: z.string(),
  name: z.string(),
  symbol: z.string(),
  totalSupply: opt(z.string()),
  totalSupplyAsOf: opt(z.string()),
  // Holdings are Daml Decimal (10 places): more decimals than that cannot exist.
  decimals: z.int().min(0).max(10),
  supportedApis: SupportedApis,
});
export type Instrument = z.infer<typeof Instrument>;

/** GET /registry/metadata/v1/instruments */
export const ListInstrumentsResponse = z.object({
  instruments: z.array(Instrument),
  nextPageToken: opt(z.string()),
});
export type ListInstrumentsResponse = z.infer<typeof ListInstrumentsResponse>;

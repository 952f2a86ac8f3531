import { t, type DamlType, type RecordType, type VariantType } from './types.js';

/**
 * The token-standard Daml types the double reads from JSON, as released in Splice
 * (hyperledger-labs/splice, token-standard/):
 * - splice-api-token-metadata-v1/daml/Splice/Api/Token/MetadataV1.daml: AnyValue, ChoiceContext
 *   `{values : TextMap AnyValue}`, Metadata `{values : TextMap Text}`, ExtraArgs;
 * - splice-api-token-holding-v1/daml/Splice/Api/Token/HoldingV1.daml: InstrumentId;
 * - splice-api-token-transfer-instruction-v1/daml/Splice/Api/Token/TransferInstructionV1.daml:
 *   Transfer and the choice argument records.
 * `Decimal` is Numeric 10; `RelTime` is DA.Time's record `{microseconds : Int}`.
 */

const META = 'Splice.Api.Token.MetadataV1';
const TI = 'Splice.Api.Token.TransferInstructionV1';

export const RelTime: RecordType = t.record('DA.Time.Types:RelTime', () => [['microseconds', t.int64]]);

export const AnyValue: VariantType = t.variant(`${META}:AnyValue`, () => [
  ['AV_Text', t.text],
  ['AV_Int', t.int64],
  ['AV_Decimal', t.numeric(10)],
  ['AV_Bool', t.bool],
  ['AV_Date', t.date],
  ['AV_Time', t.time],
  ['AV_RelTime', RelTime],
  ['AV_Party', t.party],
  ['AV_ContractId', t.contractId],
  ['AV_List', t.list(AnyValue)],
  ['AV_Map', t.textMap(AnyValue)],
]);

export const ChoiceContext: RecordType = t.record(`${META}:ChoiceContext`, () => [['values', t.textMap(AnyValue)]]);

export const Metadata: RecordType = t.record(`${META}:Metadata`, () => [['values', t.textMap(t.text)]]);

export const ExtraArgs: RecordType = t.record(`${META}:ExtraArgs`, () => [
  ['context', ChoiceContext],
  ['meta', Metadata],
]);

export const InstrumentId: RecordType = t.record('Splice.Api.Token.HoldingV1:InstrumentId', () => [
  ['admin', t.party],
  ['id', t.text],
]);

export const Transfer: RecordType = t.record(`${TI}:Transfer`, () => [
  ['sender', t.party],
  ['receiver', t.party],
  ['amount', t.numeric(10)],
  ['instrumentId', InstrumentId],
  ['requestedAt', t.time],
  ['executeBefore', t.time],
  ['inputHoldingCids', t.list(t.contractId)],
  ['meta', Metadata],
]);

export const TransferFactory_Transfer: RecordType = t.record(`${TI}:TransferFactory_Transfer`, () => [
  ['expectedAdmin', t.party],
  ['transfer', Transfer],
  ['extraArgs', ExtraArgs],
]);

/** TransferInstruction_Accept, _Reject and _Withdraw all take `{extraArgs : ExtraArgs}`. */
export function instructionChoiceArgument(choice: 'Accept' | 'Reject' | 'Withdraw'): RecordType {
  return INSTRUCTION_CHOICES[choice];
}

const INSTRUCTION_CHOICES = {
  Accept: t.record(`${TI}:TransferInstruction_Accept`, () => [['extraArgs', ExtraArgs]]),
  Reject: t.record(`${TI}:TransferInstruction_Reject`, () => [['extraArgs', ExtraArgs]]),
  Withdraw: t.record(`${TI}:TransferInstruction_Withdraw`, () => [['extraArgs', ExtraArgs]]),
} as const satisfies Record<string, DamlType>;

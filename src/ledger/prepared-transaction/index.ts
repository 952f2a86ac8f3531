/**
 * Canton interactive-submission `preparedTransaction`: decode / encode the protobuf, recompute the
 * V2 hash the party signs, and read its content as Daml-LF JSON. See README.md in this folder.
 */
export type * from './types.js';
export { PreparedTransactionError, type PreparedTransactionErrorCode } from './errors.js';
export {
  decodePreparedTransaction,
  encodePreparedTransaction,
  encodePreparedTransactionBase64,
  preparedTransactionFromProtoJson,
  preparedTransactionToProtoJson,
  type DecodeOptions,
} from './codec.js';
export { hashPreparedTransaction, hashPreparedTransactionBase64 } from './hash.js';
export { verifyPreparedTransactionHash, type HashCheck } from './verify.js';
export { damlValueToJson, type DamlJson } from './daml-json.js';
export { jsonToDamlValue, t, v, type DamlType } from './builders.js';
export {
  summarizePreparedTransaction,
  type CreateSummary,
  type ExerciseSummary,
  type FetchSummary,
  type NodeSummary,
  type PreparedTransactionSummary,
  type RollbackSummary,
} from './summary.js';
export { microsToIso, isoToMicros, daysToIsoDate, isoDateToDays } from './time.js';
export { formatIdentifier } from './identifier.js';

/** Ingestion: the treasury's ledger updates → facts → Postgres (see component.ts). */
export {
  createIngestionComponent,
  DEFAULT_BATCH_MAX_SIZE,
  describeFailure,
  type IngestionComponent,
  type IngestionDeps,
  type IngestionOptions,
  type IngestionProgress,
  type IngestionRestart,
  type IngestionRestartPolicy,
  DEFAULT_RESTART,
} from './component.js';
export type { CommittedBatch } from './pipeline.js';
export type { Activity, TransactionFacts } from '../ingestion/facts.js';
export { parseTransaction, type ParseOptions } from '../ingestion/parser.js';
export { UpdateParseError, PrunedOffsetError, CheckpointConflictError, UnexpectedSynchronizerError } from '../ingestion/errors.js';

import { parseUpdate, type JsGetUpdatesResponse, type JsTransaction, type SynchronizerTime } from '../ledger/schema/index.js';
import { UpdateParseError } from './errors.js';
import { TransactionSlimmer } from './slim.js';

/** What ingestion takes from /v2/updates, in ledger order. */
export type IngestElement =
  | { kind: 'transaction'; tx: JsTransaction }
  | { kind: 'checkpoint'; offset: number; synchronizerTimes: readonly SynchronizerTime[] }
  /** An update that carries nothing for the treasury but moves the offset (topology events). */
  | { kind: 'offset'; offset: number; recordTime: string; synchronizerId: string };

/**
 * A /v2/updates element as ingestion handles it. Reassignments would move treasury holdings
 * between synchronizers; with one global synchronizer they do not occur and are not requested, so
 * one arriving means the deployment changed: stop rather than mis-account (fail closed).
 * A transaction is slimmed by `slimmer` (the stream's: src/ingestion/slim.ts): a queued
 * transaction keeps only what the parser reads.
 */
export function toIngestElement(element: JsGetUpdatesResponse, slimmer: TransactionSlimmer): IngestElement {
  const u = element.update;
  if ('Transaction' in u) return { kind: 'transaction', tx: slimmer.slim(u.Transaction.value) };
  if ('OffsetCheckpoint' in u)
    return {
      kind: 'checkpoint',
      offset: u.OffsetCheckpoint.value.offset,
      synchronizerTimes: u.OffsetCheckpoint.value.synchronizerTimes ?? [],
    };
  if ('TopologyTransaction' in u) {
    const t = u.TopologyTransaction.value;
    return { kind: 'offset', offset: t.offset, recordTime: t.recordTime, synchronizerId: t.synchronizerId };
  }
  const r = u.Reassignment.value;
  throw new UpdateParseError(
    r.updateId,
    r.offset,
    'a reassignment (contracts moving between synchronizers) is not supported by ingestion: holdings would be mis-accounted',
  );
}

/** Parses raw JSON elements (tests, the CLI, the HTTP fallback) into ingest elements. */
export function parseElements(raw: readonly unknown[]): IngestElement[] {
  const slimmer = new TransactionSlimmer();
  return raw.map((r) => toIngestElement(parseUpdate(r), slimmer));
}

export function offsetOf(e: IngestElement): number {
  return e.kind === 'transaction' ? e.tx.offset : e.offset;
}

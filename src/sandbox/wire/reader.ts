import type { z } from 'zod';
import type {
  CompletionStreamResponse,
  JsGetActiveContractsResponse,
  JsGetEventsByContractIdResponse,
  JsGetUpdatesResponse,
} from '../../ledger/schema/index.js';
import type { EventFormat } from './decode/index.js';
import type { AcsQuery, UpdatesQuery, ValidUpdateFormat } from './formats.js';
import type { SandboxEngine } from '../engine/engine.js';
import { LedgerError } from '../engine/errors.js';
import type { CompletionRecord } from '../engine/ledger.js';
import { implementedInterfaces, stakeholders, templateOf } from '../engine/templates.js';
import { idString, type Payload } from '../engine/types.js';
import { microsToIso, type Micros } from '../util/time.js';
import { createdEvent, matchNode, projectTransaction, resolveEventFormat, type Match, type ReadScope } from './projection.js';
import type { StreamSpec, Timeline } from './stream.js';

export type UpdatesElement = z.input<typeof JsGetUpdatesResponse>;
export type AcsElement = z.input<typeof JsGetActiveContractsResponse>;
export type EventsByCidResponse = z.input<typeof JsGetEventsByContractIdResponse>;
export type CompletionElement = z.input<typeof CompletionStreamResponse>;

/** The read side of the Ledger API: served from the live engine or from a replayed history. */
export interface UpdateReader {
  readonly timeline: Timeline;
  updates(req: UpdatesQuery): StreamSpec<UpdatesElement>;
  updateById(req: { readonly updateId: string; readonly updateFormat: ValidUpdateFormat }): UpdatesElement;
  updateByOffset(req: { readonly offset: number; readonly updateFormat: ValidUpdateFormat }): UpdatesElement;
  activeContracts(req: AcsQuery): AcsElement[];
  eventsByContractId(req: { readonly contractId: string; readonly eventFormat: EventFormat }): EventsByCidResponse;
}

export function updateNotFound(): LedgerError {
  return LedgerError.of('UPDATE_NOT_FOUND', 'Update not found, or not visible.', { definiteAnswer: false });
}

/** `others`: the times of further synchronizers the participant is connected to (Ledger.otherSynchronizerTimes). */
export function checkpointElement(
  offset: number,
  synchronizerId: string,
  recordTime: Micros,
  others: readonly { synchronizerId: string; recordTime: Micros }[] = [],
): UpdatesElement {
  return { update: { OffsetCheckpoint: { value: { offset, synchronizerTimes: synchronizerTimes(synchronizerId, recordTime, others) } } } };
}

function synchronizerTimes(synchronizerId: string, recordTime: Micros, others: readonly { synchronizerId: string; recordTime: Micros }[]) {
  return [{ synchronizerId, recordTime }, ...others].map((t) => ({
    synchronizerId: t.synchronizerId,
    recordTime: microsToIso(t.recordTime),
  }));
}

export class EngineTimeline implements Timeline {
  constructor(private readonly engine: SandboxEngine) {}
  get synchronizerId(): string {
    return this.engine.ledger.synchronizerId;
  }
  otherSynchronizers(): readonly { id: string; alias: string }[] {
    return this.engine.ledger.otherSynchronizers();
  }
  ledgerEnd(): number {
    return this.engine.ledger.ledgerEnd;
  }
  prunedUpTo(): number {
    return this.engine.ledger.prunedUpTo;
  }
  recordTimeAt(offset: number): Micros | undefined {
    return this.engine.ledger.recordTimeAt(offset);
  }
  publishTime(): Micros {
    return this.engine.clock.publish();
  }
  clockSteps(): number {
    return this.engine.clock.steps();
  }
  isRealTime(): boolean {
    return this.engine.clock.getMode() === 'real';
  }
  onChange(listener: () => void): () => void {
    return this.engine.ledger.onChange(listener);
  }
}

export class LiveReader implements UpdateReader {
  readonly timeline: Timeline;

  constructor(private readonly engine: SandboxEngine) {
    this.timeline = new EngineTimeline(engine);
  }

  private project(offset: number, format: ValidUpdateFormat): UpdatesElement | undefined {
    const txFormat = format.includeTransactions;
    if (!txFormat) return undefined;
    const entry = this.engine.ledger.entryAt(offset);
    if (entry?.kind !== 'transaction') return undefined;
    const scope = resolveEventFormat(txFormat.eventFormat);
    const tx = projectTransaction(entry, scope, txFormat.transactionShape, entry.synchronizerId ?? this.engine.ledger.synchronizerId);
    return tx ? { update: { Transaction: { value: tx } } } : undefined;
  }

  updates(req: UpdatesQuery): StreamSpec<UpdatesElement> {
    const format = req.updateFormat;
    const txFormat = format.includeTransactions;
    const scope = txFormat ? resolveEventFormat(txFormat.eventFormat) : undefined;
    const sync = this.engine.ledger.synchronizerId;
    return {
      beginExclusive: req.beginExclusive,
      ...(req.endInclusive !== undefined ? { endInclusive: req.endInclusive } : {}),
      collect: (begin, end) => {
        if (!txFormat || !scope) return [];
        const out: { offset: number; element: UpdatesElement }[] = [];
        for (const e of this.engine.ledger.entriesBetween(begin, end)) {
          if (e.kind !== 'transaction') continue;
          const tx = projectTransaction(e, scope, txFormat.transactionShape, e.synchronizerId ?? sync);
          if (tx) out.push({ offset: e.offset, element: { update: { Transaction: { value: tx } } } });
        }
        return out;
      },
      checkpoint: (offset, time) => checkpointElement(offset, sync, time, this.engine.ledger.otherSynchronizerTimes(offset)),
    };
  }

  updateById(req: { readonly updateId: string; readonly updateFormat: ValidUpdateFormat }): UpdatesElement {
    const tx = this.engine.ledger.transactionById(req.updateId);
    const el = tx ? this.project(tx.offset, req.updateFormat) : undefined;
    if (!el) throw updateNotFound();
    return el;
  }

  updateByOffset(req: { readonly offset: number; readonly updateFormat: ValidUpdateFormat }): UpdatesElement {
    const el = req.offset > this.engine.ledger.prunedUpTo ? this.project(req.offset, req.updateFormat) : undefined;
    if (!el) throw updateNotFound();
    return el;
  }

  activeContracts(req: AcsQuery): AcsElement[] {
    const ledger = this.engine.ledger;
    if (req.activeAtOffset > ledger.ledgerEnd) {
      throw LedgerError.of(
        'OFFSET_AFTER_LEDGER_END',
        `Active contracts offset (${req.activeAtOffset}) is after ledger end (${ledger.ledgerEnd})`,
        {
          definiteAnswer: false,
        },
      );
    }
    if (req.activeAtOffset < ledger.prunedUpTo) {
      throw LedgerError.of(
        'PARTICIPANT_PRUNED_DATA_ACCESSED',
        `Active contracts request at offset ${req.activeAtOffset} precedes pruned offset ${ledger.prunedUpTo}`,
        { context: { earliest_offset: String(ledger.prunedUpTo) }, definiteAnswer: false },
      );
    }
    const scope = resolveEventFormat(req.eventFormat);
    const out: AcsElement[] = [];
    for (const s of ledger.activeAt(req.activeAtOffset)) {
      const m = matchStakeholders(scope, s.contract.payload);
      if (!m) continue;
      out.push({
        workflowId: '',
        contractEntry: {
          JsActiveContract: {
            createdEvent: createdEvent(s.contract, s.created.offset, s.created.nodeId, m, true),
            synchronizerId: ledger.synchronizerId,
            reassignmentCounter: 0,
          },
        },
      });
    }
    return out;
  }

  eventsByContractId(req: { readonly contractId: string; readonly eventFormat: EventFormat }): EventsByCidResponse {
    const ledger = this.engine.ledger;
    const s = ledger.contracts.get(req.contractId);
    const scope = resolveEventFormat(req.eventFormat);
    const m = s ? matchStakeholders(scope, s.contract.payload) : undefined;
    if (!s || !m)
      throw LedgerError.of('CONTRACT_EVENTS_NOT_FOUND', 'Contract events not found, or not visible.', { definiteAnswer: false });
    const template = templateOf(s.contract.payload);
    return {
      created: {
        createdEvent: createdEvent(s.contract, s.created.offset, s.created.nodeId, m, true),
        synchronizerId: ledger.synchronizerId,
      },
      ...(s.archived
        ? {
            archived: {
              archivedEvent: {
                offset: s.archived.offset,
                nodeId: s.archived.nodeId,
                contractId: s.contract.contractId,
                templateId: idString(template),
                witnessParties: m.parties,
                packageName: template.packageName,
                implementedInterfaces: m.views.map(idString),
              },
              synchronizerId: ledger.synchronizerId,
            },
          }
        : {}),
    };
  }
}

/** ACS and contract lookups are by stakeholder (not by witness), through the filters. */
function matchStakeholders(scope: ReadScope, payload: Payload): Match | undefined {
  const m = matchNode(scope, stakeholders(payload), templateOf(payload), implementedInterfaces(payload));
  return m.parties.length > 0 ? m : undefined;
}

/** Completion stream elements for (userId, parties), and its checkpoints. */
export function completionSpec(
  engine: SandboxEngine,
  userId: string,
  parties: readonly string[],
  beginExclusive: number,
): StreamSpec<CompletionElement> {
  const sync = engine.ledger.synchronizerId;
  const readers = new Set(parties);
  return {
    beginExclusive,
    collect: (begin, end) =>
      engine.ledger.completions
        .filter((c) => c.offset > begin && c.offset <= end && c.userId === userId && c.actAs.some((p) => readers.has(p)))
        .map((c) => ({ offset: c.offset, element: completionElement(c, sync) })),
    checkpoint: (offset, time) => ({
      completionResponse: {
        OffsetCheckpoint: {
          value: { offset, synchronizerTimes: synchronizerTimes(sync, time, engine.ledger.otherSynchronizerTimes(offset)) },
        },
      },
    }),
  };
}

export function completionElement(c: CompletionRecord, synchronizerId: string): CompletionElement {
  return {
    completionResponse: {
      Completion: {
        value: {
          commandId: c.commandId,
          status: c.error ? { code: c.error.grpc, message: c.error.statusMessage(), details: [] } : { code: 0, message: '', details: [] },
          ...(c.updateId !== undefined ? { updateId: c.updateId } : {}),
          userId: c.userId,
          actAs: [...c.actAs],
          ...(c.submissionId !== undefined ? { submissionId: c.submissionId } : {}),
          ...(c.deduplicationSeconds !== undefined
            ? { deduplicationPeriod: { DeduplicationDuration: { value: { seconds: c.deduplicationSeconds, nanos: 0 } } } }
            : {}),
          offset: c.offset,
          synchronizerTime: { synchronizerId, recordTime: microsToIso(c.recordTime) },
        },
      },
    },
  };
}

import { Interner } from '../lib/interner.js';
import { TransferChoice, type JsInterfaceView, type JsTransaction } from '../ledger/schema/index.js';
import { HOLDING, isObject, qualifiedName, TRANSFER_INSTRUCTION } from './parser.js';

/**
 * Why this exists: memory. Transactions wait in the ingestion queue (up to three batches of a
 * thousand: one being written, one parsed ahead, one filling) and a transaction as JSON.parse
 * gives it is mostly what the parser never reads — contract arguments, blobs, witnesses, the
 * views of other interfaces — with every ledger identifier its own copy. Kept whole, the queue
 * costs the young-generation GC the copying of all that until it is promoted. So a transaction is
 * slimmed as it arrives (src/ingestion/elements.ts), before it is queued: the parse of the slim
 * transaction is the parse of the whole one (test/ingestion/slim.test.ts), only smaller.
 *
 * Not part of the parser: the parser is pure and keeps no state between transactions; the
 * slimmer shares identifiers across the transactions it slims (an Interner), so it is an object,
 * one per update stream (src/streams/source.ts updatesSource): what it shares lives as long as
 * the transactions that share it, and two streams never share one.
 */
export class TransactionSlimmer {
  /** A few hundred distinct identifiers recur in every transaction; bounded against the rest. */
  private readonly identifiers = new Interner(10_000);

  /**
   * Keeps of a transaction only what parseTransaction reads, as small fresh objects — no contract
   * arguments, blobs, witnesses, observers, views of other interfaces, created events without a
   * Holding or TransferInstruction view (the parser looks at nothing else of a create), and of
   * choice arguments and results all but the token-standard fields. Identifiers that recur in
   * every transaction are shared rather than copied per transaction, and an event's creation
   * time is the transaction's string when they are equal.
   */
  slim(tx: JsTransaction): JsTransaction {
    const ids = this.identifiers;
    const events: JsTransaction['events'] = [];
    for (const e of tx.events) {
      if ('CreatedEvent' in e) {
        const c = e.CreatedEvent;
        const views = c.interfaceViews?.filter(
          (v) => qualifiedName(v.interfaceId) === HOLDING || qualifiedName(v.interfaceId) === TRANSFER_INSTRUCTION,
        );
        if (views === undefined || views.length === 0) continue;
        events.push({
          CreatedEvent: {
            offset: c.offset,
            nodeId: c.nodeId,
            contractId: c.contractId,
            templateId: ids.intern(c.templateId),
            createArgument: null,
            interfaceViews: views.map((v) => this.slimView(v)),
            witnessParties: [],
            // Who signed is what makes a holding genuine (its instrument's admin must be among them).
            signatories: ids.internAll(c.signatories),
            createdAt: c.createdAt === tx.effectiveAt ? tx.effectiveAt : c.createdAt,
            packageName: ids.intern(c.packageName),
          },
        });
      } else if ('ExercisedEvent' in e) {
        const x = e.ExercisedEvent;
        events.push({
          ExercisedEvent: {
            offset: x.offset,
            nodeId: x.nodeId,
            contractId: x.contractId,
            templateId: ids.intern(x.templateId),
            interfaceId: typeof x.interfaceId === 'string' ? ids.intern(x.interfaceId) : x.interfaceId,
            choice: ids.intern(x.choice),
            // The factory's argument is read whole; other choices only for a stated `amount`.
            choiceArgument: x.choice === TransferChoice.FactoryTransfer ? x.choiceArgument : pickKeys(x.choiceArgument, ['amount']),
            actingParties: ids.internAll(x.actingParties),
            consuming: x.consuming,
            witnessParties: [],
            lastDescendantNodeId: x.lastDescendantNodeId,
            exerciseResult: pickKeys(x.exerciseResult, RESULT_KEYS),
            packageName: ids.intern(x.packageName),
            implementedInterfaces: x.implementedInterfaces && ids.internAll(x.implementedInterfaces),
          },
        });
      } else {
        events.push(e);
      }
    }
    return {
      updateId: tx.updateId,
      effectiveAt: tx.effectiveAt,
      events,
      offset: tx.offset,
      synchronizerId: ids.intern(tx.synchronizerId),
      recordTime: tx.recordTime,
    };
  }

  /** A view with its interface id, and a Holding view's owner and instrument, shared; the rest as it came. */
  private slimView(v: JsInterfaceView): JsInterfaceView {
    const ids = this.identifiers;
    const interfaceId = ids.intern(v.interfaceId);
    const value = v.viewValue;
    if (!isObject(value) || typeof value.owner !== 'string' || !isObject(value.instrumentId)) return { ...v, interfaceId };
    const { admin, id } = value.instrumentId;
    if (typeof admin !== 'string' || typeof id !== 'string') return { ...v, interfaceId };
    const instrumentId = { ...value.instrumentId, admin: ids.intern(admin), id: ids.intern(id) };
    return { ...v, interfaceId, viewValue: { ...value, owner: ids.intern(value.owner), instrumentId } };
  }
}

/** The token-standard fields of an exercise result the parser reads. */
const RESULT_KEYS = ['output', 'senderChangeCids', 'meta'] as const;

function pickKeys(v: unknown, keys: readonly string[]): unknown {
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in v) out[k] = v[k];
  return out;
}

import type { EventObject } from 'xstate';
import { encodeSnapshot, releasesBlobs } from '../../store/machine-blobs.js';
import { serializeError } from '../failure.js';
import type { Handle, Source } from './handle.js';
import type { PendingRecord } from './store.js';

/**
 * What one captured transition records: its snapshot (encoded, long strings apart), its event as
 * the transition row keeps it, from → to, both contexts, its source and the machine's next seq.
 * Advances the handle to it. Undefined when nothing changed and no outbox event or operator asks
 * for a row (XState reports snapshots that are not transitions).
 */
export function takeTransition<TContext>(
  h: Handle<TContext>,
  xstateEvent: EventObject,
  snap: { status: string; value: unknown; context: unknown },
  source: Source,
): PendingRecord<TContext> | undefined {
  const encoded = encodeSnapshot(h.actor.getPersistedSnapshot(), h.blobs);
  const json = encoded.json;
  if (json === h.lastJson && source.outboxEventId === undefined && source.operator === undefined) return undefined;
  const event = serializeEvent(xstateEvent);
  const rec: PendingRecord<TContext> = {
    machineId: h.id,
    seq: ++h.seqTaken,
    eventType: xstateEvent.type,
    event,
    from: h.lastValue,
    to: snap.value,
    prevContext: h.lastContext,
    context: snap.context as TContext,
    isFinal: snap.status === 'done',
    outboxEventId: source.outboxEventId ?? null,
    operator: source.operator ?? null,
    snapshot: encoded,
    releasedBlobs: releasesBlobs(h.blobs, encoded),
  };
  h.lastJson = json;
  h.blobs = encoded.blobs;
  h.lastValue = snap.value;
  h.lastContext = snap.context as TContext;
  if (source.outboxEventId !== undefined) h.lastEventId = Math.max(h.lastEventId, source.outboxEventId);
  return rec;
}

/** Longer strings are not kept in transition rows (see serializeEvent). */
const MAX_KEPT_EVENT_STRING = 4096;

/**
 * An event as its transition row keeps it: errors as plain objects, and strings longer than
 * MAX_KEPT_EVENT_STRING as a note of their length. Those are the prepared transactions (tens of
 * kilobytes of base64) in the outputs of prepare and sign: the row records what happened (command
 * id, hash, signer stay), the snapshot holds what the machine still needs, the ledger what was
 * committed — kept in every row they would dominate what each withdrawal writes and stores.
 */
function serializeEvent(event: EventObject): Record<string, unknown> {
  const text = JSON.stringify(event, (_key, value: unknown) => {
    if (value instanceof Error) return serializeError(value);
    if (typeof value === 'string' && value.length > MAX_KEPT_EVENT_STRING) return `[${value.length} characters, not kept]`;
    return value;
  });
  return JSON.parse(text) as Record<string, unknown>;
}

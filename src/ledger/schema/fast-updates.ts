import { IDENTIFIER_PATTERN, TIMESTAMP_PATTERN } from './common.js';
import type { JsGetUpdatesResponse } from './updates.js';

/**
 * A hand-written decoder for the /v2/updates elements ingestion reads all day (transactions of
 * created, exercised and archived events, and offset checkpoints), several times faster than the
 * zod schema it mirrors. It is only a fast path: it accepts exactly what `JsGetUpdatesResponse`
 * accepts and returns the same value (same keys, same order, `null`/"" as absent keys kept with
 * `undefined` where zod keeps them) — and as soon as it meets anything unusual (a failing value, a
 * reassignment, a topology transaction, status details, an event with a stray key) it gives up,
 * returning undefined, and the caller runs the zod schema, whose output or error is then the
 * answer. So it can never accept what the schema rejects, nor change an error message. Tested
 * against the schema on recorded data and on mutations of it (test/ledger/fast-updates.test.ts).
 */

/** Thrown to give up; caught at the top. Never escapes this module. */
class GiveUp {}
const GIVE_UP = new GiveUp();

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw GIVE_UP;
  return v as Obj;
}

/** A required key: zod reports an absent one, whatever its schema. */
function req(o: Obj, k: string): unknown {
  if (!(k in o)) throw GIVE_UP;
  return o[k];
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw GIVE_UP;
  return v;
}

function nonEmpty(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw GIVE_UP;
  return v;
}

function bool(v: unknown): boolean {
  if (typeof v !== 'boolean') throw GIVE_UP;
  return v;
}

function int(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < Number.MIN_SAFE_INTEGER || v > Number.MAX_SAFE_INTEGER) throw GIVE_UP;
  return v;
}

function offset(v: unknown): number {
  const n = int(v);
  if (n < 0) throw GIVE_UP;
  return n;
}

function nodeId(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2147483647) throw GIVE_UP;
  return v;
}

function int32(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw GIVE_UP;
  return v;
}

// Ids and times repeat across the events of a transaction and across transactions: remember the
// valid ones (bounded) so each distinct string is checked once.
const MAX_REMEMBERED = 4096;
const validIdentifiers = new Set<string>();

function identifier(v: unknown): string {
  if (typeof v !== 'string') throw GIVE_UP;
  if (validIdentifiers.has(v)) return v;
  if (!IDENTIFIER_PATTERN.test(v)) throw GIVE_UP;
  if (validIdentifiers.size >= MAX_REMEMBERED) validIdentifiers.clear();
  validIdentifiers.add(v);
  return v;
}

let lastTimestamp: string | undefined;

function timestamp(v: unknown): string {
  if (typeof v !== 'string') throw GIVE_UP;
  if (v === lastTimestamp) return v;
  if (!TIMESTAMP_PATTERN.test(v) || Number.isNaN(Date.parse(v))) throw GIVE_UP;
  lastTimestamp = v;
  return v;
}

function array<T>(v: unknown, item: (x: unknown) => T): T[] {
  if (!Array.isArray(v)) throw GIVE_UP;
  const out = new Array<T>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = item(v[i]);
  return out;
}

/**
 * `opt(schema)`: an absent key stays absent; a present null (or undefined) becomes a present key
 * holding undefined; anything else must parse.
 */
function setOpt<T>(out: Obj, o: Obj, k: string, parse: (x: unknown) => T): void {
  if (!(k in o)) return;
  const v = o[k];
  out[k] = v === null || v === undefined ? undefined : parse(v);
}

/** `optNonEmpty()`: as opt, and "" is absent too. */
function setOptNonEmpty(out: Obj, o: Obj, k: string): void {
  if (!(k in o)) return;
  const v = o[k];
  out[k] = v === null || v === undefined || v === '' ? undefined : str(v);
}

/** `z.unknown().optional()`: a present key is kept as it is, by reference. */
function setUnknownOpt(out: Obj, o: Obj, k: string): void {
  if (k in o) out[k] = o[k];
}

function status(v: unknown): Obj {
  const o = obj(v);
  const out: Obj = { code: int32(req(o, 'code')), message: str(req(o, 'message')) };
  if ('details' in o) {
    const d = o['details'];
    if (d === null || d === undefined) out['details'] = undefined;
    else if (Array.isArray(d) && d.length === 0) out['details'] = [];
    else throw GIVE_UP; // ProtoAny details: rare, left to the schema
  }
  return out;
}

function interfaceView(v: unknown): Obj {
  const o = obj(v);
  const out: Obj = { interfaceId: identifier(req(o, 'interfaceId')), viewStatus: status(req(o, 'viewStatus')) };
  setUnknownOpt(out, o, 'viewValue');
  return out;
}

/** The fields every event of a transaction starts with. */
function eventHead(o: Obj): Obj {
  return {
    offset: offset(req(o, 'offset')),
    nodeId: nodeId(req(o, 'nodeId')),
    contractId: nonEmpty(req(o, 'contractId')),
    templateId: identifier(req(o, 'templateId')),
  };
}

function createdEvent(v: unknown): Obj {
  const o = obj(v);
  const out = eventHead(o);
  setUnknownOpt(out, o, 'contractKey');
  out['createArgument'] = req(o, 'createArgument');
  setOptNonEmpty(out, o, 'createdEventBlob');
  setOpt(out, o, 'interfaceViews', (x) => array(x, interfaceView));
  out['witnessParties'] = array(req(o, 'witnessParties'), nonEmpty);
  out['signatories'] = array(req(o, 'signatories'), nonEmpty);
  setOpt(out, o, 'observers', (x) => array(x, nonEmpty));
  out['createdAt'] = timestamp(req(o, 'createdAt'));
  out['packageName'] = str(req(o, 'packageName'));
  setOpt(out, o, 'representativePackageId', str);
  setOpt(out, o, 'acsDelta', bool);
  return out;
}

function archivedEvent(v: unknown): Obj {
  const o = obj(v);
  const out: Obj = {
    ...eventHead(o),
    witnessParties: array(req(o, 'witnessParties'), nonEmpty),
    packageName: str(req(o, 'packageName')),
  };
  setOpt(out, o, 'implementedInterfaces', (x) => array(x, identifier));
  return out;
}

function exercisedEvent(v: unknown): Obj {
  const o = obj(v);
  const out = eventHead(o);
  setOpt(out, o, 'interfaceId', identifier);
  out['choice'] = str(req(o, 'choice'));
  out['choiceArgument'] = req(o, 'choiceArgument');
  out['actingParties'] = array(req(o, 'actingParties'), nonEmpty);
  out['consuming'] = bool(req(o, 'consuming'));
  out['witnessParties'] = array(req(o, 'witnessParties'), nonEmpty);
  out['lastDescendantNodeId'] = nodeId(req(o, 'lastDescendantNodeId'));
  setUnknownOpt(out, o, 'exerciseResult');
  out['packageName'] = str(req(o, 'packageName'));
  setOpt(out, o, 'implementedInterfaces', (x) => array(x, identifier));
  setOpt(out, o, 'acsDelta', bool);
  return out;
}

/** Exactly one key, one of the three cases (anything else: the schema decides). */
function event(v: unknown): Obj {
  const o = obj(v);
  let key: string | undefined;
  for (const k in o) {
    if (key !== undefined) throw GIVE_UP;
    key = k;
  }
  if (key === 'ExercisedEvent') return { ExercisedEvent: exercisedEvent(o[key]) };
  if (key === 'CreatedEvent') return { CreatedEvent: createdEvent(o[key]) };
  if (key === 'ArchivedEvent') return { ArchivedEvent: archivedEvent(o[key]) };
  throw GIVE_UP;
}

function traceContext(v: unknown): Obj {
  const o = obj(v);
  const out: Obj = {};
  setOpt(out, o, 'traceparent', str);
  setOpt(out, o, 'tracestate', str);
  return out;
}

function transaction(v: unknown): Obj {
  const o = obj(v);
  const out: Obj = { updateId: nonEmpty(req(o, 'updateId')) };
  setOptNonEmpty(out, o, 'commandId');
  setOptNonEmpty(out, o, 'workflowId');
  out['effectiveAt'] = timestamp(req(o, 'effectiveAt'));
  out['events'] = array(req(o, 'events'), event);
  out['offset'] = offset(req(o, 'offset'));
  out['synchronizerId'] = str(req(o, 'synchronizerId'));
  setOpt(out, o, 'traceContext', traceContext);
  out['recordTime'] = timestamp(req(o, 'recordTime'));
  setOpt(out, o, 'externalTransactionHash', str);
  setOpt(out, o, 'paidTrafficCost', int);
  return out;
}

function synchronizerTime(v: unknown): Obj {
  const o = obj(v);
  return { synchronizerId: str(req(o, 'synchronizerId')), recordTime: timestamp(req(o, 'recordTime')) };
}

function offsetCheckpoint(v: unknown): Obj {
  const o = obj(v);
  const out: Obj = { offset: offset(req(o, 'offset')) };
  setOpt(out, o, 'synchronizerTimes', (x) => array(x, synchronizerTime));
  return out;
}

const OTHER_UPDATE_CASES = ['Reassignment', 'TopologyTransaction'] as const;

function update(v: unknown): Obj {
  const o = obj(v);
  for (const k of OTHER_UPDATE_CASES) if (k in o) throw GIVE_UP;
  const hasTx = 'Transaction' in o;
  const hasCp = 'OffsetCheckpoint' in o;
  if (hasTx === hasCp) throw GIVE_UP;
  if (hasTx) return { Transaction: { value: transaction(req(obj(o['Transaction']), 'value')) } };
  return { OffsetCheckpoint: { value: offsetCheckpoint(req(obj(o['OffsetCheckpoint']), 'value')) } };
}

/** The decoded element, or undefined when the zod schema must decide (see above). */
export function fastParseUpdate(json: unknown): JsGetUpdatesResponse | undefined {
  try {
    return { update: update(req(obj(json), 'update')) } as unknown as JsGetUpdatesResponse;
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    throw e;
  }
}

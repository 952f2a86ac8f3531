import { fail } from './errors.js';
import { isoDateToDays, isoToMicros } from './time.js';
import type { Identifier, Value } from './types.js';

/**
 * Building Daml values from TypeScript and from Daml-LF JSON.
 *
 * `v.*` builds a protobuf Value directly. `t.*` describes a Daml type, and
 * `jsonToDamlValue(type, json)` turns Daml-LF JSON (what a client sends as `choiceArgument`) into
 * the protobuf Value — JSON alone cannot say whether "1.0" is a Numeric or a Text, or whether
 * "00ab…" is a ContractId, so the type drives the conversion.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Daml Numeric: at most 38 significant digits; sign optional; the ledger prints a fixed scale. */
const NUMERIC = /^-?\d{1,38}(\.\d{1,37})?$/;
const HEX = /^(?:[0-9a-fA-F]{2})+$/;

function int64Of(n: bigint | number | string, at = 'int64'): bigint {
  let b: bigint;
  if (typeof n === 'bigint') b = n;
  else if (typeof n === 'number' && Number.isSafeInteger(n)) b = BigInt(n);
  else if (typeof n === 'string' && /^-?\d+$/.test(n)) b = BigInt(n);
  else fail('VALUE', `${at}: ${String(n)} is not an integer`);
  if (b < INT64_MIN || b > INT64_MAX) fail('VALUE', `${at}: ${b} does not fit Int64`);
  return b;
}

function numericOf(s: string, at = 'numeric'): string {
  if (typeof s !== 'string' || !NUMERIC.test(s) || s.replace(/[-.]/g, '').replace(/^0+/, '').length > 38) {
    fail('VALUE', `${at}: ${String(s)} is not a Daml Numeric string`);
  }
  return s;
}

function contractIdOf(s: string, at = 'contractId'): string {
  if (typeof s !== 'string' || !HEX.test(s)) fail('VALUE', `${at}: ${String(s)} is not a hex contract id`);
  return s;
}

function timestampOf(t: Date | string | bigint, at = 'timestamp'): bigint {
  if (typeof t === 'bigint') return t;
  if (t instanceof Date) {
    if (Number.isNaN(t.getTime())) fail('VALUE', `${at}: invalid Date`);
    return BigInt(t.getTime()) * 1000n;
  }
  return isoToMicros(t);
}

function dateOf(d: string | Date): number {
  return isoDateToDays(d instanceof Date ? d.toISOString().slice(0, 10) : d);
}

/** Value builders. Records keep the field order of the object you pass (Daml's declaration order). */
export const v = {
  unit: (): Value => ({ kind: 'unit' }),
  bool: (b: boolean): Value => ({ kind: 'bool', value: b }),
  int64: (n: bigint | number | string): Value => ({ kind: 'int64', value: int64Of(n) }),
  numeric: (s: string): Value => ({ kind: 'numeric', value: numericOf(s) }),
  text: (s: string): Value => ({ kind: 'text', value: s }),
  party: (p: string): Value => ({ kind: 'party', value: p }),
  contractId: (cid: string): Value => ({ kind: 'contractId', value: contractIdOf(cid) }),
  /** Days since the epoch from "YYYY-MM-DD" or a Date (its UTC day). */
  date: (d: string | Date): Value => ({ kind: 'date', value: dateOf(d) }),
  /** ISO string (microsecond precision kept), Date, or microseconds since the epoch. */
  timestamp: (t: Date | string | bigint): Value => ({ kind: 'timestamp', value: timestampOf(t) }),
  optional: (x?: Value): Value => (x ? { kind: 'optional', value: x } : { kind: 'optional' }),
  none: (): Value => ({ kind: 'optional' }),
  some: (x: Value): Value => ({ kind: 'optional', value: x }),
  list: (xs: Value[]): Value => ({ kind: 'list', elements: xs }),
  textMap: (entries: Record<string, Value> | [string, Value][]): Value => ({
    kind: 'textMap',
    entries: (Array.isArray(entries) ? entries : Object.entries(entries)).map(([key, value]) => ({ key, value })),
  }),
  genMap: (entries: [Value, Value][]): Value => ({ kind: 'genMap', entries: entries.map(([key, value]) => ({ key, value })) }),
  record: (fields: Record<string, Value>, recordId?: Identifier): Value => ({
    kind: 'record',
    ...(recordId ? { recordId } : {}),
    fields: Object.entries(fields).map(([label, value]) => ({ label, value })),
  }),
  variant: (tag: string, value: Value, variantId?: Identifier): Value => ({
    kind: 'variant',
    ...(variantId ? { variantId } : {}),
    tag,
    value,
  }),
  enum: (tag: string, enumId?: Identifier): Value => ({ kind: 'enum', ...(enumId ? { enumId } : {}), tag }),
};

// ---------------------------------------------------------------------------------------------
// Types

export type DamlType =
  | { type: 'unit' | 'bool' | 'int64' | 'numeric' | 'text' | 'party' | 'contractId' | 'date' | 'timestamp' }
  | { type: 'optional' | 'list' | 'textMap'; of: DamlType }
  | { type: 'genMap'; key: DamlType; value: DamlType }
  | { type: 'record'; fields: [string, DamlType][]; id?: Identifier }
  | { type: 'variant'; cases: [string, DamlType][]; id?: Identifier }
  | { type: 'enum'; tags: string[]; id?: Identifier }
  /** For recursive types (e.g. the token standard's AnyValue). */
  | { type: 'lazy'; get: () => DamlType };

/** Type descriptors for jsonToDamlValue. Field and case order is Daml's declaration order. */
export const t = {
  unit: { type: 'unit' } as DamlType,
  bool: { type: 'bool' } as DamlType,
  int64: { type: 'int64' } as DamlType,
  numeric: { type: 'numeric' } as DamlType,
  text: { type: 'text' } as DamlType,
  party: { type: 'party' } as DamlType,
  contractId: { type: 'contractId' } as DamlType,
  date: { type: 'date' } as DamlType,
  timestamp: { type: 'timestamp' } as DamlType,
  optional: (of: DamlType): DamlType => ({ type: 'optional', of }),
  list: (of: DamlType): DamlType => ({ type: 'list', of }),
  textMap: (of: DamlType): DamlType => ({ type: 'textMap', of }),
  genMap: (key: DamlType, value: DamlType): DamlType => ({ type: 'genMap', key, value }),
  record: (fields: Record<string, DamlType>, id?: Identifier): DamlType => ({
    type: 'record',
    fields: Object.entries(fields),
    ...(id ? { id } : {}),
  }),
  variant: (cases: Record<string, DamlType>, id?: Identifier): DamlType => ({
    type: 'variant',
    cases: Object.entries(cases),
    ...(id ? { id } : {}),
  }),
  enum: (tags: string[], id?: Identifier): DamlType => ({ type: 'enum', tags, ...(id ? { id } : {}) }),
  lazy: (get: () => DamlType): DamlType => ({ type: 'lazy', get }),
};

/** Daml-LF JSON → protobuf Value, as the JSON Ledger API reads a command argument. */
export function jsonToDamlValue(type: DamlType, json: unknown): Value {
  return fromJson(type, json, '$', 0);
}

const MAX_DEPTH = 500;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function fromJson(type: DamlType, json: unknown, at: string, depth: number): Value {
  if (depth > MAX_DEPTH) fail('VALUE', `${at}: nested too deeply`);
  const d = depth + 1;
  switch (type.type) {
    case 'lazy':
      return fromJson(type.get(), json, at, d);
    case 'unit':
      if (!isObject(json) || Object.keys(json).length > 0) fail('VALUE', `${at}: expected {} for Unit`);
      return v.unit();
    case 'bool':
      if (typeof json !== 'boolean') fail('VALUE', `${at}: expected true or false`);
      return v.bool(json);
    case 'int64':
      if (typeof json !== 'string' && typeof json !== 'number') fail('VALUE', `${at}: expected an Int64 string`);
      return { kind: 'int64', value: int64Of(json, at) };
    case 'numeric':
      if (typeof json !== 'string') fail('VALUE', `${at}: expected a Numeric string`);
      return { kind: 'numeric', value: numericOf(json, at) };
    case 'text':
    case 'party':
      if (typeof json !== 'string') fail('VALUE', `${at}: expected a string`);
      return type.type === 'text' ? v.text(json) : v.party(json);
    case 'contractId':
      if (typeof json !== 'string') fail('VALUE', `${at}: expected a contract id string`);
      return { kind: 'contractId', value: contractIdOf(json, at) };
    case 'date':
      if (typeof json !== 'string') fail('VALUE', `${at}: expected a YYYY-MM-DD string`);
      return v.date(json);
    case 'timestamp':
      if (typeof json !== 'string') fail('VALUE', `${at}: expected an ISO timestamp string`);
      return { kind: 'timestamp', value: timestampOf(json, at) };
    case 'optional':
      return optionalFromJson(type.of, json, at, d);
    case 'list':
      if (!Array.isArray(json)) fail('VALUE', `${at}: expected a list`);
      return v.list(json.map((x, i) => fromJson(type.of, x, `${at}[${i}]`, d)));
    case 'textMap':
      if (!isObject(json)) fail('VALUE', `${at}: expected an object for TextMap`);
      return v.textMap(Object.entries(json).map(([k, x]): [string, Value] => [k, fromJson(type.of, x, `${at}.${k}`, d)]));
    case 'genMap':
      if (!Array.isArray(json)) fail('VALUE', `${at}: expected [[key, value], ...] for GenMap`);
      return v.genMap(
        json.map((pair, i): [Value, Value] => {
          if (!Array.isArray(pair) || pair.length !== 2) fail('VALUE', `${at}[${i}]: expected a [key, value] pair`);
          return [fromJson(type.key, pair[0], `${at}[${i}][0]`, d), fromJson(type.value, pair[1], `${at}[${i}][1]`, d)];
        }),
      );
    case 'record': {
      if (!isObject(json)) fail('VALUE', `${at}: expected an object for a record`);
      const known = new Set(type.fields.map(([name]) => name));
      for (const k of Object.keys(json)) if (!known.has(k)) fail('VALUE', `${at}: unknown record field "${k}"`);
      const fields: Record<string, Value> = {};
      for (const [name, ft] of type.fields) {
        const present = Object.prototype.hasOwnProperty.call(json, name);
        // Daml-LF JSON lets a client leave out optional fields; they mean None.
        if (!present && resolve(ft).type !== 'optional') fail('VALUE', `${at}: missing record field "${name}"`);
        fields[name] = fromJson(ft, present ? json[name] : null, `${at}.${name}`, d);
      }
      return {
        kind: 'record',
        ...(type.id ? { recordId: type.id } : {}),
        fields: Object.entries(fields).map(([label, value]) => ({ label, value })),
      };
    }
    case 'variant': {
      if (!isObject(json) || typeof json['tag'] !== 'string' || !('value' in json)) {
        fail('VALUE', `${at}: expected {tag, value} for a variant`);
      }
      const tag = json['tag'];
      const c = type.cases.find(([name]) => name === tag);
      if (!c) fail('VALUE', `${at}: unknown variant constructor "${tag}"`);
      return v.variant(tag, fromJson(c[1], json['value'], `${at}.value`, d), type.id);
    }
    case 'enum':
      if (typeof json !== 'string' || !type.tags.includes(json)) fail('VALUE', `${at}: expected one of ${type.tags.join(', ')}`);
      return v.enum(json, type.id);
  }
}

/** null → None; for a nested optional, [] → Some None and [x] → Some x (Daml-LF JSON's rule). */
function optionalFromJson(of: DamlType, json: unknown, at: string, depth: number): Value {
  if (json === null || json === undefined) return v.none();
  if (resolve(of).type !== 'optional') return v.some(fromJson(of, json, at, depth));
  if (!Array.isArray(json) || json.length > 1) fail('VALUE', `${at}: a nested optional must be [] or [value]`);
  if (json.length === 0) return v.some(v.none());
  const inner = resolve(of);
  if (inner.type !== 'optional') fail('VALUE', `${at}: unreachable`);
  const innerValue = json[0] as unknown;
  if (innerValue === null) fail('VALUE', `${at}: [null] is not a valid nested optional, use []`);
  return v.some(optionalFromJson(inner.of, innerValue, `${at}[0]`, depth + 1));
}

function resolve(type: DamlType): DamlType {
  let r = type;
  for (let i = 0; r.type === 'lazy'; i++) {
    if (i > 100) fail('VALUE', 'lazy type does not resolve');
    r = r.get();
  }
  return r;
}

import { Decimal } from 'decimal.js';
import { LedgerError } from '../errors.js';
import { canonicalNumeric, type DamlRecordValue, type DamlType, type DamlValue, type RecordType, type VariantType } from './types.js';

/**
 * Daml-LF JSON read as Canton's JSON Ledger API v2 reads a command's `choiceArgument`: the
 * transcoder's JsonCodec (community/ledger/transcode/src/main/scala/com/digitalasset/transcode/
 * codec/json/JsonCodec.scala, release-line-3.4) turns it into a Ledger API value, the API's
 * ValueValidator (community/ledger/ledger-common/.../api/validation/ValueValidator.scala) checks
 * parties, contract ids and numerics, and Endpoints.scala (`handleError`) maps what was thrown to
 * HTTP. What a client gets for each kind of mistake:
 * - a missing non-Optional record field → 400 COMMAND_PREPROCESSING_FAILED "Missing non-optional
 *   field: <name>" (checked field by field, before unexpected fields);
 * - record fields the type does not have, with a non-null value → 400 INVALID_ARGUMENT
 *   "Unexpected fields: <names run together>" (Scala `mkString` without separator, null-valued
 *   extras included in the list);
 * - an Int64 string Long.parseLong refuses → 400 INVALID_ARGUMENT (NumberFormatException is an
 *   IllegalArgumentException): "For input string: \"x\""; a non-string non-number Int64 or Numeric
 *   → 400 INVALID_ARGUMENT "<json> is not a valid Int64|numeric value";
 * - a bad party, contract id or numeric string → 400 INVALID_ARGUMENT from ValueValidator;
 * - a JSON value of the wrong shape (ujson `Value.InvalidData`), an unknown variant tag or enum
 *   constructor, a variant without tag or value (NoSuchElementException), an unparseable
 *   timestamp (DateTimeParseException) → none of these are IllegalArgumentExceptions, so Canton
 *   answers 500 LEDGER_API_INTERNAL_ERROR with the exception's message as cause.
 * Unlike the Java codegen, a record is an object only, a variant may carry extra keys, and Unit
 * accepts any value.
 */
export function decodeTranscodeJson(ty: DamlType, json: unknown): DamlValue {
  // SchemaProcessorsImpl.choiceArgsFromJsonToProto: a null choice argument reads as {}.
  return decode(ty, json === null || json === undefined ? {} : json);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function invalidArgument(reason: string): LedgerError {
  return LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: ${reason}`, { definiteAnswer: false });
}

/** An exception Endpoints.handleError does not recognise: LedgerApiErrors.InternalError.Generic. */
function internal(message: string): LedgerError {
  return LedgerError.of('LEDGER_API_INTERNAL_ERROR', message, { definiteAnswer: false });
}

/** ujson's rendering of a value inside its messages (compact JSON). */
function render(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** ujson.Value accessors (`v.obj`, `v.arr`, `v.str`, `v.bool`) and their InvalidData failure. */
function obj(v: unknown): Record<string, Json> {
  if (!isObject(v)) throw internal(`Expected ujson.Obj (data: ${render(v)})`);
  return v;
}
function arr(v: unknown): Json[] {
  if (!Array.isArray(v)) throw internal(`Expected ujson.Arr (data: ${render(v)})`);
  return v as Json[];
}
function str(v: unknown): string {
  if (typeof v !== 'string') throw internal(`Expected ujson.Str (data: ${render(v)})`);
  return v;
}
/** scala.collection.mutable.LinkedHashMap#apply on a missing key. */
function key(o: Record<string, Json>, k: string): Json {
  if (!Object.hasOwn(o, k)) throw internal(`key not found: ${k}`);
  return o[k]!;
}

/** Java's Double.toString, which is what Scala's `value.toString()` gives for a JSON number. */
function javaDouble(d: number): string {
  if (Number.isInteger(d) && Math.abs(d) < 1e7) return `${d}.0`;
  const abs = Math.abs(d);
  if (abs >= 1e-3 && abs < 1e7) return String(d);
  const [mantissa, exp] = d.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${exp.replace('+', '')}`;
}

const MAX_NUMERIC_PRECISION = 38;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const PARTY = /^[A-Za-z0-9:\-_ ]+$/;
// Ref.ContractId.fromString: V1 "00" + 32-byte discriminator + suffix of at most 94 bytes.
const CONTRACT_ID_V1 = /^00[0-9a-f]{64}(?:[0-9a-f]{2}){0,94}$/;
// DateTimeFormatter.ISO_DATE_TIME as parsed into a ZonedDateTime: an offset (or zone) is required.
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}(?::\d{2})?)(?:\[[^\]]+\])?$/;
const ISO_LOCAL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function validDate(y: string, m: string, d: string): boolean {
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  return date.getUTCFullYear() === Number(y) && date.getUTCMonth() === Number(m) - 1 && date.getUTCDate() === Number(d);
}

function decode(ty: DamlType, v: unknown): DamlValue {
  switch (ty.kind) {
    case 'record':
      return decodeRecord(ty, v);
    case 'variant':
      return decodeVariant(ty, v);
    case 'enum': {
      const c = str(v);
      if (!ty.constructors.includes(c)) throw internal(`key not found: ${c}`);
      return c;
    }
    case 'optional':
      if (ty.of.kind !== 'optional') return v === null ? null : decode(ty.of, v);
      // Nested optionals travel as [] / [x].
      {
        const a = arr(v);
        return a.length === 0 ? [] : [decode(ty.of, a[0])];
      }
    case 'list':
      return arr(v).map((x) => decode(ty.of, x));
    case 'textMap':
      return Object.fromEntries(Object.entries(obj(v)).map(([k, x]) => [k, decode(ty.of, x)]));
    case 'genMap':
      return arr(v).map((e) => {
        const pair = arr(e);
        if (pair.length < 2) throw internal(`Index ${pair.length} out of bounds for length ${pair.length}`);
        return [decode(ty.key, pair[0]), decode(ty.value, pair[1])];
      });
    case 'unit':
      return {};
    case 'bool':
      if (typeof v !== 'boolean') throw internal(`Expected ujson.Bool (data: ${render(v)})`);
      return v;
    case 'text':
      return str(v);
    case 'int64': {
      let n: bigint;
      if (typeof v === 'string') {
        if (!/^[+-]?\d+$/.test(v)) throw invalidArgument(`For input string: "${v}"`);
        n = BigInt(v);
        if (n < INT64_MIN || n > INT64_MAX) throw invalidArgument(`For input string: "${v}"`);
      } else if (typeof v === 'number') {
        n = BigInt(Math.trunc(v)); // Double.longValue truncates
      } else {
        throw invalidArgument(`${render(v)} is not a valid Int64 value`);
      }
      return n.toString();
    }
    case 'numeric': {
      const s = typeof v === 'string' ? v : typeof v === 'number' ? javaDouble(v) : undefined;
      if (s === undefined) throw invalidArgument(`${render(v)} is not a valid numeric value`);
      // ValueValidator.validateNumeric: plain decimal digits, at most 38 of them.
      const m = /^-?(\d+)(?:\.(\d*))?$/.exec(s);
      if (!m || (m[1]!.replace(/^0+/, '') + (m[2] ?? '')).length > MAX_NUMERIC_PRECISION) {
        throw invalidArgument(`Could not read Numeric string "${s}"`);
      }
      // The engine's value translation: the value must fit Numeric(scale) without rounding.
      const d = new Decimal(s);
      if (d.decimalPlaces() > ty.scale || m[1]!.replace(/^0+/, '').length > MAX_NUMERIC_PRECISION - ty.scale) {
        throw LedgerError.of('COMMAND_PREPROCESSING_FAILED', `Cannot represent ${s} as (Numeric ${ty.scale}) without loss of precision`, {
          definiteAnswer: false,
        });
      }
      return canonicalNumeric(d.toFixed(ty.scale), ty.scale);
    }
    case 'party': {
      const p = str(v);
      if (p.length === 0) throw invalidArgument('Daml-LF Party is empty');
      if (p.length > 255) throw invalidArgument(`Daml-LF Party is too long (max: 255)`);
      const bad = [...p].find((c) => !PARTY.test(c));
      if (bad !== undefined) throw invalidArgument(`non expected character 0x${bad.codePointAt(0)!.toString(16)} in Daml-LF Party "${p}"`);
      return p;
    }
    case 'contractId': {
      const c = str(v);
      if (!CONTRACT_ID_V1.test(c)) throw invalidArgument(`cannot parse ContractId "${c}"`);
      return c;
    }
    case 'time': {
      const s = str(v);
      const m = ISO_DATE_TIME.exec(s);
      if (!m || !validDate(m[1]!, m[2]!, m[3]!) || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59) {
        throw internal(`Text '${s}' could not be parsed`);
      }
      return s;
    }
    case 'date': {
      const s = str(v);
      const m = ISO_LOCAL_DATE.exec(s);
      if (!m || !validDate(m[1]!, m[2]!, m[3]!)) throw internal(`Text '${s}' could not be parsed`);
      return s;
    }
  }
}

function decodeRecord(ty: RecordType, v: unknown): DamlRecordValue {
  const o = obj(v);
  const fields = ty.fields();
  const out: DamlRecordValue = {};
  for (const [name, fieldType] of fields) {
    if (fieldType.kind === 'optional') {
      out[name] = decode(fieldType, Object.hasOwn(o, name) ? o[name] : null);
    } else if (Object.hasOwn(o, name)) {
      out[name] = decode(fieldType, o[name]);
    } else {
      throw LedgerError.of('COMMAND_PREPROCESSING_FAILED', `Missing non-optional field: ${name}`, { definiteAnswer: false });
    }
  }
  const known = new Set(fields.map(([n]) => n));
  const unexpected = Object.keys(o).filter((k) => !known.has(k));
  if (unexpected.some((k) => o[k] !== null)) throw invalidArgument(`Unexpected fields: ${unexpected.join('')}`);
  return out;
}

function decodeVariant(ty: VariantType, v: unknown): DamlValue {
  const o = obj(v);
  const tag = str(key(o, 'tag'));
  const ctor = ty.constructors().find(([n]) => n === tag);
  if (!ctor) throw internal(`key not found: ${tag}`);
  return { tag, value: decode(ctor[1], key(o, 'value')) };
}

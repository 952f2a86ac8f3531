import protobuf from 'protobufjs';
import { fail } from './errors.js';
import { isPlain, type Plain } from './plain-reader.js';

/**
 * Turns protobuf-JSON (proto3 JSON mapping: lowerCamelCase or original field names, 64-bit
 * integers as strings, bytes as base64, null = unset) into the plain object protobufjs'
 * `fromObject` expects, checking every key and scalar on the way. `fromObject` alone would
 * silently drop unknown keys and coerce "abc" to 0, which is not acceptable for data we sign.
 */
export function normalizeProtoJson(type: protobuf.Type, json: unknown, at: string): Plain {
  if (!isPlain(json)) fail('DECODE', `${at}: expected a JSON object`);
  const out: Plain = {};
  for (const [key, value] of Object.entries(json)) {
    const field = findField(type, key);
    if (!field) fail('DECODE', `${at}: unknown field "${key}" for ${type.fullName.slice(1)}`);
    if (value === null) continue;
    if (Object.prototype.hasOwnProperty.call(out, field.name)) fail('DECODE', `${at}: field "${field.name}" given twice`);
    const fat = `${at}.${field.name}`;
    if (field.repeated) {
      if (!Array.isArray(value)) fail('DECODE', `${fat}: expected a JSON array`);
      out[field.name] = value.map((v, i) => normalizeSingle(field, v, `${fat}[${i}]`));
    } else {
      out[field.name] = normalizeSingle(field, value, fat);
    }
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => Object.prototype.hasOwnProperty.call(out, name));
    if (set.length > 1) fail('DECODE', `${at}: more than one of ${oneof.oneof.join(', ')} is set`);
  }
  return out;
}

function findField(type: protobuf.Type, key: string): protobuf.Field | undefined {
  // Own properties only: `fields` is a plain object, so "constructor" or "__proto__" would
  // otherwise find Object.prototype members.
  const own = (name: string) => (Object.prototype.hasOwnProperty.call(type.fields, name) ? type.fields[name] : undefined);
  const direct = own(key);
  if (direct) return direct;
  // Canton's name for what our .proto calls constructor_name (see value.proto).
  if (key === 'constructor') return own('constructor_name');
  return type.fieldsArray.find((f) => f.name !== 'constructor_name' && lowerCamel(f.name) === key);
}

function lowerCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function normalizeSingle(field: protobuf.Field, value: unknown, at: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return normalizeProtoJson(resolved, value, at);
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string' && value in resolved.values) return value;
    if (typeof value === 'number' && Object.values(resolved.values).includes(value)) return value;
    fail('DECODE', `${at}: not a value of enum ${resolved.name}`);
  }
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') fail('DECODE', `${at}: expected a string`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') fail('DECODE', `${at}: expected true or false`);
      return value;
    case 'bytes':
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) fail('DECODE', `${at}: expected base64`);
      return value.replace(/-/g, '+').replace(/_/g, '/');
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return checkedInteger(value, at, -(2n ** 31n), 2n ** 31n - 1n, false);
    case 'uint32':
    case 'fixed32':
      return checkedInteger(value, at, 0n, 2n ** 32n - 1n, false);
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return checkedInteger(value, at, -(2n ** 63n), 2n ** 63n - 1n, true);
    case 'uint64':
    case 'fixed64':
      return checkedInteger(value, at, 0n, 2n ** 64n - 1n, true);
    default:
      fail('DECODE', `${at}: unsupported field type ${field.type}`);
  }
}

/** proto3 JSON allows integers as numbers or decimal strings; 64-bit ones go on as strings. */
function checkedInteger(value: unknown, at: string, min: bigint, max: bigint, wide: boolean): number | string {
  let n: bigint;
  if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && /^-?\d+$/.test(value)) n = BigInt(value);
  else fail('DECODE', `${at}: expected an integer`);
  if (n < min || n > max) fail('DECODE', `${at}: ${n} out of range`);
  return wide ? n.toString() : Number(n);
}

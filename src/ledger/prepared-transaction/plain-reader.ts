import { fail } from './errors.js';

/**
 * Narrowing helpers for the untyped objects protobufjs hands back (`toObject` output). Every read
 * names the path it failed at, so a refusal says exactly which field was wrong.
 */

export type Plain = Record<string, unknown>;

export function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function obj(v: unknown, at: string): Plain {
  if (!isPlain(v)) fail('DECODE', `${at}: expected a message`);
  return v;
}

/** A sub-message that must be present (proto3 cannot enforce "required"; we do). */
export function req(p: Plain, key: string, at: string): Plain {
  const v = p[key];
  if (v === undefined || v === null) fail('DECODE', `${at}.${key}: required but not set`);
  return obj(v, `${at}.${key}`);
}

export function optMsg(p: Plain, key: string, at: string): Plain | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  return obj(v, `${at}.${key}`);
}

/** proto3 scalar: absent means the default. */
export function str(p: Plain, key: string, at: string): string {
  const v = p[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') fail('DECODE', `${at}.${key}: expected a string`);
  return v;
}

export function bool(p: Plain, key: string, at: string): boolean {
  const v = p[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') fail('DECODE', `${at}.${key}: expected a bool`);
  return v;
}

export function int(p: Plain, key: string, at: string): number {
  const v = p[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v)) fail('DECODE', `${at}.${key}: expected an integer`);
  return v;
}

/** 64-bit integers come back from protobufjs as decimal strings (`longs: String`). */
export function long(p: Plain, key: string, at: string): bigint {
  const v = p[key];
  if (v === undefined || v === null) return 0n;
  return toBigInt(v, `${at}.${key}`);
}

export function optLong(p: Plain, key: string, at: string): bigint | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  return toBigInt(v, `${at}.${key}`);
}

function toBigInt(v: unknown, at: string): bigint {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  fail('DECODE', `${at}: expected a 64-bit integer`);
}

export function bytes(p: Plain, key: string, at: string): Uint8Array {
  const v = p[key];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (!(v instanceof Uint8Array)) fail('DECODE', `${at}.${key}: expected bytes`);
  // Copy: protobufjs returns views into the input buffer (Node Buffers), which callers may reuse.
  return new Uint8Array(v);
}

export function strings(p: Plain, key: string, at: string): string[] {
  return list(p, key, at).map((v, i) => {
    if (typeof v !== 'string') fail('DECODE', `${at}.${key}[${i}]: expected a string`);
    return v;
  });
}

export function list(p: Plain, key: string, at: string): unknown[] {
  const v = p[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail('DECODE', `${at}.${key}: expected a list`);
  return v;
}

import { fail } from './errors.js';

/**
 * Daml time values and their ISO forms. Daml timestamps are microseconds since the epoch in
 * 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z; dates are days since 1970-01-01.
 * JS Date only holds milliseconds, so microseconds are carried separately, never rounded.
 */

const MICROS_PER_SECOND = 1_000_000n;
const MIN_MICROS = -62135596800000000n; // 0001-01-01T00:00:00Z
const MAX_MICROS = 253402300799999999n; // 9999-12-31T23:59:59.999999Z
const MS_PER_DAY = 86_400_000;
const MIN_DAYS = -719162; // 0001-01-01
const MAX_DAYS = 2932896; // 9999-12-31

/** Always six fractional digits, e.g. "2026-05-01T10:10:00.000000Z". */
export function microsToIso(micros: bigint): string {
  if (micros < MIN_MICROS || micros > MAX_MICROS) fail('VALUE', `timestamp ${micros} is outside Daml's range`);
  let seconds = micros / MICROS_PER_SECOND;
  let frac = micros % MICROS_PER_SECOND;
  if (frac < 0n) {
    frac += MICROS_PER_SECOND;
    seconds -= 1n;
  }
  const base = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${base.slice(0, 19)}.${frac.toString().padStart(6, '0')}Z`;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Accepts RFC 3339 with any offset; refuses sub-microsecond digits rather than rounding them. */
export function isoToMicros(s: string): bigint {
  const m = ISO.exec(s);
  if (!m) fail('VALUE', `"${s}" is not an ISO 8601 timestamp`);
  const [, y, mo, d, h, mi, sec, fraction = '', zone] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string | undefined,
    string,
  ];
  if (fraction.length > 6 && !/^0+$/.test(fraction.slice(6))) fail('VALUE', `"${s}" has sub-microsecond precision`);
  const ms = utcMillis(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec), s);
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const micros = BigInt(ms - offsetMinutes * 60_000) * 1000n + BigInt(fraction.slice(0, 6).padEnd(6, '0') || '0');
  if (micros < MIN_MICROS || micros > MAX_MICROS) fail('VALUE', `"${s}" is outside Daml's timestamp range`);
  return micros;
}

export function daysToIsoDate(days: number): string {
  if (!Number.isInteger(days) || days < MIN_DAYS || days > MAX_DAYS) fail('VALUE', `date ${days} is outside Daml's range`);
  return new Date(days * MS_PER_DAY).toISOString().slice(0, 10);
}

export function isoDateToDays(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) fail('VALUE', `"${s}" is not a YYYY-MM-DD date`);
  const ms = utcMillis(Number(m[1]), Number(m[2]), Number(m[3]), 0, 0, 0, s);
  const days = ms / MS_PER_DAY;
  if (days < MIN_DAYS || days > MAX_DAYS) fail('VALUE', `"${s}" is outside Daml's date range`);
  return days;
}

function utcMillis(y: number, mo: number, d: number, h: number, mi: number, s: number, text: string): number {
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0..99 to 1900..1999.
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  const ok =
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === h &&
    date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s;
  if (!ok) fail('VALUE', `"${text}" is not a valid calendar time`);
  return date.getTime();
}

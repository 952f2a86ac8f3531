/**
 * Record time is kept as microseconds since the epoch (bigint): Canton's timestamps have
 * microsecond precision and JS Date would drop the micros.
 */
export type Micros = bigint;

export const MICROS_PER_MS = 1000n;
export const MICROS_PER_SECOND = 1_000_000n;

export function msToMicros(ms: number): Micros {
  return BigInt(Math.trunc(ms)) * MICROS_PER_MS;
}

/**
 * ISO-8601 like Java's Instant.toString, which is what Canton prints: no fraction on a whole
 * second, otherwise 3 or 6 digits ("…:00Z", "….500Z", "….000114Z").
 */
export function microsToIso(m: Micros): string {
  // Before 1970 only the import transactions of a major upgrade (0001-01-01T00:00:00Z): floor division.
  let seconds = m / MICROS_PER_SECOND;
  let rest = m % MICROS_PER_SECOND;
  if (rest < 0n) {
    rest += MICROS_PER_SECOND;
    seconds -= 1n;
  }
  const sub = Number(rest);
  const wholeSeconds = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  if (sub === 0) return `${wholeSeconds}Z`;
  if (sub % 1000 === 0) return `${wholeSeconds}.${String(sub / 1000).padStart(3, '0')}Z`;
  return `${wholeSeconds}.${String(sub).padStart(6, '0')}Z`;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an ISO-8601 instant to microseconds (digits beyond micros are truncated). */
export function isoToMicros(iso: string): Micros {
  const m = ISO.exec(iso);
  if (!m) throw new RangeError(`not an ISO-8601 timestamp: ${iso}`);
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const date = new Date(Date.UTC(2000, 0, 1, Number(h), Number(mi), Number(s)));
  // setUTCFullYear: Date.UTC reads years 0–99 as 1900–1999 (the import record time is year 1).
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  const wholeMs = date.getTime();
  if (Number.isNaN(wholeMs)) throw new RangeError(`invalid timestamp: ${iso}`);
  let zoneMinutes = 0;
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    zoneMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  return (BigInt(wholeMs) - BigInt(zoneMinutes) * 60_000n) * MICROS_PER_MS + BigInt(frac.padEnd(6, '0').slice(0, 6));
}

export function isIsoTimestamp(s: string): boolean {
  try {
    isoToMicros(s);
    return true;
  } catch {
    return false;
  }
}

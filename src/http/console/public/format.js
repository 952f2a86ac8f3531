// How values are shown.

/** @param {string | null | undefined} iso */
export function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** @param {number} ms */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 2 : 1)} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min ${Math.round(sec % 60)} s`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A decimal string without trailing zeros: "12.5000000000" → "12.5". @param {string | null | undefined} a */
export function amount(a) {
  if (a === null || a === undefined) return '';
  return a.includes('.') ? a.replace(/\.?0+$/, '') : a;
}

/** "party::1220abcd…" shortened for tables; the full value stays in the title. @param {string | null | undefined} id */
export function short(id, keep = 18) {
  if (!id) return '';
  return id.length > keep + 3 ? `${id.slice(0, keep)}…` : id;
}

/** A state value (string or nested object) as "a.b". @param {unknown} value @returns {string} */
export function stateName(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key] = Object.keys(value);
    if (key === undefined) return '';
    const rest = stateName(/** @type {Record<string, unknown>} */ (value)[key]);
    return rest ? `${key}.${rest}` : key;
  }
  return '';
}

/** A JSON value as the Daml-LF JSON encoding uses it (records, lists, text, null for None). */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep copy so that values handed out (wire responses) can never alias ledger state. */
export function cloneJson<T extends Json>(v: T): T {
  return structuredClone(v);
}

/**
 * Replaces every string equal to a key of `map` anywhere in `v`. Used to turn the provisional
 * contract ids of an interpreted transaction into their final (suffixed) form at commit, wherever
 * they appear (create arguments, choice results, views).
 */
export function replaceStrings(v: Json, map: ReadonlyMap<string, string>): Json {
  if (typeof v === 'string') return map.get(v) ?? v;
  if (Array.isArray(v)) return v.map((x) => replaceStrings(x, map));
  if (isJsonObject(v)) {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = replaceStrings(x, map);
    return out;
  }
  return v;
}

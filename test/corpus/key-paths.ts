/**
 * Key paths of a JSON request body, to check that the client's request carries every field a real
 * one does, at every nesting level.
 *
 * - Object keys are joined with `.`; an array contributes `name[]` followed by the union of its
 *   object elements' paths (arrays of scalars are data, not structure).
 * - Map entries are `*`: the parties of `filtersByParty`, the keys of a Daml TextMap under
 *   `values` (ChoiceContext and Metadata are `{values: TextMap …}`).
 * - A oneof is encoded by Canton's JSON API as an object keyed by the variant's name, which starts
 *   with an upper-case letter (`{"WildcardFilter": …}`, `{"ExerciseCommand": …}`, `{"Empty": {}}`,
 *   `{"CanActAs": …}`); Daml record fields start lower-case.
 */

const MAP_KEYS: ReadonlySet<string> = new Set(['filtersByParty', 'values']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function keyPaths(value: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown, prefix: string, parentKey: string | undefined): void => {
    if (Array.isArray(v)) {
      for (const el of v) {
        if (!isObject(el) && !Array.isArray(el)) continue;
        out.add(`${prefix}[]`);
        walk(el, `${prefix}[]`, parentKey);
      }
      return;
    }
    if (!isObject(v)) return;
    for (const [k, child] of Object.entries(v)) {
      const segment = parentKey !== undefined && MAP_KEYS.has(parentKey) ? '*' : k;
      const path = prefix === '' ? segment : `${prefix}.${segment}`;
      out.add(path);
      walk(child, path, k);
    }
  };
  walk(value, '', undefined);
  return out;
}

/** `a.b[].c` → `a`, `a.b`, `a.b[]`, `a.b[].c`, each with the key it ends in. */
function prefixes(path: string): { prefix: string; key: string }[] {
  const out: { prefix: string; key: string }[] = [];
  let acc = '';
  for (const segment of path.split('.')) {
    const key = segment.replace(/\[\]$/, '');
    acc = acc === '' ? key : `${acc}.${key}`;
    out.push({ prefix: acc, key });
    if (segment !== key) {
      acc = `${acc}[]`;
      out.push({ prefix: acc, key });
    }
  }
  return out;
}

function isVariant(key: string): boolean {
  return /^[A-Z]/.test(key);
}

/**
 * Fields that are not oneofs but that Canton's server treats as alternative forms of one request:
 * when the real body uses form `real` and the client's body, at the same place, uses form
 * `client` (or, with `client: []`, simply omits the real form), the real form's keys are another
 * choice, not missing fields. Each rule names the server code that makes the forms exclusive.
 */
interface AlternativeForm {
  readonly real: readonly string[];
  readonly client: readonly string[];
  readonly source: string;
}

export const ALTERNATIVE_FORMS: readonly AlternativeForm[] = [
  {
    // Backwards-compatible `filter` + `verbose` versus a format: refused when both are given
    // ("Please use either backwards compatible arguments (filter and verbose) or update_format").
    real: ['filter', 'verbose'],
    client: ['updateFormat', 'eventFormat'],
    source: 'canton JsUpdateService.scala toGetUpdatesRequest, JsStateService.scala',
  },
  {
    // Who reads: named parties, or any party (which needs CanReadAsAnyParty); the validator only
    // requires one of the two.
    real: ['filtersForAnyParty'],
    client: ['filtersByParty'],
    source: 'canton ledger-api-core FormatValidator.scala validate(EventFormat)',
  },
  {
    // A bounded read versus a tailing one: without endInclusive the stream is open-ended (and only
    // then does the HTTP idle timeout apply).
    real: ['endInclusive'],
    client: [],
    source: 'canton JsUpdateService.scala (open-ended when endInclusive is absent)',
  },
];

export interface Coverage {
  /** The shortest paths of the real body the client's body lacks. */
  missing: string[];
  /** Oneof variants, or alternative forms, the real body chose where the client chose another one. */
  otherVariants: string[];
}

function parentOf(path: string): string {
  const at = path.lastIndexOf('.');
  return at < 0 ? '' : path.slice(0, at);
}

function keyOf(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

/** Whether the real body's key at `path` is one form of a rule whose other form the client chose there. */
function isOtherForm(path: string, have: ReadonlySet<string>): boolean {
  const parent = parentOf(path);
  const at = (k: string) => (parent === '' ? k : `${parent}.${k}`);
  return ALTERNATIVE_FORMS.some(
    (f) =>
      f.real.includes(keyOf(path)) &&
      f.client.every((k) => !f.real.includes(k)) &&
      (f.client.length === 0 || f.client.some((k) => have.has(at(k)))),
  );
}

/**
 * What of the real body the client's body lacks. Walking each real path from the top, the first
 * prefix the client does not have is reported: as another variant when it ends in a oneof variant
 * the client does not use there (a different choice, not a missing field), else as missing. Inside
 * a variant the client also uses, every field counts.
 */
export function coverage(real: unknown, client: unknown): Coverage {
  const have = keyPaths(client);
  const missing = new Set<string>();
  const otherVariants = new Set<string>();
  for (const path of [...keyPaths(real)].sort()) {
    if (have.has(path)) continue;
    const first = prefixes(path).find((p) => !have.has(p.prefix));
    if (!first) continue;
    if (isVariant(first.key) && !first.prefix.endsWith('[]')) otherVariants.add(first.prefix);
    else if (isOtherForm(first.prefix, have)) otherVariants.add(first.prefix);
    else missing.add(first.prefix);
  }
  return { missing: [...missing].sort(), otherVariants: [...otherVariants].sort() };
}

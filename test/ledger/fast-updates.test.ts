import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fastParseUpdate } from '../../src/ledger/schema/fast-updates.js';
import { JsGetUpdatesResponse } from '../../src/ledger/schema/index.js';

/**
 * The hand-written fast path of parseUpdate must be indistinguishable from the zod schema: on
 * every input where it answers, the schema accepts and returns the same value (keys, key order,
 * present-but-undefined keys); everywhere else it gives up and the schema answers. Checked on
 * recorded elements, on a checkpoint, and on every single-value mutation of them.
 */

const RECORDED = fileURLToPath(new URL('../../../shared/fixtures/recorded/', import.meta.url));
const load = (f: string): unknown => JSON.parse(readFileSync(RECORDED + f, 'utf8'));

function elements(): { name: string; json: unknown }[] {
  const out: { name: string; json: unknown }[] = [];
  for (const f of ['1-step-transfer.json', 'transfer-instruction-create.json', 'transfer-instruction-accept.json'])
    out.push({ name: f, json: load(f) });
  const list = load('utility-token-transfer.json') as unknown[];
  list.forEach((json, i) => out.push({ name: `utility-token-transfer.json[${i}]`, json }));
  out.push({
    name: 'checkpoint',
    json: {
      update: {
        OffsetCheckpoint: {
          value: {
            offset: 12,
            synchronizerTimes: [{ synchronizerId: 'global-domain::1220ab', recordTime: '2025-10-14T11:29:19.916535Z' }],
          },
        },
      },
    },
  });
  out.push({ name: 'bare checkpoint', json: { update: { OffsetCheckpoint: { value: { offset: 0 } } } } });
  return out;
}

/** Deep equality that also compares key order and tells an absent key from one holding undefined. */
function sameValue(a: unknown, b: unknown, path = '$'): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return Object.is(a, b) ? undefined : `${path}: ${String(a)} ≠ ${String(b)}`;
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.join('\u0000') !== kb.join('\u0000')) return `${path}: keys [${ka.join(', ')}] ≠ [${kb.join(', ')}]`;
  for (const k of ka) {
    const d = sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    if (d !== undefined) return d;
  }
  return undefined;
}

const REPLACEMENTS: readonly unknown[] = [
  null,
  '',
  'x',
  'a:b:c',
  '2025-10-14T11:29:19Z',
  '2025-13-45T11:29:19Z',
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 53,
  true,
  [],
  {},
  [null],
];
const DELETE = Symbol('delete');
const STRAY = Symbol('stray key');

/** Every input that differs from `root` in one place: a value replaced, a key deleted, a stray key added. */
function* mutations(root: unknown): Generator<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(root, []);
  for (const p of paths) {
    for (const r of [...REPLACEMENTS, DELETE, STRAY]) {
      const copy = structuredClone(root);
      if (p.length === 0) {
        if (r === STRAY) yield { ...(copy as object), stray: 1 };
        else if (r !== DELETE) yield r;
        continue;
      }
      let parent = copy as Record<string | number, unknown>;
      for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
      const last = p[p.length - 1]!;
      if (r === DELETE) {
        if (Array.isArray(parent)) parent.splice(last as number, 1);
        else delete parent[last];
      } else if (r === STRAY) {
        const target = parent[last];
        if (typeof target !== 'object' || target === null || Array.isArray(target)) continue;
        (target as Record<string, unknown>)['strayKey'] = 'x';
      } else parent[last] = r;
      yield copy;
    }
  }
}

describe('fastParseUpdate', () => {
  it.each(elements())('decodes $name exactly as the schema does', ({ json }) => {
    const fast = fastParseUpdate(json);
    const zod = JsGetUpdatesResponse.safeParse(json);
    expect(zod.success).toBe(true);
    expect(fast).toBeDefined();
    expect(sameValue(fast, zod.data)).toBeUndefined();
  });

  it.each(elements())('never differs from the schema on a mutation of $name', ({ json }) => {
    let answered = 0;
    let total = 0;
    for (const m of mutations(json)) {
      total++;
      const fast = fastParseUpdate(m);
      if (fast === undefined) continue;
      answered++;
      const zod = JsGetUpdatesResponse.safeParse(m);
      if (!zod.success)
        throw new Error(`fast path accepted what the schema rejects: ${JSON.stringify(m).slice(0, 300)}: ${zod.error.message}`);
      const d = sameValue(fast, zod.data);
      if (d !== undefined) throw new Error(`fast path differs from the schema at ${d}`);
    }
    expect(total).toBeGreaterThan(10);
    expect(answered).toBeGreaterThan(0);
  });

  it('leaves reassignments and topology transactions to the schema', () => {
    expect(fastParseUpdate({ update: { TopologyTransaction: { value: {} } } })).toBeUndefined();
    expect(fastParseUpdate({ update: { Reassignment: { value: {} } } })).toBeUndefined();
    expect(fastParseUpdate({ update: { Transaction: { value: {} }, OffsetCheckpoint: { value: { offset: 1 } } } })).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { coverage, keyPaths } from './key-paths.js';

describe('key paths of request bodies', () => {
  it('walks objects and the union of array elements; scalars in arrays are data', () => {
    const paths = keyPaths({ a: { b: 1 }, list: [{ x: 1 }, { y: { z: 2 } }], readAs: ['p1', 'p2'], empty: [] });
    expect([...paths].sort()).toEqual(['a', 'a.b', 'empty', 'list', 'list[]', 'list[].x', 'list[].y', 'list[].y.z', 'readAs']);
  });

  it('writes map entries (parties, TextMap keys) as *', () => {
    const paths = keyPaths({
      filtersByParty: { 'alice::1220ab': { cumulative: [] } },
      meta: { values: { 'splice.lfdecentralizedtrust.org/reason': 'x' } },
    });
    expect([...paths].sort()).toEqual([
      'filtersByParty',
      'filtersByParty.*',
      'filtersByParty.*.cumulative',
      'meta',
      'meta.values',
      'meta.values.*',
    ]);
  });

  it('reports the shortest missing path, at any depth and inside array elements', () => {
    const real = {
      a: 1,
      deduplicationPeriod: { Empty: {} },
      commands: [{ ExerciseCommand: { choice: 'c', choiceArgument: { extraArgs: { context: { values: {} } } } } }],
    };
    const client = { a: 2, commands: [{ ExerciseCommand: { choice: 'c', choiceArgument: { extraArgs: { context: {} } } } }] };
    expect(coverage(real, client)).toEqual({
      missing: ['commands[].ExerciseCommand.choiceArgument.extraArgs.context.values', 'deduplicationPeriod'],
      otherVariants: [],
    });
  });

  it('a oneof variant the client does not use is another choice; inside a shared variant every field counts', () => {
    const real = {
      deduplicationPeriod: { Empty: {} },
      cumulative: [
        { identifierFilter: { TemplateFilter: { value: { templateId: 't' } } } },
        { identifierFilter: { InterfaceFilter: { value: { interfaceId: 'i', includeInterfaceView: true } } } },
      ],
    };
    const client = {
      deduplicationPeriod: { DeduplicationDuration: { value: { seconds: 1 } } },
      cumulative: [{ identifierFilter: { InterfaceFilter: { value: { interfaceId: 'i' } } } }],
    };
    expect(coverage(real, client)).toEqual({
      missing: ['cumulative[].identifierFilter.InterfaceFilter.value.includeInterfaceView'],
      otherVariants: ['cumulative[].identifierFilter.TemplateFilter', 'deduplicationPeriod.Empty'],
    });
  });

  it('alternative forms Canton defines are another choice only where the client took the other form', () => {
    const legacy = { beginExclusive: 0, endInclusive: 9, filter: { filtersByParty: {} }, verbose: false };
    expect(coverage(legacy, { beginExclusive: 0, updateFormat: {} })).toEqual({
      missing: [],
      otherVariants: ['endInclusive', 'filter', 'verbose'],
    });
    // without the other form in the client's body, the legacy fields are plainly missing
    expect(coverage(legacy, { beginExclusive: 0 }).missing).toEqual(['filter', 'verbose']);
    const anyParty = { eventFormat: { filtersForAnyParty: { cumulative: [] } } };
    expect(coverage(anyParty, { eventFormat: { filtersByParty: { p: {} } } })).toEqual({
      missing: [],
      otherVariants: ['eventFormat.filtersForAnyParty'],
    });
    expect(coverage(anyParty, { eventFormat: {} }).missing).toEqual(['eventFormat.filtersForAnyParty']);
  });

  it('array elements the client never sends are missing, not another variant', () => {
    expect(coverage({ disclosedContracts: [{ contractId: 'c' }] }, { disclosedContracts: [] }).missing).toEqual(['disclosedContracts[]']);
    expect(coverage({ commands: [{ ExerciseCommand: {} }] }, {}).missing).toEqual(['commands']);
  });
});

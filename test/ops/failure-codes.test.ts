import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FAILURE_CATALOGUE, FAILURE_FAMILIES } from '../../src/failures.js';

/** README's "Failure codes" table is the catalogue's (issue 21 item 4): one place says what a code means. */
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### Failure codes'), readme.indexOf('## Development'));
const rows = section.split('\n').filter((l) => l.startsWith('| `'));

describe('failure codes', () => {
  it('README lists every catalogued code with its retry rule and meaning, and no other', () => {
    const expected = [
      ...Object.entries(FAILURE_CATALOGUE).map(([c, e]) => `| \`${c}\` | ${e.retry} | ${e.meaning} |`),
      ...Object.entries(FAILURE_FAMILIES).map(([c, e]) => `| \`${c}<n>\` | ${e.retry} | ${e.meaning} |`),
    ];
    expect(rows).toEqual(expected);
  });
});

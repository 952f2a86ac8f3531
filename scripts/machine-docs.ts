// `npm run docs:machines`: regenerates the state diagrams in src/machines/README.md from the
// machine definitions (src/machines/definition-export.ts). test/machines/definition-export.test.ts
// fails while the README is not what this writes.
import console from 'node:console';
import { readFileSync, writeFileSync } from 'node:fs';
import { renderMachineDocs } from '../src/machines/definition-export.js';

const README = new URL('../src/machines/README.md', import.meta.url);
const before = readFileSync(README, 'utf8');
const after = renderMachineDocs(before);
if (after === before) {
  console.log('src/machines/README.md: diagrams up to date');
} else {
  writeFileSync(README, after);
  console.log('src/machines/README.md: diagrams regenerated');
}

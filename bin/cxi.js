#!/usr/bin/env node
// The operator CLI. It runs the built JavaScript (`npm run build`) when dist/ was built from the
// sources as they are (always, where dist/ is deployed without src/); in a development checkout
// whose sources changed since, it runs the TypeScript through tsx instead (a dev dependency).
import console from 'node:console';
import process from 'node:process';
import { isBuilt } from '../scripts/build-state.js';

if (isBuilt()) {
  process.setSourceMapsEnabled(true);
  await import('../dist/cli/main.js');
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    console.error('cxi: dist/ is missing or older than src/, and tsx is not installed: run `npm run build`');
    process.exit(2);
  }
  register();
  await import('../src/cli/main.ts');
}

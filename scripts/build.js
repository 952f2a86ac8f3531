#!/usr/bin/env node
// `npm run build`: src/ compiled once to plain JavaScript in dist/ with source maps (tsc,
// tsconfig.build.json), so that the daemon and the operator tools run without a compiler. Files
// the code reads beside itself at run time are copied next to the compiled modules; sql/ is not
// copied: migrate.ts finds it at ../../sql/ from dist/store/ as from src/store/, so dist/ runs
// where it was built, next to sql/, package.json and node_modules/.
//
//   node scripts/build.js              a clean build
//   node scripts/build.js --if-stale   only when dist/ was not built from the sources as they are
//                                      (what `npm start` runs first: nothing to do after a build)
//   node scripts/build.js --out-dir D  into D instead of dist/ (tests)
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { isBuilt, ROOT, sourcesDigest, SRC, stampOf } from './build-state.js';

/** Read at run time from beside the module that reads them (new URL(…, import.meta.url)). */
const ASSETS = ['ledger/prepared-transaction/proto', 'http/console/public'];

const { values } = parseArgs({ options: { 'if-stale': { type: 'boolean', default: false }, 'out-dir': { type: 'string' } }, strict: true });
const outDir = resolve(values['out-dir'] ?? join(ROOT, 'dist'));

if (values['if-stale'] && isBuilt(outDir)) process.exit(0);
// Messages on stderr: `npm run parse` prints its results on stdout right after.
if (values['if-stale']) console.error(`building ${outDir} (the sources changed since the last build)`);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error(
    'cannot build: TypeScript is not installed (npm ci installs it; a production install without dev dependencies needs dist/ built beforehand)',
  );
  process.exit(1);
}

const digest = sourcesDigest();
// A clean build unless only bringing dist/ up to date, where tsc's incremental state saves time.
if (!values['if-stale']) rmSync(outDir, { recursive: true, force: true });
rmSync(stampOf(outDir), { force: true });
mkdirSync(outDir, { recursive: true });
const compiled = spawnSync(
  process.execPath,
  [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir, '--tsBuildInfoFile', join(outDir, '.tsbuildinfo')],
  { stdio: 'inherit' },
);
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
for (const asset of ASSETS) cpSync(join(SRC, asset), join(outDir, asset), { recursive: true });
// Last: an interrupted build is not mistaken for a complete one.
writeFileSync(stampOf(outDir), `${digest}\n`);

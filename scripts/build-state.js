// Whether dist/ holds the build of the sources as they are now. `npm run build` records a digest
// of everything that decides its output (src/ and the tsconfig files); `npm start`, the other
// scripts that run built code, and bin/cxi.js compare it with the sources to know whether dist/
// may be used as it is. A deployment without src/ runs whatever dist/ holds.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, URL } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SRC = join(ROOT, 'src');
const INPUTS = [SRC, join(ROOT, 'tsconfig.json'), join(ROOT, 'tsconfig.build.json')];

/** The file in a build's output directory holding the digest of the sources it was built from. */
export const stampOf = (outDir) => join(outDir, '.sources-digest');

/** The files at `path` (itself, or everything below it), in a stable order. */
function files(path) {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => files(join(path, name)));
}

/** SHA-256 over the path and content of every input file. */
export function sourcesDigest() {
  const hash = createHash('sha256');
  for (const file of INPUTS.flatMap(files)) hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

/** dist/ (or `outDir`) was built from the current sources, or there are no sources to build from. */
export function isBuilt(outDir = join(ROOT, 'dist')) {
  if (!existsSync(stampOf(outDir))) return false;
  if (!existsSync(SRC)) return true;
  return readFileSync(stampOf(outDir), 'utf8').trim() === sourcesDigest();
}

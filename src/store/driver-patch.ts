import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The daemon runs on a patched postgres.js (patches/postgres+3.4.9.patch, applied by
 * patch-package at install): unpatched, a transaction's BEGIN can share a connection with
 * unrelated queries, which then run inside someone else's transaction. An install made with
 * `--ignore-scripts` skips the patch silently, so start-up checks it is there.
 */
const MARKER = 'patched (cxi)';
/** How many markers each patched file carries. */
const EXPECTED: Readonly<Record<string, number>> = { 'connection.js': 2, 'index.js': 2 };

export class DriverPatchError extends Error {
  override readonly name = 'DriverPatchError';
}

/** The folder of the postgres.js build the daemon imports (its ESM `src/`). */
export function postgresSourceDir(): string {
  return dirname(fileURLToPath(import.meta.resolve('postgres')));
}

export function checkPostgresPatched(dir: string = postgresSourceDir()): void {
  for (const [file, wanted] of Object.entries(EXPECTED)) {
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (e) {
      throw new DriverPatchError(
        `cannot read ${join(dir, file)} to check the postgres.js patch: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    const found = text.split(MARKER).length - 1;
    if (found !== wanted) {
      throw new DriverPatchError(
        `postgres.js is not patched (${join(dir, file)} has ${found} of ${wanted} patch markers): reinstall with \`npm ci\` (without --ignore-scripts) or run \`npx patch-package\`; see patches/postgres+3.4.9.patch`,
      );
    }
  }
}

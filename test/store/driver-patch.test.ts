import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPostgresPatched, DriverPatchError, postgresSourceDir } from '../../src/store/driver-patch.js';

describe('the postgres.js patch at start-up', () => {
  it('passes on this install, and refuses a copy whose patch is missing', async () => {
    expect(() => checkPostgresPatched()).not.toThrow();
    const copy = await mkdtemp(join(tmpdir(), 'cxi-pg-src-'));
    try {
      await cp(postgresSourceDir(), copy, { recursive: true });
      const file = join(copy, 'connection.js');
      // What an `npm ci --ignore-scripts` leaves: the original lines, no markers.
      await writeFile(file, (await readFile(file, 'utf8')).replaceAll('patched (cxi)', 'original'));
      expect(() => checkPostgresPatched(copy)).toThrow(DriverPatchError);
      expect(() => checkPostgresPatched(copy)).toThrow(/postgres\.js is not patched .*connection\.js has 0 of 2 .*npm ci/);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});

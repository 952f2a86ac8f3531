import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * DATA_DIR holds the embedded database, the sandbox's ledger, the treasury key of the sandbox and
 * the API token: only the daemon's own user may read it. The directory is 0700 and everything in
 * it 0600 (directories 0700) whatever the umask: files written before (an earlier release, another
 * umask) are tightened at start-up, and the process creates new ones with umask 077 (PGlite writes
 * its data files through Node's fs with the default modes, so the umask is the only lever).
 */
export async function secureDataDir(dataDir: string): Promise<void> {
  process.umask(0o077);
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await tightenTree(dir);
}

/**
 * Sets 0700 on the directories and 0600 on the files under `path`. Needed again after PGlite's
 * first start: it unpacks its initial cluster with the archive's modes (0666), not the umask's.
 */
export async function tightenTree(path: string): Promise<void> {
  await tighten(resolve(path));
}

async function tighten(path: string): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return; // never follow a link out of DATA_DIR
  const wanted = st.isDirectory() ? 0o700 : 0o600;
  if ((st.mode & 0o777) !== wanted) await chmod(path, wanted);
  if (st.isDirectory()) for (const name of await readdir(path)) await tighten(join(path, name));
}

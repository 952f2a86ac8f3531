import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite has no lock of its own: two daemons on one data directory would corrupt it. A pid file
 * guards it; a stale one (its process is gone, e.g. after SIGKILL) is taken over.
 */
/** Directories this process holds: a pid file with our own pid may be a previous incarnation's (containers reuse pids). */
const heldHere = new Set<string>();

export async function acquireDataDirLock(dataDir: string): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  if (heldHere.has(dir)) throw new DataDirLockedError(`data directory ${dir} is already in use by this process`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'daemon.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      heldHere.add(dir);
      return async () => {
        heldHere.delete(dir);
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DataDirLockedError(`data directory ${dir} is in use by process ${pid}; stop it or set DATA_DIR to another directory`);
      }
      await rm(path, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock data directory ${dir}`);
}

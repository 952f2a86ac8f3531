import { readFileSync } from 'node:fs';

/** CPU time (ms) a process has used so far, from /proc (0 where there is none: not Linux, or gone). */
export function processCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // at the usual 100 ticks/s
  } catch {
    return 0;
  }
}

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** `npm run bench`: every `bench:*` script of package.json, one after the other. */
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
const benches = Object.keys(pkg.scripts)
  .filter((s) => s.startsWith('bench:'))
  .sort();
let failed = 0;
for (const name of benches) {
  console.log(`\n=== npm run ${name} ===`);
  const r = spawnSync('npm', ['run', '--silent', name, '--', ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;

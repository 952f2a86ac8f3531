import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

// semver comes with npm's own dependency tree (fastify uses it); a type-only view of what is used.
const semver = createRequire(import.meta.url)('semver') as {
  subset(sub: string, dom: string, opts?: { loose?: boolean }): boolean;
  validRange(range: string, opts?: { loose?: boolean }): string | null;
};

interface Manifest {
  name?: string;
  version?: string;
  engines?: { node?: string };
}

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Every installed package (nested node_modules too), as npm ci lays them out. */
function installedPackages(dir: string, out: Manifest[] = []): Manifest[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const dirs = name.startsWith('@') ? readdirSync(join(dir, name)).map((n) => join(dir, name, n)) : [join(dir, name)];
    for (const d of dirs) {
      const m = readManifest(d);
      if (m) out.push(m);
      installedPackages(join(d, 'node_modules'), out);
    }
  }
  return out;
}

describe('package.json engines', () => {
  it('declares only Node versions every installed dependency supports (npm ci prints no EBADENGINE for a Node we declare)', () => {
    const ours = readManifest(ROOT)?.engines?.node;
    expect(ours, 'package.json declares engines.node').toBeDefined();
    const packages = installedPackages(join(ROOT, 'node_modules'));
    expect(packages.length).toBeGreaterThan(100);
    const refused = packages
      .filter((p) => p.engines?.node !== undefined && semver.validRange(p.engines.node, { loose: true }) !== null)
      .filter((p) => !semver.subset(ours!, p.engines!.node!, { loose: true }))
      .map((p) => `${p.name}@${p.version} needs node ${p.engines!.node}`);
    expect(refused).toEqual([]);
  });
});

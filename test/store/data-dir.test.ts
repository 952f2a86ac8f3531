import { chmod, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { secureDataDir } from '../../src/store/data-dir.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

describe('DATA_DIR permissions', () => {
  it('makes the directory 0700 and everything in it 0600 / 0700, whatever was there before', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cxi-data-dir-'));
    dirs.push(root);
    const data = join(root, 'data');
    await mkdir(join(data, 'pg', 'base'), { recursive: true });
    await writeFile(join(data, 'pg', 'base', '1'), 'page');
    await writeFile(join(data, 'api-token'), 'secret');
    await chmod(join(data, 'pg', 'base', '1'), 0o666);
    await chmod(join(data, 'pg'), 0o755);
    const outside = join(root, 'outside.txt');
    await writeFile(outside, 'not ours', { mode: 0o644 });
    await symlink(outside, join(data, 'link'));

    await secureDataDir(data);

    expect(await modeOf(data)).toBe(0o700);
    expect(await modeOf(join(data, 'pg'))).toBe(0o700);
    expect(await modeOf(join(data, 'pg', 'base'))).toBe(0o700);
    expect(await modeOf(join(data, 'pg', 'base', '1'))).toBe(0o600);
    expect(await modeOf(join(data, 'api-token'))).toBe(0o600);
    expect(await modeOf(outside)).toBe(0o644); // a link out of DATA_DIR is not followed
    // files created from now on are private by the umask
    await writeFile(join(data, 'new'), 'x');
    expect(await modeOf(join(data, 'new'))).toBe(0o600);
  });
});

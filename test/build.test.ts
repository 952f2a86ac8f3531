import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

/** Packages that compile TypeScript: a deployed daemon must not need them. */
const COMPILERS = new Set(['tsx', 'typescript', 'esbuild', '@esbuild', '.bin']);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const image = mkdtempSync(join(tmpdir(), 'cxi-build-'));
afterAll(() => rmSync(image, { recursive: true, force: true }));

/**
 * `npm run build`, then what a deployment keeps of the checkout: dist/, sql/, package.json, bin/
 * and the build state bin/cxi.js reads, and node_modules without any compiler — no src/, no tsx,
 * no TypeScript. The built daemon must start and answer from that alone.
 */
describe('the built daemon (npm run build, npm start)', () => {
  it('starts from dist/ without src/ or any compiler, answers /health, serves the built CLI, stops on SIGTERM', async () => {
    await run(process.execPath, [join(ROOT, 'scripts/build.js'), '--out-dir', join(image, 'dist')], { cwd: ROOT });
    symlinkSync(join(ROOT, 'sql'), join(image, 'sql'));
    copyFileSync(join(ROOT, 'package.json'), join(image, 'package.json'));
    mkdirSync(join(image, 'bin'));
    copyFileSync(join(ROOT, 'bin/cxi.js'), join(image, 'bin/cxi.js'));
    mkdirSync(join(image, 'scripts'));
    copyFileSync(join(ROOT, 'scripts/build-state.js'), join(image, 'scripts/build-state.js'));
    mkdirSync(join(image, 'node_modules'));
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (!COMPILERS.has(name)) symlinkSync(join(ROOT, 'node_modules', name), join(image, 'node_modules', name));
    }
    // Source maps point at the sources: stack traces name the .ts files.
    expect(JSON.parse(readFileSync(join(image, 'dist/main.js.map'), 'utf8'))).toMatchObject({
      sources: [expect.stringMatching(/(^|\/)src\/main\.ts$/)],
    });

    const db = await createTestDatabase();
    const port = await freePort();
    const daemon = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js'], {
      cwd: image,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: db.url,
        DATA_DIR: join(image, 'data'),
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
        LOG_PRETTY: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    daemon.stdout.on('data', (d: Buffer) => (output += d.toString()));
    daemon.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exit = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    try {
      let exited = false;
      void exit.then(() => (exited = true));
      const health = async () =>
        fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.status,
          () => 0,
        );
      for (const until = Date.now() + 90_000; (await health()) !== 200; await new Promise((r) => setTimeout(r, 250))) {
        if (exited || Date.now() > until)
          throw new Error(`the built daemon did not answer /health${exited ? ' (it exited)' : ''}:\n${output}`);
      }
      // The embedded ledger double's prepared transactions are decoded with the .proto files copied beside the built code.
      const token = readFileSync(join(image, 'data/sandbox/api-token'), 'utf8').trim();
      const cli = await run(process.execPath, ['bin/cxi.js', '--json', 'health'], {
        cwd: image,
        env: { PATH: process.env.PATH ?? '', CXI_URL: `http://127.0.0.1:${port}`, CXI_TOKEN: token },
      });
      expect(JSON.parse(cli.stdout)).toMatchObject({ health: { status: 'ok' } });
      daemon.kill('SIGTERM');
      expect(await exit, output).toBe(0);
    } finally {
      daemon.kill('SIGKILL');
      await db.drop();
    }
  }, 300_000);
});

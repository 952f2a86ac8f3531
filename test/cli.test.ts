import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/http/server.js';
import { upsertInstrument } from '../src/store/instruments.js';
import { buildApiApp, TEST_TOKENS } from './support/api-app.js';
import { useMigratedDatabase } from './support/db.js';

const run = promisify(execFile);
const { sql } = await useMigratedDatabase();
const DSO = `DSO::1220${'d'.repeat(64)}`;
const BOB = `bob::1220${'b'.repeat(64)}`;

describe('cxi CLI', () => {
  let app: App;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    app = await buildApiApp(sql);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    await upsertInstrument(sql, {
      admin: DSO,
      id: 'Amulet',
      registryUrl: 'http://r.example',
      displayDecimals: 10,
      transferPolicy: 'direct-or-offer',
      enabled: true,
    });
    env = { ...process.env, CXI_URL: url, CXI_TOKEN: TEST_TOKENS.write.token };
  });
  afterAll(() => app.close());

  const cxi = (...args: string[]) => run(process.execPath, ['bin/cxi.js', ...args], { env });

  it('requests a withdrawal and lists it as a table and as JSON', async () => {
    await cxi(
      'withdrawals',
      'request',
      '--id',
      'cli-1',
      '--account',
      'acc',
      '--instrument',
      `${DSO}/Amulet`,
      '--amount',
      '3.25',
      '--receiver',
      BOB,
    );
    const table = await cxi('withdrawals', 'list');
    expect(table.stdout).toContain('cli-1');
    expect(table.stdout).toContain('3.2500000000');
    const json = JSON.parse((await cxi('--json', 'withdrawals', 'list')).stdout) as { withdrawalId: string; status: string }[];
    expect(json).toEqual([expect.objectContaining({ withdrawalId: 'cli-1', status: 'requested' })]);
  });

  const ESC = '\u001b[';
  it('prints no colour codes into a pipe (nor with NO_COLOR) and no JSON blobs in tables', async () => {
    await cxi(
      'withdrawals',
      'request',
      '--id',
      'cli-plain',
      '--account',
      'acc',
      '--instrument',
      `${DSO}/Amulet`,
      '--amount',
      '1',
      '--receiver',
      BOB,
    );
    // execFile's stdout is a pipe: what another program reads must be plain text.
    for (const args of [
      ['withdrawals', 'list'],
      ['withdrawals', 'show', 'cli-plain'],
      ['instruments', 'list'],
      ['instruments', 'show', `${DSO}/Amulet`],
    ]) {
      const { stdout } = await cxi(...args);
      expect(stdout, args.join(' ')).not.toContain(ESC);
      expect(stdout, args.join(' ')).not.toMatch(/[{[]"/);
    }
    // The instrument is shown as its fields, one per line.
    const show = (await cxi('withdrawals', 'show', 'cli-plain')).stdout;
    expect(show).toMatch(/instrument\.admin\s+│ DSO::1220d+/);
    const forced = await run(process.execPath, ['bin/cxi.js', 'withdrawals', 'list'], { env: { ...env, FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain(ESC);
    const noColour = await run(process.execPath, ['bin/cxi.js', 'withdrawals', 'list'], {
      env: { ...env, FORCE_COLOR: '1', NO_COLOR: '1' },
    });
    expect(noColour.stdout).not.toContain(ESC);
  });

  it('reads the token from a file (nothing secret on the command line)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cxi-token-'));
    try {
      const file = join(dir, 'token');
      await writeFile(file, `${TEST_TOKENS.read.token}\n`, { mode: 0o600 });
      const { CXI_TOKEN: _dropped, ...noToken } = env;
      const listed = await run(process.execPath, ['bin/cxi.js', '--token-file', file, '--json', 'withdrawals', 'list'], { env: noToken });
      expect(JSON.parse(listed.stdout)).toEqual(expect.any(Array));
      const missing = await run(process.execPath, ['bin/cxi.js', '--token-file', join(dir, 'nope'), 'withdrawals', 'list'], {
        env: noToken,
      }).catch((e: { stderr: string }) => e);
      expect((missing as { stderr: string }).stderr).toMatch(/cannot read the token file .*nope: ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits non-zero with the API error code and message', async () => {
    const failed = await cxi('withdrawals', 'show', 'nope').then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/NOT_FOUND: No withdrawal nope/);
    const forbidden = await run(process.execPath, ['bin/cxi.js', 'accounts', 'create', '--customer', 'c'], {
      env: { ...env, CXI_TOKEN: TEST_TOKENS.read.token },
    }).catch((e: { stderr: string }) => e);
    expect((forbidden as { stderr: string }).stderr).toMatch(/FORBIDDEN/);
  });
});

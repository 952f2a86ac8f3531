import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstrumentRegistryCheck } from '../../src/admin/registry-check.js';
import { registerApiRoutes } from '../../src/http/routes/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { TEST_TOKENS } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

const run = promisify(execFile);
const { sql } = await useMigratedDatabase();
const ACME = `acme::1220${'a'.repeat(64)}`;

const registry: InstrumentRegistryCheck = {
  check: async (i) => ({
    adminId: i.admin,
    name: i.id,
    symbol: i.id,
    decimals: 8,
    supportedApis: { 'splice-api-token-transfer-instruction-v1': 1 },
  }),
};

describe('cxi instruments', () => {
  let app: App;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: false });
    registerApiRoutes(app, { sql, instrumentRegistry: registry, registryPolicy: TEST_REGISTRY_POLICY });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    env = { ...process.env, CXI_URL: url, CXI_TOKEN: TEST_TOKENS.admin.token };
  });
  afterAll(() => app.close());

  const cxi = (...args: string[]) => run(process.execPath, ['bin/cxi.js', ...args], { env });

  it('adds, lists, changes and disables an instrument', async () => {
    await cxi(
      'instruments',
      'add',
      '--admin',
      ACME,
      '--id',
      'ACME',
      '--registry-url',
      'http://acme.example',
      '--transfer-policy',
      'offer-only',
      '--utxo-policy',
      '{"mergeThreshold": 40}',
    );
    const listed = JSON.parse((await cxi('--json', 'instruments', 'list')).stdout) as {
      id: string;
      displayDecimals: number;
      utxoPolicy: { mergeThreshold: number };
    }[];
    expect(listed).toEqual([
      expect.objectContaining({ id: 'ACME', displayDecimals: 8, utxoPolicy: expect.objectContaining({ mergeThreshold: 40 }) }),
    ]);

    const set = JSON.parse(
      (
        await cxi(
          '--json',
          'instruments',
          'set',
          `${ACME}/ACME`,
          '--utxo-policy',
          '{"poolSize": 2, "poolTargetAmount": "100"}',
          '--display-decimals',
          '4',
        )
      ).stdout,
    ) as { changed: string[] };
    expect(set.changed).toEqual(['displayDecimals', 'utxoPolicy']);

    const table = (await cxi('instruments', 'disable', `${ACME}/ACME`)).stdout;
    expect(table).toMatch(/enabled[^\n]*false/);
    expect((await cxi('instruments', 'list', '--enabled')).stdout).toContain('(none)');
    expect((await cxi('instruments', 'list', '--disabled')).stdout).toContain('ACME');
  });

  it('sets the fee reserve on add and part by part on set, and shows it', async () => {
    const added = JSON.parse(
      (
        await cxi(
          '--json',
          'instruments',
          'add',
          '--admin',
          ACME,
          '--id',
          'FEE',
          '--registry-url',
          'http://acme.example',
          '--fee-reserve-flat',
          '0.5',
          '--fee-reserve-rate',
          '0.001',
        )
      ).stdout,
    ) as { feeReserve: unknown };
    expect(added.feeReserve).toEqual({ rate: '0.0010000000', flat: '0.5000000000' });
    const set = JSON.parse((await cxi('--json', 'instruments', 'set', `${ACME}/FEE`, '--fee-reserve-flat', '0.25')).stdout) as {
      changed: string[];
      feeReserve: unknown;
    };
    expect(set).toMatchObject({ changed: ['feeReserve'], feeReserve: { rate: '0.0010000000', flat: '0.2500000000' } });
    expect((await cxi('instruments', 'show', `${ACME}/FEE`)).stdout).toMatch(/feeReserve[^\n]*0\.2500000000/);
    const bad = await cxi('instruments', 'set', `${ACME}/FEE`, '--fee-reserve-rate', '1.5').catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/VALIDATION_FAILED.*feeReserve\.rate/) });
  });

  it('reports API errors and bad options, exiting non-zero', async () => {
    const bad = await cxi(
      'instruments',
      'add',
      '--admin',
      ACME,
      '--id',
      'X',
      '--registry-url',
      'http://acme.example',
      '--utxo-policy',
      '{"maxInputs": 500}',
    ).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/VALIDATION_FAILED.*utxoPolicy\.maxInputs/) });
    const json = await cxi('instruments', 'set', `${ACME}/ACME`, '--utxo-policy', '{nope').catch((e: { stderr: string }) => e);
    expect((json as { stderr: string }).stderr).toMatch(/--utxo-policy must be JSON/);
    const unknown = await cxi('instruments', 'show', `${ACME}/NOPE`).catch((e: { stderr: string }) => e);
    expect((unknown as { stderr: string }).stderr).toMatch(/NOT_FOUND/);
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { embeddedSandboxLedger } from '../../src/sandbox/embedded-default.js';
import { testLogger } from '../support/silent-logger.js';
import { WireClient } from './support/wire-client.js';

describe('embedded default ledger (npm start without LEDGER_API_URL)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cxi-sandbox-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts the double, writes the treasury key, and hands the daemon a working ledger config', async () => {
    const embedded = await embeddedSandboxLedger({ config: loadConfig({ DATA_DIR: dir }), logger: testLogger() });
    try {
      const { ledger } = embedded;
      expect(ledger.treasuryKeyFile).toBe(path.join(dir, 'sandbox', 'treasury.key'));
      expect(existsSync(ledger.treasuryKeyFile)).toBe(true);
      expect(createPrivateKey(readFileSync(ledger.treasuryKeyFile, 'utf8')).asymmetricKeyType).toBe('ed25519');
      expect(ledger.treasuryParty).toMatch(/^treasury::1220[0-9a-f]{64}$/);
      if (ledger.auth.kind !== 'static') throw new Error('expected a static token');
      const client = new WireClient(ledger.apiUrl, ledger.auth.token);
      const me = await client.ok<{ user: { id: string; primaryParty: string } }>('GET', '/v2/authenticated-user');
      expect(me.user).toMatchObject({ id: ledger.userId, primaryParty: ledger.treasuryParty });
      await embedded.component.start();
      expect(embedded.component.status().state).toBe('running');
    } finally {
      await embedded.component.stop();
    }
    expect(embedded.component.status().state).toBe('stopped');

    // npm start again on the same DATA_DIR: the same ledger and treasury, where it left off
    const again = await embeddedSandboxLedger({ config: loadConfig({ DATA_DIR: dir }), logger: testLogger() });
    try {
      expect(again.ledger.treasuryParty).toBe(embedded.ledger.treasuryParty);
      expect(again.ledger.treasuryKeyFile).toBe(embedded.ledger.treasuryKeyFile);
      if (again.ledger.auth.kind !== 'static') throw new Error('expected a static token');
      const client = new WireClient(again.ledger.apiUrl, again.ledger.auth.token);
      const end = await client.ok<{ offset: number }>('GET', '/v2/state/ledger-end');
      expect(end.offset).toBeGreaterThan(5);
    } finally {
      await again.component.stop();
    }
  });
});

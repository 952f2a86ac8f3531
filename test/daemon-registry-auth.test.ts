import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { connect } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { createTestDatabase } from './support/db.js';

/** The daemon wires REGISTRY_CREDENTIALS into the admin API and checks stored instruments against them at start-up. */

const ACME = `acme::1220${'a'.repeat(64)}`;
const SECRET = 'acme-registry-token-that-must-not-leak';

describe('daemon: registry credentials from the settings', () => {
  it('warns at start-up about an instrument naming a credential the settings no longer define; the API refuses unknown and unbound ones', async () => {
    const db = await createTestDatabase();
    try {
      const sql = connect({ url: db.url, max: 1 });
      try {
        await migrate(sql);
        await sql`insert into instruments (admin_party, instrument_id, registry_url, registry_auth, registry_credential)
                  values (${ACME}, 'OLD', 'https://registry.acme.example', 'credential', 'retired')`;
      } finally {
        await sql.end({ timeout: 5 });
      }

      const lines: string[] = [];
      const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }));
      const token = 'admin-token-0123456789abcdef';
      const config = loadConfig({
        DATABASE_URL: db.url,
        HTTP_PORT: '0',
        API_TOKENS: JSON.stringify([{ name: 'ops', token, scopes: ['read', 'admin'] }]),
        REGISTRY_CREDENTIALS: JSON.stringify({ acme: { token: SECRET, registryUrls: ['https://registry.acme.example'] } }),
      });
      const daemon = await startDaemon({ config, logger });
      try {
        const warning = lines
          .map((l) => JSON.parse(l) as { level: number; msg: string; instrument?: string })
          .find((l) => l.instrument === `${ACME}/OLD`);
        expect(warning).toMatchObject({
          level: 40,
          msg: expect.stringContaining(
            'unknown registry credential "retired": REGISTRY_CREDENTIALS does not define it (it defines "acme")',
          ),
        });

        const add = (registryUrl: string, credential: string) =>
          fetch(`${daemon.url}/v1/instruments`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ admin: ACME, id: 'NEW', registryUrl, registryAuth: { mode: 'credential', credential } }),
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as { details: { issues: { field: string }[] } } }));
        expect(await add('https://registry.acme.example', 'nope')).toMatchObject({
          status: 400,
          body: { details: { issues: [{ field: 'registryAuth.credential' }] } },
        });
        expect(await add('https://elsewhere.example', 'acme')).toMatchObject({
          status: 400,
          body: { details: { issues: [{ field: 'registryUrl' }] } },
        });
        // Mode ledger needs a ledger; this daemon has none.
        const ledger = await fetch(`${daemon.url}/v1/instruments`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ admin: ACME, id: 'NEW', registryUrl: 'https://registry.acme.example', registryAuth: { mode: 'ledger' } }),
        });
        expect(await ledger.json()).toMatchObject({
          details: { issues: [{ field: 'registryAuth', reason: expect.stringMatching(/no ledger configured/) }] },
        });
      } finally {
        await daemon.stop();
      }
      expect(lines.join('')).not.toContain(SECRET);
    } finally {
      await db.drop();
    }
  });
});

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { connect } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { createTestDatabase } from './support/db.js';

/**
 * The daemon builds its registry URL policy from REGISTRY_ALLOW_HTTP / REGISTRY_ALLOW_HOSTS and
 * applies it to the admin API and stored instruments.
 */

const ACME = `acme::1220${'a'.repeat(64)}`;
const TOKEN = 'admin-token-0123456789abcdef';

describe('daemon: registry URLs under the policy of its settings', () => {
  it('refuses non-public and http registry URLs by default, and warns at start-up about a stored one', async () => {
    const db = await createTestDatabase();
    try {
      const sql = connect({ url: db.url, max: 1 });
      try {
        await migrate(sql);
        await sql`insert into instruments (admin_party, instrument_id, registry_url) values (${ACME}, 'OLD', 'http://169.254.169.254/latest')`;
      } finally {
        await sql.end({ timeout: 5 });
      }
      const lines: string[] = [];
      const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }));
      const config = loadConfig({
        DATABASE_URL: db.url,
        HTTP_PORT: '0',
        API_TOKENS: JSON.stringify([{ name: 'ops', token: TOKEN, scopes: ['read', 'admin'] }]),
      });
      const daemon = await startDaemon({ config, logger });
      try {
        const warning = lines.map((l) => JSON.parse(l) as { msg: string; instrument?: string }).find((l) => l.instrument === `${ACME}/OLD`);
        expect(warning?.msg).toMatch(/registry URL is refused.*must use https/);
        const add = async (registryUrl: string) => {
          const r = await fetch(`${daemon.url}/v1/instruments`, {
            method: 'POST',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ admin: ACME, id: 'NEW', registryUrl }),
          });
          return { status: r.status, body: (await r.json()) as { details?: { issues: { field: string; reason: string }[] } } };
        };
        expect(await add('https://2130706433:8080/')).toMatchObject({
          status: 400,
          body: { details: { issues: [{ field: 'registryUrl', reason: expect.stringMatching(/127\.0\.0\.1 is a loopback address/) }] } },
        });
        expect(await add('http://registry.acme.com/')).toMatchObject({
          status: 400,
          body: { details: { issues: [{ field: 'registryUrl', reason: expect.stringMatching(/must use https/) }] } },
        });
      } finally {
        await daemon.stop();
      }
    } finally {
      await db.drop();
    }
  });

  it('the settings are checked at start-up, naming the bad entry', () => {
    expect(
      loadConfig({ REGISTRY_ALLOW_HTTP: 'true', REGISTRY_ALLOW_HOSTS: '["10.0.0.0/8", "*.corp.example", "registry.internal", "::1"]' })
        .registryUrls,
    ).toEqual({
      allowHttp: true,
      allowHosts: ['10.0.0.0/8', '*.corp.example', 'registry.internal', '::1'],
    });
    expect(loadConfig({}).registryUrls).toEqual({ allowHttp: false, allowHosts: [] });
    const bad = (() => {
      try {
        loadConfig({ REGISTRY_ALLOW_HOSTS: '["10.0.0.0/40", "ok.example"]' });
      } catch (e) {
        return e;
      }
    })();
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as ConfigError).message).toMatch(
      /REGISTRY_ALLOW_HOSTS\.0: "10\.0\.0\.0\/40" must be a host name, \*\.domain, an IP address or a CIDR range/,
    );
    expect(() => loadConfig({ REGISTRY_ALLOW_HOSTS: '"10.0.0.0/8"' })).toThrow(/REGISTRY_ALLOW_HOSTS: must be a JSON list/);
    expect(() => loadConfig({ REGISTRY_ALLOW_HTTP: 'maybe' })).toThrow(/REGISTRY_ALLOW_HTTP/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerConsoleRoutes } from '../../src/http/console/index.js';
import { createHttpServer, type App } from '../../src/http/server.js';
import { TEST_TOKENS } from '../support/api-app.js';
import { testLogger } from '../support/silent-logger.js';

/** The console's files: public (they hold no data), same-origin only, and nothing else under /ui. */

let app: App;
beforeAll(async () => {
  app = await createHttpServer({ logger: testLogger(), apiTokens: Object.values(TEST_TOKENS), protectOpsEndpoints: true });
  registerConsoleRoutes(app);
  await app.ready();
});
afterAll(() => app?.close());

describe('GET /ui', () => {
  it('serves the page, its modules and the layout engine with a same-origin content security policy', async () => {
    expect((await app.inject({ url: '/ui' })).headers.location).toBe('/ui/');
    const page = await app.inject({ url: '/ui/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self';");
    expect(page.headers['content-security-policy']).toContain("connect-src 'self';");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    // Everything the page loads is served here: no address elsewhere.
    for (const src of page.body.matchAll(/(?:src|href)="([^"]+)"/g)) {
      if (src[1] === 'data:,') continue;
      expect(src[1], 'a relative URL').not.toMatch(/^(https?:)?\/\//);
      const res = await app.inject({ url: `/ui/${src[1]}` });
      expect(res.statusCode, src[1]).toBe(200);
    }
    const elk = await app.inject({ url: '/ui/elk.js' });
    expect(elk.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(elk.body).toContain('g.ELK = f()');
    const again = await app.inject({
      url: '/ui/app.js',
      headers: { 'if-none-match': String((await app.inject({ url: '/ui/app.js' })).headers.etag) },
    });
    expect(again.statusCode).toBe(304);
  });

  it('has nothing else: no other file, no path outside its folder', async () => {
    for (const url of ['/ui/nope.js', '/ui/..%2Fserver.ts', '/ui/tsconfig.json', '/ui/index.html'])
      expect((await app.inject({ url })).statusCode, url).toBe(404);
  });
});

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { App } from '../server.js';

/**
 * The operator console at /ui: a page and plain JavaScript modules (./public, copied beside the
 * built code by scripts/build.js), and ELK (elkjs, the layout engine Stately's tools use) served
 * from node_modules. Nothing is fetched from elsewhere: the page works with the network unplugged.
 *
 * The files are public, as /docs is: they hold no data. Every datum comes from the /v1 API with
 * the operator's bearer token, which the page keeps in sessionStorage (this tab only, gone when
 * it closes) and sends as `Authorization: Bearer`: never in a URL (URLs are logged, kept in
 * history and sent as referrers), never in a cookie (a cookie is sent by the browser on its own,
 * which would make every admin route a cross-site request forgery target). The strict content
 * security policy (scripts from this origin only, no inline script, no eval) and a page that writes
 * data only as text keep the token from script another origin could inject.
 */

export const CONSOLE_PATH = '/ui';

const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const FILE_NAME = /^[a-z0-9-]+\.(html|js|css|svg)$/;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(path: string, type: string): Asset {
  const body = readFileSync(path);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** The console's own files, read once: a deployment changes them only with a restart. */
function loadAssets(): Map<string, Asset> {
  const files = new Map<string, Asset>();
  for (const name of readdirSync(PUBLIC)) {
    if (FILE_NAME.test(name)) files.set(name, asset(PUBLIC + name, TYPES[name.slice(name.lastIndexOf('.'))]!));
  }
  // The layout engine, from the package: a UMD bundle that defines the ELK global (no worker, no eval).
  files.set('elk.js', asset(createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js'), TYPES['.js']!));
  return files;
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset) {
  void reply.headers({ ...SECURITY_HEADERS, 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache' });
  if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
  return reply.send(a.body);
}

export function registerConsoleRoutes(app: App): void {
  const files = loadAssets();
  const page = files.get('index.html');
  if (!page) throw new Error(`the console's page is missing from ${PUBLIC}`);

  app.get(CONSOLE_PATH, { schema: { hide: true } }, async (_req, reply) => reply.redirect(`${CONSOLE_PATH}/`));
  app.get(`${CONSOLE_PATH}/`, { schema: { hide: true } }, async (req, reply) => send(req, reply, page));
  app.get(`${CONSOLE_PATH}/:file`, { schema: { hide: true, params: z.object({ file: z.string().max(64) }) } }, async (req, reply) => {
    const a = files.get(req.params.file);
    if (!a || req.params.file === 'index.html')
      return reply.status(404).send({ code: 'NOT_FOUND', message: `No console file ${req.params.file}`, details: {} });
    return send(req, reply, a);
  });
}

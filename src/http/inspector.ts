import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import type { InspectionEvent, MachineContext, Observer } from 'xstate';
import type { ApiToken } from '../config.js';
import { AppError } from '../errors.js';
import { createAuthThrottle } from './auth-throttle.js';
import { createAuthenticator } from './auth.js';
import type { Logger } from '../logger.js';

/**
 * Live machines in the Stately inspector (https://stately.ai/inspect), off by default (INSPECT /
 * `--inspect`). What the machines carry (accounts, receivers, amounts) is the exchange's, so the
 * bridge is as closed as the API: it listens on INSPECT_HOST (default HTTP_HOST, loopback unless
 * configured otherwise) at INSPECT_PORT, and every request, the page and its websocket alike,
 * needs an API token with the read scope (`?token=` or `Authorization: Bearer`). A websocket
 * opened from a browser must come from the bridge's own page (its Origin is the bridge's), so a
 * page elsewhere cannot use it. Viewers only receive: what they send is ignored (the
 * @statelyai/inspect relay server would pass it on to everyone).
 *
 * The page is the bridge's own: it embeds the Stately inspector and hands it the events through
 * postMessage, addressed to the inspector's origin only; the token leaves the address bar as soon
 * as the page has read it and is never sent as a referrer.
 */
export interface MachineInspectorOptions {
  /** Where the bridge listens (INSPECT_HOST, default HTTP_HOST). */
  host: string;
  /** INSPECT_PORT (default 8181; 0: any free port). */
  port: number;
  /** The API tokens; those with the read scope may watch. */
  tokens: readonly ApiToken[];
  logger: Logger;
  /** Failed authentications per address per 10 s before it is answered 429 (HTTP_AUTH_FAILURE_LIMIT). */
  authFailureLimit?: number;
}

export interface MachineInspector {
  inspect: Observer<InspectionEvent>;
  /** The bridge's page, without a token. */
  url: string;
  /** Where the bridge listens. */
  address: AddressInfo;
  stop(): Promise<void>;
}

/** How many messages a viewer that connects late is sent first. */
const REPLAY = 200;
const STATELY_ORIGIN = 'https://stately.ai';
/** The hosted inspector the bridge's page embeds: it needs the internet (the console at /ui does not). */
export const STATELY_INSPECTOR_URL = `${STATELY_ORIGIN}/inspect`;
/** Nesting kept of a context (as @statelyai/inspect's own serialisation limits it). */
const MAX_DEPTH = 10;

/** Signed and prepared transactions are large base64 blobs: the inspector shows that they exist, not their bytes. */
function sanitizeContext(context: MachineContext): MachineContext {
  const out: MachineContext = { ...context };
  for (const key of ['signed', 'prepared', 'factory', 'acceptContext']) {
    if (out[key] !== null && out[key] !== undefined) out[key] = `[${key}]`;
  }
  return out;
}

/** JSON of an inspection event: cycles and depth cut, bigints as strings, functions left out. */
function toJson(value: unknown): string {
  const ancestors: object[] = [];
  const plain = (v: unknown, depth: number): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'function' || typeof v === 'symbol') return undefined;
    if (v === null || typeof v !== 'object') return v;
    if (ancestors.includes(v)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[…]';
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return (v as { toJSON(): unknown }).toJSON();
    ancestors.push(v);
    const out = Array.isArray(v)
      ? v.map((x) => plain(x, depth + 1))
      : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x, depth + 1)]));
    ancestors.pop();
    return out;
  };
  return JSON.stringify(plain(value, 0));
}

const PAGE_SCRIPT = `
const token = new URLSearchParams(location.search).get('token') || '';
history.replaceState(null, '', location.pathname);
const frame = document.getElementById('inspector');
const pending = [];
let ready = false;
const deliver = (m) => frame.contentWindow.postMessage(m, ${JSON.stringify(STATELY_ORIGIN)});
addEventListener('message', (e) => {
  if (e.origin !== ${JSON.stringify(STATELY_ORIGIN)} || !e.data || e.data.type !== '@statelyai.connected') return;
  ready = true;
  pending.splice(0).forEach(deliver);
});
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/?token=' + encodeURIComponent(token));
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (ready) deliver(m);
  else pending.push(m);
};
ws.onclose = (e) => { document.title = 'Inspector bridge closed (' + e.code + ')'; };
`;
const PAGE_SCRIPT_HASH = createHash('sha256').update(PAGE_SCRIPT).digest('base64');
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>cxi machines: Stately inspector</title>
<style>html,body{height:100%;margin:0}iframe{width:100%;height:100%;border:0}</style></head>
<body><iframe id="inspector" src="${STATELY_INSPECTOR_URL}" referrerpolicy="no-referrer"></iframe>
<script>${PAGE_SCRIPT}</script></body></html>`;
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'content-security-policy': `default-src 'none'; script-src 'sha256-${PAGE_SCRIPT_HASH}'; style-src 'unsafe-inline'; frame-src ${STATELY_ORIGIN}; connect-src 'self'; frame-ancestors 'none'`,
};

export async function createMachineInspector(opts: MachineInspectorOptions): Promise<MachineInspector> {
  const log = opts.logger.child({ component: 'inspector' });
  const auth = createAuthenticator(opts.tokens);
  const throttle = createAuthThrottle({ logger: log, ...(opts.authFailureLimit !== undefined ? { limit: opts.authFailureLimit } : {}) });
  const recent: string[] = [];
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });

  /** The HTTP status refusing the request, or undefined when it may proceed. */
  const refusal = (req: http.IncomingMessage): { status: number; message: string } | undefined => {
    const address = req.socket.remoteAddress ?? 'unknown';
    const wait = throttle.blockedFor(address);
    if (wait > 0) return { status: 429, message: `Too many failed authentications: try again in ${wait} s.` };
    const token = new URL(req.url ?? '/', 'http://bridge').searchParams.get('token');
    const authorization = req.headers.authorization ?? (token ? `Bearer ${token}` : undefined);
    try {
      auth.authorize('read', authorization);
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      if (e.code === 'UNAUTHENTICATED') throttle.recordFailure(address);
      return { status: e.status, message: e.message };
    }
    return undefined;
  };

  const server = http.createServer((req, res) => {
    const refused = refusal(req);
    if (refused) {
      res
        .writeHead(refused.status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end(`${refused.message}\n`);
      return;
    }
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://bridge').pathname !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
      return;
    }
    res.writeHead(200, PAGE_HEADERS).end(PAGE);
  });

  const reject = (socket: Duplex, status: number, message: string) => {
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${message}\n`,
    );
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // A browser names the page that opens a websocket: only the bridge's own page may.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) {
      reject(socket, 403, "This websocket may only be opened from the bridge's own page.");
      return;
    }
    const refused = refusal(req);
    if (refused) {
      reject(socket, refused.status, refused.message);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      for (const m of recent) ws.send(m);
      // Viewers watch; nothing they send goes anywhere.
      ws.on('message', () => {});
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const inspector = createInspector(
    {
      send(event: StatelyInspectionEvent) {
        const message = toJson(event);
        recent.push(message);
        if (recent.length > REPLAY) recent.shift();
        for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(message);
      },
    },
    { sanitizeContext },
  );

  return {
    inspect: inspector.inspect,
    url: `http://${host}:${address.port}/`,
    address,
    async stop() {
      throttle.stop();
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

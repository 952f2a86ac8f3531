import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A tiny HTTP + websocket stub for client tests: routes answer what a test scripts, and the
 * websocket hands each connection to the test with what the client sent. No ledger semantics.
 */

export interface StubConnection {
  ws: WebSocket;
  protocols: string[];
  /** The client's first frame, parsed. */
  request: Promise<unknown>;
}

export type Route = (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>;

export interface StubServer {
  url: string;
  routes: Map<string, Route>;
  /** Called for every websocket connection; reject the upgrade by setting `rejectUpgrade`. */
  onConnection: ((c: StubConnection) => void) | undefined;
  rejectUpgrade: { status: number; body: string } | undefined;
  wss: WebSocketServer;
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

export async function startStubServer(opts: { autoPong?: boolean } = {}): Promise<StubServer> {
  const routes = new Map<string, Route>();
  const requests: StubServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const route = routes.get(`${req.method} ${path}`);
      if (!route) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'NOT_FOUND', cause: `no route ${path}`, context: {}, errorCategory: 11, grpcCodeValue: 5 }));
        return;
      }
      void route(req, body, res);
    });
  });
  const wss = new WebSocketServer({
    noServer: true,
    autoPong: opts.autoPong ?? true,
    handleProtocols: (protocols) => (protocols.has('daml.ws.auth') ? 'daml.ws.auth' : false),
  });
  const stub: StubServer = {
    url: '',
    routes,
    onConnection: undefined,
    rejectUpgrade: undefined,
    wss,
    requests,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('upgrade', (req, socket, head) => {
    const reject = stub.rejectUpgrade; // read once: tests may compute it per attempt
    if (reject) {
      const { status, body } = reject;
      socket.end(
        `HTTP/1.1 ${status} Rejected\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',');
      const request = new Promise<unknown>((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
      stub.onConnection?.({ ws, protocols, request });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return stub;
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function cantonError(code: string, errorCategory: number, grpcCodeValue?: number, cause = 'stub'): Record<string, unknown> {
  return { code, cause, context: {}, errorCategory, ...(grpcCodeValue !== undefined ? { grpcCodeValue } : {}) };
}

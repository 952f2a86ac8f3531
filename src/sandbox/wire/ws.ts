import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CompletionStreamRequest,
  GetActiveContractsRequest,
  GetUpdatesRequest,
  decodeWith,
  issuesDetail,
  type Codec,
} from './decode/index.js';
import { LedgerError, SecurityError } from '../engine/errors.js';
import { bearerOf, type Claims } from './auth.js';
import { acsQuery, updatesQuery } from './formats.js';
import { applyEntryFaults, ProxyRejection, type WireContext } from './http.js';
import { authorizeEventFormat, authorizeUpdateFormat } from './list.js';
import type { UpdateReader } from './reader.js';
import type { ServerSettings } from './settings.js';
import { streamElements, validateRange, type StreamSpec } from './stream.js';

/** Websocket channels of the asyncapi and their fault-rule operation names. */
const CHANNELS: Record<string, string> = {
  '/v2/updates': 'updates.ws',
  '/v2/commands/completions': 'completions.ws',
  '/v2/state/active-contracts': 'activeContracts.ws',
};

/** Above this much unsent data a stream waits for the client to read (backpressure). */
const HIGH_WATER_MARK = 1 << 20;

/**
 * The JWT of a websocket: `Authorization: Bearer` wins; otherwise the first entry of
 * Sec-WebSocket-Protocol (split on "," without trimming, as Canton does) starting with
 * "jwt.token.".
 */
export function websocketToken(req: IncomingMessage): string | undefined {
  const bearer = bearerOf(req.headers.authorization);
  if (bearer) return bearer;
  const header = req.headers['sec-websocket-protocol'];
  const raw = Array.isArray(header) ? header.join(',') : header;
  const entry = raw?.split(',').find((p) => p.startsWith('jwt.token.'));
  return entry?.slice('jwt.token.'.length);
}

function rejectUpgrade(socket: Duplex, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

export interface WebsocketDeps {
  readonly ctx: WireContext;
  readonly reader: UpdateReader;
  readonly settings: ServerSettings;
  /** Completions of a user for some parties (live ledger only). */
  readonly completions?: (userId: string, parties: readonly string[], beginExclusive: number) => StreamSpec<unknown>;
}

export class WebsocketStreams {
  private readonly wss = new WebSocketServer({
    noServer: true,
    // Canton always answers daml.ws.auth; a client must offer it (ws rejects an unrequested one).
    handleProtocols: (protocols) => (protocols.has('daml.ws.auth') ? 'daml.ws.auth' : false),
  });
  private readonly sockets = new Set<WebSocket>();

  constructor(private readonly deps: WebsocketDeps) {}

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.upgrade(req, socket, head);
    });
  }

  /** Drops every open stream (the double is stopping, or a test cuts connections). */
  closeAll(): void {
    for (const s of this.sockets) s.terminate();
    this.sockets.clear();
  }

  get openCount(): number {
    return this.sockets.size;
  }

  private errorBody(e: unknown): { status: number; body: unknown } {
    const { ctx } = this.deps;
    const traceId = randomUUID().replace(/-/g, '');
    if (e instanceof SecurityError) return { status: e.httpStatus, body: e.toJs(traceId, traceId.slice(0, 8)) };
    if (e instanceof LedgerError) return { status: e.httpStatus, body: e.toJs(ctx.engine.ledger.participantId, traceId) };
    if (e instanceof ProxyRejection) return { status: e.status, body: e.message };
    const err = LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: ${(e as Error).message}`);
    return { status: 400, body: err.toJs(ctx.engine.ledger.participantId, traceId) };
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://sandbox').pathname;
    const op = CHANNELS[path];
    if (op === undefined || (op === 'completions.ws' && !this.deps.completions)) {
      rejectUpgrade(socket, 404, { code: 'NOT_FOUND', cause: `no websocket channel at ${path}`, context: {}, errorCategory: 11 });
      return;
    }
    let claims: Claims;
    try {
      const fault = await applyEntryFaults(this.deps.ctx, 'GET', path, op);
      if (fault) throw fault;
      claims = await this.deps.ctx.auth.authenticate(websocketToken(req));
    } catch (e) {
      const { status, body } = this.errorBody(e);
      rejectUpgrade(socket, status, body);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      this.serve(ws, path, op, claims);
    });
  }

  private serve(ws: WebSocket, path: string, op: string, claims: Claims): void {
    const ac = new AbortController();
    ws.on('close', () => ac.abort());
    ws.on('error', () => ac.abort());
    // One subscription per connection: only the first frame is the request, later ones are ignored.
    ws.once('message', (data) => {
      void this.run(ws, path, op, claims, data.toString(), ac.signal).catch((e: unknown) => {
        this.deps.ctx.logger.warn({ err: e, path }, 'sandbox: websocket stream failed');
        ws.terminate();
      });
    });
  }

  private async run(ws: WebSocket, path: string, op: string, claims: Claims, text: string, signal: AbortSignal): Promise<void> {
    const { reader, settings } = this.deps;
    let spec: StreamSpec<unknown> | undefined;
    let elements: unknown[] | undefined;
    try {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw LedgerError.of('INVALID_ARGUMENT', 'The submitted request has invalid arguments: the request frame is not JSON');
      }
      if (op === 'updates.ws') {
        const q = updatesQuery(parseFrame(GetUpdatesRequest, json));
        authorizeUpdateFormat(claims, q.updateFormat);
        validateRange(reader.timeline, q.beginExclusive, q.endInclusive, 'Transactions');
        spec = reader.updates(q);
      } else if (op === 'completions.ws') {
        const r = parseFrame(CompletionStreamRequest, json);
        const userId = claims.requireUser(r.userId);
        claims.requireReadAs(r.parties);
        validateRange(reader.timeline, r.beginExclusive, undefined, 'Command completions');
        spec = this.deps.completions?.(userId, r.parties, r.beginExclusive);
      } else {
        const q = acsQuery(parseFrame(GetActiveContractsRequest, json));
        authorizeEventFormat(claims, q.eventFormat);
        elements = reader.activeContracts(q);
      }
    } catch (e) {
      await send(ws, this.errorBody(e).body);
      ws.close(1000);
      return;
    }

    const drop = this.deps.ctx.faults.fire({ method: 'GET', path, operation: op }, ['dropWebsocket'])[0];
    let frames = 0;
    const maybeDrop = (): boolean => {
      if (drop && frames >= drop.afterFrames) {
        ws.terminate();
        return true;
      }
      return false;
    };
    if (maybeDrop()) return;
    const source: AsyncIterable<unknown> | Iterable<unknown> =
      elements ??
      streamElements(reader.timeline, spec as StreamSpec<unknown>, {
        signal,
        checkpointIntervalMs: settings.checkpointIntervalMs,
        checkpointOnCatchUp: false,
      });
    for await (const el of source) {
      if (signal.aborted || ws.readyState !== ws.OPEN) return;
      await send(ws, el);
      frames++;
      if (maybeDrop()) return;
    }
    if (ws.readyState === ws.OPEN) ws.close(1000);
  }
}

/**
 * The first frame, decoded with the same codec as the HTTP body. How tapir fails a websocket
 * frame that does not decode is not visible from Canton's sources; the double answers with an
 * INVALID_ARGUMENT JsCantonError frame naming the problem and closes, which a client cannot
 * mistake for data.
 */
function parseFrame<T>(codec: Codec<T>, json: unknown): T {
  const r = decodeWith(codec, json);
  if (!r.ok) throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: ${issuesDetail(r.issues)}`);
  return r.value;
}

async function send(ws: WebSocket, frame: unknown): Promise<void> {
  while (ws.bufferedAmount > HIGH_WATER_MARK && ws.readyState === ws.OPEN) await new Promise((r) => setTimeout(r, 5));
  if (ws.readyState !== ws.OPEN) return;
  await new Promise<void>((resolve) => ws.send(JSON.stringify(frame), () => resolve()));
}

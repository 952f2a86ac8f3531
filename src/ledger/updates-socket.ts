import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { DEFAULT_MAX_RESPONSE_BYTES, errorFromResponse, httpStatusOfGrpc, LedgerApiError } from './http.js';
import { ERROR_BODY_MAX_BYTES, readCappedBody } from './transport.js';
import {
  isJsCantonErrorFrame,
  JsCantonError,
  LedgerDecodeError,
  parseUpdate,
  type GetUpdatesRequestInput,
  type JsGetUpdatesResponse,
} from './schema/index.js';
import { Failure, familyCode } from '../failures.js';

/**
 * One subscription to the /v2/updates websocket, as Canton serves it: the JWT travels as the
 * subprotocol `jwt.token.<JWT>` next to `daml.ws.auth` (which the server echoes), the request is
 * the first and only client frame, then every server frame is one element — or a JsCantonError,
 * after which the stream ends. Liveness: ws pings, and any frame or pong counts; a connection
 * silent for longer than `livenessTimeoutMs` is cut (retryably). `pause()` stops reading from the
 * socket, so TCP pushes back on the server while the consumer catches up.
 */

export interface UpdatesSocketHandlers {
  onElement(element: JsGetUpdatesResponse): void;
  /** Terminal: the socket is closed afterwards. A LedgerApiError carries `retryable`. */
  onError(error: Error): void;
  /** Terminal: a bounded request (endInclusive) completed. */
  onEnd(): void;
}

export interface UpdatesSocketOptions extends UpdatesSocketHandlers {
  /** The JSON Ledger API base URL (http or https); the socket uses ws or wss on the same host. */
  baseUrl: string;
  token: string;
  request: GetUpdatesRequestInput;
  pingIntervalMs?: number;
  livenessTimeoutMs?: number;
  handshakeTimeoutMs?: number;
}

export function websocketUrl(baseUrl: string, path: string): string {
  const u = new URL(baseUrl.replace(/\/+$/, '') + path);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

export class UpdatesSocket {
  private readonly ws: WebSocket;
  private done = false;
  private paused = false;
  private lastSeen = Date.now();
  private readonly timer: NodeJS.Timeout;
  private readonly bounded: boolean;

  constructor(private readonly o: UpdatesSocketOptions) {
    this.bounded = o.request.endInclusive !== undefined && o.request.endInclusive !== null;
    const what = 'websocket /v2/updates';
    // The token entry first: servers split the header on "," and look for the jwt.token. prefix.
    this.ws = new WebSocket(websocketUrl(o.baseUrl, '/v2/updates'), [`jwt.token.${o.token}`, 'daml.ws.auth'], {
      handshakeTimeout: o.handshakeTimeoutMs ?? 10_000,
      perMessageDeflate: false,
      // One update per frame: a frame past this fails the stream (ws closes with 1009), never the process.
      maxPayload: DEFAULT_MAX_RESPONSE_BYTES,
    });
    this.ws.on('unexpected-response', (req, res: IncomingMessage) => {
      readCappedBody(res, ERROR_BODY_MAX_BYTES, (text) => {
        this.fail(errorFromResponse(`${what} (upgrade)`, res.statusCode ?? 0, text));
        req.destroy();
      });
      res.on('error', () =>
        this.fail(
          new LedgerApiError(`${what}: upgrade failed with HTTP ${res.statusCode}`, {
            status: res.statusCode ?? 0,
            code: familyCode('HTTP_', res.statusCode ?? 0),
          }),
        ),
      );
    });
    this.ws.on('open', () => {
      this.lastSeen = Date.now();
      this.ws.send(JSON.stringify(o.request));
    });
    this.ws.on('message', (data: RawData, isBinary: boolean) => this.onFrame(data, isBinary));
    this.ws.on('pong', () => {
      this.lastSeen = Date.now();
    });
    this.ws.on('error', (e: Error) => {
      this.fail(new LedgerApiError(`${what}: ${e.message}`, { status: 0, code: Failure.NETWORK_ERROR, retryable: true, cause: e }));
    });
    this.ws.on('close', (code: number, reason: Buffer) => {
      if (this.done) return;
      if (this.bounded && code === 1000) {
        this.finish();
        this.o.onEnd();
        return;
      }
      // An open-ended stream never ends on its own: a close is a drop, resume from the last offset.
      this.fail(
        new LedgerApiError(`${what}: connection closed (${code}${reason.length ? ` ${reason.toString('utf8')}` : ''})`, {
          status: 0,
          code: Failure.WS_CLOSED,
          retryable: true,
        }),
      );
    });
    const ping = o.pingIntervalMs ?? 15_000;
    const liveness = o.livenessTimeoutMs ?? Math.max(3 * ping, 1000);
    this.timer = setInterval(() => {
      if (this.paused || this.ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastSeen > liveness) {
        this.fail(
          new LedgerApiError(`${what}: no frame or pong for ${liveness} ms`, { status: 0, code: Failure.WS_STALE, retryable: true }),
        );
        return;
      }
      this.ws.ping();
    }, ping);
    this.timer.unref();
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.done) return;
    this.lastSeen = Date.now();
    let json: unknown;
    try {
      if (isBinary) throw new Error('binary frame');
      json = JSON.parse(data.toString());
    } catch (e) {
      this.fail(
        new LedgerDecodeError(
          `websocket /v2/updates sent a frame that is not JSON text: ${(e as Error).message}`,
          'JsGetUpdatesResponse',
          [],
        ),
      );
      return;
    }
    if (isJsCantonErrorFrame(json)) {
      const parsed = JsCantonError.safeParse(json);
      if (parsed.success) {
        const e = parsed.data;
        const status = e.grpcCodeValue === undefined ? 0 : httpStatusOfGrpc(e.grpcCodeValue);
        this.fail(
          new LedgerApiError(`websocket /v2/updates: ${e.code} (category ${e.errorCategory}): ${e.cause}`, {
            status,
            code: e.code,
            errorCategory: e.errorCategory,
            cantonError: e,
          }),
        );
        return;
      }
    }
    let element: JsGetUpdatesResponse;
    try {
      element = parseUpdate(json);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.o.onElement(element);
  }

  private finish(): void {
    this.done = true;
    clearInterval(this.timer);
  }

  private fail(error: Error): void {
    if (this.done) return;
    this.finish();
    this.ws.terminate();
    this.o.onError(error);
  }

  /** Stop reading: the server is pushed back by TCP flow control. A few buffered frames may still arrive. */
  pause(): void {
    if (this.paused || this.done) return;
    this.paused = true;
    this.ws.pause();
  }

  resume(): void {
    if (!this.paused || this.done) return;
    this.paused = false;
    this.lastSeen = Date.now();
    this.ws.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Closes without calling any handler again. */
  close(): void {
    if (this.done) return;
    this.finish();
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(1000);
  }
}

export function openUpdatesSocket(o: UpdatesSocketOptions): UpdatesSocket {
  return new UpdatesSocket(o);
}

/**
 * A client for the ledger double that validates EVERY response body and websocket frame it
 * receives against the spec: Ledger API responses against the operation's response schema in
 * ledger-api-3.4.12/openapi.yaml (errors against JsCantonError), websocket frames against the
 * asyncapi element schemas, registry responses against transfer-instruction-v1.yaml and
 * token-metadata-v1.yaml. A test that uses it cannot receive an off-spec shape without failing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { parse as parseYaml } from 'yaml';
import {
  expectSpecValid,
  expectWsFrameValid,
  ledgerApiSpec,
  SPECS_DIR,
  tokenMetadataSpec,
  transferInstructionSpec,
  type LoadedSpec,
  type SpecValidationOptions,
} from '../../support/spec-validator.js';

type Json = unknown;

interface Operation {
  readonly regex: RegExp;
  readonly method: string;
  readonly template: string;
  /** Schema name of the 200 body, or of its items when `array`; `inlineObject` for an inline `{type: object}`. */
  readonly ok?: { name: string; array: boolean } | { inlineObject: true };
  readonly errorSchema?: string;
}

function loadOperations(file: string): Operation[] {
  const doc = parseYaml(readFileSync(path.join(SPECS_DIR, file), 'utf8')) as {
    paths: Record<
      string,
      Record<
        string,
        {
          responses?: Record<
            string,
            { content?: Record<string, { schema?: { $ref?: string; type?: string; items?: { $ref?: string } } }>; $ref?: string }
          >;
        }
      >
    >;
  };
  const refName = (r: string | undefined) => r?.split('/').pop();
  const ops: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    const regex = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    for (const [method, op] of Object.entries(methods)) {
      const schema = op.responses?.['200']?.content?.['application/json']?.schema;
      let ok: Operation['ok'];
      if (schema?.$ref) ok = { name: refName(schema.$ref) ?? '', array: false };
      else if (schema?.type === 'array' && schema.items?.$ref) ok = { name: refName(schema.items.$ref) ?? '', array: true };
      else if (schema?.type === 'object') ok = { inlineObject: true };
      const err =
        op.responses?.['default']?.content?.['application/json']?.schema ?? op.responses?.['400']?.content?.['application/json']?.schema;
      const errorSchema = refName(err?.$ref) ?? (op.responses?.['400']?.$ref || op.responses?.['404']?.$ref ? 'ErrorResponse' : undefined);
      ops.push({ regex, method: method.toUpperCase(), template, ...(ok ? { ok } : {}), ...(errorSchema ? { errorSchema } : {}) });
    }
  }
  return ops;
}

const LEDGER_OPS = loadOperations('ledger-api-3.4.12/openapi.yaml');
const TRANSFER_OPS = loadOperations('transfer-instruction-v1.yaml');
const METADATA_OPS = loadOperations('token-metadata-v1.yaml');

export interface ValidationStats {
  http: number;
  frames: number;
}

export const stats: ValidationStats = { http: 0, frames: 0 };

function findOp(ops: Operation[], method: string, p: string): Operation | undefined {
  // Literal paths win over templated ones (/v2/parties/participant-id vs /v2/parties/{party}).
  const hits = ops.filter((o) => o.method === method && o.regex.test(p));
  return hits.sort((a, b) => (a.template.includes('{') ? 1 : 0) - (b.template.includes('{') ? 1 : 0))[0];
}

/** Validates one HTTP response of the double; throws listing every deviation from the spec. */
export function validateHttpResponse(
  method: string,
  pathname: string,
  status: number,
  contentType: string,
  body: Json,
  opts?: SpecValidationOptions,
): void {
  let spec: LoadedSpec;
  let op: Operation | undefined;
  const registry = /^\/registries\/[^/]+(\/registry\/.*)$/.exec(pathname);
  if (registry?.[1]) {
    const p = registry[1];
    spec = p.startsWith('/registry/metadata/') ? tokenMetadataSpec() : transferInstructionSpec();
    op = findOp(p.startsWith('/registry/metadata/') ? METADATA_OPS : TRANSFER_OPS, method, p);
  } else if (pathname.startsWith('/v2/')) {
    spec = ledgerApiSpec();
    op = findOp(LEDGER_OPS, method, pathname);
  } else {
    return; // control API and OAuth: not part of the specs
  }
  if (!op) throw new Error(`the double served ${method} ${pathname}, which the spec does not have`);
  if (status >= 200 && status < 300) {
    if (!op.ok) throw new Error(`${method} ${pathname}: no JSON 200 response in the spec`);
    const ok = op.ok;
    if ('inlineObject' in ok) {
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new Error(`${method} ${pathname}: expected a JSON object`);
    } else if (ok.array) {
      if (!Array.isArray(body)) throw new Error(`${method} ${pathname}: expected a JSON array`);
      for (const item of body) expectSpecValid(spec, ok.name, item, opts);
    } else expectSpecValid(spec, ok.name, body, opts);
  } else if (contentType.startsWith('application/json')) {
    expectSpecValid(spec, op.errorSchema ?? 'JsCantonError', body, opts);
  } else if (!(status === 400 && contentType.startsWith('text/plain') && String(body).startsWith('Invalid value for: '))) {
    throw new Error(`${method} ${pathname}: ${status} with an unexpected ${contentType} body: ${String(body).slice(0, 200)}`);
  }
  stats.http++;
}

export interface WireResponse<T = Json> {
  status: number;
  body: T;
  contentType: string;
}

export class WireClient {
  constructor(
    readonly baseUrl: string,
    public token?: string,
    private readonly validation?: SpecValidationOptions,
  ) {}

  withToken(token: string | undefined): WireClient {
    return new WireClient(this.baseUrl, token, this.validation);
  }

  async request<T = Json>(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<WireResponse<T>> {
    const res = await fetch(`${this.baseUrl}${p}`, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const contentType = res.headers.get('content-type') ?? '';
    const text = await res.text();
    const parsed: unknown = contentType.startsWith('application/json') && text !== '' ? JSON.parse(text) : text;
    validateHttpResponse(method, new URL(`${this.baseUrl}${p}`).pathname, res.status, contentType, parsed, this.validation);
    return { status: res.status, body: parsed as T, contentType };
  }

  get<T = Json>(p: string): Promise<WireResponse<T>> {
    return this.request<T>('GET', p);
  }

  post<T = Json>(p: string, body: unknown): Promise<WireResponse<T>> {
    return this.request<T>('POST', p, body);
  }

  /** POST expecting 200; throws with the body otherwise. */
  async ok<T = Json>(method: string, p: string, body?: unknown): Promise<T> {
    const r = await this.request<T>(method, p, body);
    if (r.status !== 200) throw new Error(`${method} ${p} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }
}

export type StreamChannel = '/v2/updates' | '/v2/commands/completions' | '/v2/state/active-contracts';
const ELEMENT_SCHEMA: Record<StreamChannel, string> = {
  '/v2/updates': 'JsGetUpdatesResponse',
  '/v2/commands/completions': 'CompletionStreamResponse',
  '/v2/state/active-contracts': 'JsGetActiveContractsResponse',
};

/**
 * A websocket subscription: sends the request frame, validates and queues every frame. Auth by
 * the subprotocols `jwt.token.<JWT>` + `daml.ws.auth` unless `bearerHeader` is set.
 */
export class WsStream {
  readonly frames: Json[] = [];
  closed = false;
  closeCode: number | undefined;
  protocol = '';
  private waiters: (() => void)[] = [];
  private error: Error | undefined;
  private readonly ws: WebSocket;
  readonly opened: Promise<void>;

  constructor(
    baseUrl: string,
    channel: StreamChannel,
    token: string | undefined,
    request: unknown,
    opts: { bearerHeader?: boolean; validation?: SpecValidationOptions } = {},
  ) {
    const url = `${baseUrl.replace(/^http/, 'ws')}${channel}`;
    const protocols = opts.bearerHeader || !token ? ['daml.ws.auth'] : [`jwt.token.${token}`, 'daml.ws.auth'];
    this.ws = new WebSocket(url, protocols, opts.bearerHeader && token ? { headers: { authorization: `Bearer ${token}` } } : {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        this.protocol = this.ws.protocol;
        this.ws.send(JSON.stringify(request));
        resolve();
      });
      this.ws.once('unexpected-response', (_req, res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => {
          try {
            validateHttpResponse(
              'POST',
              channel,
              res.statusCode ?? 0,
              String(res.headers['content-type'] ?? ''),
              JSON.parse(data),
              opts.validation,
            );
          } catch (e) {
            reject(e as Error);
            return;
          }
          reject(
            Object.assign(new Error(`websocket upgrade refused: ${res.statusCode}`), {
              status: res.statusCode,
              body: JSON.parse(data) as unknown,
            }),
          );
        });
      });
      this.ws.once('error', (e) => reject(e));
    });
    this.opened.catch(() => {});
    this.ws.on('message', (data) => {
      const frame: unknown = JSON.parse(data.toString());
      try {
        expectWsFrameValid(ELEMENT_SCHEMA[channel], frame, opts.validation);
        stats.frames++;
      } catch (e) {
        this.error = e as Error;
      }
      this.frames.push(frame);
      this.wake();
    });
    this.ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      this.wake();
    });
    this.ws.on('error', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `predicate(frames)` holds (or throws after timeoutMs / on an invalid frame). */
  async until(predicate: (frames: Json[]) => boolean, timeoutMs = 5000): Promise<Json[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.error) throw this.error;
      if (predicate(this.frames)) return this.frames;
      if (this.closed) throw new Error(`stream closed (code ${this.closeCode}) before the condition held; ${this.frames.length} frames`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting on the stream; ${this.frames.length} frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async untilClosed(timeoutMs = 5000): Promise<Json[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (this.error) throw this.error;
      if (Date.now() > deadline) throw new Error('stream did not close');
      await new Promise((r) => setTimeout(r, 10));
    }
    if (this.error) throw this.error;
    return this.frames;
  }

  close(): void {
    this.ws.close();
  }
}

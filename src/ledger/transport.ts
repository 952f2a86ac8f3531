import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

/**
 * One HTTP exchange as the Ledger API and registry clients need it: a request with a JSON body
 * (or none), the status and the whole body as text. A transport rejects only when no complete
 * response arrived (network error, abort, timeout through the signal); any status resolves.
 */
export interface HttpCall {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** The largest response body accepted; a larger one fails this call, enforced while it streams. */
  maxResponseBytes: number;
  /**
   * Resolves the host of a new connection (node:http's `lookup`): a registry URL policy checks the
   * addresses there, as they are connected to (src/ledger/registry-url-policy.ts). A fetch
   * transport (tests) has no such hook and ignores it.
   */
  lookup?: LookupFunction | undefined;
}

export interface HttpExchange {
  status: number;
  text: string;
}

export type HttpTransport = (url: string, call: HttpCall) => Promise<HttpExchange>;

export const isOk = (status: number): boolean => status >= 200 && status < 300;

/**
 * A response body over the call's limit. Reading stops at the limit: a huge or endless answer
 * (a misbehaving registry, a hostile URL) costs this call, never the process's memory.
 */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  constructor(
    readonly status: number,
    readonly limit: number,
  ) {
    super(`the response is larger than ${limit} bytes`);
  }
}

/** An error body (a refused websocket upgrade) as text, cut at this many bytes. */
export const ERROR_BODY_MAX_BYTES = 64 * 1024;

/** An answer's body as text, cut at `limit` bytes: enough to read an error, never unbounded. */
export function readCappedBody(res: http.IncomingMessage, limit: number, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    if (size >= limit) return;
    chunks.push(chunk.subarray(0, limit - size));
    size += Math.min(chunk.length, limit - size);
  });
  res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
}

/** A fetch Response's body as text, refused past `limit` bytes (declared or read). */
export async function boundedText(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await res.body?.cancel();
    throw new ResponseTooLargeError(res.status, limit);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new ResponseTooLargeError(res.status, limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * node:http(s) over the default keep-alive agents. The withdrawal path makes several calls per
 * withdrawal; measured here, fetch spent 350–480 µs more CPU per call than this (web streams,
 * abort bookkeeping) on the daemon's one thread. Redirects are not followed: a 3xx is an answer.
 */
export const nodeHttpTransport: HttpTransport = (url, call) =>
  new Promise<HttpExchange>((resolve, reject) => {
    const target = new URL(url);
    const lib = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    if (lib === undefined) {
      reject(new Error(`unsupported URL scheme ${target.protocol}`));
      return;
    }
    const headers = call.body === undefined ? call.headers : { ...call.headers, 'content-length': String(Buffer.byteLength(call.body)) };
    const req = lib.request(
      target,
      { method: call.method, headers, signal: call.signal, ...(call.lookup ? { lookup: call.lookup } : {}) },
      (res) => {
        const status = res.statusCode ?? 0;
        const tooLarge = () => {
          reject(new ResponseTooLargeError(status, call.maxResponseBytes));
          req.destroy();
        };
        if (Number(res.headers['content-length'] ?? NaN) > call.maxResponseBytes) {
          tooLarge();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > call.maxResponseBytes) tooLarge();
          else chunks.push(chunk);
        });
        res.on('error', reject);
        // 'end' only for a complete body; a connection cut mid-body closes without it.
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('close', () => {
          if (!res.complete) reject(new Error('the connection closed before the response was complete'));
        });
      },
    );
    req.on('error', reject);
    req.end(call.body);
  });

/** A fetch function (tests inject fakes) as a transport. */
export function fetchTransport(doFetch: typeof fetch): HttpTransport {
  return async (url, call) => {
    const res = await doFetch(url, {
      method: call.method,
      headers: call.headers,
      ...(call.body === undefined ? {} : { body: call.body }),
      signal: call.signal,
    });
    return { status: res.status, text: await boundedText(res, call.maxResponseBytes) };
  };
}

export function transportFor(doFetch: typeof fetch | undefined): HttpTransport {
  return doFetch === undefined ? nodeHttpTransport : fetchTransport(doFetch);
}

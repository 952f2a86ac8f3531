import { z } from 'zod';
import type { LedgerHttp } from './http.js';
import {
  CompletionStreamRequest,
  CompletionStreamResponse,
  ExecuteSubmissionAndWaitResponse,
  ExecuteSubmissionResponse,
  JsExecuteSubmissionAndWaitRequest,
  JsExecuteSubmissionRequest,
  JsPrepareSubmissionRequest,
  JsPrepareSubmissionResponse,
  type Completion,
  type CompletionStreamRequestInput,
  type JsExecuteSubmissionRequestInput,
  type JsPrepareSubmissionRequestInput,
} from './schema/index.js';

/**
 * Interactive submission for an external party (ledger-json-api.md §5.2): prepare, then execute
 * what the party signed. Requests are checked against the wire schema before they leave (a
 * malformed body is our bug, better caught here than as an opaque 400), responses are decoded.
 * Errors are LedgerApiError (http.ts): `retryable`, `code`, `status`, `cantonError.definiteAnswer`.
 */

/** The server's cap for HTTP list endpoints (completions included). */
const HTTP_LIST_MAX = 200;

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class LedgerSubmissionClient {
  constructor(readonly http: LedgerHttp) {}

  /** POST /v2/interactive-submission/prepare: the transaction to sign and its hash. */
  prepare(request: JsPrepareSubmissionRequestInput, o: CallOptions = {}): Promise<JsPrepareSubmissionResponse> {
    return this.http.request({
      method: 'POST',
      path: '/v2/interactive-submission/prepare',
      body: JsPrepareSubmissionRequest.parse(request),
      schema: JsPrepareSubmissionResponse,
      ...call(o),
    });
  }

  /** POST /v2/interactive-submission/execute: accepted for processing; the outcome comes later. */
  async execute(request: JsExecuteSubmissionRequestInput, o: CallOptions = {}): Promise<void> {
    await this.http.request({
      method: 'POST',
      path: '/v2/interactive-submission/execute',
      body: JsExecuteSubmissionRequest.parse(request),
      schema: ExecuteSubmissionResponse,
      ...call(o),
    });
  }

  /**
   * POST /v2/interactive-submission/executeAndWait: returns once the transaction committed; a
   * rejection at commit (inputs spent, deadline passed, duplicate) comes back as the error.
   */
  executeAndWait(request: JsExecuteSubmissionRequestInput, o: CallOptions = {}): Promise<ExecuteSubmissionAndWaitResponse> {
    return this.http.request({
      method: 'POST',
      path: '/v2/interactive-submission/executeAndWait',
      body: JsExecuteSubmissionAndWaitRequest.parse(request),
      schema: ExecuteSubmissionAndWaitResponse,
      ...call(o),
    });
  }

  /**
   * One page of POST /v2/commands/completions after `beginExclusive` (≤ 200 elements; the server
   * ends an open-ended read after `streamIdleTimeoutMs` of silence). Only completions of the
   * request's (or the token's) user are visible.
   */
  async completions(
    request: CompletionStreamRequestInput,
    o: CallOptions & { limit?: number; streamIdleTimeoutMs?: number } = {},
  ): Promise<{ completions: Completion[]; lastOffset: number | undefined }> {
    const elements = await this.http.request({
      method: 'POST',
      path: '/v2/commands/completions',
      query: { limit: Math.min(o.limit ?? HTTP_LIST_MAX, HTTP_LIST_MAX), stream_idle_timeout_ms: o.streamIdleTimeoutMs },
      body: CompletionStreamRequest.parse(request),
      schema: z.array(CompletionStreamResponse),
      ...call(o),
    });
    const completions: Completion[] = [];
    let lastOffset: number | undefined;
    for (const e of elements) {
      const r = e.completionResponse;
      if ('Completion' in r) {
        completions.push(r.Completion.value);
        lastOffset = r.Completion.value.offset;
      } else if ('OffsetCheckpoint' in r) {
        lastOffset = r.OffsetCheckpoint.value.offset;
      }
    }
    return { completions, lastOffset };
  }
}

function call(o: CallOptions): { signal?: AbortSignal; timeoutMs?: number } {
  return { ...(o.signal ? { signal: o.signal } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) };
}

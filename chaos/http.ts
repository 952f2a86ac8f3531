import type { z } from 'zod';

/** A JSON HTTP call that failed: a status other than the ones expected, or no answer at all. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    message: string,
    /** undefined: no HTTP answer (connection refused or reset, timeout). */
    readonly status: number | undefined,
    readonly body: string,
  ) {
    super(message);
  }
}

export interface JsonRequest<S extends z.ZodType> {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  token?: string;
  body?: unknown;
  /** The schema of a successful (2xx) body: every body read is parsed. */
  schema: S;
  timeoutMs?: number;
}

/** Calls a JSON endpoint and parses its 2xx answer with `schema`; anything else throws HttpError. */
export async function requestJson<S extends z.ZodType>(r: JsonRequest<S>): Promise<{ status: number; body: z.output<S> }> {
  const headers: Record<string, string> = {};
  if (r.token !== undefined) headers['authorization'] = `Bearer ${r.token}`;
  if (r.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(r.url, {
      method: r.method ?? 'GET',
      headers,
      ...(r.body !== undefined ? { body: JSON.stringify(r.body) } : {}),
      signal: AbortSignal.timeout(r.timeoutMs ?? 15_000),
    });
  } catch (e) {
    throw new HttpError(`${r.method ?? 'GET'} ${r.url}: ${(e as Error).message}`, undefined, '');
  }
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status > 299) {
    throw new HttpError(`${r.method ?? 'GET'} ${r.url}: HTTP ${res.status} ${text.slice(0, 300)}`, res.status, text);
  }
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(`${r.method ?? 'GET'} ${r.url}: not JSON: ${text.slice(0, 200)}`, res.status, text);
  }
  const parsed = r.schema.safeParse(json);
  if (!parsed.success) {
    throw new HttpError(`${r.method ?? 'GET'} ${r.url}: unexpected body: ${parsed.error.message.slice(0, 500)}`, res.status, text);
  }
  return { status: res.status, body: parsed.data };
}

/** No HTTP answer, or one that says "try again": the daemon is down, starting or its database is. */
export function isUnavailable(e: unknown): boolean {
  return e instanceof HttpError && (e.status === undefined || e.status === 502 || e.status === 503 || e.status === 504 || e.status === 500);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

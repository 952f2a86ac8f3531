/**
 * The CLI talks to a running daemon over its HTTP API, like any exchange system: it needs the
 * daemon's URL and a token (CXI_URL, CXI_TOKEN or --url/--token).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message);
  }
}

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  stream(path: string, headers?: Record<string, string>): Promise<Response>;
}

export function createApiClient(baseUrl: string, token: string | undefined): ApiClient {
  const headers = (extra: Record<string, string> = {}) => ({ ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra });
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, baseUrl), {
        method,
        headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(
        0,
        'UNREACHABLE',
        `cannot reach the daemon at ${baseUrl}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`,
        {},
      );
    }
    const text = await res.text();
    const json: unknown = text.length > 0 ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const err = (json ?? {}) as { code?: string; message?: string; details?: unknown };
      throw new ApiError(res.status, err.code ?? `HTTP_${res.status}`, err.message ?? res.statusText, err.details);
    }
    return json as T;
  }
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body ?? {}),
    put: (path, body) => call('PUT', path, body ?? {}),
    stream: (path, extra) => fetch(new URL(path, baseUrl), { headers: headers(extra) }),
  };
}

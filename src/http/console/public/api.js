/* eslint-disable no-undef -- browser globals: tsc checks every name against the DOM (tsconfig.console.json) */
// The /v1 API with the operator's token. The token lives in sessionStorage (this tab, until it
// closes) and travels only in the Authorization header; see src/http/console/index.ts for why.

const KEY = 'cxi.console.token';

export const session = {
  token: () => sessionStorage.getItem(KEY),
  /** @param {string} t */
  signIn: (t) => sessionStorage.setItem(KEY, t),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** What the API answered when it was not a success: the catalogue's {code, message, details}. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ code?: string; message?: string; details?: unknown }} body
   */
  constructor(status, body) {
    super(body.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body.code ?? `HTTP_${status}`;
    this.details = body.details;
  }
}

/** Called when the token is refused (401): the app shows the sign-in form. */
let onUnauthenticated = () => {};
/** @param {() => void} f */
export function whenUnauthenticated(f) {
  onUnauthenticated = f;
}

/** @param {Record<string, string>} [extra] */
export function authHeaders(extra = {}) {
  const t = session.token();
  return { ...(t ? { authorization: `Bearer ${t}` } : {}), ...extra };
}

/**
 * @param {'GET' | 'POST' | 'PUT'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: authHeaders(body === undefined ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { message: text };
  }
  if (res.status === 401) onUnauthenticated();
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/**
 * Whether the daemon takes a token, before the console keeps it: GET /v1/admin/switches needs the
 * read scope and costs nothing. Throws the API's refusal (401 unknown, 403 no read scope).
 * @param {string} token
 */
export async function checkToken(token) {
  const res = await fetch('/v1/admin/switches', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
}

/** `?a=1&b=2` from the values that are set. @param {Record<string, string | number | undefined | null>} q */
export function query(q) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

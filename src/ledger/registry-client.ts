import type { z } from 'zod';
import type { TokenProvider } from './auth.js';
import { bearerToken, isRetryable, LedgerApiError, timedExchange } from './http.js';
import { isOk, transportFor, type HttpTransport } from './transport.js';
import {
  decode,
  GetChoiceContextRequest,
  GetFactoryRequest,
  GetRegistryInfoResponse,
  Instrument,
  ListInstrumentsResponse,
  RegistryChoiceContext,
  RegistryErrorResponse,
  TransferFactoryWithChoiceContext,
  type GetChoiceContextRequest as ChoiceContextBody,
} from './schema/index.js';

/**
 * A token admin's Registry API (transfer-instruction-v1.yaml, token-metadata-v1.yaml): the
 * transfer factory and choice contexts with the contracts to disclose, and instrument metadata.
 * One client per registry base URL (the instrument's `registry_url`; paths are appended to it).
 *
 * Errors are LedgerApiError with the ledger client's retry rules: network failures, timeouts and
 * 429/502/503/504 retry; 4xx (the registry's `{error}` in the message) and 500/501 do not. Codes:
 * REGISTRY_NOT_FOUND (404), REGISTRY_BAD_REQUEST (400), REGISTRY_UNAUTHORIZED (401),
 * REGISTRY_FORBIDDEN (403), REGISTRY_HTTP_<status>, NETWORK_ERROR, TIMEOUT, AUTH_TOKEN (the
 * token endpoint failed). A 2xx body that does not match the spec is a LedgerDecodeError.
 */

export type InstructionChoice = 'accept' | 'reject' | 'withdraw';

export interface RegistryClientOptions {
  /** e.g. https://scan.example.com/api/scan (CC) or a token admin's registry app. */
  baseUrl: string;
  /**
   * Registries are usually public (Scan, a token admin's registry app); a validator's Scan proxy
   * wants a JWT. Without a provider no Authorization header is sent: a token reaches a registry
   * only when the instrument's registry auth says so (src/ledger/registry-auth.ts).
   */
  auth?: TokenProvider;
  /**
   * Whose registry and which auth, for a 401/403 (e.g. `instrument DSO::…/Amulet, registry auth
   * none`): the refusal then says what to reconfigure. Never a token.
   */
  authContext?: string;
  /** Per request. Default 15 s. */
  timeoutMs?: number;
  /** Largest answer accepted (default 4 MiB: a factory with its disclosed contracts is tens of KB). */
  maxResponseBytes?: number;
  /** Tests: a fetch to send through instead of node:http (transport.ts). */
  fetch?: typeof fetch;
}

/** Default largest registry answer: a factory with its disclosed contracts is tens of KB. */
export const DEFAULT_REGISTRY_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const TRANSFER_INSTRUCTION = '/registry/transfer-instruction/v1';
const METADATA = '/registry/metadata/v1';

export class RegistryClient {
  readonly baseUrl: string;
  private readonly transport: HttpTransport;

  constructor(private readonly opts: RegistryClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.transport = transportFor(opts.fetch);
  }

  /**
   * The factory to exercise TransferFactory_Transfer on, the kind of transfer it will run
   * (self / direct / offer) and its choice context. `choiceArguments` is the choice argument with
   * `extraArgs.context` and `extraArgs.meta` empty. Debug fields are not requested: they are
   * large, untrusted, and must not be forwarded to the ledger.
   */
  transferFactory(choiceArguments: Record<string, unknown>, signal?: AbortSignal): Promise<TransferFactoryWithChoiceContext> {
    const body = GetFactoryRequest.parse({ choiceArguments, excludeDebugFields: true });
    return this.call('POST', `${TRANSFER_INSTRUCTION}/transfer-factory`, TransferFactoryWithChoiceContext, body, signal);
  }

  /** The context to accept, reject or withdraw a transfer instruction; a fresh one for every exercise. */
  choiceContext(transferInstructionId: string, choice: InstructionChoice, body: ChoiceContextBody = {}, signal?: AbortSignal): Promise<RegistryChoiceContext> {
    const request = GetChoiceContextRequest.parse({ excludeDebugFields: true, ...body });
    const path = `${TRANSFER_INSTRUCTION}/${encodeURIComponent(transferInstructionId)}/choice-contexts/${choice}`;
    return this.call('POST', path, RegistryChoiceContext, request, signal);
  }

  info(signal?: AbortSignal): Promise<GetRegistryInfoResponse> {
    return this.call('GET', `${METADATA}/info`, GetRegistryInfoResponse, undefined, signal);
  }

  instruments(page: { pageSize?: number; pageToken?: string } = {}, signal?: AbortSignal): Promise<ListInstrumentsResponse> {
    const q = new URLSearchParams();
    if (page.pageSize !== undefined) q.set('pageSize', String(page.pageSize));
    if (page.pageToken !== undefined) q.set('pageToken', page.pageToken);
    const query = q.size > 0 ? `?${q.toString()}` : '';
    return this.call('GET', `${METADATA}/instruments${query}`, ListInstrumentsResponse, undefined, signal);
  }

  instrument(instrumentId: string, signal?: AbortSignal): Promise<Instrument> {
    return this.call('GET', `${METADATA}/instruments/${encodeURIComponent(instrumentId)}`, Instrument, undefined, signal);
  }

  private async call<S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, body: unknown, signal: AbortSignal | undefined, mayRefresh = true): Promise<z.output<S>> {
    const what = `registry ${method} ${this.baseUrl}${path.split('?')[0] ?? path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const auth = this.opts.auth;
    if (auth) headers['authorization'] = `Bearer ${await bearerToken(auth, what, signal)}`;
    const res = await timedExchange(
      this.transport,
      this.baseUrl + path,
      { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), maxResponseBytes: this.opts.maxResponseBytes ?? DEFAULT_REGISTRY_MAX_RESPONSE_BYTES },
      { what, timeoutMs: this.opts.timeoutMs ?? 15_000, signal },
    );
    const text = res.text;
    // A rotated or revoked OAuth token: fetch a fresh one once, as the Ledger API client does.
    if (res.status === 401 && mayRefresh && auth?.kind === 'oauth2') {
      auth.invalidate();
      return this.call(method, path, schema, body, signal, false);
    }
    if (res.status === 401 || res.status === 403) throw refusal(what, res.status, text, this.opts.authContext, auth !== undefined);
    if (!isOk(res.status)) throw registryError(what, res.status, text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new LedgerApiError(`${what}: HTTP ${res.status} with a body that is not JSON`, { status: res.status, code: 'INVALID_RESPONSE', retryable: false, cause: e });
    }
    return decode(schema, json, what);
  }
}

/** The registry's `{error}`, else its text (a proxy in front of it may answer text/plain). */
function reasonOf(text: string): string {
  try {
    const parsed = RegistryErrorResponse.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data.error;
  } catch {
    /* not JSON: keep the text */
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** 401/403: never retried; says which instrument and auth mode to reconfigure. */
function refusal(what: string, status: 401 | 403, text: string, authContext: string | undefined, sentToken: boolean): LedgerApiError {
  const reason = reasonOf(text);
  const context = authContext ?? (sentToken ? 'with a bearer token' : 'without a bearer token');
  const hint =
    status === 403
      ? 'the registry refused access for the token sent'
      : sentToken
        ? 'the registry did not accept the token sent'
        : "the registry requires a bearer token: set the instrument's registryAuth";
  return new LedgerApiError(`${what}: HTTP ${status} (${context}): ${hint}${reason ? ` (registry said: ${reason})` : ''}`, {
    status,
    code: status === 401 ? 'REGISTRY_UNAUTHORIZED' : 'REGISTRY_FORBIDDEN',
    retryable: false,
  });
}

function registryError(what: string, status: number, text: string): LedgerApiError {
  const reason = reasonOf(text);
  const code = status === 404 ? 'REGISTRY_NOT_FOUND' : status === 400 ? 'REGISTRY_BAD_REQUEST' : `REGISTRY_HTTP_${status}`;
  return new LedgerApiError(`${what}: HTTP ${status}${reason ? `: ${reason}` : ''}`, { status, code, retryable: isRetryable(status, undefined) });
}

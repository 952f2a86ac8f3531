import type { LookupFunction } from 'node:net';
import type { z } from 'zod';
import type { Logger } from '../logger.js';
import type { TokenProvider } from './auth.js';
import { bearerToken, isRetryable, LedgerApiError, timedExchange } from './http.js';
import { RegistryUrlRefusedError, withoutCredentials, type RegistryUrlPolicy } from './registry-url-policy.js';
import { isOk, transportFor, type HttpTransport } from './transport.js';
import {
  decode,
  GetChoiceContextRequest,
  GetFactoryRequest,
  GetRegistryInfoResponse,
  Instrument,
  ListInstrumentsResponse,
  RegistryChoiceContext,
  TransferFactoryWithChoiceContext,
  type GetChoiceContextRequest as ChoiceContextBody,
} from './schema/index.js';
import { Failure, familyCode } from '../failures.js';

/**
 * A token admin's Registry API (transfer-instruction-v1.yaml, token-metadata-v1.yaml): the
 * transfer factory and choice contexts with the contracts to disclose, and instrument metadata.
 * One client per registry base URL (the instrument's `registry_url`; paths are appended to it).
 *
 * Errors are LedgerApiError with the ledger client's retry rules: network failures, timeouts and
 * 429/502/503/504 retry; 4xx and 500/501 do not. Codes: REGISTRY_NOT_FOUND (404),
 * REGISTRY_BAD_REQUEST (400), REGISTRY_UNAUTHORIZED (401), REGISTRY_FORBIDDEN (403),
 * REGISTRY_HTTP_<status>, NETWORK_ERROR, TIMEOUT, AUTH_TOKEN (the token endpoint failed),
 * REGISTRY_URL_REFUSED (the URL policy refuses the URL or an address its host resolves to when
 * connecting; not retried). A 2xx body that does not match the spec is a LedgerDecodeError.
 *
 * An error names the call and the status, never what the registry wrote in its body: the message
 * reaches API callers (onboarding's 400, a withdrawal's reason, events) and a registry is a
 * server someone else runs. The body goes to the debug log, cut short.
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
  /** Which URLs and addresses may be called: checked before each call and, for a host name, as it connects. */
  policy: RegistryUrlPolicy;
  /** Where the body of a refused call goes (debug level, cut at 300 characters). */
  logger?: Logger;
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
  /** Judged once: the base URL does not change. */
  private readonly refused: RegistryUrlRefusedError | undefined;
  private readonly lookup: LookupFunction | undefined;

  constructor(private readonly opts: RegistryClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.transport = transportFor(opts.fetch);
    this.refused = opts.policy.problem(opts.baseUrl);
    this.lookup = opts.policy.lookupFor(opts.baseUrl);
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
  choiceContext(
    transferInstructionId: string,
    choice: InstructionChoice,
    body: ChoiceContextBody = {},
    signal?: AbortSignal,
  ): Promise<RegistryChoiceContext> {
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

  private async call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    body: unknown,
    signal: AbortSignal | undefined,
    mayRefresh = true,
  ): Promise<z.output<S>> {
    const what = `registry ${method} ${withoutCredentials(this.baseUrl)}${path.split('?')[0] ?? path}`;
    if (this.refused) throw urlRefused(what, this.refused);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const auth = this.opts.auth;
    if (auth) headers['authorization'] = `Bearer ${await bearerToken(auth, what, signal)}`;
    const res = await timedExchange(
      this.transport,
      this.baseUrl + path,
      {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        maxResponseBytes: this.opts.maxResponseBytes ?? DEFAULT_REGISTRY_MAX_RESPONSE_BYTES,
        lookup: this.lookup,
      },
      { what, timeoutMs: this.opts.timeoutMs ?? 15_000, signal },
    ).catch((e: unknown) => {
      // The host resolved to a denied address as it connected: the policy's answer, not a network failure.
      if (e instanceof LedgerApiError && e.cause instanceof RegistryUrlRefusedError) throw urlRefused(what, e.cause);
      throw e;
    });
    const text = res.text;
    // A rotated or revoked OAuth token: fetch a fresh one once, as the Ledger API client does.
    if (res.status === 401 && mayRefresh && auth?.kind === 'oauth2') {
      auth.invalidate();
      return this.call(method, path, schema, body, signal, false);
    }
    if (!isOk(res.status))
      this.opts.logger?.debug(
        { call: what, status: res.status, body: text.length > 300 ? `${text.slice(0, 300)}…` : text },
        'registry refused a call',
      );
    if (res.status === 401 || res.status === 403) throw refusal(what, res.status, this.opts.authContext, auth !== undefined);
    if (!isOk(res.status)) throw registryError(what, res.status);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new LedgerApiError(`${what}: HTTP ${res.status} with a body that is not JSON`, {
        status: res.status,
        code: Failure.INVALID_RESPONSE,
        retryable: false,
        cause: e,
      });
    }
    return decode(schema, json, what);
  }
}

function urlRefused(what: string, e: RegistryUrlRefusedError): LedgerApiError {
  return new LedgerApiError(`${what}: ${e.message}`, { status: 0, code: Failure.REGISTRY_URL_REFUSED, retryable: e.retryable, cause: e });
}

/** 401/403: never retried; says which instrument and auth mode to reconfigure. */
function refusal(what: string, status: 401 | 403, authContext: string | undefined, sentToken: boolean): LedgerApiError {
  const context = authContext ?? (sentToken ? 'with a bearer token' : 'without a bearer token');
  const hint =
    status === 403
      ? 'the registry refused access for the token sent'
      : sentToken
        ? 'the registry did not accept the token sent'
        : "the registry requires a bearer token: set the instrument's registryAuth";
  return new LedgerApiError(`${what}: HTTP ${status} (${context}): ${hint}`, {
    status,
    code: status === 401 ? Failure.REGISTRY_UNAUTHORIZED : Failure.REGISTRY_FORBIDDEN,
    retryable: false,
  });
}

function registryError(what: string, status: number): LedgerApiError {
  const code =
    status === 404 ? Failure.REGISTRY_NOT_FOUND : status === 400 ? Failure.REGISTRY_BAD_REQUEST : familyCode('REGISTRY_HTTP_', status);
  return new LedgerApiError(`${what}: HTTP ${status}`, { status, code, retryable: isRetryable(status, undefined) });
}

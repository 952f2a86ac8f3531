import { z } from 'zod';
import { LedgerApiError, type LedgerHttp } from './http.js';
import {
  GetLatestPrunedOffsetsResponse,
  GetLedgerApiVersionResponse,
  GetLedgerEndResponse,
  HOLDING_INTERFACE_ID,
  JsGetEventsByContractIdResponse,
  JsGetUpdateResponse,
  parseActiveContract,
  parseUpdate,
  TRANSFER_FACTORY_INTERFACE_ID,
  TRANSFER_INSTRUCTION_INTERFACE_ID,
  type EventFormatInput,
  type GetUpdatesRequestInput,
  type JsGetActiveContractsResponse,
  type JsGetUpdatesResponse,
  type UpdateFormatInput,
} from './schema/index.js';
import { Failure } from '../failures.js';

/**
 * Reading the ledger over HTTP: ledger end, pruning boundary, version, the blocking list form of
 * /v2/updates (fallback and catch-up; the websocket is the primary stream, updates-socket.ts),
 * point lookups and active contracts. Every payload is zod-decoded; a stream element that does
 * not match fails naming its update id and offset.
 */

/**
 * Canton's default `http-list-max-elements-limit` (WebsocketConfig in
 * community/ledger/ledger-json-api/src/main/scala/com/digitalasset/canton/http/JsonApiConfig.scala),
 * and so the default page size of HTTP list reads. A node may be configured lower.
 */
export const HTTP_LIST_MAX = 200;

/** Default largest HTTP list page in bytes (LEDGER_HTTP_MAX_PAGE_BYTES). */
export const DEFAULT_MAX_PAGE_BYTES = 64 * 1024 * 1024;

export interface LedgerReadClientOptions {
  /** Elements asked for per HTTP page of /v2/updates (LEDGER_HTTP_PAGE_SIZE; default HTTP_LIST_MAX). */
  pageSize?: number;
  /** Largest HTTP list page accepted (LEDGER_HTTP_MAX_PAGE_BYTES; default DEFAULT_MAX_PAGE_BYTES). */
  maxPageBytes?: number;
  /** The node answered 413 and the page size went down (once per change, for a log line). */
  onPageSizeLowered?: (change: { from: number; to: number; error: LedgerApiError }) => void;
}

/** The list settings of a ledger configuration, as every read client takes them. */
export function listOptionsOf(ledger: {
  httpPageSize?: number | undefined;
  httpMaxPageBytes?: number | undefined;
}): LedgerReadClientOptions {
  return {
    ...(ledger.httpPageSize !== undefined ? { pageSize: ledger.httpPageSize } : {}),
    ...(ledger.httpMaxPageBytes !== undefined ? { maxPageBytes: ledger.httpMaxPageBytes } : {}),
  };
}

/** A page too large in bytes: like a 413, a smaller page will do. */
function isPageTooLarge(e: unknown): e is LedgerApiError {
  return isListLimitExceeded(e) || (e instanceof LedgerApiError && e.code === Failure.RESPONSE_TOO_LARGE);
}

/**
 * A node answers 413 JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED only when `limit` is above its
 * http-list-max-elements-limit and more than that limit was there to read (Endpoints.asList /
 * handleListLimit in Canton's http/json/v2/Endpoints.scala). At or below the node's limit there is
 * never a 413, so halving finds a page size that works within log2(page size) requests.
 */
export function isListLimitExceeded(e: unknown): e is LedgerApiError {
  return e instanceof LedgerApiError && e.code === 'JSON_API_MAXIMUM_LIST_ELEMENTS_NUMBER_REACHED';
}

/**
 * Everything the treasury sees, with the token-standard interface views the parser needs: all
 * events for the party (wildcard) plus Holding, TransferFactory and TransferInstruction views.
 */
export function treasuryEventFormat(party: string): EventFormatInput {
  const iface = (interfaceId: string) => ({
    identifierFilter: { InterfaceFilter: { value: { interfaceId, includeInterfaceView: true, includeCreatedEventBlob: false } } },
  });
  return {
    filtersByParty: {
      [party]: {
        cumulative: [
          { identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: false } } } },
          iface(HOLDING_INTERFACE_ID),
          iface(TRANSFER_FACTORY_INTERFACE_ID),
          iface(TRANSFER_INSTRUCTION_INTERFACE_ID),
        ],
      },
    },
    verbose: true,
  };
}

/** Transactions in LEDGER_EFFECTS shape (exercise trees with arguments and results). */
export function treasuryUpdateFormat(party: string): UpdateFormatInput {
  return { includeTransactions: { transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS', eventFormat: treasuryEventFormat(party) } };
}

const UnknownArray = z.array(z.unknown());

export class LedgerReadClient {
  private pageSize: number;

  constructor(
    readonly http: LedgerHttp,
    private readonly opts: LedgerReadClientOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? HTTP_LIST_MAX;
  }

  private get maxPageBytes(): number {
    return this.opts.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES;
  }

  /** The page size of /v2/updates over HTTP: the setting, or lower after the node answered 413. */
  get listPageSize(): number {
    return this.pageSize;
  }

  async ledgerEnd(signal?: AbortSignal): Promise<number> {
    const r = await this.http.request({
      method: 'GET',
      path: '/v2/state/ledger-end',
      schema: GetLedgerEndResponse,
      ...(signal ? { signal } : {}),
    });
    return r.offset;
  }

  latestPrunedOffsets(signal?: AbortSignal): Promise<GetLatestPrunedOffsetsResponse> {
    return this.http.request({
      method: 'GET',
      path: '/v2/state/latest-pruned-offsets',
      schema: GetLatestPrunedOffsetsResponse,
      ...(signal ? { signal } : {}),
    });
  }

  version(signal?: AbortSignal): Promise<GetLedgerApiVersionResponse> {
    return this.http.request({ method: 'GET', path: '/v2/version', schema: GetLedgerApiVersionResponse, ...(signal ? { signal } : {}) });
  }

  /**
   * One page of /v2/updates over HTTP: at most `limit` elements (≤ listPageSize) and, for an
   * open-ended request, whatever arrived before `streamIdleTimeoutMs` of silence, counted from
   * the start of the read (so a slow filtered read answers []). A 413 lowers listPageSize (halved,
   * at least 1) and the page is asked for again.
   */
  async updates(
    request: GetUpdatesRequestInput,
    o: { limit?: number; streamIdleTimeoutMs?: number; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<JsGetUpdatesResponse[]> {
    for (;;) {
      const limit = Math.min(o.limit ?? this.pageSize, this.pageSize);
      try {
        const raw = await this.http.request({
          method: 'POST',
          path: '/v2/updates',
          query: { limit, stream_idle_timeout_ms: o.streamIdleTimeoutMs },
          body: request,
          schema: UnknownArray,
          maxResponseBytes: this.maxPageBytes,
          ...(o.signal ? { signal: o.signal } : {}),
          ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        });
        return raw.map((e) => parseUpdate(e));
      } catch (e) {
        if (!isPageTooLarge(e) || limit <= 1) throw e;
        this.lowerPageSize(Math.floor(limit / 2), e);
      }
    }
  }

  private lowerPageSize(to: number, error: LedgerApiError): void {
    const from = this.pageSize;
    if (to >= from) return;
    this.pageSize = to;
    this.opts.onPageSizeLowered?.({ from, to, error });
  }

  updateById(updateId: string, updateFormat: UpdateFormatInput, signal?: AbortSignal): Promise<JsGetUpdateResponse> {
    return this.http.request({
      method: 'POST',
      path: '/v2/updates/update-by-id',
      body: { updateId, updateFormat },
      schema: JsGetUpdateResponse,
      ...(signal ? { signal } : {}),
    });
  }

  /** POST /v2/updates/update-by-offset; undefined when no update the format selects is there (404 UPDATE_NOT_FOUND). */
  async updateByOffset(offset: number, updateFormat: UpdateFormatInput, signal?: AbortSignal): Promise<JsGetUpdateResponse | undefined> {
    try {
      return await this.http.request({
        method: 'POST',
        path: '/v2/updates/update-by-offset',
        body: { offset, updateFormat },
        schema: JsGetUpdateResponse,
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (e instanceof LedgerApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** The created/archived events of a contract; undefined when the party cannot see it (404). */
  async eventsByContractId(
    contractId: string,
    eventFormat: EventFormatInput,
    signal?: AbortSignal,
  ): Promise<JsGetEventsByContractIdResponse | undefined> {
    try {
      return await this.http.request({
        method: 'POST',
        path: '/v2/events/events-by-contract-id',
        body: { contractId, eventFormat },
        schema: JsGetEventsByContractIdResponse,
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (e instanceof LedgerApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  /**
   * The first `limit` active contracts at `activeAtOffset` (default listPageSize). There is no
   * continuation: a full page means "read the rest over the websocket", and so does a 413 (the set
   * is larger than the node's http-list-max-elements-limit), which is left to the caller.
   */
  async activeContracts(
    activeAtOffset: number,
    eventFormat: EventFormatInput,
    o: { limit?: number; signal?: AbortSignal } = {},
  ): Promise<JsGetActiveContractsResponse[]> {
    const raw = await this.http.request({
      method: 'POST',
      path: '/v2/state/active-contracts',
      query: { limit: o.limit ?? this.pageSize },
      body: { activeAtOffset, eventFormat },
      schema: UnknownArray,
      maxResponseBytes: this.maxPageBytes,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return raw.map((e) => parseActiveContract(e));
  }
}

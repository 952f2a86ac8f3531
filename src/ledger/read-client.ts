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

/**
 * Reading the ledger over HTTP: ledger end, pruning boundary, version, the blocking list form of
 * /v2/updates (fallback and catch-up; the websocket is the primary stream, updates-socket.ts),
 * point lookups and active contracts. Every payload is zod-decoded; a stream element that does
 * not match fails naming its update id and offset.
 */

/** The server's cap for HTTP list endpoints; more elements than this is a 413. */
export const HTTP_LIST_MAX = 200;

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
  constructor(readonly http: LedgerHttp) {}

  async ledgerEnd(signal?: AbortSignal): Promise<number> {
    const r = await this.http.request({ method: 'GET', path: '/v2/state/ledger-end', schema: GetLedgerEndResponse, ...(signal ? { signal } : {}) });
    return r.offset;
  }

  latestPrunedOffsets(signal?: AbortSignal): Promise<GetLatestPrunedOffsetsResponse> {
    return this.http.request({ method: 'GET', path: '/v2/state/latest-pruned-offsets', schema: GetLatestPrunedOffsetsResponse, ...(signal ? { signal } : {}) });
  }

  version(signal?: AbortSignal): Promise<GetLedgerApiVersionResponse> {
    return this.http.request({ method: 'GET', path: '/v2/version', schema: GetLedgerApiVersionResponse, ...(signal ? { signal } : {}) });
  }

  /**
   * One page of /v2/updates over HTTP. The server returns at most `limit` elements (≤ 200) and,
   * for an open-ended request, whatever arrived before `streamIdleTimeoutMs` of silence.
   */
  async updates(
    request: GetUpdatesRequestInput,
    o: { limit?: number; streamIdleTimeoutMs?: number; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<JsGetUpdatesResponse[]> {
    const limit = Math.min(o.limit ?? HTTP_LIST_MAX, HTTP_LIST_MAX);
    const raw = await this.http.request({
      method: 'POST',
      path: '/v2/updates',
      query: { limit, stream_idle_timeout_ms: o.streamIdleTimeoutMs },
      body: request,
      schema: UnknownArray,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    });
    return raw.map((e) => parseUpdate(e));
  }

  updateById(updateId: string, updateFormat: UpdateFormatInput, signal?: AbortSignal): Promise<JsGetUpdateResponse> {
    return this.http.request({ method: 'POST', path: '/v2/updates/update-by-id', body: { updateId, updateFormat }, schema: JsGetUpdateResponse, ...(signal ? { signal } : {}) });
  }

  /** The created/archived events of a contract; undefined when the party cannot see it (404). */
  async eventsByContractId(contractId: string, eventFormat: EventFormatInput, signal?: AbortSignal): Promise<JsGetEventsByContractIdResponse | undefined> {
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

  /** One page of the active contracts at `activeAtOffset` (≤ 200; the websocket form has no cap). */
  async activeContracts(activeAtOffset: number, eventFormat: EventFormatInput, o: { limit?: number; signal?: AbortSignal } = {}): Promise<JsGetActiveContractsResponse[]> {
    const raw = await this.http.request({
      method: 'POST',
      path: '/v2/state/active-contracts',
      query: { limit: Math.min(o.limit ?? HTTP_LIST_MAX, HTTP_LIST_MAX) },
      body: { activeAtOffset, eventFormat },
      schema: UnknownArray,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return raw.map((e) => parseActiveContract(e));
  }
}

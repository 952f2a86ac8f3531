import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import type { TokenProvider } from '../../ledger/auth.js';
import { DEFAULT_MAX_RESPONSE_BYTES, errorFromResponse, httpStatusOfGrpc, LedgerApiError } from '../../ledger/http.js';
import { ERROR_BODY_MAX_BYTES, readCappedBody } from '../../ledger/transport.js';
import { isListLimitExceeded, type LedgerReadClient } from '../../ledger/read-client.js';
import {
  HOLDING_INTERFACE_ID,
  HoldingView,
  isJsCantonErrorFrame,
  JsCantonError,
  LedgerDecodeError,
  parseActiveContract,
  sameQualifiedName,
  type EventFormatInput,
  type JsGetActiveContractsResponse,
} from '../../ledger/schema/index.js';
import { websocketUrl } from '../../ledger/updates-socket.js';
import type { HoldingRecord } from './compare.js';
import { plainLock } from '../../ingestion/parser.js';
import { Failure } from '../../failures.js';

/**
 * The ledger side of reconciliation: the treasury's active Holding contracts at an offset
 * (POST /v2/state/active-contracts with `activeAtOffset`, Holding interface filter with views).
 * One HTTP page answers small sets; a full page means there may be more, and the websocket form
 * (no element cap) streams the whole set instead. Any element that cannot be read fails the run:
 * a reconciliation that skipped a contract would be worse than none.
 */

export class LedgerHoldingsError extends Error {
  override readonly name = 'LedgerHoldingsError';
}

/** A treasury holding as the ACS shows it, with what tells a genuine one from a counterfeit. */
export interface LedgerHolding extends HoldingRecord {
  /** The contract's signatories: a genuine holding is signed by its instrument's admin. */
  signatories: readonly string[];
  templateId: string;
  lock: Record<string, unknown> | null;
  meta: Record<string, string>;
  createdOffset: number;
  createdAt: string;
}

export interface LedgerHoldingsSource {
  treasuryHoldingsAt(offset: number, onProgress?: (read: number) => void, signal?: AbortSignal): Promise<LedgerHolding[]>;
}

/** The ingestion rule (docs/internals.md, "Money-safety rules"): the instrument's admin signed it. */
export function isSignedByAdmin(h: LedgerHolding): boolean {
  return h.signatories.includes(h.instrument.admin);
}

export function holdingEventFormat(party: string): EventFormatInput {
  return {
    filtersByParty: {
      [party]: {
        cumulative: [
          {
            identifierFilter: {
              InterfaceFilter: { value: { interfaceId: HOLDING_INTERFACE_ID, includeInterfaceView: true, includeCreatedEventBlob: false } },
            },
          },
        ],
      },
    },
    verbose: false,
  };
}

/** The treasury's holding in one ACS element; null for elements that are not one (other owners, empty entries). */
export function holdingOf(element: JsGetActiveContractsResponse, treasury: string): LedgerHolding | null {
  const entry = element.contractEntry;
  if ('JsEmpty' in entry) return null;
  if (!('JsActiveContract' in entry)) {
    // One synchronizer is assumed (docs/internals.md): a contract in reassignment is not ours to judge.
    throw new LedgerHoldingsError(
      `the ACS holds a contract in reassignment (${Object.keys(entry).join(', ')}): reconcile once it has settled`,
    );
  }
  const ev = entry.JsActiveContract.createdEvent;
  const view = ev.interfaceViews?.find((v) => sameQualifiedName(v.interfaceId, HOLDING_INTERFACE_ID));
  if (!view) return null;
  if (view.viewStatus.code !== 0 || view.viewValue === undefined) {
    throw new LedgerHoldingsError(
      `the Holding view of contract ${ev.contractId} failed to compute: status ${view.viewStatus.code} ${view.viewStatus.message}`,
    );
  }
  const parsed = HoldingView.safeParse(view.viewValue);
  if (!parsed.success)
    throw new LedgerHoldingsError(
      `the Holding view of contract ${ev.contractId} does not decode: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const h = parsed.data;
  if (h.owner !== treasury) return null;
  return {
    contractId: ev.contractId,
    instrument: { admin: h.instrumentId.admin, id: h.instrumentId.id },
    amount: h.amount,
    locked: h.lock !== null && h.lock !== undefined,
    signatories: ev.signatories,
    templateId: ev.templateId,
    lock: h.lock === null || h.lock === undefined ? null : plainLock(h.lock),
    meta: h.meta.values,
    createdOffset: ev.offset,
    createdAt: ev.createdAt,
  };
}

export interface LedgerHoldingsSourceOptions {
  reads: LedgerReadClient;
  /** JSON Ledger API base URL, for the websocket. */
  baseUrl: string;
  auth: TokenProvider;
  treasury: string;
  /** Progress is reported every this many elements (default 1000). */
  progressEvery?: number;
}

export function createLedgerHoldingsSource(o: LedgerHoldingsSourceOptions): LedgerHoldingsSource {
  const format = holdingEventFormat(o.treasury);
  const every = o.progressEvery ?? 1000;
  return {
    async treasuryHoldingsAt(offset, onProgress, signal) {
      const limit = o.reads.listPageSize;
      // A 413 (the node's http-list-max-elements-limit is below our page) means the same as a full
      // page: more than one page to read, which only the websocket form can.
      const page = await o.reads.activeContracts(offset, format, { limit, ...(signal ? { signal } : {}) }).catch((e: unknown) => {
        if (isListLimitExceeded(e)) return undefined;
        throw e;
      });
      const collect = (elements: Iterable<JsGetActiveContractsResponse>) =>
        [...elements].map((e) => holdingOf(e, o.treasury)).filter((h): h is LedgerHolding => h !== null);
      if (page !== undefined && page.length < limit) {
        onProgress?.(page.length);
        return collect(page);
      }
      const out: LedgerHolding[] = [];
      let read = 0;
      await streamActiveContracts(
        {
          baseUrl: o.baseUrl,
          token: await o.auth.getToken(signal),
          request: { activeAtOffset: offset, eventFormat: format },
          ...(signal ? { signal } : {}),
        },
        (e) => {
          const h = holdingOf(e, o.treasury);
          if (h) out.push(h);
          if (++read % every === 0) onProgress?.(read);
        },
      );
      onProgress?.(read);
      return out;
    },
  };
}

/**
 * /v2/state/active-contracts over a websocket, as Canton serves it: the JWT as subprotocol
 * `jwt.token.<JWT>` next to `daml.ws.auth`, the request as the only client frame, then one element
 * per frame, a normal close at the end; an error frame or any other close fails.
 */
export function streamActiveContracts(
  o: {
    baseUrl: string;
    token: string;
    request: { activeAtOffset: number; eventFormat: EventFormatInput };
    signal?: AbortSignal;
    handshakeTimeoutMs?: number;
  },
  onElement: (e: JsGetActiveContractsResponse) => void,
): Promise<void> {
  const what = 'websocket /v2/state/active-contracts';
  return new Promise((resolve, reject) => {
    let done = false;
    const ws = new WebSocket(websocketUrl(o.baseUrl, '/v2/state/active-contracts'), [`jwt.token.${o.token}`, 'daml.ws.auth'], {
      handshakeTimeout: o.handshakeTimeoutMs ?? 10_000,
      perMessageDeflate: false,
      maxPayload: DEFAULT_MAX_RESPONSE_BYTES,
    });
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      ws.terminate();
      reject(e);
    };
    const onAbort = () => fail(new LedgerHoldingsError(`${what}: aborted`));
    o.signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      readCappedBody(res, ERROR_BODY_MAX_BYTES, (text) => fail(errorFromResponse(`${what} (upgrade)`, res.statusCode ?? 0, text)));
    });
    ws.on('open', () => ws.send(JSON.stringify(o.request)));
    ws.on('error', (e: Error) =>
      fail(new LedgerApiError(`${what}: ${e.message}`, { status: 0, code: Failure.NETWORK_ERROR, retryable: true, cause: e })),
    );
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (done) return;
      try {
        if (isBinary) throw new LedgerDecodeError(`${what} sent a binary frame`, 'JsGetActiveContractsResponse', []);
        const json: unknown = JSON.parse(data.toString());
        if (isJsCantonErrorFrame(json)) {
          const parsed = JsCantonError.safeParse(json);
          if (parsed.success) {
            const e = parsed.data;
            const status = e.grpcCodeValue === undefined ? 0 : httpStatusOfGrpc(e.grpcCodeValue);
            throw new LedgerApiError(`${what}: ${e.code} (category ${e.errorCategory}): ${e.cause}`, {
              status,
              code: e.code,
              errorCategory: e.errorCategory,
              cantonError: e,
            });
          }
        }
        onElement(parseActiveContract(json));
      } catch (e) {
        fail(e as Error);
      }
    });
    ws.on('close', (code: number) => {
      o.signal?.removeEventListener('abort', onAbort);
      if (done) return;
      done = true;
      if (code === 1000) resolve();
      else
        reject(
          new LedgerApiError(`${what}: connection closed (${code}) before the end of the set`, {
            status: 0,
            code: Failure.WS_CLOSED,
            retryable: true,
          }),
        );
    });
  });
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { JsCantonError } from '../../src/ledger/schema/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { testLogger } from '../support/silent-logger.js';
import { allRealRequests, realRequests, type Operation, type RealRequest } from './real-requests.js';

/**
 * Every real request body of the corpus (test/fixtures/real-requests) reaches the ledger double
 * and is DECODED there. Decoding is judged by the answer: a 2xx, or a semantic refusal as the
 * real server gives one (the bodies name parties and contracts the double does not know). A body
 * Canton's JSON API cannot decode gets 400 `text/plain` "Invalid value for: body (…)"
 * (tapir, before any validation); a registry answers `{error}` "Field `choiceArguments` does not
 * contain a valid `TransferFactory_Transfer` …" or a plain-text 400 for a body it cannot read.
 */

/** Where each operation is sent; `admin`: needs the ParticipantAdmin right. */
const LEDGER_ENDPOINTS: Partial<Record<Operation, { path: (body: unknown) => string; admin?: true }>> = {
  prepare: { path: () => '/v2/interactive-submission/prepare' },
  execute: { path: () => '/v2/interactive-submission/execute' },
  'execute-and-wait': { path: () => '/v2/interactive-submission/executeAndWait' },
  updates: { path: () => '/v2/updates' },
  'update-by-id': { path: () => '/v2/updates/update-by-id' },
  'events-by-contract-id': { path: () => '/v2/events/events-by-contract-id' },
  'active-contracts': { path: () => '/v2/state/active-contracts' },
  completions: { path: () => '/v2/commands/completions' },
  'generate-topology': { path: () => '/v2/parties/external/generate-topology', admin: true },
  'allocate-external-party': { path: () => '/v2/parties/external/allocate', admin: true },
  'create-user': { path: () => '/v2/users', admin: true },
  'grant-user-rights': {
    path: (body) => `/v2/users/${encodeURIComponent(String((body as { userId?: unknown }).userId))}/rights`,
    admin: true,
  },
};

/**
 * A TransferInstruction contract id from the exchange integration guide (txingestion.rst, the
 * events-by-contract-id query for the TransferInstruction interface): the path parameter of the
 * choice-context requests, whose bodies carry no contract id.
 */
const GUIDE_INSTRUCTION_CID =
  '009b939ae451ef1a0cb81d1606391406690e055b5be301fd2f51efb6be5675577eca1112200f58604ac538224f73bdc57117d73830ed1e3167f956d66f9e3ecdacbf2359a7';

const REGISTRY_PATHS: Partial<Record<Operation, string>> = {
  'transfer-factory': '/registry/transfer-instruction/v1/transfer-factory',
  'choice-context-accept': `/registry/transfer-instruction/v1/${GUIDE_INSTRUCTION_CID}/choice-contexts/accept`,
  'choice-context-reject': `/registry/transfer-instruction/v1/${GUIDE_INSTRUCTION_CID}/choice-contexts/reject`,
  'choice-context-withdraw': `/registry/transfer-instruction/v1/${GUIDE_INSTRUCTION_CID}/choice-contexts/withdraw`,
};

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

function describeAnswer(a: Answer): string {
  return `HTTP ${a.status} ${a.contentType}: ${a.text.length > 600 ? `${a.text.slice(0, 600)}…` : a.text}`;
}

function cantonErrorOf(text: string): JsCantonError | undefined {
  try {
    const parsed = JsCantonError.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Decoded: a 2xx, or a JsCantonError JSON body. Never Canton's text/plain decode failure. */
function expectLedgerDecoded(r: RealRequest, a: Answer): void {
  const what = `${r.operation}/${r.file} → ${describeAnswer(a)}`;
  expect(
    a.status === 400 && a.contentType.startsWith('text/plain') && a.text.startsWith('Invalid value for: body'),
    `decode failure: ${what}`,
  ).toBe(false);
  if (a.status >= 200 && a.status < 300) return;
  expect(cantonErrorOf(a.text), `neither a 2xx nor a JsCantonError: ${what}`).toBeDefined();
}

/** Decoded: a 2xx, or the registry's JSON `{error}` for anything but an undecodable body. */
function expectRegistryDecoded(r: RealRequest, a: Answer): void {
  const what = `${r.operation}/${r.file} → ${describeAnswer(a)}`;
  if (a.status >= 200 && a.status < 300) return;
  let error: unknown;
  try {
    error = (JSON.parse(a.text) as { error?: unknown }).error;
  } catch {
    /* a plain-text answer: the registry could not read the body */
  }
  expect(typeof error, `not the registry's {error} JSON: ${what}`).toBe('string');
  expect(a.status === 400 && /does not contain a valid/.test(String(error)), `choiceArguments not decoded: ${what}`).toBe(false);
}

describe('the ledger double decodes every real request body of the corpus', () => {
  let sb: Sandbox;
  let userToken: string;
  let adminToken: string;

  beforeAll(async () => {
    sb = await startSandbox({ seed: 'real-requests', clock: { mode: 'manual', start: '2026-01-01T00:00:00Z' } }, testLogger());
    userToken = await sb.tokenFor('exchange');
    adminToken = await sb.tokenFor('participant_admin');
  });
  afterAll(async () => {
    await sb.stop();
  });

  async function post(url: string, body: unknown, token?: string): Promise<Answer> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  it('has a body for every operation it knows', () => {
    const covered = new Set(allRealRequests().map((r) => r.operation));
    for (const op of [...Object.keys(LEDGER_ENDPOINTS), ...Object.keys(REGISTRY_PATHS)]) expect(covered, op).toContain(op);
  });

  for (const r of allRealRequests()) {
    const ledger = LEDGER_ENDPOINTS[r.operation];
    const registryPath = REGISTRY_PATHS[r.operation];
    if (ledger) {
      it(`${r.operation}: ${r.file}`, async () => {
        const answer = await post(sb.jsonApiUrl + ledger.path(r.body), r.body, ledger.admin ? adminToken : userToken);
        expectLedgerDecoded(r, answer);
      });
    } else if (registryPath) {
      it(`${r.operation}: ${r.file} (registry)`, async () => {
        const registry = sb.instruments[0]?.registryUrl;
        if (!registry) throw new Error('the double has no registry');
        expectRegistryDecoded(r, await post(registry + registryPath, r.body));
      });
    } else {
      it(`${r.operation}: ${r.file} has an endpoint`, () => {
        throw new Error(`no endpoint known for operation ${r.operation}`);
      });
    }
  }

  /**
   * The websocket's first frame is the same GetUpdatesRequest as the HTTP body (asyncapi.yaml;
   * in Canton both are decoded by one codec). A frame Canton cannot decode fails the stream, so
   * the first answer must agree with the HTTP answer to the same body: data when HTTP said 2xx,
   * the same JsCantonError code when HTTP refused it.
   */
  for (const r of realRequests('updates')) {
    it(`updates (websocket first frame): ${r.file}`, async () => {
      const http = await post(`${sb.jsonApiUrl}/v2/updates`, r.body, userToken);
      expectLedgerDecoded(r, http);
      const first = await firstWebsocketAnswer(`${sb.jsonApiUrl.replace(/^http/, 'ws')}/v2/updates`, userToken, r.body);
      const what = `${r.file}: HTTP said ${describeAnswer(http)}; the websocket answered ${JSON.stringify(first)}`;
      const httpError = cantonErrorOf(http.text);
      if (httpError) {
        expect(first.kind, what).toBe('frame');
        expect(first.kind === 'frame' ? cantonErrorOf(first.text)?.code : undefined, what).toBe(httpError.code);
      } else {
        expect(first.kind === 'frame' ? cantonErrorOf(first.text) : undefined, what).toBeUndefined();
        expect(first.kind === 'frame' || (first.kind === 'closed' && first.code === 1000), what).toBe(true);
      }
    });
  }
});

type WsAnswer =
  | { kind: 'frame'; text: string }
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'refused'; status: number }
  | { kind: 'silent' };

/** Sends `body` as the first frame and waits for the server's first frame (or close) for up to 5 s. */
function firstWebsocketAnswer(url: string, token: string, body: unknown): Promise<WsAnswer> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, [`jwt.token.${token}`, 'daml.ws.auth']);
    const done = (a: WsAnswer) => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve(a);
    };
    const timer = setTimeout(() => done({ kind: 'silent' }), 5_000);
    ws.on('open', () => ws.send(JSON.stringify(body)));
    ws.on('message', (data: Buffer) => done({ kind: 'frame', text: data.toString('utf8') }));
    ws.on('close', (code: number, reason: Buffer) => done({ kind: 'closed', code, reason: reason.toString('utf8') }));
    ws.on('unexpected-response', (_req, res) => done({ kind: 'refused', status: res.statusCode ?? 0 }));
    ws.on('error', () => done({ kind: 'closed', code: 1006, reason: 'connection error' }));
  });
}

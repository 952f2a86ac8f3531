import { cantonError, json, startStubServer, type StubServer } from './stub-server.js';
import type { WebSocket } from 'ws';

/**
 * Serves a fixed list of /v2/updates elements over the websocket and the HTTP list endpoint,
 * from the client's beginExclusive, with scripted faults (drops, duplicates, refused upgrades,
 * pruning). Only the wire behaviour the ingestion client depends on; no ledger semantics.
 */

type Element = Record<string, unknown>;

export function elementOffset(e: unknown): number {
  const u = (e as { update: Record<string, { value: { offset: number } }> }).update;
  return Object.values(u)[0]!.value.offset;
}

export interface UpdatesStubFaults {
  /** Close each websocket after this many frames (a drop). */
  dropAfterFrames?: number;
  /** Send every n-th frame twice. */
  duplicateEvery?: number;
  /** Refuse this many websocket upgrades with the given status before accepting. */
  refuseUpgrades?: { count: number; status: number; body?: unknown };
  /** History at or below this offset is pruned. */
  prunedUpTo?: number;
  /** Every request is answered 401. */
  unauthorized?: boolean;
  /** Websocket upgrades are refused with 503 forever (HTTP works). */
  noWebsocket?: boolean;
}

export interface UpdatesStub {
  url: string;
  server: StubServer;
  elements: Element[];
  faults: UpdatesStubFaults;
  connections: number;
  httpPages: number;
  /** Begin offsets the clients asked for, in order. */
  begins: number[];
  /** Appends elements and pushes them to connected tails. */
  publish(...els: Element[]): void;
  close(): Promise<void>;
}

export async function startUpdatesStub(elements: Element[], faults: UpdatesStubFaults = {}): Promise<UpdatesStub> {
  const server = await startStubServer();
  const live = new Set<{ ws: WebSocket; sent: number; next: number }>();
  const stub: UpdatesStub = {
    url: server.url,
    server,
    elements: [...elements],
    faults,
    connections: 0,
    httpPages: 0,
    begins: [],
    publish(...els) {
      stub.elements.push(...els);
      for (const c of live) pump(c);
    },
    close: () => server.close(),
  };

  function pump(c: { ws: WebSocket; sent: number; next: number }) {
    while (c.next < stub.elements.length) {
      if (c.ws.readyState !== c.ws.OPEN) return;
      const el = stub.elements[c.next++]!;
      const text = JSON.stringify(el);
      c.ws.send(text);
      c.sent++;
      if (faults.duplicateEvery && c.sent % faults.duplicateEvery === 0) c.ws.send(text);
      if (faults.dropAfterFrames !== undefined && c.sent >= faults.dropAfterFrames) {
        c.ws.terminate();
        live.delete(c);
        return;
      }
    }
  }

  server.routes.set('GET /v2/state/latest-pruned-offsets', (_req, _b, res) => json(res, 200, { participantPrunedUpToInclusive: faults.prunedUpTo ?? 0 }));
  server.routes.set('GET /v2/state/ledger-end', (_req, _b, res) => json(res, 200, { offset: stub.elements.length ? elementOffset(stub.elements.at(-1)) : 0 }));
  server.routes.set('POST /v2/updates', (req, body, res) => {
    if (faults.unauthorized) return json(res, 401, cantonError('UNAUTHENTICATED', 6, 16, 'invalid token'));
    stub.httpPages++;
    const { beginExclusive = 0 } = JSON.parse(body) as { beginExclusive?: number };
    stub.begins.push(beginExclusive);
    if (faults.prunedUpTo !== undefined && beginExclusive < faults.prunedUpTo) {
      return json(res, 400, cantonError('PARTICIPANT_PRUNED_DATA_ACCESSED', 9, 9, `pruned up to ${faults.prunedUpTo}`));
    }
    const limit = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('limit') ?? 200);
    json(res, 200, stub.elements.filter((e) => elementOffset(e) > beginExclusive).slice(0, limit));
  });

  server.onConnection = (c) => {
    stub.connections++;
    void c.request.then((r) => {
      const { beginExclusive = 0 } = r as { beginExclusive?: number };
      stub.begins.push(beginExclusive);
      if (faults.prunedUpTo !== undefined && beginExclusive < faults.prunedUpTo) {
        c.ws.send(JSON.stringify(cantonError('PARTICIPANT_PRUNED_DATA_ACCESSED', 9, 9, `pruned up to ${faults.prunedUpTo}`)));
        c.ws.close(1011);
        return;
      }
      const conn = { ws: c.ws, sent: 0, next: stub.elements.findIndex((e) => elementOffset(e) > beginExclusive) };
      if (conn.next < 0) conn.next = stub.elements.length;
      live.add(conn);
      c.ws.on('close', () => live.delete(conn));
      pump(conn);
    });
  };
  // Upgrades are decided per connection attempt.
  const original = server.onConnection;
  let refused = 0;
  Object.defineProperty(server, 'rejectUpgrade', {
    get() {
      if (faults.unauthorized) return { status: 401, body: JSON.stringify(cantonError('UNAUTHENTICATED', 6, 16, 'invalid token')) };
      if (faults.noWebsocket) return { status: 503, body: JSON.stringify(cantonError('SERVICE_NOT_RUNNING', 1, 14, 'no websockets here')) };
      const r = faults.refuseUpgrades;
      if (r && refused < r.count) {
        refused++;
        return { status: r.status, body: JSON.stringify(r.body ?? cantonError('SERVICE_NOT_RUNNING', 1, 14)) };
      }
      return undefined;
    },
    set() {},
  });
  server.onConnection = original;
  return stub;
}

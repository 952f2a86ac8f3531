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

/** The participant id the stub answers. */
export const STUB_PARTICIPANT = 'PAR::stub::1220aa';

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

  server.routes.set('GET /v2/state/latest-pruned-offsets', (_req, _b, res) =>
    json(res, 200, { participantPrunedUpToInclusive: faults.prunedUpTo ?? 0 }),
  );
  server.routes.set('GET /v2/state/ledger-end', (_req, _b, res) =>
    json(res, 200, { offset: stub.elements.length ? elementOffset(stub.elements.at(-1)) : 0 }),
  );
  // What ledger continuity checks read (src/streams/continuity.ts): a fixed participant, every
  // synchronizer the elements name, and the element at an offset.
  server.routes.set('GET /v2/parties/participant-id', (_req, _b, res) =>
    faults.unauthorized
      ? json(res, 401, cantonError('UNAUTHENTICATED', 6, 16, 'invalid token'))
      : json(res, 200, { participantId: STUB_PARTICIPANT }),
  );
  server.routes.set('GET /v2/state/connected-synchronizers', (_req, _b, res) => {
    const ids = new Set<string>();
    for (const e of stub.elements) {
      const v = Object.values((e as { update: Record<string, { value: Record<string, unknown> }> }).update)[0]!.value;
      if (typeof v['synchronizerId'] === 'string') ids.add(v['synchronizerId']);
      for (const t of (v['synchronizerTimes'] as { synchronizerId: string }[] | undefined) ?? []) ids.add(t.synchronizerId);
    }
    json(res, 200, {
      connectedSynchronizers: [...ids].map((synchronizerId) => ({
        synchronizerAlias: 'global',
        synchronizerId,
        permission: 'PARTICIPANT_PERMISSION_SUBMISSION',
      })),
    });
  });
  server.routes.set('POST /v2/updates/update-by-offset', (_req, body, res) => {
    const { offset } = JSON.parse(body) as { offset: number };
    const el = stub.elements.find((e) => elementOffset(e) === offset && !('OffsetCheckpoint' in (e as { update: object }).update));
    if (!el) return json(res, 404, cantonError('UPDATE_NOT_FOUND', 11, 5, `no update at offset ${offset}`));
    json(res, 200, el);
  });
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

import { readFileSync } from 'node:fs';
import type { EventFormat } from './decode/index.js';
import type { AcsQuery, UpdatesQuery, ValidUpdateFormat } from './formats.js';
import { LedgerError } from '../engine/errors.js';
import { isoToMicros, type Micros } from '../util/time.js';
import {
  checkpointElement,
  updateNotFound,
  type AcsElement,
  type EventsByCidResponse,
  type UpdateReader,
  type UpdatesElement,
} from './reader.js';
import type { StreamSpec, Timeline } from './stream.js';

interface RecordedUpdate {
  readonly offset: number;
  readonly updateId?: string;
  readonly recordTime: Micros;
  readonly synchronizerId: string;
  /** Parties that witness some event: who may read it. */
  readonly witnesses: ReadonlySet<string>;
  readonly json: UpdatesElement;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function recordedUpdate(json: unknown, file: string): RecordedUpdate {
  const update = isObj(json) ? json['update'] : undefined;
  if (!isObj(update)) throw new Error(`${file}: not an update (expected {"update": {...}})`);
  const [kind, wrapped] = Object.entries(update)[0] ?? [];
  const value = isObj(wrapped) ? wrapped['value'] : undefined;
  if (!isObj(value) || typeof value['offset'] !== 'number') throw new Error(`${file}: ${kind ?? '?'} has no offset`);
  const witnesses = new Set<string>();
  let synchronizerId = typeof value['synchronizerId'] === 'string' ? value['synchronizerId'] : '';
  let recordTime = typeof value['recordTime'] === 'string' ? value['recordTime'] : undefined;
  if (kind === 'OffsetCheckpoint') {
    const st = (value['synchronizerTimes'] as Obj[] | undefined)?.[0];
    synchronizerId = String(st?.['synchronizerId'] ?? '');
    recordTime = typeof st?.['recordTime'] === 'string' ? st['recordTime'] : undefined;
  }
  for (const e of (value['events'] as unknown[] | undefined) ?? []) {
    const body = isObj(e) ? Object.values(e)[0] : undefined;
    for (const w of (isObj(body) ? (body['witnessParties'] as string[] | undefined) : undefined) ?? []) witnesses.add(w);
  }
  return {
    offset: value['offset'],
    ...(typeof value['updateId'] === 'string' ? { updateId: value['updateId'] } : {}),
    recordTime: recordTime ? isoToMicros(recordTime) : 0n,
    synchronizerId,
    witnesses,
    json: json as UpdatesElement,
  };
}

/**
 * Replay mode: recorded updates (update-by-id responses or lists of /v2/updates elements, as in
 * ../shared/fixtures/recorded) served verbatim through the real read path — HTTP and websocket,
 * with their own offsets and record times — so ingestion is tested on real recorded JSON.
 * A reader sees the updates one of its parties witnessed. The transaction shape of a request
 * is not applied (recordings are LEDGER_EFFECTS); the ACS is empty.
 */
export class ReplayReader implements UpdateReader {
  readonly timeline: Timeline;
  private readonly updates_: RecordedUpdate[];

  constructor(files: readonly string[]) {
    const all: RecordedUpdate[] = [];
    for (const file of files) {
      const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
      for (const el of Array.isArray(raw) ? raw : [raw]) all.push(recordedUpdate(el, file));
    }
    all.sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < all.length; i++) {
      if (all[i]?.offset === all[i - 1]?.offset) throw new Error(`replay: two recorded updates at offset ${all[i]?.offset}`);
    }
    this.updates_ = all;
    const last = all.at(-1);
    const sync = all.find((u) => u.synchronizerId !== '')?.synchronizerId ?? 'global-domain::replay';
    this.timeline = {
      synchronizerId: sync,
      ledgerEnd: () => last?.offset ?? 0,
      prunedUpTo: () => 0,
      recordTimeAt: (offset) => [...all].reverse().find((u) => u.offset <= offset)?.recordTime,
      publishTime: () => last?.recordTime ?? 0n,
      clockSteps: () => 0,
      isRealTime: () => false,
      onChange: () => () => {},
    };
  }

  /** Every party that witnessed something in the recordings. */
  parties(): string[] {
    return [...new Set(this.updates_.flatMap((u) => [...u.witnesses]))].sort();
  }

  private visible(u: RecordedUpdate, format: ValidUpdateFormat): boolean {
    const ef = format.includeTransactions?.eventFormat;
    if (!ef) return false;
    if (ef.filtersForAnyParty) return true;
    return Object.keys(ef.filtersByParty ?? {}).some((p) => u.witnesses.has(p));
  }

  updates(req: UpdatesQuery): StreamSpec<UpdatesElement> {
    return {
      beginExclusive: req.beginExclusive,
      ...(req.endInclusive !== undefined ? { endInclusive: req.endInclusive } : {}),
      collect: (begin, end) =>
        this.updates_
          .filter((u) => u.offset > begin && u.offset <= end && this.visible(u, req.updateFormat))
          .map((u) => ({ offset: u.offset, element: structuredClone(u.json) })),
      checkpoint: (offset, time) => checkpointElement(offset, this.timeline.synchronizerId, time),
    };
  }

  updateById(req: { readonly updateId: string; readonly updateFormat: ValidUpdateFormat }): UpdatesElement {
    const u = this.updates_.find((x) => x.updateId === req.updateId && this.visible(x, req.updateFormat));
    if (!u) throw updateNotFound();
    return structuredClone(u.json);
  }

  updateByOffset(req: { readonly offset: number; readonly updateFormat: ValidUpdateFormat }): UpdatesElement {
    const u = this.updates_.find((x) => x.offset === req.offset && this.visible(x, req.updateFormat));
    if (!u) throw updateNotFound();
    return structuredClone(u.json);
  }

  activeContracts(_req: AcsQuery): AcsElement[] {
    return [];
  }

  eventsByContractId(req: { readonly contractId: string; readonly eventFormat: EventFormat }): EventsByCidResponse {
    const readers = new Set(Object.keys(req.eventFormat.filtersByParty ?? {}));
    let created: Obj | undefined;
    let archived: Obj | undefined;
    let sync = this.timeline.synchronizerId;
    for (const u of this.updates_) {
      const value = (Object.values((u.json as { update: Obj }).update)[0] as { value?: Obj } | undefined)?.value;
      for (const e of (value?.['events'] as Obj[] | undefined) ?? []) {
        const [kind, body] = Object.entries(e)[0] as [string, Obj];
        if (body['contractId'] !== req.contractId) continue;
        const witnesses = (body['witnessParties'] as string[] | undefined) ?? [];
        if (!req.eventFormat.filtersForAnyParty && !witnesses.some((w) => readers.has(w))) continue;
        sync = u.synchronizerId || sync;
        if (kind === 'CreatedEvent') created = body;
        if (kind === 'ExercisedEvent' && body['consuming'] === true) {
          archived = {
            offset: body['offset'],
            nodeId: body['nodeId'],
            contractId: body['contractId'],
            templateId: body['templateId'],
            witnessParties: witnesses,
            packageName: body['packageName'],
            implementedInterfaces: body['implementedInterfaces'] ?? [],
          };
        }
      }
    }
    if (!created && !archived)
      throw LedgerError.of('CONTRACT_EVENTS_NOT_FOUND', 'Contract events not found, or not visible.', { definiteAnswer: false });
    return {
      ...(created ? { created: { createdEvent: structuredClone(created) as never, synchronizerId: sync } } : {}),
      ...(archived ? { archived: { archivedEvent: archived as never, synchronizerId: sync } } : {}),
    };
  }
}

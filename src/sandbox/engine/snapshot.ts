import { z } from 'zod';
import { publicKeyFromRaw, rawPublicKey } from '../util/ed25519.js';
import type { ClockMode } from './clock.js';
import { LedgerError } from './errors.js';
import type { Instrument } from './instruments.js';
import type { CompletionRecord, DedupEntry, Ledger, PartyRecord, UserRecord } from './ledger.js';
import type { ContractState, LogEntry, Payload, TxNode } from './types.js';

/**
 * The whole ledger state as JSON, so a double can stop and start again where it was (the
 * embedded default keeps it under DATA_DIR/sandbox/ledger.json). Sets become arrays, bigints
 * strings, keys raw base64; in-flight submissions are not saved (like a crash before commit).
 */
export const SNAPSHOT_VERSION = 1;

const Header = z.object({
  version: z.literal(SNAPSHOT_VERSION),
  participantNamespace: z.string(),
  participantId: z.string(),
  synchronizerId: z.string(),
  validatorOperator: z.string(),
  /** Synchronizers connected after the first (control.connectSynchronizer); absent in older files. */
  otherSynchronizers: z.array(z.object({ id: z.string(), alias: z.string() })).optional(),
  /** The last journal record (src/sandbox/durable.ts) this snapshot holds; absent: none. */
  journalSeq: z.number().int().nonnegative().optional(),
});

export interface Snapshot extends z.infer<typeof Header> {
  clock: { mode: ClockMode; manualNow: string; floor: string };
  end: number;
  pruned: number;
  instruments: (Omit<Instrument, 'config'> & { id: string })[];
  parties: (Omit<PartyRecord, 'external'> & { external?: { publicKey: string; fingerprint: string } })[];
  users: UserRecord[];
  contracts: (Omit<ContractState, 'createWitnesses' | 'archived'> & {
    createWitnesses: string[];
    archived?: { offset: number; nodeId: number; updateId: string; witnesses: string[] };
  })[];
  log: unknown[];
  completions: (Omit<CompletionRecord, 'recordTime' | 'error'> & {
    recordTime: string;
    error?: { code: string; cause: string; category: number; grpc: number; definiteAnswer?: boolean };
  })[];
  dedup: [string, { offset: number; recordTime: string; updateId: string; submissionId?: string }][];
}

function nodeOut(n: TxNode): unknown {
  return { ...n, witnesses: [...n.witnesses] };
}

function nodeIn(n: Record<string, unknown>): TxNode {
  return { ...(n as unknown as TxNode), witnesses: new Set(n['witnesses'] as string[]) };
}

/** Engine-level state small enough to write whole on every change of it (a journal's `meta`). */
export type SnapshotMeta = Pick<Snapshot, 'validatorOperator' | 'clock' | 'instruments' | 'parties' | 'users'>;
export type SavedEntry = Snapshot['log'][number];
export type SavedCompletion = Snapshot['completions'][number];
export type SavedDedup = Snapshot['dedup'][number];

export function entryOut(e: LogEntry): SavedEntry {
  return e.kind === 'silent'
    ? { ...e, recordTime: String(e.recordTime) }
    : { ...e, recordTime: String(e.recordTime), nodes: e.nodes.map(nodeOut) };
}

export function entryIn(raw: unknown): LogEntry {
  const e = raw as Record<string, unknown>;
  if (e['kind'] === 'silent') return { kind: 'silent', offset: e['offset'] as number, recordTime: BigInt(e['recordTime'] as string) };
  return {
    ...(e as unknown as LogEntry),
    recordTime: BigInt(e['recordTime'] as string),
    nodes: (e['nodes'] as Record<string, unknown>[]).map(nodeIn),
  } as LogEntry;
}

export function completionOut({ error, recordTime, ...c }: CompletionRecord): SavedCompletion {
  return {
    ...c,
    recordTime: String(recordTime),
    ...(error
      ? {
          error: {
            code: error.code,
            cause: error.causeText,
            category: error.category,
            grpc: error.grpc,
            ...(error.opts.definiteAnswer !== undefined ? { definiteAnswer: error.opts.definiteAnswer } : {}),
          },
        }
      : {}),
  };
}

export function completionIn({ error, recordTime, ...c }: SavedCompletion): CompletionRecord {
  return {
    ...c,
    recordTime: BigInt(recordTime),
    ...(error
      ? {
          error: new LedgerError(error.code, error.cause, {
            category: error.category,
            grpc: error.grpc,
            ...(error.definiteAnswer !== undefined ? { definiteAnswer: error.definiteAnswer } : {}),
          }),
        }
      : {}),
  };
}

export function dedupOut(key: string, d: DedupEntry): SavedDedup {
  return [key, { ...d, recordTime: String(d.recordTime) }];
}

export function dedupIn([key, d]: SavedDedup): [string, DedupEntry] {
  return [key, { ...d, recordTime: BigInt(d.recordTime) }];
}

export function takeMeta(ledger: Ledger, extra: { validatorOperator: string; instruments: readonly Instrument[] }): SnapshotMeta {
  const clock = ledger.clock.exportState();
  return {
    validatorOperator: extra.validatorOperator,
    clock: { mode: clock.mode, manualNow: String(clock.manualNow), floor: String(clock.floor) },
    instruments: extra.instruments.map(({ config, ...rest }) => ({ ...rest, id: config.id })),
    parties: [...ledger.parties.values()].map(({ external, ...p }) => ({
      ...p,
      ...(external
        ? { external: { publicKey: rawPublicKey(external.publicKey).toString('base64'), fingerprint: external.fingerprint } }
        : {}),
    })),
    users: [...ledger.users.values()],
  };
}

/** Puts saved parties, users and the clock into a ledger (replacing what it had of them). */
export function restoreMeta(ledger: Ledger, meta: Pick<SnapshotMeta, 'clock' | 'parties' | 'users'>): void {
  ledger.clock.importState({ mode: meta.clock.mode, manualNow: BigInt(meta.clock.manualNow), floor: BigInt(meta.clock.floor) });
  ledger.parties.clear();
  for (const p of meta.parties) {
    const { external, ...rest } = p;
    const rec: PartyRecord = {
      ...rest,
      ...(external
        ? { external: { publicKey: publicKeyFromRaw(Buffer.from(external.publicKey, 'base64')), fingerprint: external.fingerprint } }
        : {}),
    };
    ledger.parties.set(p.party, rec);
  }
  ledger.users.clear();
  for (const u of meta.users) ledger.users.set(u.id, structuredClone(u));
}

export function takeSnapshot(
  ledger: Ledger,
  extra: { participantNamespace: string; validatorOperator: string; instruments: readonly Instrument[] },
): Snapshot {
  const { log, end, pruned } = ledger.exportLog();
  const meta = takeMeta(ledger, extra);
  return {
    version: SNAPSHOT_VERSION,
    participantNamespace: extra.participantNamespace,
    participantId: ledger.participantId,
    synchronizerId: ledger.synchronizerId,
    validatorOperator: meta.validatorOperator,
    ...(ledger.otherSynchronizers().length > 0 ? { otherSynchronizers: [...ledger.otherSynchronizers()] } : {}),
    clock: meta.clock,
    end,
    pruned,
    instruments: meta.instruments,
    parties: meta.parties,
    users: meta.users,
    contracts: [...ledger.contracts.values()].map(({ archived, createWitnesses, ...c }) => ({
      ...c,
      createWitnesses: [...createWitnesses],
      ...(archived
        ? {
            archived: { offset: archived.offset, nodeId: archived.nodeId, updateId: archived.updateId, witnesses: [...archived.witnesses] },
          }
        : {}),
    })),
    log: log.map(entryOut),
    completions: ledger.completions.map(completionOut),
    dedup: [...ledger.dedup].map(([k, d]) => dedupOut(k, d)),
  };
}

export function parseSnapshotHeader(json: unknown): z.infer<typeof Header> {
  return Header.parse(json);
}

/** Loads a snapshot into a freshly constructed (genesis-less) ledger. */
export function restoreSnapshot(ledger: Ledger, snap: Snapshot): void {
  restoreMeta(ledger, snap);
  for (const c of snap.contracts) {
    ledger.contracts.set(c.contract.contractId, {
      contract: { ...c.contract, payload: c.contract.payload as Payload },
      created: c.created,
      createWitnesses: new Set(c.createWitnesses),
      ...(c.archived ? { archived: { ...c.archived, witnesses: new Set(c.archived.witnesses) } } : {}),
    });
  }
  for (const o of snap.otherSynchronizers ?? []) ledger.connectSynchronizer(o.alias, o.id);
  ledger.importLog(snap.log.map(entryIn), snap.end, snap.pruned);
  ledger.completions.splice(0, ledger.completions.length, ...snap.completions.map(completionIn));
  for (const d of snap.dedup) ledger.dedup.set(...dedupIn(d));
}

/**
 * The snapshot with every offset above `after` moved up by `shift` (update ids, record times and
 * contents unchanged) and the ledger end `shift` further: how a validator restored from a backup
 * taken at `after` numbers what it gets again from the synchronizer, and what comes next.
 */
export function shiftOffsetsAfter(snap: Snapshot, after: number, shift: number): Snapshot {
  const move = (offset: number) => (offset > after ? offset + shift : offset);
  return {
    ...snap,
    end: Math.max(snap.end, after) + shift,
    contracts: snap.contracts.map((c) => ({
      ...c,
      created: { ...c.created, offset: move(c.created.offset) },
      ...(c.archived ? { archived: { ...c.archived, offset: move(c.archived.offset) } } : {}),
    })),
    log: snap.log.map((raw) => {
      const e = raw as Record<string, unknown>;
      return { ...e, offset: move(e['offset'] as number) };
    }),
    completions: snap.completions.map((c) => ({ ...c, offset: move(c.offset) })),
    dedup: snap.dedup.map(([k, d]) => [k, { ...d, offset: move(d.offset) }]),
  };
}

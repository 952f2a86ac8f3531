import type { Actor, AnyStateMachine } from 'xstate';
import type { SnapshotBlobs } from '../../store/machine-blobs.js';
import type { SnapshotRow } from '../../store/machines.js';

/** What caused a transition, as its transition row records it. */
export interface Source {
  outboxEventId?: number;
  operator?: string;
}

/** Set on a handle while an event is sent to its actor: the capture of that send fills `persisted`. */
export interface Marker {
  source: Source;
  persisted?: Promise<void>;
}

/** An effect waiting for the commit of transition `seq` of its machine (write-ahead). */
export interface Waiter {
  seq: number;
  resolve(): void;
  reject(e: Error): void;
}

/** One machine in memory: its actor and where its persistence stands. */
export class Handle<TContext> {
  /** ended: its final transition is committed (nothing it is sent can change it any more). */
  state: 'live' | 'ended' | 'broken' | 'disposed' = 'live';
  actor!: Actor<AnyStateMachine>;
  /** Captures are ignored while set (starting a restored actor is not a transition). */
  suppress = false;
  marker: Marker | null = null;
  /** Seq of the last captured transition; seqCommitted of the last one in the database. */
  seqTaken: number;
  seqCommitted: number;
  lastJson = '';
  /** The long strings of the last captured snapshot, stored apart (machine-blobs.ts). */
  blobs: SnapshotBlobs = new Map();
  lastValue: unknown = null;
  lastContext: TContext | null = null;
  /** The last outbox event this machine applied or ignored (a replayed one at or below it is skipped). */
  lastEventId = 0;
  chain: Promise<void> = Promise.resolve();
  waiters: Waiter[] = [];

  constructor(
    readonly id: string,
    seq: number,
  ) {
    this.seqTaken = seq;
    this.seqCommitted = seq;
  }
}

/** A machine looked up by id: live in memory, final in the database, or nowhere. */
export type Loaded<TContext> = { kind: 'live'; handle: Handle<TContext> } | { kind: 'final'; row: SnapshotRow } | { kind: 'absent' };

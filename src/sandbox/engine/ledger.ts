import type { KeyObject } from 'node:crypto';
import { IdGen } from '../util/ids.js';
import type { Rng } from '../util/rng.js';
import { microsToIso, type Micros } from '../util/time.js';
import type { RecordTimeClock } from './clock.js';
import { LedgerError } from './errors.js';
import { holdingInfo, stakeholders } from './templates.js';
import { finalizeNodes, planInputs, type TxPlan } from './tx.js';
import type { CommittedTx, Contract, ContractState, LogEntry, SubmitterInfo, TxNode } from './types.js';

export interface PartyRecord {
  readonly party: string;
  readonly hint: string;
  readonly isLocal: boolean;
  /** Set for external parties: transactions need their Ed25519 signature. */
  readonly external?: { readonly publicKey: KeyObject; readonly fingerprint: string };
  readonly annotations: Record<string, string>;
  resourceVersion: number;
}

export type UserRight =
  | { kind: 'CanActAs' | 'CanReadAs' | 'CanExecuteAs'; party: string }
  | { kind: 'CanReadAsAnyParty' | 'CanExecuteAsAnyParty' | 'ParticipantAdmin' | 'IdentityProviderAdmin' };

export interface UserRecord {
  readonly id: string;
  primaryParty?: string;
  isDeactivated: boolean;
  annotations: Record<string, string>;
  resourceVersion: number;
  rights: UserRight[];
}

export interface CompletionRecord {
  readonly offset: number;
  readonly recordTime: Micros;
  readonly userId: string;
  readonly actAs: readonly string[];
  readonly commandId: string;
  readonly submissionId?: string;
  readonly updateId?: string;
  /** Absent = success. */
  readonly error?: LedgerError;
  readonly deduplicationSeconds?: number;
}

export interface DedupEntry {
  readonly offset: number;
  readonly recordTime: Micros;
  readonly updateId: string;
  readonly submissionId?: string;
}

export interface CommitOptions {
  readonly submitter?: SubmitterInfo;
  readonly workflowId?: string;
  readonly externalTransactionHash?: string;
  /** Sequence it on a synchronizer connected with connectSynchronizer (default: the first one). */
  readonly synchronizerId?: string;
}

export interface ConnectedSynchronizer {
  readonly id: string;
  readonly alias: string;
}

/**
 * A change of the ledger, as it is made (src/sandbox/durable.ts writes them to disk). `meta` stands
 * for the small engine-level state (parties, users, instruments, the clock), written whole.
 */
export type LedgerChange =
  | { readonly kind: 'entry'; readonly entry: LogEntry }
  | { readonly kind: 'completion'; readonly completion: CompletionRecord }
  | { readonly kind: 'dedup'; readonly key: string; readonly entry: DedupEntry }
  | { readonly kind: 'prune'; readonly offset: number }
  | { readonly kind: 'synchronizer'; readonly id: string; readonly alias: string }
  | { readonly kind: 'meta' }
  /** The whole state was replaced (a node restore, a major upgrade): only a fresh snapshot records it. */
  | { readonly kind: 'reset' };

/**
 * Where the ledger's changes go before anyone can see them: `append` as each is made, `sync`
 * (everything appended is durable when it returns) before readers are told (notify) and at the
 * latest in a microtask after the change, so before any I/O callback (an HTTP answer) runs.
 */
export interface LedgerJournal {
  append(change: LedgerChange): void;
  sync(): void;
}

export function rightKey(r: UserRight): string {
  return 'party' in r ? `${r.kind}:${r.party}` : r.kind;
}

export function dedupKey(userId: string, actAs: readonly string[], commandId: string): string {
  return JSON.stringify([userId, [...new Set(actAs)].sort(), commandId]);
}

/**
 * The in-memory ledger: contracts, the update log with offsets and record times, parties,
 * users, completions and the dedup table. Everything is synchronous, so a commit (check inputs,
 * archive, create, append) is atomic with respect to every other request.
 */
export class Ledger {
  readonly ids: IdGen;
  readonly clock: RecordTimeClock;
  readonly parties = new Map<string, PartyRecord>();
  readonly users = new Map<string, UserRecord>();
  readonly contracts = new Map<string, ContractState>();
  readonly completions: CompletionRecord[] = [];
  readonly dedup = new Map<string, DedupEntry>();
  private readonly log: LogEntry[] = [];
  private readonly byUpdateId = new Map<string, CommittedTx>();
  private end = 0;
  private pruned = 0;
  private readonly listeners = new Set<() => void>();
  /** Synchronizers connected after the first, and the (offset, record time) of each update on them. */
  private readonly others: ConnectedSynchronizer[] = [];
  private readonly otherTimes = new Map<string, { offset: number; recordTime: Micros }[]>();
  /** Set by the persistence of a saved double (src/sandbox/durable.ts); none: memory only. */
  journal: LedgerJournal | undefined;
  private batchDepth = 0;
  private notifyPending = false;
  private flushQueued = false;

  /** The first synchronizer; a major upgrade (migrateSynchronizer) replaces it. */
  private synchronizer: string;

  constructor(
    readonly participantId: string,
    synchronizerId: string,
    rng: Rng,
    clock: RecordTimeClock,
  ) {
    this.synchronizer = synchronizerId;
    this.ids = new IdGen(rng);
    this.clock = clock;
    // A clock step is news for idle streams (they publish a checkpoint with the new time).
    clock.onChange(() => {
      this.record({ kind: 'meta' });
      this.notify();
    });
  }

  get synchronizerId(): string {
    return this.synchronizer;
  }

  get ledgerEnd(): number {
    return this.end;
  }

  get prunedUpTo(): number {
    return this.pruned;
  }

  /** Record time of the last update (or the clock when the ledger is empty). */
  lastRecordTime(): Micros {
    return this.log.at(-1)?.recordTime ?? this.clock.now();
  }

  /** How many readers wait for the ledger to move (open streams and list reads): for tests. */
  get watchers(): number {
    return this.listeners.size;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(): void {
    if (this.batchDepth > 0) {
      this.notifyPending = true;
      return;
    }
    // Durable before anyone is told: a reader never sees what a crash could take back.
    this.journal?.sync();
    for (const l of [...this.listeners]) l();
  }

  /**
   * Runs `fn` as one step: readers are told (and the journal synced) once, at its end. A commit and
   * its completion and dedup entry become durable together, with one disk flush.
   */
  batch<T>(fn: () => T): T {
    this.batchDepth++;
    try {
      return fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0 && this.notifyPending) {
        this.notifyPending = false;
        this.notify();
      }
    }
  }

  /** Hands a change to the journal; a change no notify follows is synced in a microtask. */
  private record(change: LedgerChange): void {
    const journal = this.journal;
    if (!journal) return;
    journal.append(change);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.journal?.sync();
    });
  }

  /**
   * Engine-level state changed (a party, a user, an instrument's round): the journal writes it
   * whole, at the next sync — so changes made right after, in the same step, are included.
   */
  metaChanged(): void {
    this.record({ kind: 'meta' });
  }

  /** Records a command's deduplication entry (kept across restarts like the rest). */
  setDedup(key: string, entry: DedupEntry): void {
    this.dedup.set(key, entry);
    this.record({ kind: 'dedup', key, entry });
  }

  /**
   * Connects the participant to one more synchronizer (a participant may be connected to several;
   * its parties' transactions then come from either). Returns its id.
   */
  connectSynchronizer(alias: string, id = `${alias}::1220${this.ids.hex(32)}`): string {
    if (id === this.synchronizerId || this.others.some((o) => o.id === id)) return id;
    this.others.push({ id, alias });
    this.otherTimes.set(id, []);
    this.record({ kind: 'synchronizer', id, alias });
    return id;
  }

  /** The synchronizers connected after the first, in the order they were connected. */
  otherSynchronizers(): readonly ConnectedSynchronizer[] {
    return this.others;
  }

  /**
   * Record time of each synchronizer connected after the first as of `offset`: that of its latest
   * update at or before it; one without an update yet is left out. Canton's OffsetCheckpoints name
   * a synchronizer once the participant has seen an update of it (InMemoryStateUpdater.scala,
   * community/ledger/ledger-api-core/.../platform/index/).
   */
  otherSynchronizerTimes(offset: number): { synchronizerId: string; recordTime: Micros }[] {
    const out: { synchronizerId: string; recordTime: Micros }[] = [];
    for (const o of this.others) {
      const times = this.otherTimes.get(o.id) ?? [];
      let latest: Micros | undefined;
      for (const t of times) if (t.offset <= offset) latest = t.recordTime;
      if (latest !== undefined) out.push({ synchronizerId: o.id, recordTime: latest });
    }
    return out;
  }

  /** Throws LOCAL_VERDICT_INACTIVE_CONTRACTS when an input of the plan is no longer active. */
  checkInputsActive(plan: TxPlan): void {
    const { consumed, referenced } = planInputs(plan);
    const inactive = [...consumed, ...referenced].filter((cid) => {
      const c = this.contracts.get(cid);
      return c === undefined || c.archived !== undefined;
    });
    if (inactive.length > 0) {
      throw LedgerError.of(
        'LOCAL_VERDICT_INACTIVE_CONTRACTS',
        `Rejected transaction is referring to inactive contracts ${inactive.join(', ')}`,
        { resources: inactive.map((c): [string, string] => ['CONTRACT_ID', c]), definiteAnswer: true },
      );
    }
  }

  /** Commits an interpreted transaction: the next offset, a fresh record time, final contract ids. */
  commit(plan: TxPlan, opts: CommitOptions = {}, recordTime?: Micros): CommittedTx {
    const other = opts.synchronizerId !== undefined && opts.synchronizerId !== this.synchronizerId ? opts.synchronizerId : undefined;
    if (other !== undefined && !this.otherTimes.has(other)) {
      throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: unknown synchronizer ${other}`);
    }
    this.checkInputsActive(plan);
    const { created } = planInputs(plan);
    const finalIds = new Map<string, string>();
    for (const provisional of created.keys()) {
      finalIds.set(provisional, provisional.length > 66 ? provisional : this.ids.suffixed(provisional));
    }
    const nodes = finalizeNodes(plan, finalIds);
    const offset = this.end + 1;
    const tx: CommittedTx = {
      kind: 'transaction',
      offset,
      updateId: this.ids.updateId(),
      recordTime: recordTime ?? this.clock.nextRecordTime(),
      effectiveAt: plan.effectiveAt,
      ...(opts.workflowId !== undefined ? { workflowId: opts.workflowId } : {}),
      ...(opts.submitter ? { submitter: opts.submitter } : {}),
      ...(opts.externalTransactionHash !== undefined ? { externalTransactionHash: opts.externalTransactionHash } : {}),
      traceparent: this.ids.traceparent(),
      nodes,
      ...(other !== undefined ? { synchronizerId: other } : {}),
    };
    this.apply(tx);
    this.record({ kind: 'entry', entry: tx });
    this.notify();
    return tx;
  }

  /** The state change of a log entry: shared by commit and the replay of a journal. */
  private apply(e: LogEntry): void {
    if (e.kind === 'transaction') {
      for (const n of e.nodes) {
        if (n.kind === 'create') {
          this.contracts.set(n.contract.contractId, {
            contract: n.contract,
            created: { offset: e.offset, nodeId: n.nodeId, updateId: e.updateId },
            createWitnesses: n.witnesses,
          });
        }
      }
      for (const n of e.nodes) {
        if (n.kind === 'exercise' && n.consuming) {
          const state = this.contracts.get(n.target.contractId);
          if (state) state.archived = { offset: e.offset, nodeId: n.nodeId, updateId: e.updateId, witnesses: n.witnesses };
        }
      }
      this.byUpdateId.set(e.updateId, e);
      if (e.synchronizerId !== undefined) this.otherTimes.get(e.synchronizerId)?.push({ offset: e.offset, recordTime: e.recordTime });
    }
    this.end = e.offset;
    this.log.push(e);
  }

  /**
   * Replays a journalled entry onto a restored ledger (src/sandbox/durable.ts): the entry as it was
   * committed, its record time kept by the clock as handed out.
   */
  replayEntry(e: LogEntry): void {
    if (e.offset !== this.end + 1) throw new Error(`journal: entry at offset ${e.offset} does not follow the ledger end ${this.end}`);
    this.apply(e);
    this.clock.observe(e.recordTime);
  }

  /** An offset with no visible transaction (e.g. a rejected submission). */
  appendSilent(recordTime?: Micros): { offset: number; recordTime: Micros } {
    const entry = { kind: 'silent' as const, offset: this.end + 1, recordTime: recordTime ?? this.clock.nextRecordTime() };
    this.apply(entry);
    this.record({ kind: 'entry', entry });
    this.notify();
    return entry;
  }

  addCompletion(c: CompletionRecord): void {
    this.completions.push(c);
    this.record({ kind: 'completion', completion: c });
    this.notify();
  }

  /** Log entries with beginExclusive < offset <= endInclusive, in offset order. */
  entriesBetween(beginExclusive: number, endInclusive: number): LogEntry[] {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.log[mid]?.offset ?? 0) <= beginExclusive) lo = mid + 1;
      else hi = mid;
    }
    const out: LogEntry[] = [];
    for (let i = lo; i < this.log.length; i++) {
      const e = this.log[i];
      if (!e || e.offset > endInclusive) break;
      out.push(e);
    }
    return out;
  }

  entryAt(offset: number): LogEntry | undefined {
    return this.entriesBetween(offset - 1, offset)[0];
  }

  /** Record time at an offset: of the update there, or of the latest one before it. */
  recordTimeAt(offset: number): Micros | undefined {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.log[mid]?.offset ?? 0) <= offset) lo = mid + 1;
      else hi = mid;
    }
    return this.log[lo - 1]?.recordTime;
  }

  transactionById(updateId: string): CommittedTx | undefined {
    return this.byUpdateId.get(updateId);
  }

  /** Active at `offset`: created at or before it and not archived by then. */
  activeAt(offset: number): ContractState[] {
    const out: ContractState[] = [];
    for (const c of this.contracts.values()) {
      if (c.created.offset <= offset && (c.archived === undefined || c.archived.offset > offset)) out.push(c);
    }
    return out.sort((a, b) => a.created.offset - b.created.offset || a.created.nodeId - b.created.nodeId);
  }

  active(contractId: string): Contract | undefined {
    const c = this.contracts.get(contractId);
    return c && c.archived === undefined ? c.contract : undefined;
  }

  /**
   * Deletes history up to and including `offset`: its updates, and contracts archived by then
   * (Canton keeps active contracts, whatever their age).
   */
  prune(offset: number): void {
    if (!Number.isInteger(offset) || offset < 0) throw new RangeError('the pruning offset must be a non-negative integer');
    if (offset > this.end) {
      throw LedgerError.of('OFFSET_OUT_OF_RANGE', `prune_up_to ${offset} is beyond the ledger end ${this.end}`);
    }
    if (offset <= this.pruned) return;
    while (this.log.length > 0 && (this.log[0]?.offset ?? Infinity) <= offset) {
      const e = this.log.shift();
      if (e?.kind === 'transaction') this.byUpdateId.delete(e.updateId);
    }
    for (const [cid, c] of this.contracts) if (c.archived && c.archived.offset <= offset) this.contracts.delete(cid);
    for (let i = this.completions.length - 1; i >= 0; i--) {
      if ((this.completions[i]?.offset ?? Infinity) <= offset) this.completions.splice(i, 1);
    }
    this.pruned = offset;
    this.record({ kind: 'prune', offset });
    this.notify();
  }

  /** The private part of the state, for snapshots (snapshot.ts). */
  exportLog(): { log: readonly LogEntry[]; end: number; pruned: number } {
    return { log: this.log, end: this.end, pruned: this.pruned };
  }

  importLog(log: readonly LogEntry[], end: number, pruned: number): void {
    this.log.splice(0, this.log.length, ...log);
    this.byUpdateId.clear();
    for (const e of log) if (e.kind === 'transaction') this.byUpdateId.set(e.updateId, e);
    for (const times of this.otherTimes.values()) times.splice(0);
    for (const e of log)
      if (e.kind === 'transaction' && e.synchronizerId !== undefined)
        this.otherTimes.get(e.synchronizerId)?.push({ offset: e.offset, recordTime: e.recordTime });
    this.end = end;
    this.pruned = pruned;
  }

  /**
   * Forgets everything but ids, clock and listeners: a node about to be loaded from a snapshot
   * (restoreSnapshot) in place, so every reader keeps its handle on this ledger.
   */
  clearForRestore(): void {
    this.journal?.append({ kind: 'reset' });
    this.parties.clear();
    this.users.clear();
    this.contracts.clear();
    this.forgetHistory();
  }

  /** The update log, completions and deduplication state gone; offsets start again. */
  private forgetHistory(): void {
    this.completions.splice(0);
    this.dedup.clear();
    this.log.splice(0);
    this.byUpdateId.clear();
    this.others.splice(0);
    this.otherTimes.clear();
    this.end = 0;
    this.pruned = 0;
  }

  /**
   * A major upgrade (hard synchronizer migration): the node is connected to a new synchronizer
   * `synchronizerId` only, history is not carried over (offsets restart, completions and the
   * deduplication state are gone, archived contracts are forgotten), and the active contracts come
   * back as import transactions at `importRecordTime` (the new synchronizer's first record time,
   * 0001-01-01T00:00:00Z): creates only, one transaction per ledger create time, as Canton's
   * RepairService.addContracts writes them (RepairTransactionAccepted per creation time, record
   * time = the synchronizer's current one; community/participant/.../admin/repair/RepairService.scala).
   * Contract ids, payloads and create witnesses are kept; parties and users stay (identities are
   * reused, Splice docs/src/validator_operator/validator_major_upgrades.rst).
   */
  migrateSynchronizer(synchronizerId: string, importRecordTime: Micros): CommittedTx[] {
    this.journal?.append({ kind: 'reset' });
    const active = [...this.contracts.values()].filter((c) => c.archived === undefined);
    active.sort((a, b) => a.created.offset - b.created.offset || a.created.nodeId - b.created.nodeId);
    this.contracts.clear();
    this.forgetHistory();
    this.synchronizer = synchronizerId;
    const byCreateTime = new Map<string, ContractState[]>();
    for (const c of active) {
      const group = byCreateTime.get(c.contract.createdAt) ?? [];
      group.push(c);
      byCreateTime.set(c.contract.createdAt, group);
    }
    const imports: CommittedTx[] = [];
    for (const [createdAt, group] of [...byCreateTime].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const offset = this.end + 1;
      const updateId = this.ids.updateId();
      const nodes: TxNode[] = group.map((c, i) => ({
        kind: 'create',
        nodeId: i,
        contract: c.contract,
        witnesses: c.createWitnesses,
        consumedInTx: false,
      }));
      const tx: CommittedTx = {
        kind: 'transaction',
        offset,
        updateId,
        recordTime: importRecordTime,
        effectiveAt: createdAt,
        traceparent: this.ids.traceparent(),
        nodes,
      };
      group.forEach((c, i) =>
        this.contracts.set(c.contract.contractId, {
          contract: c.contract,
          created: { offset, nodeId: i, updateId },
          createWitnesses: c.createWitnesses,
        }),
      );
      this.end = offset;
      this.log.push(tx);
      this.byUpdateId.set(updateId, tx);
      imports.push(tx);
    }
    this.notify();
    return imports;
  }

  // ---- parties and users ----

  hostedParties(): string[] {
    return [...this.parties.keys()];
  }

  isStakeholder(contract: Contract, parties: Iterable<string>): boolean {
    const s = stakeholders(contract.payload);
    for (const p of parties) if (s.has(p)) return true;
    return false;
  }

  /** Active holdings of `owner` (locked included), oldest first. */
  holdingsOf(owner: string): Contract[] {
    const out: Contract[] = [];
    for (const c of this.contracts.values()) {
      if (c.archived) continue;
      const h = holdingInfo(c.contract.payload);
      if (h?.owner === owner) out.push(c.contract);
    }
    return out;
  }

  nowIso(): string {
    return microsToIso(this.clock.now());
  }
}

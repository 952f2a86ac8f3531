import { z } from 'zod';
import type { SandboxEngine } from '../engine/engine.js';
import { LedgerError } from '../engine/errors.js';
import type { Instrument } from '../engine/instruments.js';
import type { Snapshot } from '../engine/snapshot.js';
import type { CommittedTx } from '../engine/types.js';
import type { TrafficAccount, TrafficView } from '../engine/traffic.js';
import type { InstructionChoice } from '../engine/workflows.js';
import { microsToIso } from '../util/time.js';
import type { FaultInjector, FaultRuleInput, FaultRuleStatus } from '../wire/faults.js';
import { Books } from './books.js';

export interface TxSummary {
  updateId: string;
  offset: number;
  recordTime: string;
}

export function summary(tx: CommittedTx): TxSummary {
  return { updateId: tx.updateId, offset: tx.offset, recordTime: microsToIso(tx.recordTime) };
}

export const CreateCustomerRequest = z.object({
  hint: z.string().optional(),
  /** Give the customer a TransferPreapproval (Canton Coin family) so it can receive 1-step transfers. */
  preapproval: z.boolean().default(false),
  fund: z.array(z.object({ instrument: z.string(), amount: z.string() })).default([]),
});
export type CreateCustomerRequest = z.input<typeof CreateCustomerRequest>;

export const TransferRequest = z.object({
  from: z.string(),
  to: z.string(),
  instrument: z.string(),
  amount: z.string(),
  /** The memo (meta reason); null or absent = no memo. */
  memo: z.string().nullable().optional(),
  /** auto: 1-step when the receiver has a preapproval, else an offer; offer: always 2-step. */
  mode: z.enum(['auto', 'offer']).default('auto'),
  executeBefore: z.string().optional(),
  /** Sequence it on a synchronizer connected with connectSynchronizer (default: the first one). */
  synchronizerId: z.string().optional(),
});
export type TransferRequest = z.input<typeof TransferRequest>;

/**
 * A counterfeit (engine/counterfeit.ts): a contract of a stranger's own template, signed by the
 * stranger alone, whose token-standard view names `to` (owner of a holding, receiver of an offer)
 * and claims `instrument` — one of the double's (id or symbol: its real admin and id) or any
 * `{admin, id}`. The memo goes into the view's meta; a holding `via: 'transfer'` is created inside
 * the stranger's choice whose result meta says tx-kind transfer from the stranger with that memo,
 * `via: 'create'` alone.
 */
export const CounterfeitRequest = z.object({
  /** The stranger; absent = a new party of the double. */
  issuer: z.string().optional(),
  to: z.string(),
  instrument: z.union([z.string(), z.object({ admin: z.string(), id: z.string() })]),
  amount: z.string(),
  memo: z.string().nullable().optional(),
  kind: z.enum(['holding', 'offer']).default('holding'),
  via: z.enum(['transfer', 'create']).default('transfer'),
  executeBefore: z.string().optional(),
});
export type CounterfeitRequest = z.input<typeof CounterfeitRequest>;

export interface CounterfeitResult extends TxSummary {
  contractId: string;
  issuer: string;
}

/** With `claimSender`, the archive is wrapped in the stranger's choice whose result says `claimSender` sent it (memo `memo`). */
export const CounterfeitArchiveRequest = z.object({ claimSender: z.string().optional(), memo: z.string().optional() });
export type CounterfeitArchiveRequest = z.input<typeof CounterfeitArchiveRequest>;

/**
 * Restore the node from a backup taken with backupNode. `redeliver`: the updates after the backup
 * come again from the synchronizer (same ids, record times, effects) at their offset +
 * `offsetShift`; otherwise they are lost and the next update takes offset backup end +
 * `offsetShift` + 1.
 */
export const RestoreNodeRequest = z.object({
  backupId: z.string(),
  redeliver: z.boolean().default(false),
  offsetShift: z.int().min(0).default(0),
});
export type RestoreNodeRequest = z.input<typeof RestoreNodeRequest>;

export interface TransferResult extends TxSummary {
  kind: 'self' | 'direct' | 'offer';
  transferInstructionCid?: string;
}

/** Hooks into parts of the double that live outside the engine. */
export interface ControlHooks {
  readonly faults: FaultInjector;
  holdCommits(): void;
  releaseCommits(): Promise<void>;
  dropWebsockets(): void;
  /** The participant's purchased traffic (absent: unlimited, not changeable). */
  readonly traffic?: TrafficAccount;
}

/**
 * The double's control handle: what tests (in-process) and the HTTP control API (chaos
 * campaigns against a separate process) use to script the world around the daemon.
 */
export class SandboxControl {
  readonly books: Books;

  constructor(
    readonly engine: SandboxEngine,
    private readonly hooks: ControlHooks,
  ) {
    this.books = new Books(engine);
  }

  instrument(key: string): Instrument {
    const i = this.engine.instrumentBySymbolOrId(key);
    if (!i) throw LedgerError.of('INVALID_ARGUMENT', `unknown instrument ${key}`);
    return i;
  }

  /** A scripted customer: an internal party of the double, optionally preapproved and funded. */
  createCustomer(req: CreateCustomerRequest = {}): { party: string } {
    const r = CreateCustomerRequest.parse(req);
    const party = this.engine.allocateInternal(r.hint).party;
    if (r.preapproval) {
      for (const inst of this.engine.instruments) if (inst.config.family === 'amulet') this.engine.createPreapproval(party, inst);
    }
    for (const f of r.fund) this.engine.mint(party, this.instrument(f.instrument), f.amount);
    return { party };
  }

  mint(party: string, instrument: string, amount: string): TxSummary {
    return summary(this.engine.mint(party, this.instrument(instrument), amount));
  }

  createPreapproval(party: string, instrument = 'Amulet'): TxSummary {
    return summary(this.engine.createPreapproval(party, this.instrument(instrument)));
  }

  /** A transfer by one of the double's parties (customer deposit, customer to customer, …). */
  transfer(req: TransferRequest): TransferResult {
    const r = TransferRequest.parse(req);
    const result = this.engine.transferAs({
      sender: r.from,
      receiver: r.to,
      instrument: this.instrument(r.instrument),
      amount: r.amount,
      memo: r.memo ?? undefined,
      mode: r.mode,
      ...(r.executeBefore !== undefined ? { executeBefore: r.executeBefore } : {}),
      ...(r.synchronizerId !== undefined ? { synchronizerId: r.synchronizerId } : {}),
    });
    return {
      ...summary(result.tx),
      kind: result.kind,
      ...(result.transferInstructionCid ? { transferInstructionCid: result.transferInstructionCid } : {}),
    };
  }

  /**
   * Connects the participant to a second (third, …) synchronizer: listed by
   * /v2/state/connected-synchronizers, named in OffsetCheckpoints once it has an update, and
   * usable by `transfer({synchronizerId})`.
   */
  connectSynchronizer(alias = 'second'): { synchronizerId: string } {
    return { synchronizerId: this.engine.ledger.connectSynchronizer(alias) };
  }

  /** A customer acts on a transfer instruction (accept / reject ours, withdraw its own). */
  instruction(cid: string, choice: InstructionChoice, actor?: string): TxSummary {
    const inst = this.engine.ledger.active(cid);
    const t =
      inst && (inst.payload.t === 'AmuletTransferInstruction' || inst.payload.t === 'TransferOffer') ? inst.payload.transfer : undefined;
    const who = actor ?? (t ? (choice === 'Withdraw' ? t.sender : t.receiver) : '');
    return summary(this.engine.instructionActionAs(who, cid, choice));
  }

  accept(cid: string, actor?: string): TxSummary {
    return this.instruction(cid, 'Accept', actor);
  }

  reject(cid: string, actor?: string): TxSummary {
    return this.instruction(cid, 'Reject', actor);
  }

  withdraw(cid: string, actor?: string): TxSummary {
    return this.instruction(cid, 'Withdraw', actor);
  }

  /** A stranger's counterfeit holding or offer (CounterfeitRequest). */
  counterfeit(req: CounterfeitRequest): CounterfeitResult {
    const r = CounterfeitRequest.parse(req);
    const issuer = r.issuer ?? this.engine.allocateInternal(`stranger-${this.engine.ledger.ids.hex(4)}`).party;
    const known = typeof r.instrument === 'string' ? this.instrument(r.instrument) : undefined;
    const instrumentId = known ? { admin: known.admin, id: known.config.id } : (r.instrument as { admin: string; id: string });
    const { tx, contractId } = this.engine.counterfeit({
      issuer,
      to: r.to,
      instrumentId,
      amount: r.amount,
      memo: r.memo ?? undefined,
      kind: r.kind,
      via: r.via,
      executeBefore: r.executeBefore,
    });
    return { ...summary(tx), contractId, issuer };
  }

  /** The stranger archives its counterfeit (CounterfeitArchiveRequest). */
  archiveCounterfeit(cid: string, req: CounterfeitArchiveRequest = {}): TxSummary {
    const r = CounterfeitArchiveRequest.parse(req);
    return summary(this.engine.archiveCounterfeit(cid, r.claimSender === undefined ? undefined : { sender: r.claimSender, memo: r.memo }));
  }

  /** Run the registry admins' expiry automation now (it also runs on every clock step). */
  expireDue(): TxSummary[] {
    return this.engine.expireDue().map(summary);
  }

  clockNow(): { time: string; mode: string } {
    return { time: this.engine.clock.nowIso(), mode: this.engine.clock.getMode() };
  }

  /** Step the record-time clock (switches it to manual mode). */
  advanceClock(ms: number): string {
    return microsToIso(this.engine.clock.advance(ms));
  }

  setClock(iso: string): string {
    return microsToIso(this.engine.clock.set(iso));
  }

  useRealTime(): void {
    this.engine.clock.useRealTime();
  }

  prune(offset: number): void {
    this.engine.ledger.prune(offset);
  }

  private readonly backups = new Map<string, Snapshot>();

  /** A backup of the node now, kept in memory for restoreNode → its id and the ledger end it covers. */
  backupNode(): { backupId: string; ledgerEnd: number; recordTime: string } {
    const snap = this.engine.snapshot();
    const backupId = `backup-${this.backups.size + 1}`;
    this.backups.set(backupId, snap);
    return { backupId, ledgerEnd: snap.end, recordTime: microsToIso(this.engine.ledger.lastRecordTime()) };
  }

  /**
   * The node restored from a backup (RestoreNodeRequest; SandboxEngine.restoreNode): update ids and
   * record times stay, offsets after the backup move. Every open stream is cut, as a node restart
   * cuts them.
   */
  restoreNode(req: RestoreNodeRequest): { ledgerEnd: number; backupLedgerEnd: number } {
    const r = RestoreNodeRequest.parse(req);
    const snap = this.backups.get(r.backupId);
    if (!snap) throw LedgerError.of('INVALID_ARGUMENT', `unknown backup ${r.backupId}`);
    this.engine.restoreNode(snap, { redeliver: r.redeliver, offsetShift: r.offsetShift });
    this.hooks.dropWebsockets();
    return { ledgerEnd: this.engine.ledger.ledgerEnd, backupLedgerEnd: snap.end };
  }

  /** A major upgrade (SandboxEngine.majorUpgrade): new synchronizer, offsets from 0, imports; every open stream is cut. */
  majorUpgrade(): { synchronizerId: string; ledgerEnd: number; imports: TxSummary[] } {
    const { synchronizerId, imports } = this.engine.majorUpgrade();
    this.backups.clear();
    this.hooks.dropWebsockets();
    return { synchronizerId, ledgerEnd: this.engine.ledger.ledgerEnd, imports: imports.map(summary) };
  }

  addFault(rule: FaultRuleInput): string {
    return this.hooks.faults.add(rule);
  }

  removeFault(id: string): boolean {
    return this.hooks.faults.remove(id);
  }

  clearFaults(): void {
    this.hooks.faults.clear();
  }

  faults(): FaultRuleStatus[] {
    return this.hooks.faults.list();
  }

  /** Stop committing interactive submissions (they queue) until releaseCommits. */
  holdCommits(): void {
    this.hooks.holdCommits();
  }

  releaseCommits(): Promise<void> {
    return this.hooks.releaseCommits();
  }

  /** The participant's traffic: limit (null = unlimited), consumed, available, refusals. */
  traffic(): TrafficView {
    return this.account().view();
  }

  /** Sets the purchased traffic in total (bytes; null = unlimited), as a top-up's new balance does. */
  setTraffic(limit: number | null): TrafficView {
    if (limit !== null && (!Number.isSafeInteger(limit) || limit < 0))
      throw new RangeError('limit must be a whole number of bytes ≥ 0, or null');
    return this.account().setLimit(limit);
  }

  /** Buys `bytes` more traffic (added to the limit). */
  refillTraffic(bytes: number): TrafficView {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError('bytes must be a whole number ≥ 0');
    return this.account().refill(bytes);
  }

  private account(): TrafficAccount {
    if (!this.hooks.traffic) throw new RangeError('this double has no traffic account');
    return this.hooks.traffic;
  }

  /** Cut every open websocket stream at once. */
  dropWebsockets(): void {
    this.hooks.dropWebsockets();
  }
}

import type { z } from 'zod';
import { addAmounts, compareAmounts, isZeroAmount, LedgerNumeric, negateAmount, subAmounts } from '../lib/decimal.js';
import {
  formatPath,
  HOLDING_INTERFACE_ID,
  HoldingView,
  Metadata,
  MetadataKey,
  compareTimestamps,
  timestampToMicros,
  TRANSFER_FACTORY_INTERFACE_ID,
  TRANSFER_INSTRUCTION_INTERFACE_ID,
  TransferChoice,
  TransferFactoryTransferArg,
  TransferInstructionResult,
  TransferInstructionView,
  type CreatedEvent,
  type ExercisedEvent,
  type JsInterfaceView,
  type JsTransaction,
} from '../ledger/schema/index.js';
import { UpdateParseError } from './errors.js';
import {
  instrumentKey,
  type Activity,
  type ArchivedHolding,
  type CreatedHolding,
  type InstructionClosed,
  type InstructionCreated,
  type InstructionDirection,
  type InstructionOutcome,
  type Instrument,
  type IgnoredContract,
  type IgnoreReason,
  type InstrumentDelta,
  type TransactionFacts,
} from './facts.js';
import type { KnownInstruction, LedgerStateLookup } from './ledger-state.js';

/**
 * The token-standard parser: one ledger transaction (LEDGER_EFFECTS shape, with Holding and
 * TransferInstruction interface views) → facts about the treasury. Pure: everything it needs to
 * know from earlier transactions comes through `state`. Built on the token-standard interfaces
 * and the `tx-kind` metadata of their results, never on one registry's templates, so any token
 * works.
 *
 * The walk follows the integration guide: events are visited in node order; an exercise that is
 * a token-standard transfer (TransferFactory_Transfer, a TransferInstruction choice, or any choice
 * whose result meta carries a tx-kind) is interpreted as a whole — the treasury's holdings delta
 * inside its subtree (nodeId, lastDescendantNodeId] — and its subtree is skipped, so nested
 * choices (AmuletRules_Transfer inside TransferPreapproval_Send, say) are not counted twice.
 */

export interface ParseOptions {
  /**
   * A holding that must be the treasury's (an input of a transfer the treasury sent) but is not
   * known: 'fail' stops (ingestion: amounts are never guessed); 'report' lists it in
   * `unresolvedHoldingCids` and leaves it out of the deltas (the parse CLI on partial recordings).
   */
  unknownOwnedHolding?: 'fail' | 'report';
  /**
   * The onboarded instruments (instrumentKey of each row of `instruments`): a holding or transfer
   * instruction of any other counts for nothing and is reported in `ignored`. Ingestion always
   * passes it; absent, every instrument is taken as onboarded (the parse CLI and the conformance
   * checks read shapes and credit nobody). The admin-signatory rule applies either way.
   */
  onboarded?: ReadonlySet<string>;
}

/** Record time of the import transactions a major upgrade (hard synchronizer migration) creates. */
const IMPORT_RECORD_TIME_MICROS = timestampToMicros('0001-01-01T00:00:00Z');

const INSTRUCTION_CHOICES: ReadonlySet<string> = new Set([
  TransferChoice.Accept,
  TransferChoice.Reject,
  TransferChoice.Withdraw,
  'TransferInstruction_Update',
]);

type Node =
  | { nodeId: number; kind: 'created'; ev: CreatedEvent }
  | { nodeId: number; kind: 'exercised'; ev: ExercisedEvent }
  | { nodeId: number; kind: 'archived'; contractId: string };

/**
 * "Module:Entity" of an identifier, package ignored (it changes with every upgrade; see
 * identifiers.ts). Cached: the same few interface ids recur in every transaction.
 */
const qualifiedNames = new Map<string, string>();
export function qualifiedName(id: string): string {
  let q = qualifiedNames.get(id);
  if (q === undefined) {
    q = id.slice(id.indexOf(':') + 1);
    if (qualifiedNames.size < 10_000) qualifiedNames.set(id, q);
  }
  return q;
}
export const HOLDING = qualifiedName(HOLDING_INTERFACE_ID);
const TRANSFER_FACTORY = qualifiedName(TRANSFER_FACTORY_INTERFACE_ID);
export const TRANSFER_INSTRUCTION = qualifiedName(TRANSFER_INSTRUCTION_INTERFACE_ID);

function viewOf(views: readonly JsInterfaceView[] | undefined, wanted: string): JsInterfaceView | undefined {
  return views?.find((v) => qualifiedName(v.interfaceId) === wanted);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function memoOf(values: Record<string, string> | undefined): string | null {
  const m = values?.[MetadataKey.reason];
  return m === undefined || m === '' ? null : m;
}

function nullIfZero(a: string): string | null {
  return isZeroAmount(a) ? null : a;
}

class TransactionParser {
  private readonly nodes: Node[];
  private readonly created: CreatedHolding[] = [];
  private readonly archived: ArchivedHolding[] = [];
  private readonly unresolved: { nodeId: number; contractId: string }[] = [];
  private readonly ignored: IgnoredContract[] = [];
  private readonly createdInstructions = new Map<string, InstructionCreated>();
  private readonly treasuryActs: boolean;

  constructor(
    private readonly tx: JsTransaction,
    private readonly treasury: string,
    private readonly state: LedgerStateLookup,
    private readonly opts: ParseOptions,
  ) {
    this.nodes = tx.events
      .map((e): Node => {
        if ('CreatedEvent' in e) return { nodeId: e.CreatedEvent.nodeId, kind: 'created', ev: e.CreatedEvent };
        if ('ExercisedEvent' in e) return { nodeId: e.ExercisedEvent.nodeId, kind: 'exercised', ev: e.ExercisedEvent };
        return { nodeId: e.ArchivedEvent.nodeId, kind: 'archived', contractId: e.ArchivedEvent.contractId };
      })
      .sort((a, b) => a.nodeId - b.nodeId);
    this.treasuryActs = this.nodes.some((n) => n.kind === 'exercised' && n.ev.actingParties.includes(treasury));
  }

  fail(reason: string, cause?: unknown): never {
    throw new UpdateParseError(this.tx.updateId, this.tx.offset, reason, cause === undefined ? undefined : { cause });
  }

  decodeAt<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    const issues = r.error.issues
      .slice(0, 5)
      .map((i) => `${formatPath(i.path)}: ${i.message}`)
      .join('; ');
    return this.fail(`${what} does not match the token standard: ${issues}`, r.error);
  }

  parse(): TransactionFacts {
    const isImport = timestampToMicros(this.tx.recordTime) === IMPORT_RECORD_TIME_MICROS;
    this.collectCreated();
    this.collectArchived();
    const activities = isImport ? [...this.createdInstructions.values()] : this.walk();
    const facts: TransactionFacts = {
      updateId: this.tx.updateId,
      offset: this.tx.offset,
      recordTime: this.tx.recordTime,
      synchronizerId: this.tx.synchronizerId,
      import: isImport,
      holdingsCreated: this.created,
      holdingsArchived: this.archived,
      activities,
    };
    if (this.ignored.length > 0) facts.ignored = this.ignored;
    if (this.unresolved.length > 0) facts.unresolvedHoldingCids = this.unresolved.map((u) => u.contractId);
    return facts;
  }

  /**
   * Treasury holdings and transfer instructions created in this transaction. Only contracts that
   * count are the treasury's: of an onboarded instrument, signed by that instrument's admin. A
   * view is the template's own claim (any package can implement Holding and say anything in it);
   * the signatories are what the ledger vouches for.
   */
  private collectCreated(): void {
    for (const n of this.nodes) {
      if (n.kind !== 'created') continue;
      const ev = n.ev;
      const hv = viewOf(ev.interfaceViews, HOLDING);
      if (hv) {
        if (hv.viewStatus.code !== 0 || hv.viewValue === undefined) {
          // Cannot tell whose holding this is or how much: never assume it is not ours.
          this.fail(
            `the Holding view of contract ${ev.contractId} (node ${ev.nodeId}) failed to compute: status ${hv.viewStatus.code} ${hv.viewStatus.message}`,
          );
        }
        // Cheap owner test first: most holdings a treasury witnesses belong to its counterparties.
        if (isObject(hv.viewValue) && hv.viewValue['owner'] === this.treasury) {
          const view = this.decodeAt(HoldingView, hv.viewValue, `Holding view of contract ${ev.contractId} (node ${ev.nodeId})`);
          const instrument = { admin: view.instrumentId.admin, id: view.instrumentId.id };
          const reasons = this.reasonsToIgnore(instrument, ev);
          if (reasons.length > 0) {
            const around = this.enclosingTransfer(ev.nodeId);
            this.ignored.push({
              kind: 'holding',
              nodeId: ev.nodeId,
              contractId: ev.contractId,
              templateId: ev.templateId,
              instrument,
              amount: view.amount,
              direction: 'incoming',
              sender: around.sender,
              memo: memoOf(view.meta.values) ?? around.memo,
              executeBefore: null,
              signatories: [...ev.signatories],
              reasons,
            });
          } else {
            this.created.push({
              nodeId: ev.nodeId,
              contractId: ev.contractId,
              templateId: ev.templateId,
              instrument,
              amount: view.amount,
              lock: view.lock ? plainLock(view.lock) : null,
              meta: view.meta.values,
            });
          }
        }
      }
      const iv = viewOf(ev.interfaceViews, TRANSFER_INSTRUCTION);
      if (iv) {
        if (iv.viewStatus.code !== 0 || iv.viewValue === undefined) {
          this.fail(
            `the TransferInstruction view of contract ${ev.contractId} (node ${ev.nodeId}) failed to compute: status ${iv.viewStatus.code} ${iv.viewStatus.message}`,
          );
        }
        const view = this.decodeAt(
          TransferInstructionView,
          iv.viewValue,
          `TransferInstruction view of contract ${ev.contractId} (node ${ev.nodeId})`,
        );
        const t = view.transfer;
        const direction = directionOf(t.sender, t.receiver, this.treasury);
        if (direction === undefined) continue;
        const instrument = { admin: t.instrumentId.admin, id: t.instrumentId.id };
        const memo = memoOf(t.meta.values);
        const reasons = this.reasonsToIgnore(instrument, ev);
        if (reasons.length > 0) {
          this.ignored.push({
            kind: 'instruction',
            nodeId: ev.nodeId,
            contractId: ev.contractId,
            templateId: ev.templateId,
            instrument,
            amount: t.amount,
            direction,
            sender: t.sender,
            memo,
            executeBefore: t.executeBefore,
            signatories: [...ev.signatories],
            reasons,
          });
          continue;
        }
        this.createdInstructions.set(ev.contractId, {
          kind: 'instruction_created',
          nodeId: ev.nodeId,
          instructionCid: ev.contractId,
          originalInstructionCid: view.originalInstructionCid ?? null,
          direction,
          sender: t.sender,
          receiver: t.receiver,
          instrument,
          amount: t.amount,
          memo,
          requestedAt: t.requestedAt,
          executeBefore: t.executeBefore,
          lockedHoldingCids: t.inputHoldingCids,
          status: view.status.tag,
        });
      }
    }
  }

  /** Why a contract claiming `instrument` does not count; none when it does. */
  private reasonsToIgnore(instrument: Instrument, ev: CreatedEvent): IgnoreReason[] {
    const reasons: IgnoreReason[] = [];
    if (this.opts.onboarded !== undefined && !this.opts.onboarded.has(instrumentKey(instrument))) reasons.push('instrument not onboarded');
    if (!ev.signatories.includes(instrument.admin)) reasons.push('admin not a signatory');
    return reasons;
  }

  /**
   * Sender and memo the innermost exercise around `nodeId` states (a factory transfer's argument,
   * or the result meta of a choice that says what it did), so an ignored holding is recorded with
   * the account it was meant for. Read leniently: whatever does not decode is the walk's to report.
   */
  private enclosingTransfer(nodeId: number): { sender: string | null; memo: string | null } {
    let found: { sender: string | null; memo: string | null } | undefined;
    for (const n of this.nodes) {
      if (n.nodeId >= nodeId) break;
      if (n.kind !== 'exercised' || n.ev.lastDescendantNodeId < nodeId) continue;
      const ev = n.ev;
      if (this.isFactoryTransfer(ev)) {
        const arg = TransferFactoryTransferArg.safeParse(ev.choiceArgument);
        if (arg.success) found = { sender: arg.data.transfer.sender, memo: memoOf(arg.data.transfer.meta.values) };
        continue;
      }
      const r = ev.exerciseResult;
      const meta = isObject(r) ? Metadata.safeParse(r['meta']) : undefined;
      if (meta?.success) found = { sender: meta.data.values[MetadataKey.sender] ?? null, memo: memoOf(meta.data.values) };
    }
    return found ?? { sender: null, memo: null };
  }

  /**
   * Treasury holdings consumed in this transaction. An archive carries no payload: a holding is
   * ours if we know it (our table, this batch, or created earlier in this transaction); otherwise
   * it is someone else's — unless the treasury itself named it as an input of a transfer it sent.
   */
  private collectArchived(): void {
    const mustBeOurs = new Set<string>();
    for (const n of this.nodes) {
      if (n.kind !== 'exercised' || !this.isFactoryTransfer(n.ev)) continue;
      const arg = this.decodeAt(TransferFactoryTransferArg, n.ev.choiceArgument, `choice argument of ${n.ev.choice} (node ${n.nodeId})`);
      if (arg.transfer.sender === this.treasury) for (const cid of arg.transfer.inputHoldingCids) mustBeOurs.add(cid);
    }
    const createdHere = new Map(this.created.map((h) => [h.contractId, h]));
    for (const n of this.nodes) {
      let cid: string;
      if (n.kind === 'archived') cid = n.contractId;
      else if (n.kind === 'exercised' && n.ev.consuming) cid = n.ev.contractId;
      else continue;
      const local = createdHere.get(cid);
      const known = local ? { instrument: local.instrument, amount: local.amount, locked: local.lock !== null } : this.state.holding(cid);
      if (known) {
        this.archived.push({ nodeId: n.nodeId, contractId: cid, instrument: known.instrument, amount: known.amount, locked: known.locked });
      } else if (mustBeOurs.has(cid)) {
        if (this.opts.unknownOwnedHolding === 'report') this.unresolved.push({ nodeId: n.nodeId, contractId: cid });
        else
          this.fail(
            `holding ${cid} (node ${n.nodeId}) is an input of a transfer the treasury sent but is not in the treasury's holdings: its amount is unknown (was history skipped, or the holdings table edited?)`,
          );
      }
    }
  }

  private isFactoryTransfer(ev: ExercisedEvent): boolean {
    if (ev.choice !== TransferChoice.FactoryTransfer) return false;
    return ev.interfaceId === undefined || qualifiedName(ev.interfaceId) === TRANSFER_FACTORY;
  }

  private isInstructionChoice(ev: ExercisedEvent): boolean {
    if (!INSTRUCTION_CHOICES.has(ev.choice)) return false;
    if (ev.interfaceId !== undefined) return qualifiedName(ev.interfaceId) === TRANSFER_INSTRUCTION;
    return (ev.implementedInterfaces ?? []).some((i) => qualifiedName(i) === TRANSFER_INSTRUCTION);
  }

  /** Visits exercises in node order, interpreting recognised ones as a whole. */
  private walk(): Activity[] {
    const activities: Activity[] = [...this.createdInstructions.values()];
    const handled: [number, number][] = [];
    let skipThrough = -1;
    for (const n of this.nodes) {
      if (n.nodeId <= skipThrough || n.kind !== 'exercised') continue;
      const result = this.interpret(n.ev);
      if (result === undefined) continue; // not a transfer: descend into it
      activities.push(...result);
      skipThrough = n.ev.lastDescendantNodeId;
      handled.push([n.nodeId, n.ev.lastDescendantNodeId]);
    }
    // The exercise's own node belongs to it: a consuming choice on a holding (an unlock, a dust
    // expiry) archives that holding as part of what the choice did.
    const inHandled = (nodeId: number) => handled.some(([from, to]) => nodeId >= from && nodeId <= to);
    activities.push(...this.residual(inHandled));
    return activities.sort((a, b) => (a.nodeId ?? Number.MAX_SAFE_INTEGER) - (b.nodeId ?? Number.MAX_SAFE_INTEGER));
  }

  /** Activities of a recognised exercise; undefined when it is not one. */
  private interpret(ev: ExercisedEvent): Activity[] | undefined {
    if (this.isFactoryTransfer(ev)) return this.factoryTransfer(ev);
    if (this.isInstructionChoice(ev)) return this.instructionChoice(ev);
    // A registry's own choice that consumes an instruction we know (its admin expiring it, say).
    if (ev.consuming && this.knownInstruction(ev.contractId)) return this.instructionChoice(ev);
    const meta = this.resultMeta(ev);
    const txKind = meta?.[MetadataKey.txKind];
    if (txKind === undefined || txKind === '') return undefined;
    return this.txKindExercise(ev, txKind, meta ?? {});
  }

  private subtree(ev: ExercisedEvent): { created: CreatedHolding[]; archived: ArchivedHolding[] } {
    const inside = (nodeId: number) => nodeId >= ev.nodeId && nodeId <= ev.lastDescendantNodeId;
    return { created: this.created.filter((h) => inside(h.nodeId)), archived: this.archived.filter((h) => inside(h.nodeId)) };
  }

  /** `meta.values` of a token-standard choice result, if the result has that shape. */
  private resultMeta(ev: ExercisedEvent): Record<string, string> | undefined {
    const r = ev.exerciseResult;
    if (!isObject(r) || !isObject(r['meta']) || !('values' in r['meta'])) return undefined;
    return this.decodeAt(Metadata, r['meta'], `result meta of ${ev.choice} (node ${ev.nodeId})`).values;
  }

  private factoryTransfer(ev: ExercisedEvent): Activity[] {
    const arg = this.decodeAt(TransferFactoryTransferArg, ev.choiceArgument, `choice argument of ${ev.choice} (node ${ev.nodeId})`);
    const t = arg.transfer;
    const sub = this.subtree(ev);
    const deltas = deltaByInstrument(sub.created, sub.archived);
    const instrument: Instrument = { admin: t.instrumentId.admin, id: t.instrumentId.id };
    const isSender = t.sender === this.treasury;
    const isReceiver = t.receiver === this.treasury;
    if (!isSender && !isReceiver) return this.holdingsChanged(ev, null, null, sub);
    const result = this.decodeAt(TransferInstructionResult, ev.exerciseResult, `result of ${ev.choice} (node ${ev.nodeId})`);
    const out = result.output;
    const outcome =
      out.tag === 'TransferInstructionResult_Completed'
        ? 'completed'
        : out.tag === 'TransferInstructionResult_Pending'
          ? 'pending'
          : 'failed';
    const memo = memoOf(t.meta.values);
    const delta = deltas.get(instrumentKey(instrument))?.amount ?? '0.0000000000';
    const others = this.otherInstruments(ev, deltas, instrument, sub, memo);

    if (isSender) {
      const leaving = outcome === 'completed' && !isReceiver ? t.amount : '0.0000000000';
      // Lenient mode only: inputs of unknown amount make the delta (and so the fee) unknown.
      const complete = !this.unresolved.some((u) => u.nodeId >= ev.nodeId && u.nodeId <= ev.lastDescendantNodeId);
      return [
        {
          kind: 'transfer_out',
          nodeId: ev.nodeId,
          choice: ev.choice,
          self: isReceiver,
          sender: t.sender,
          receiver: t.receiver,
          instrument,
          amount: t.amount,
          outcome,
          transferInstructionCid: out.tag === 'TransferInstructionResult_Pending' ? out.value.transferInstructionCid : null,
          holdingsDelta: complete ? delta : null,
          fee: complete ? nullIfZero(subAmounts(negateAmount(delta), leaving)) : null,
          memo,
          inputHoldingCids: t.inputHoldingCids,
          executeBefore: t.executeBefore,
          holdingsCreated: sub.created.map((h) => h.contractId),
          holdingsArchived: sub.archived.map((h) => h.contractId),
        },
        ...others,
      ];
    }
    // The treasury receives. Completed = a 1-step deposit; pending = an offer, recorded from its
    // TransferInstruction create (instruction_created); failed = nothing arrived.
    if (outcome === 'completed' && compareAmounts(delta, '0') > 0) {
      return [
        {
          kind: 'transfer_in',
          nodeId: ev.nodeId,
          depositId: `${this.tx.updateId}:${ev.nodeId}`,
          choice: ev.choice,
          sender: t.sender,
          instrument,
          transferAmount: t.amount,
          creditedAmount: delta,
          fee: nullIfZero(subAmounts(t.amount, delta)),
          memo,
          holdingsCreated: sub.created.map((h) => h.contractId),
          holdingsArchived: sub.archived.map((h) => h.contractId),
        },
        ...others,
      ];
    }
    return this.holdingsChanged(ev, null, memo, sub);
  }

  /** Holdings of instruments other than the transfer's that changed in its subtree (unusual). */
  private otherInstruments(
    ev: ExercisedEvent,
    deltas: Map<string, InstrumentDelta>,
    main: Instrument,
    sub: { created: CreatedHolding[]; archived: ArchivedHolding[] },
    memo: string | null,
  ): Activity[] {
    const mainKey = instrumentKey(main);
    const otherKeys = [...deltas.keys()].filter((k) => k !== mainKey);
    if (otherKeys.length === 0) return [];
    const keep = (h: { instrument: Instrument }) => instrumentKey(h.instrument) !== mainKey;
    return this.holdingsChanged(ev, null, memo, { created: sub.created.filter(keep), archived: sub.archived.filter(keep) });
  }

  private knownInstruction(cid: string): KnownInstruction | undefined {
    const here = this.createdInstructions.get(cid);
    return here
      ? {
          contractId: cid,
          sender: here.sender,
          receiver: here.receiver,
          instrument: here.instrument,
          amount: here.amount,
          memo: here.memo,
          executeBefore: here.executeBefore,
        }
      : this.state.instruction(cid);
  }

  private instructionChoice(ev: ExercisedEvent): Activity[] {
    const cid = ev.contractId;
    const known = this.knownInstruction(cid);
    const standard = INSTRUCTION_CHOICES.has(ev.choice);
    // Funds returned by anything but the parties' own choices, once executeBefore has passed: expired.
    const lapsed = known !== undefined && compareTimestamps(this.tx.recordTime, known.executeBefore) >= 0;
    const sub = this.subtree(ev);
    const deltas = deltaByInstrument(sub.created, sub.archived);
    const acting = ev.actingParties.includes(this.treasury);
    let direction: InstructionDirection | undefined;
    if (known) {
      direction = directionOf(known.sender, known.receiver, this.treasury);
    } else if (acting) {
      // Token-standard controllers: the receiver accepts or rejects, the sender withdraws.
      direction = ev.choice === TransferChoice.Withdraw ? 'outgoing' : ev.choice === 'TransferInstruction_Update' ? undefined : 'incoming';
    } else if (deltas.size > 0 && ev.choice !== TransferChoice.Withdraw) {
      // Someone else accepted or rejected, and the treasury's (locked) holdings moved: our offer.
      direction = 'outgoing';
    }
    if (direction === undefined) {
      return deltas.size > 0 || sub.created.length + sub.archived.length > 0 ? this.holdingsChanged(ev, null, null, sub) : [];
    }

    const parsed = TransferInstructionResult.safeParse(ev.exerciseResult);
    let outcome: InstructionOutcome;
    let newInstructionCid: string | null = null;
    if (parsed.success) {
      const out = parsed.data.output;
      if (out.tag === 'TransferInstructionResult_Completed') outcome = 'accepted';
      else if (out.tag === 'TransferInstructionResult_Pending') {
        outcome = 'pending';
        newInstructionCid = out.value.transferInstructionCid;
      } else if (ev.choice === TransferChoice.Reject) outcome = 'rejected';
      else if (ev.choice === TransferChoice.Withdraw) outcome = 'withdrawn';
      else outcome = !standard && lapsed ? 'expired' : 'failed';
    } else if (ev.choice === TransferChoice.Accept) outcome = 'accepted';
    else if (ev.choice === TransferChoice.Reject) outcome = 'rejected';
    else if (ev.choice === TransferChoice.Withdraw) outcome = 'withdrawn';
    else if (!standard) outcome = lapsed ? 'expired' : 'failed';
    else return this.fail(`result of ${ev.choice} on transfer instruction ${cid} (node ${ev.nodeId}) is not a TransferInstructionResult`);

    const instrument = known?.instrument ?? singleInstrument(deltas);
    const delta = instrument ? (deltas.get(instrumentKey(instrument))?.amount ?? '0.0000000000') : null;
    let creditedAmount: string | null = null;
    let fee: string | null = null;
    if (delta !== null) {
      if (direction === 'incoming') {
        if (outcome === 'accepted') creditedAmount = delta;
        const arriving = outcome === 'accepted' ? known?.amount : '0.0000000000';
        fee = arriving === undefined ? null : nullIfZero(subAmounts(arriving, delta));
      } else {
        const leaving = outcome === 'accepted' && direction === 'outgoing' ? known?.amount : '0.0000000000';
        fee = leaving === undefined ? null : nullIfZero(subAmounts(negateAmount(delta), leaving));
      }
    }
    const closed: InstructionClosed = {
      kind: 'instruction_closed',
      nodeId: ev.nodeId,
      instructionCid: cid,
      choice: ev.choice,
      direction,
      outcome,
      newInstructionCid,
      known: known !== undefined,
      sender: known?.sender ?? null,
      receiver: known?.receiver ?? null,
      instrument: instrument ?? null,
      amount: known?.amount ?? null,
      memo: known?.memo ?? null,
      holdingsDelta: [...deltas.values()],
      creditedAmount,
      fee,
      holdingsCreated: sub.created.map((h) => h.contractId),
      holdingsArchived: sub.archived.map((h) => h.contractId),
    };
    return [closed];
  }

  /** A choice that is not the token standard's own but says what it did in its result meta. */
  private txKindExercise(ev: ExercisedEvent, txKind: string, meta: Record<string, string>): Activity[] {
    const sub = this.subtree(ev);
    const deltas = deltaByInstrument(sub.created, sub.archived);
    const memo = memoOf(meta);
    if (txKind !== 'transfer') return this.holdingsChanged(ev, txKind, memo, sub);
    const sender = meta[MetadataKey.sender] ?? null;
    // A registry's own 1-step choice (CC's TransferPreapproval_Send) states the requested amount
    // as `amount`; when it does not, the transfer amount is what arrived.
    const argAmount = isObject(ev.choiceArgument) ? LedgerNumeric.safeParse(ev.choiceArgument['amount']) : undefined;
    const requested = argAmount?.success ? argAmount.data : undefined;

    if (sender === this.treasury) {
      const out = [...deltas.values()].filter((d) => compareAmounts(d.amount, '0') < 0);
      if (out.length === 0) return this.holdingsChanged(ev, txKind, memo, sub);
      return out.map((d) => ({
        kind: 'transfer_out' as const,
        nodeId: ev.nodeId,
        choice: ev.choice,
        self: false,
        sender,
        receiver: null,
        instrument: d.instrument,
        amount: out.length === 1 && requested !== undefined ? requested : negateAmount(d.amount),
        outcome: 'completed' as const,
        transferInstructionCid: null,
        holdingsDelta: d.amount,
        fee: out.length === 1 && requested !== undefined ? nullIfZero(subAmounts(negateAmount(d.amount), requested)) : null,
        memo,
        inputHoldingCids: [],
        executeBefore: null,
        holdingsCreated: sub.created.map((h) => h.contractId),
        holdingsArchived: sub.archived.map((h) => h.contractId),
      }));
    }
    const incoming = [...deltas.values()].filter((d) => compareAmounts(d.amount, '0') > 0);
    if (incoming.length === 0) return sub.created.length + sub.archived.length > 0 ? this.holdingsChanged(ev, txKind, memo, sub) : [];
    return incoming.map((d, i) => {
      const transferAmount = incoming.length === 1 && requested !== undefined ? requested : d.amount;
      return {
        kind: 'transfer_in' as const,
        nodeId: ev.nodeId,
        depositId: i === 0 ? `${this.tx.updateId}:${ev.nodeId}` : `${this.tx.updateId}:${ev.nodeId}:${i}`,
        choice: ev.choice,
        sender,
        instrument: d.instrument,
        transferAmount,
        creditedAmount: d.amount,
        fee: nullIfZero(subAmounts(transferAmount, d.amount)),
        memo,
        holdingsCreated: sub.created.filter((h) => instrumentKey(h.instrument) === instrumentKey(d.instrument)).map((h) => h.contractId),
        holdingsArchived: sub.archived.filter((h) => instrumentKey(h.instrument) === instrumentKey(d.instrument)).map((h) => h.contractId),
      };
    });
  }

  private holdingsChanged(
    ev: ExercisedEvent | null,
    txKind: string | null,
    memo: string | null,
    sub: { created: CreatedHolding[]; archived: ArchivedHolding[] },
  ): Activity[] {
    if (sub.created.length === 0 && sub.archived.length === 0) return [];
    return [
      {
        kind: 'holdings_changed',
        nodeId: ev?.nodeId ?? null,
        choice: ev?.choice ?? null,
        txKind,
        memo,
        holdingsDelta: [...deltaByInstrument(sub.created, sub.archived).values()],
        holdingsCreated: sub.created.map((h) => h.contractId),
        holdingsArchived: sub.archived.map((h) => h.contractId),
      },
    ];
  }

  /**
   * Treasury holdings created or archived outside every recognised exercise. Holdings that only
   * appeared — the treasury acted nowhere in the transaction and nothing of ours was consumed —
   * are funds that arrived without a transfer we could read: an unattributed deposit, never a
   * lost one. Anything else is bookkeeping (locks, a registry's own workflows).
   */
  private residual(inHandled: (nodeId: number) => boolean): Activity[] {
    const created = this.created.filter((h) => !inHandled(h.nodeId));
    const archived = this.archived.filter((h) => !inHandled(h.nodeId));
    if (created.length === 0 && archived.length === 0) return [];
    const deltas = deltaByInstrument(created, archived);
    if (archived.length === 0 && !this.treasuryActs) {
      return [...deltas.values()]
        .filter((d) => compareAmounts(d.amount, '0') > 0)
        .map((d) => {
          const mine = created.filter((h) => instrumentKey(h.instrument) === instrumentKey(d.instrument));
          const nodeId = mine[0]?.nodeId ?? 0;
          return {
            kind: 'transfer_in' as const,
            nodeId,
            depositId: `${this.tx.updateId}:${nodeId}`,
            choice: null,
            sender: null,
            instrument: d.instrument,
            transferAmount: d.amount,
            creditedAmount: d.amount,
            fee: null,
            memo: null,
            holdingsCreated: mine.map((h) => h.contractId),
            holdingsArchived: [],
          };
        });
    }
    return this.holdingsChanged(null, null, null, { created, archived });
  }
}

export function plainLock(lock: NonNullable<HoldingView['lock']>): Record<string, unknown> {
  return {
    holders: lock.holders,
    expiresAt: lock.expiresAt ?? null,
    expiresAfter: lock.expiresAfter ?? null,
    context: lock.context ?? null,
  };
}

function directionOf(sender: string, receiver: string, treasury: string): InstructionDirection | undefined {
  if (sender === treasury && receiver === treasury) return 'self';
  if (sender === treasury) return 'outgoing';
  if (receiver === treasury) return 'incoming';
  return undefined;
}

/** Net change per instrument; instruments whose changes cancel out are kept (amount 0). */
function deltaByInstrument(created: readonly CreatedHolding[], archived: readonly ArchivedHolding[]): Map<string, InstrumentDelta> {
  const m = new Map<string, InstrumentDelta>();
  const add = (instrument: Instrument, amount: string) => {
    const k = instrumentKey(instrument);
    const cur = m.get(k);
    m.set(k, { instrument, amount: cur ? addAmounts(cur.amount, amount) : addAmounts(amount) });
  };
  for (const h of created) add(h.instrument, h.amount);
  for (const h of archived) add(h.instrument, negateAmount(h.amount));
  return m;
}

function singleInstrument(deltas: Map<string, InstrumentDelta>): Instrument | undefined {
  if (deltas.size !== 1) return undefined;
  return [...deltas.values()][0]?.instrument;
}

/**
 * Facts about `treasury` in one transaction. Throws UpdateParseError (naming the update id and
 * offset) when the transaction cannot be interpreted: ingestion must stop, never skip it.
 */
export function parseTransaction(tx: JsTransaction, treasury: string, state: LedgerStateLookup, opts: ParseOptions = {}): TransactionFacts {
  return new TransactionParser(tx, treasury, state, opts).parse();
}

import { Decimal } from 'decimal.js';

/**
 * Generates /v2/updates elements (the JSON a validator sends the treasury, in the shape of the
 * recorded fixtures and the full 3.4.12 spec) for scripted scenarios: deposits 1-step and 2-step,
 * accepts, rejects, withdrawals, self-transfers, checkpoints. It is a generator of test data with
 * an exact ledger-side account of what happened (not a ledger double: no API, no validation).
 */

export const PKG = 'a'.repeat(64);
export const TS_HOLDING_IFACE = `${'b'.repeat(64)}:Splice.Api.Token.HoldingV1:Holding`;
export const TS_FACTORY_IFACE = `${'c'.repeat(64)}:Splice.Api.Token.TransferInstructionV1:TransferFactory`;
export const TS_INSTRUCTION_IFACE = `${'c'.repeat(64)}:Splice.Api.Token.TransferInstructionV1:TransferInstruction`;
export const DSO = `DSO::1220${'d'.repeat(64)}`;
export const TREASURY = `treasury::1220${'e'.repeat(64)}`;
export const SYNC = `global-domain::1220${'f'.repeat(64)}`;
export const CC = { admin: DSO, id: 'Amulet' } as const;

export const REASON = 'splice.lfdecentralizedtrust.org/reason';
export const TX_KIND = 'splice.lfdecentralizedtrust.org/tx-kind';
export const SENDER = 'splice.lfdecentralizedtrust.org/sender';

export type Json = Record<string, unknown>;
interface Instrument {
  admin: string;
  id: string;
}

interface HoldingState {
  owner: string;
  instrument: Instrument;
  amount: string;
  locked: boolean;
}

interface InstructionState {
  sender: string;
  receiver: string;
  instrument: Instrument;
  amount: string;
  memo: string | null;
  executeBefore: string;
  lockedHolding: string;
}

const D = (x: string | number) => new Decimal(x);
const fmt = (d: Decimal) => d.toFixed(10);

export function customer(n: number): string {
  return `customer-${n}::1220${n.toString(16).padStart(64, '0')}`;
}

/** A ledger-side account of what happened, to compare ingestion with. */
export interface LedgerTruth {
  /** Sum of treasury holdings deltas credited per memo (null memo under ''), accepted offers included. */
  creditedByMemo: Map<string, Decimal>;
  /** Withdrawal ids whose transfer committed. */
  withdrawalsTransferred: Set<string>;
}

export class ScriptedLedger {
  readonly elements: Json[] = [];
  readonly holdings = new Map<string, HoldingState>();
  readonly instructions = new Map<string, InstructionState>();
  readonly truth: LedgerTruth = { creditedByMemo: new Map(), withdrawalsTransferred: new Set() };
  offset: number;
  private micros: bigint;
  private seq = 0;
  private readonly treasury: string;

  constructor(opts: { treasury?: string; startOffset?: number; startTime?: string } = {}) {
    this.treasury = opts.treasury ?? TREASURY;
    this.offset = opts.startOffset ?? 0;
    this.micros = BigInt(Date.parse(opts.startTime ?? '2026-01-01T00:00:00Z')) * 1000n;
  }

  get recordTime(): string {
    return microsToIso(this.micros);
  }

  advance(ms: number): void {
    this.micros += BigInt(Math.round(ms * 1000));
  }

  private cid(kind: string): string {
    this.seq++;
    return `00${kind}${this.seq.toString(16).padStart(8, '0')}${'0'.repeat(56)}`;
  }

  private updateId(): string {
    this.seq++;
    return `1220${this.seq.toString(16).padStart(64, '0')}`;
  }

  /** Treasury holdings on the ledger (the reconciliation truth). */
  treasuryHoldings(): { contractId: string; amount: string; locked: boolean }[] {
    return [...this.holdings.entries()]
      .filter(([, h]) => h.owner === this.treasury)
      .map(([contractId, h]) => ({ contractId, amount: h.amount, locked: h.locked }));
  }

  private credit(memo: string | null, amount: Decimal): void {
    const k = memo ?? '';
    this.truth.creditedByMemo.set(k, (this.truth.creditedByMemo.get(k) ?? D(0)).plus(amount));
  }

  // ---- event builders ---------------------------------------------------------------------

  private created(
    nodeId: number,
    cid: string,
    template: string,
    arg: Json,
    views: Json[],
    signatories: string[],
    observers: string[] = [],
  ): Json {
    return {
      CreatedEvent: {
        offset: this.offset,
        nodeId,
        contractId: cid,
        templateId: `${PKG}:${template}`,
        contractKey: null,
        createArgument: arg,
        createdEventBlob: '',
        interfaceViews: views,
        witnessParties: [this.treasury],
        signatories,
        observers,
        createdAt: this.recordTime,
        packageName: 'test-token',
        representativePackageId: PKG,
        acsDelta: true,
      },
    };
  }

  private holdingCreated(
    nodeId: number,
    owner: string,
    instrument: Instrument,
    amount: string,
    lock: Json | null = null,
  ): { event: Json; cid: string } {
    const cid = this.cid('h');
    this.holdings.set(cid, { owner, instrument, amount, locked: lock !== null });
    const view = { owner, instrumentId: instrument, amount, lock, meta: { values: {} } };
    return {
      cid,
      event: this.created(
        nodeId,
        cid,
        'Test.Token:Holding',
        { owner, amount, admin: instrument.admin },
        [{ interfaceId: TS_HOLDING_IFACE, viewStatus: { code: 0, message: '' }, viewValue: view }],
        [instrument.admin, owner],
      ),
    };
  }

  private exercised(
    nodeId: number,
    last: number,
    cid: string,
    template: string,
    choice: string,
    arg: unknown,
    result: unknown,
    o: { consuming?: boolean; interfaceId?: string; acting: string[]; implemented?: string[] },
  ): Json {
    return {
      ExercisedEvent: {
        offset: this.offset,
        nodeId,
        contractId: cid,
        templateId: `${PKG}:${template}`,
        interfaceId: o.interfaceId ?? null,
        choice,
        choiceArgument: arg,
        actingParties: o.acting,
        consuming: o.consuming ?? false,
        witnessParties: [this.treasury],
        lastDescendantNodeId: last,
        exerciseResult: result,
        packageName: 'test-token',
        implementedInterfaces: o.implemented ?? [],
        acsDelta: o.consuming ?? false,
      },
    };
  }

  private archive(nodeId: number, cid: string, acting: string[]): Json {
    this.holdings.delete(cid);
    return this.exercised(
      nodeId,
      nodeId,
      cid,
      'Test.Token:Holding',
      'Archive',
      {},
      {},
      { consuming: true, acting, implemented: [TS_HOLDING_IFACE] },
    );
  }

  private push(events: Json[], opts: { commandId?: string; recordTime?: string } = {}): string {
    const updateId = this.updateId();
    this.elements.push({
      update: {
        Transaction: {
          value: {
            updateId,
            commandId: opts.commandId ?? '',
            workflowId: '',
            effectiveAt: this.recordTime,
            events,
            offset: this.offset,
            synchronizerId: SYNC,
            traceContext: { traceparent: null, tracestate: null },
            recordTime: opts.recordTime ?? this.recordTime,
          },
        },
      },
    });
    return updateId;
  }

  private nextTx(): void {
    this.offset += 1 + (this.seq % 3); // offsets are strictly increasing, not contiguous
    this.advance(1000);
  }

  // ---- scenario steps ---------------------------------------------------------------------

  /** An OffsetCheckpoint: a safe resume point that also advances record time. */
  checkpoint(advanceMs = 1000): void {
    this.offset += 1;
    this.advance(advanceMs);
    this.elements.push({
      update: {
        OffsetCheckpoint: { value: { offset: this.offset, synchronizerTimes: [{ synchronizerId: SYNC, recordTime: this.recordTime }] } },
      },
    });
  }

  /** A 1-step deposit the CC way: a registry choice whose result meta says tx-kind transfer. */
  deposit1Step(o: { sender: string; amount: string; memo: string | null; receiverFee?: string; instrument?: Instrument }): {
    updateId: string;
    nodeId: number;
  } {
    this.nextTx();
    const instrument = o.instrument ?? CC;
    const input = this.cid('s');
    this.holdings.set(input, { owner: o.sender, instrument, amount: fmt(D(o.amount).plus(100)), locked: false });
    const received = fmt(D(o.amount).minus(o.receiverFee ?? 0));
    const values: Record<string, string> = { [TX_KIND]: 'transfer', [SENDER]: o.sender };
    if (o.memo !== null) values[REASON] = o.memo;
    const mine = this.holdingCreated(2, this.treasury, instrument, received);
    const change = this.holdingCreated(3, o.sender, instrument, '100.0000000000');
    const events = [
      this.exercised(
        0,
        3,
        this.cid('p'),
        'Test.Registry:TransferPreapproval',
        'TransferPreapproval_Send',
        { amount: fmt(D(o.amount)), sender: o.sender, inputs: [input] },
        { result: { meta: null }, meta: { values } },
        { acting: [o.sender] },
      ),
      this.archive(1, input, [instrument.admin, o.sender]),
      mine.event,
      change.event,
    ];
    const updateId = this.push(events);
    this.credit(o.memo, D(received));
    return { updateId, nodeId: 0 };
  }

  /** A 2-step deposit offer, as the receiver sees it: only the instruction's creation. */
  offerDeposit(o: { sender: string; amount: string; memo: string | null; executeBeforeMs?: number; instrument?: Instrument }): string {
    this.nextTx();
    const instrument = o.instrument ?? CC;
    const locked = this.cid('l');
    this.holdings.set(locked, { owner: o.sender, instrument, amount: fmt(D(o.amount)), locked: true });
    const cid = this.cid('i');
    const executeBefore = microsToIso(this.micros + BigInt((o.executeBeforeMs ?? 3_600_000) * 1000));
    const transfer = {
      sender: o.sender,
      receiver: this.treasury,
      amount: fmt(D(o.amount)),
      instrumentId: instrument,
      requestedAt: this.recordTime,
      executeBefore,
      inputHoldingCids: [locked],
      meta: { values: o.memo === null ? {} : { [REASON]: o.memo } },
    };
    this.instructions.set(cid, {
      sender: o.sender,
      receiver: this.treasury,
      instrument,
      amount: transfer.amount,
      memo: o.memo,
      executeBefore,
      lockedHolding: locked,
    });
    this.push([
      this.created(
        0,
        cid,
        'Test.Token:TransferOffer',
        { transfer },
        [
          {
            interfaceId: TS_INSTRUCTION_IFACE,
            viewStatus: { code: 0, message: '' },
            viewValue: {
              originalInstructionCid: null,
              transfer,
              status: { tag: 'TransferPendingReceiverAcceptance', value: {} },
              meta: { values: {} },
            },
          },
        ],
        [instrument.admin, o.sender],
        [this.treasury],
      ),
    ]);
    return cid;
  }

  private instructionChoice(cid: string, choice: string, acting: string[], outputTag: string, payTo: string, o: { fee?: string }): void {
    const ins = this.instructions.get(cid);
    if (!ins) throw new Error(`unknown instruction ${cid}`);
    this.nextTx();
    this.instructions.delete(cid);
    const amount = fmt(D(ins.amount).minus(o.fee ?? 0));
    const created = this.holdingCreated(2, payTo, ins.instrument, amount);
    const output =
      outputTag === 'TransferInstructionResult_Completed'
        ? { tag: outputTag, value: { receiverHoldingCids: [created.cid] } }
        : { tag: outputTag, value: {} };
    this.push([
      this.exercised(
        0,
        2,
        cid,
        'Test.Token:TransferOffer',
        choice,
        { extraArgs: { context: { values: {} }, meta: { values: {} } } },
        { output, senderChangeCids: [], meta: { values: {} } },
        {
          consuming: true,
          interfaceId: TS_INSTRUCTION_IFACE,
          acting,
          implemented: [TS_INSTRUCTION_IFACE],
        },
      ),
      this.archive(1, ins.lockedHolding, [ins.instrument.admin]),
      created.event,
    ]);
  }

  /** The registry admin's automation returns the locked funds of a lapsed offer (a template choice). */
  adminExpires(cid: string): void {
    const ins = this.instructions.get(cid);
    if (!ins) throw new Error(`unknown instruction ${cid}`);
    this.nextTx();
    this.instructions.delete(cid);
    const back = this.holdingCreated(2, ins.sender, ins.instrument, ins.amount);
    this.push([
      this.exercised(
        0,
        2,
        cid,
        'Test.Token:TransferOffer',
        'TransferOffer_Expire',
        {},
        {
          output: { tag: 'TransferInstructionResult_Failed', value: {} },
          senderChangeCids: [back.cid],
          meta: { values: { [REASON]: 'transfer instruction expired' } },
        },
        {
          consuming: true,
          acting: [ins.instrument.admin],
          implemented: [TS_INSTRUCTION_IFACE],
        },
      ),
      this.archive(1, ins.lockedHolding, [ins.instrument.admin]),
      back.event,
    ]);
  }

  /** The treasury accepts an offer made to it: the deposit is credited by what arrives. */
  acceptOffer(cid: string, o: { fee?: string } = {}): void {
    const ins = this.instructions.get(cid);
    if (!ins) throw new Error(`unknown instruction ${cid}`);
    this.instructionChoice(cid, 'TransferInstruction_Accept', [this.treasury], 'TransferInstructionResult_Completed', this.treasury, o);
    this.credit(ins.memo, D(ins.amount).minus(o.fee ?? 0));
  }

  rejectOffer(cid: string): void {
    const ins = this.instructions.get(cid);
    if (!ins) throw new Error(`unknown instruction ${cid}`);
    this.instructionChoice(cid, 'TransferInstruction_Reject', [this.treasury], 'TransferInstructionResult_Failed', ins.sender, {});
  }

  /** The sender takes its offer back. */
  withdrawOffer(cid: string): void {
    const ins = this.instructions.get(cid);
    if (!ins) throw new Error(`unknown instruction ${cid}`);
    this.instructionChoice(cid, 'TransferInstruction_Withdraw', [ins.sender], 'TransferInstructionResult_Failed', ins.sender, {});
  }

  /** Picks unlocked treasury holdings covering `amount` (smallest first). */
  pickInputs(instrument: Instrument, amount: Decimal): string[] | undefined {
    const free = [...this.holdings.entries()]
      .filter(
        ([, h]) => h.owner === this.treasury && !h.locked && h.instrument.admin === instrument.admin && h.instrument.id === instrument.id,
      )
      .sort((a, b) => D(a[1].amount).comparedTo(b[1].amount));
    const out: string[] = [];
    let sum = D(0);
    for (const [cid, h] of free) {
      if (sum.gte(amount)) break;
      out.push(cid);
      sum = sum.plus(h.amount);
    }
    return sum.gte(amount) && out.length > 0 ? out : undefined;
  }

  /**
   * A transfer the treasury sends with TransferFactory_Transfer: 1-step (completed) or an offer
   * (pending, with a locked holding and a TransferInstruction). Returns undefined when the
   * treasury cannot cover it.
   */
  treasuryTransfer(o: {
    withdrawalId: string | null;
    receiver: string;
    amount: string;
    fee?: string;
    kind: '1-step' | 'offer' | 'self';
    instrument?: Instrument;
    executeBeforeMs?: number;
  }): { updateId: string; instructionCid?: string } | undefined {
    const instrument = o.instrument ?? CC;
    const fee = D(o.fee ?? 0);
    const need = D(o.amount).plus(fee);
    const inputs = this.pickInputs(instrument, o.kind === 'self' ? D(o.amount) : need);
    if (!inputs) return undefined;
    this.nextTx();
    const total = inputs.reduce((s, c) => s.plus(this.holdings.get(c)!.amount), D(0));
    const executeBefore = microsToIso(this.micros + BigInt((o.executeBeforeMs ?? 3_600_000) * 1000));
    const transfer = {
      sender: this.treasury,
      receiver: o.kind === 'self' ? this.treasury : o.receiver,
      amount: fmt(D(o.amount)),
      instrumentId: instrument,
      requestedAt: this.recordTime,
      executeBefore,
      inputHoldingCids: inputs,
      meta: { values: o.withdrawalId === null ? {} : { [REASON]: o.withdrawalId } },
    };
    const events: Json[] = [];
    let node = 1;
    for (const c of inputs) events.push(this.archive(node++, c, [instrument.admin, this.treasury]));
    let output: Json;
    let instructionCid: string | undefined;
    const senderChange: string[] = [];
    if (o.kind === 'self') {
      const merged = this.holdingCreated(node++, this.treasury, instrument, fmt(total.minus(fee)));
      events.push(merged.event);
      output = { tag: 'TransferInstructionResult_Completed', value: { receiverHoldingCids: [merged.cid] } };
    } else if (o.kind === '1-step') {
      const theirs = this.holdingCreated(node++, o.receiver, instrument, fmt(D(o.amount)));
      events.push(theirs.event);
      output = { tag: 'TransferInstructionResult_Completed', value: { receiverHoldingCids: [theirs.cid] } };
    } else {
      const locked = this.holdingCreated(node++, this.treasury, instrument, fmt(D(o.amount)), {
        holders: [instrument.admin],
        expiresAt: executeBefore,
        expiresAfter: null,
        context: o.withdrawalId,
      });
      events.push(locked.event);
      instructionCid = this.cid('i');
      this.instructions.set(instructionCid, {
        sender: this.treasury,
        receiver: o.receiver,
        instrument,
        amount: transfer.amount,
        memo: o.withdrawalId,
        executeBefore,
        lockedHolding: locked.cid,
      });
      const lockedTransfer = { ...transfer, inputHoldingCids: [locked.cid] };
      events.push(
        this.created(
          node++,
          instructionCid,
          'Test.Token:TransferOffer',
          { transfer: lockedTransfer },
          [
            {
              interfaceId: TS_INSTRUCTION_IFACE,
              viewStatus: { code: 0, message: '' },
              viewValue: {
                originalInstructionCid: null,
                transfer: lockedTransfer,
                status: { tag: 'TransferPendingReceiverAcceptance', value: {} },
                meta: { values: {} },
              },
            },
          ],
          [instrument.admin, this.treasury],
          [o.receiver],
        ),
      );
      output = { tag: 'TransferInstructionResult_Pending', value: { transferInstructionCid: instructionCid } };
    }
    const changeAmount = o.kind === 'self' ? D(0) : total.minus(need);
    if (changeAmount.gt(0)) {
      const change = this.holdingCreated(node++, this.treasury, instrument, fmt(changeAmount));
      events.push(change.event);
      senderChange.push(change.cid);
    }
    const root = this.exercised(
      0,
      node - 1,
      this.cid('f'),
      'Test.Token:TransferFactory',
      'TransferFactory_Transfer',
      { expectedAdmin: instrument.admin, transfer, extraArgs: { context: { values: {} }, meta: { values: {} } } },
      { output, senderChangeCids: senderChange, meta: { values: {} } },
      { interfaceId: TS_FACTORY_IFACE, acting: [this.treasury] },
    );
    const updateId = this.push([root, ...events], { commandId: o.withdrawalId ?? '' });
    if (o.withdrawalId !== null) this.truth.withdrawalsTransferred.add(o.withdrawalId);
    return instructionCid === undefined ? { updateId } : { updateId, instructionCid };
  }

  /** The customer accepts (or rejects) an offer the treasury sent. */
  customerDecides(cid: string, accept: boolean): void {
    const ins = this.instructions.get(cid);
    if (!ins) throw new Error(`unknown instruction ${cid}`);
    if (accept)
      this.instructionChoice(cid, 'TransferInstruction_Accept', [ins.receiver], 'TransferInstructionResult_Completed', ins.receiver, {});
    else this.instructionChoice(cid, 'TransferInstruction_Reject', [ins.receiver], 'TransferInstructionResult_Failed', this.treasury, {});
  }

  /** A major-upgrade import: re-creates the given treasury holdings at record time 0001-01-01. */
  importHoldings(amounts: string[], instrument: Instrument = CC): string[] {
    this.offset += 1;
    const events: Json[] = [];
    const cids: string[] = [];
    amounts.forEach((a, i) => {
      const h = this.holdingCreated(i, this.treasury, instrument, fmt(D(a)));
      events.push(h.event);
      cids.push(h.cid);
    });
    this.push(events, { recordTime: '0001-01-01T00:00:00Z' });
    return cids;
  }
}

export function microsToIso(micros: bigint): string {
  const ms = micros / 1000n;
  const rest = micros % 1000n;
  const base = new Date(Number(ms)).toISOString(); // …sss Z
  // Canton prints as many fractional digits as needed (…:00Z, ….000114Z), as Postgres does.
  const frac = `${base.slice(20, 23)}${rest.toString().padStart(3, '0')}`.replace(/0+$/, '');
  return `${base.slice(0, 19)}${frac === '' ? '' : `.${frac}`}Z`;
}

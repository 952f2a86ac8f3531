import { addAmounts, isPositiveAmount } from '../lib/decimal.js';
import type {
  IgnoredContract,
  InstructionClosed,
  InstructionCreated,
  Instrument,
  TransactionFacts,
  TransferIn,
  TransferOut,
} from './facts.js';
import type { OutboxEventInput, OutboxPayload, OutboxTopic } from '../events/outbox-events.js';

/**
 * How a batch's facts change the deposit, withdrawal and transfer-instruction rows, decided in
 * memory over the rows the batch pre-fetched (ingestion is their only writer of these columns and
 * holds the checkpoint row lock), then flushed with a few multi-row statements. Also the outbox
 * events, in the order the ledger made them happen. Payloads: docs/internals.md.
 */

export interface DepositRow {
  depositId: string;
  kind: 'one_step' | 'two_step';
  status: string;
  /** Written by ingestion only for a deposit it ignores (why it does not count); else the runtime's. */
  statusReason?: string | null;
  instrument: Instrument;
  sender: string | null;
  memo: string | null;
  accountId: string | null;
  transferAmount: string;
  creditedAmount: string | null;
  fee: string | null;
  transferInstructionCid: string | null;
  executeBefore: string | null;
  offerUpdateId: string | null;
  offerOffset: number | null;
  creditUpdateId: string | null;
  creditOffset: number | null;
  creditRecordTime: string | null;
  closedUpdateId: string | null;
}

export interface WithdrawalRow {
  withdrawalId: string;
  purpose: 'payout' | 'self_transfer';
  account: string;
  instrument: Instrument;
  amount: string;
  receiver: string;
  status: string;
  recovered: boolean;
  transferUpdateId: string | null;
  transferOffset: number | null;
  transferRecordTime: string | null;
  transferInstructionCid: string | null;
  outcomeUpdateId: string | null;
  /** Σ what the treasury lost beyond the amount in the withdrawal's updates; null before its transfer. */
  networkFee: string | null;
}

export interface InstructionRow {
  contractId: string;
  direction: 'incoming' | 'outgoing' | 'self';
  originalInstructionCid: string | null;
  rootInstructionCid: string;
  sender: string;
  receiver: string;
  instrument: Instrument;
  amount: string;
  memo: string | null;
  requestedAt: string;
  executeBefore: string;
  lockedHoldingCids: string[];
  status: string;
  createdUpdateId: string;
  createdOffset: number;
  createdRecordTime: string;
  closedUpdateId: string | null;
  closedOffset: number | null;
  closedRecordTime: string | null;
}

/**
 * Final states of a deposit: ingestion never moves a deposit out of one (a credit excepted, below,
 * and never out of `ignored`: what does not count is never credited).
 */
export const FINAL_DEPOSIT_STATUSES: ReadonlySet<string> = new Set([
  'credited',
  'unattributed',
  'rejected',
  'withdrawn',
  'expired',
  'failed',
  'ignored',
]);

/** Withdrawal ids made up for a transfer that carried no memo at all. */
export function syntheticWithdrawalId(updateId: string, nodeId: number): string {
  return `ledger:${updateId}:${nodeId}`;
}

/** Account of a recovered withdrawal: the exchange account it debited is not on the ledger. */
export const RECOVERED_ACCOUNT = '(recovered)';
export const UNKNOWN_RECEIVER = '(unknown)';

/** The rows a batch may touch, loaded before its facts are applied. */
export interface BatchRows {
  deposits: Map<string, DepositRow>;
  /** deposit id by transfer instruction cid (2-step deposits). */
  depositByInstruction: Map<string, string>;
  withdrawals: Map<string, WithdrawalRow>;
  /** withdrawal id by transfer instruction cid. */
  withdrawalByInstruction: Map<string, string>;
  instructions: Map<string, InstructionRow>;
  /** deposit account id by memo. */
  accounts: Map<string, string>;
}

export function emptyBatchRows(): BatchRows {
  return {
    deposits: new Map(),
    depositByInstruction: new Map(),
    withdrawals: new Map(),
    withdrawalByInstruction: new Map(),
    instructions: new Map(),
    accounts: new Map(),
  };
}

/** What a batch reads of the deposit, withdrawal and account rows before its facts are applied (any one may match nothing). */
export interface RowKeys {
  depositIds: string[];
  instructionCids: string[];
  withdrawalIds: string[];
  memos: string[];
}

/** Instructions the batch's new transfer instructions continue: their rows are read too (rowKeysOf). */
export function continuedInstructionCids(facts: readonly TransactionFacts[]): string[] {
  const cids: string[] = [];
  for (const f of facts)
    for (const a of f.activities)
      if (a.kind === 'instruction_created' && a.originalInstructionCid !== null) cids.push(a.originalInstructionCid);
  return cids;
}

/**
 * The rows the model may need for `facts`: the deposits they name, the withdrawals named by a memo
 * (outgoing transfers, closed instructions, and the memo of every instruction in `instructions`:
 * the batch's known and continued ones), the instructions they close, and the accounts of memos.
 */
export function rowKeysOf(facts: readonly TransactionFacts[], instructions: readonly InstructionRow[]): RowKeys {
  const keys: RowKeys = { depositIds: [], instructionCids: [], withdrawalIds: [], memos: [] };
  for (const f of facts) {
    for (const a of f.activities) {
      if (a.kind === 'transfer_in') keys.depositIds.push(a.depositId);
      if (a.kind === 'transfer_in' || a.kind === 'instruction_created' || a.kind === 'instruction_closed')
        if (a.memo !== null) keys.memos.push(a.memo);
      if (a.kind === 'transfer_out' && a.memo !== null) keys.withdrawalIds.push(a.memo);
      if (a.kind === 'instruction_closed') {
        keys.instructionCids.push(a.instructionCid);
        if (a.memo !== null) keys.withdrawalIds.push(a.memo);
      }
    }
  }
  for (const i of instructions) if (i.memo !== null) keys.withdrawalIds.push(i.memo);
  return keys;
}

/** The batch's changes to the rows it read, and its events: its facts applied in ledger order. */
export function decideBatchChanges(rows: BatchRows, facts: readonly TransactionFacts[]): BatchChanges {
  const changes = new BatchChanges(rows);
  for (const f of facts) changes.apply(f);
  return changes;
}

/** An instruction closed for good (not continued as another). */
type OfferClosed = InstructionClosed & { outcome: Exclude<InstructionClosed['outcome'], 'pending'> };

export class BatchChanges {
  readonly newDeposits = new Map<string, DepositRow>();
  readonly changedDeposits = new Map<string, DepositRow>();
  readonly newWithdrawals = new Map<string, WithdrawalRow>();
  readonly changedWithdrawals = new Map<string, WithdrawalRow>();
  readonly newInstructions = new Map<string, InstructionRow>();
  readonly changedInstructions = new Map<string, InstructionRow>();
  readonly events: OutboxEventInput[] = [];
  /** Problems that need a human but must not stop ingestion (e.g. a second transfer for one withdrawal). */
  readonly warnings: { message: string; context: Record<string, unknown> }[] = [];

  constructor(readonly rows: BatchRows) {}

  private emit<T extends OutboxTopic>(
    topic: T,
    aggregateType: 'deposit' | 'withdrawal',
    aggregateId: string,
    payload: OutboxPayload<T>,
  ): void {
    this.events.push({ topic, aggregateType, aggregateId, payload } as OutboxEventInput);
  }

  private putDeposit(d: DepositRow, isNew: boolean): void {
    this.rows.deposits.set(d.depositId, d);
    if (d.transferInstructionCid !== null) this.rows.depositByInstruction.set(d.transferInstructionCid, d.depositId);
    if (isNew || this.newDeposits.has(d.depositId)) this.newDeposits.set(d.depositId, d);
    else this.changedDeposits.set(d.depositId, d);
  }

  private putWithdrawal(w: WithdrawalRow, isNew: boolean): void {
    this.rows.withdrawals.set(w.withdrawalId, w);
    if (w.transferInstructionCid !== null) this.rows.withdrawalByInstruction.set(w.transferInstructionCid, w.withdrawalId);
    if (isNew || this.newWithdrawals.has(w.withdrawalId)) this.newWithdrawals.set(w.withdrawalId, w);
    else this.changedWithdrawals.set(w.withdrawalId, w);
  }

  private putInstruction(i: InstructionRow, isNew: boolean): void {
    this.rows.instructions.set(i.contractId, i);
    if (isNew || this.newInstructions.has(i.contractId)) this.newInstructions.set(i.contractId, i);
    else this.changedInstructions.set(i.contractId, i);
  }

  /** Applies one transaction's facts, in node order. */
  apply(f: TransactionFacts): void {
    const ignored = f.ignored ?? [];
    let next = 0;
    for (const a of f.activities) {
      // Ignored contracts take their place among the activities, so events stay in ledger order.
      while (next < ignored.length && (a.nodeId === null || ignored[next]!.nodeId < a.nodeId)) this.ignoredContract(f, ignored[next++]!);
      switch (a.kind) {
        case 'transfer_in':
          if (!f.import) this.transferIn(f, a);
          break;
        case 'transfer_out':
          if (!f.import) this.transferOut(f, a);
          break;
        case 'instruction_created':
          this.instructionCreated(f, a);
          break;
        case 'instruction_closed':
          if (!f.import) this.instructionClosed(f, a);
          break;
        case 'holdings_changed':
          break; // holdings themselves are written from holdingsCreated/holdingsArchived
      }
    }
    while (next < ignored.length) this.ignoredContract(f, ignored[next++]!);
  }

  /**
   * A contract naming the treasury that does not count (facts.ts, IgnoredContract): one that came
   * in is recorded as an `ignored` deposit with the reason — never credited, never assignable, no
   * offer to accept — and every one is reported. An import transaction re-creates contracts
   * already recorded: reported only.
   */
  private ignoredContract(f: TransactionFacts, c: IgnoredContract): void {
    const reason = `${c.reasons.join('; ')} (signed by ${c.signatories.join(', ')})`;
    this.warnings.push({
      message: `ignored a ${c.kind === 'holding' ? 'holding' : 'transfer instruction'} naming the treasury: ${c.reasons.join('; ')}`,
      context: {
        updateId: f.updateId,
        offset: f.offset,
        contractId: c.contractId,
        templateId: c.templateId,
        instrument: c.instrument,
        amount: c.amount,
        direction: c.direction,
        memo: c.memo,
        signatories: c.signatories,
      },
    });
    if (f.import || c.direction !== 'incoming') return;
    const instruction = c.kind === 'instruction';
    const depositId = instruction ? c.contractId : `${f.updateId}:${c.nodeId}`;
    if (this.rows.deposits.has(depositId) || (instruction && this.rows.depositByInstruction.has(c.contractId))) return;
    const d: DepositRow = {
      depositId,
      kind: instruction ? 'two_step' : 'one_step',
      status: 'ignored',
      statusReason: reason,
      instrument: c.instrument,
      sender: c.sender,
      memo: c.memo,
      // Never attributed: an account must not show what it was never credited.
      accountId: null,
      transferAmount: c.amount,
      creditedAmount: null,
      fee: null,
      transferInstructionCid: instruction ? c.contractId : null,
      executeBefore: c.executeBefore,
      offerUpdateId: instruction ? f.updateId : null,
      offerOffset: instruction ? f.offset : null,
      creditUpdateId: null,
      creditOffset: null,
      creditRecordTime: null,
      closedUpdateId: f.updateId,
    };
    this.putDeposit(d, true);
    this.emit('deposit.ignored', 'deposit', depositId, {
      depositId,
      kind: d.kind,
      reason,
      contractId: c.contractId,
      templateId: c.templateId,
      instrument: c.instrument,
      amount: c.amount,
      sender: c.sender,
      memo: c.memo,
      signatories: c.signatories,
      transferInstructionCid: d.transferInstructionCid,
      updateId: f.updateId,
      offset: f.offset,
      recordTime: f.recordTime,
    });
  }

  private accountFor(memo: string | null): string | null {
    return memo === null ? null : (this.rows.accounts.get(memo) ?? null);
  }

  private creditEvents(d: DepositRow, f: TransactionFacts, creditedAmount: string): void {
    const funds = {
      depositId: d.depositId,
      kind: d.kind,
      instrument: d.instrument,
      sender: d.sender,
      memo: d.memo,
      transferAmount: d.transferAmount,
      creditedAmount,
      fee: d.fee,
      transferInstructionCid: d.transferInstructionCid,
      updateId: f.updateId,
      offset: f.offset,
      recordTime: f.recordTime,
    };
    if (d.accountId !== null) this.emit('deposit.credited', 'deposit', d.depositId, { ...funds, accountId: d.accountId, assignedBy: null });
    else this.emit('deposit.unattributed', 'deposit', d.depositId, funds);
  }

  /** A 1-step deposit: credited on the update that moved the funds, once (the id is derived from it). */
  private transferIn(f: TransactionFacts, a: TransferIn): void {
    if (this.rows.deposits.has(a.depositId)) return;
    const accountId = this.accountFor(a.memo);
    const d: DepositRow = {
      depositId: a.depositId,
      kind: 'one_step',
      status: accountId !== null ? 'credited' : 'unattributed',
      instrument: a.instrument,
      sender: a.sender,
      memo: a.memo,
      accountId,
      transferAmount: a.transferAmount,
      creditedAmount: a.creditedAmount,
      fee: a.fee,
      transferInstructionCid: null,
      executeBefore: null,
      offerUpdateId: null,
      offerOffset: null,
      creditUpdateId: f.updateId,
      creditOffset: f.offset,
      creditRecordTime: f.recordTime,
      closedUpdateId: null,
    };
    this.putDeposit(d, true);
    this.creditEvents(d, f, a.creditedAmount);
  }

  /** A transfer the treasury sent: its memo is the withdrawal id; unknown ids are recovered. */
  private transferOut(f: TransactionFacts, a: TransferOut): void {
    const withdrawalId = a.memo ?? syntheticWithdrawalId(f.updateId, a.nodeId);
    const existing = this.rows.withdrawals.get(withdrawalId);
    const payload = {
      withdrawalId,
      updateId: f.updateId,
      offset: f.offset,
      recordTime: f.recordTime,
      outcome: a.outcome,
      transferInstructionCid: a.transferInstructionCid,
      amount: a.amount,
      fee: a.fee,
      holdingsDelta: a.holdingsDelta,
      self: a.self,
    };
    if (existing) {
      if (existing.transferUpdateId !== null && existing.transferUpdateId !== f.updateId) {
        // Should be impossible (each attempt spends the same reserved holdings): say so loudly,
        // record it in the facts, and let the machine see it.
        this.warnings.push({
          message: 'a second transfer committed for one withdrawal',
          context: { withdrawalId, first: existing.transferUpdateId, second: f.updateId },
        });
      } else {
        this.putWithdrawal(
          {
            ...existing,
            transferUpdateId: f.updateId,
            transferOffset: f.offset,
            transferRecordTime: f.recordTime,
            transferInstructionCid: a.transferInstructionCid ?? existing.transferInstructionCid,
            networkFee: addAmounts(a.fee ?? '0'),
          },
          false,
        );
      }
      // A 2-step offer is not a transfer yet: the receiver's accept (or not) decides, so it has its
      // own topic; the offer's close comes as withdrawal.instruction_closed.
      if (a.outcome === 'pending') {
        const { outcome: _pending, ...offered } = payload;
        this.emit('withdrawal.offered', 'withdrawal', withdrawalId, { ...offered, executeBefore: a.executeBefore });
      } else {
        this.emit('withdrawal.transferred', 'withdrawal', withdrawalId, payload);
      }
      return;
    }
    const w: WithdrawalRow = {
      withdrawalId,
      purpose: a.self ? 'self_transfer' : 'payout',
      account: RECOVERED_ACCOUNT,
      instrument: a.instrument,
      amount: a.amount,
      receiver: a.receiver ?? UNKNOWN_RECEIVER,
      status: 'recovered',
      recovered: true,
      transferUpdateId: f.updateId,
      transferOffset: f.offset,
      transferRecordTime: f.recordTime,
      transferInstructionCid: a.transferInstructionCid,
      outcomeUpdateId: null,
      networkFee: addAmounts(a.fee ?? '0'),
    };
    this.putWithdrawal(w, true);
    this.emit('withdrawal.recovered', 'withdrawal', withdrawalId, {
      ...payload,
      purpose: w.purpose,
      receiver: w.receiver,
      instrument: w.instrument,
      memo: a.memo,
    });
  }

  private instructionCreated(f: TransactionFacts, a: InstructionCreated): void {
    if (this.rows.instructions.has(a.instructionCid)) return; // re-created by an import transaction
    const original = a.originalInstructionCid === null ? undefined : this.rows.instructions.get(a.originalInstructionCid);
    const row: InstructionRow = {
      contractId: a.instructionCid,
      direction: a.direction,
      originalInstructionCid: a.originalInstructionCid,
      rootInstructionCid: original?.rootInstructionCid ?? a.originalInstructionCid ?? a.instructionCid,
      sender: a.sender,
      receiver: a.receiver,
      instrument: a.instrument,
      amount: a.amount,
      memo: a.memo,
      requestedAt: a.requestedAt,
      executeBefore: a.executeBefore,
      lockedHoldingCids: a.lockedHoldingCids,
      status: 'pending',
      createdUpdateId: f.updateId,
      createdOffset: f.offset,
      createdRecordTime: f.recordTime,
      closedUpdateId: null,
      closedOffset: null,
      closedRecordTime: null,
    };
    this.putInstruction(row, true);
    // A continuation keeps the deposit of its root; only a new offer is a new deposit.
    if (a.direction !== 'incoming' || row.rootInstructionCid !== a.instructionCid) return;
    if (this.rows.depositByInstruction.has(a.instructionCid)) return;
    const accountId = this.accountFor(a.memo);
    const d: DepositRow = {
      depositId: a.instructionCid,
      kind: 'two_step',
      status: 'offered',
      instrument: a.instrument,
      sender: a.sender,
      memo: a.memo,
      accountId,
      transferAmount: a.amount,
      creditedAmount: null,
      fee: null,
      transferInstructionCid: a.instructionCid,
      executeBefore: a.executeBefore,
      offerUpdateId: f.updateId,
      offerOffset: f.offset,
      creditUpdateId: null,
      creditOffset: null,
      creditRecordTime: null,
      closedUpdateId: null,
    };
    this.putDeposit(d, true);
    this.emit('deposit.offer_received', 'deposit', d.depositId, {
      depositId: d.depositId,
      transferInstructionCid: a.instructionCid,
      memo: a.memo,
      accountId,
      sender: a.sender,
      executeBefore: a.executeBefore,
      amount: a.amount,
      instrument: a.instrument,
      updateId: f.updateId,
      offset: f.offset,
      recordTime: f.recordTime,
    });
  }

  private instructionClosed(f: TransactionFacts, a: InstructionClosed): void {
    const row = this.rows.instructions.get(a.instructionCid);
    if (row) {
      this.putInstruction(
        {
          ...row,
          status: a.outcome === 'pending' ? 'continued' : a.outcome,
          closedUpdateId: f.updateId,
          closedOffset: f.offset,
          closedRecordTime: f.recordTime,
        },
        false,
      );
    }
    const outcome = a.outcome;
    if (outcome === 'pending') return; // continues as newInstructionCid
    const root = row?.rootInstructionCid ?? a.instructionCid;
    if (a.direction === 'incoming') this.depositOfferClosed(f, { ...a, outcome }, root);
    else this.withdrawalOfferClosed(f, { ...a, outcome }, root, row);
  }

  private depositOfferClosed(f: TransactionFacts, a: OfferClosed, root: string): void {
    const depositId = this.rows.depositByInstruction.get(root);
    const existing = depositId === undefined ? undefined : this.rows.deposits.get(depositId);
    if (a.outcome === 'accepted') {
      const credited = a.creditedAmount;
      if (credited === null || !isPositiveAmount(credited)) {
        this.warnings.push({
          message: 'an accepted deposit offer moved no funds into the treasury',
          context: { instructionCid: a.instructionCid, updateId: f.updateId },
        });
        return;
      }
      if (existing !== undefined && existing.creditUpdateId !== null) return; // credited once, ever
      if (existing?.status === 'ignored') {
        // Only the treasury accepts, and it never accepts what does not count: say so, credit nothing.
        this.warnings.push({
          message: 'an ignored deposit offer was accepted: nothing is credited',
          context: { instructionCid: a.instructionCid, depositId: existing.depositId, updateId: f.updateId },
        });
        return;
      }
      const base: DepositRow = existing ?? {
        // An offer we never saw (ingested from a later start, or a restored DB): funds arrived,
        // so it is recorded — unattributed, as its memo is unknown.
        depositId: root,
        kind: 'two_step',
        status: 'offered',
        instrument: a.instrument ?? { admin: '', id: '' },
        sender: a.sender,
        memo: a.memo,
        accountId: this.accountFor(a.memo),
        transferAmount: a.amount ?? credited,
        creditedAmount: null,
        fee: null,
        transferInstructionCid: root,
        executeBefore: null,
        offerUpdateId: null,
        offerOffset: null,
        creditUpdateId: null,
        creditOffset: null,
        creditRecordTime: null,
        closedUpdateId: null,
      };
      const d: DepositRow = {
        ...base,
        status: base.accountId !== null ? 'credited' : 'unattributed',
        creditedAmount: credited,
        fee: a.fee,
        creditUpdateId: f.updateId,
        creditOffset: f.offset,
        creditRecordTime: f.recordTime,
        closedUpdateId: f.updateId,
      };
      this.putDeposit(d, existing === undefined);
      this.emit('deposit.offer_closed', 'deposit', d.depositId, offerClosed(d.depositId, 'accepted', a.instructionCid, f));
      this.creditEvents(d, f, credited);
      return;
    }
    if (!existing || FINAL_DEPOSIT_STATUSES.has(existing.status)) return;
    this.putDeposit({ ...existing, status: a.outcome, closedUpdateId: f.updateId }, false);
    this.emit('deposit.offer_closed', 'deposit', existing.depositId, offerClosed(existing.depositId, a.outcome, a.instructionCid, f));
  }

  private withdrawalOfferClosed(f: TransactionFacts, a: OfferClosed, root: string, row: InstructionRow | undefined): void {
    const memo = a.memo ?? row?.memo ?? null;
    const withdrawalId =
      (memo !== null && this.rows.withdrawals.has(memo) ? memo : undefined) ?? this.rows.withdrawalByInstruction.get(root);
    const w = withdrawalId === undefined ? undefined : this.rows.withdrawals.get(withdrawalId);
    if (!w) {
      this.warnings.push({
        message: 'an offer the treasury sent closed, but no withdrawal is known for it',
        context: { instructionCid: a.instructionCid, memo, updateId: f.updateId },
      });
      return;
    }
    // The accept (or the return of the locked funds) may charge the treasury again: part of the fee.
    this.putWithdrawal({ ...w, outcomeUpdateId: f.updateId, networkFee: addAmounts(w.networkFee ?? '0', a.fee ?? '0') }, false);
    this.emit('withdrawal.instruction_closed', 'withdrawal', w.withdrawalId, {
      withdrawalId: w.withdrawalId,
      updateId: f.updateId,
      offset: f.offset,
      recordTime: f.recordTime,
      outcome: a.outcome,
      transferInstructionCid: a.instructionCid,
      executeBefore: row?.executeBefore ?? null,
      holdingsDelta: a.holdingsDelta,
      fee: a.fee,
    });
  }
}

/** An offer to the treasury closed by a transaction (expiry without one: store/ingestion.ts). */
function offerClosed(
  depositId: string,
  outcome: OfferClosed['outcome'],
  transferInstructionCid: string,
  f: TransactionFacts,
): OutboxPayload<'deposit.offer_closed'> {
  return { depositId, outcome, transferInstructionCid, updateId: f.updateId, recordTime: f.recordTime, executeBefore: null };
}

import { ActorError, type ActorFailure } from '../../../src/machines/failure.js';
import { Failure } from '../../../src/failures.js';
import type { DepositActors } from '../../../src/machines/deposit.actors.js';
import type { ExecuteSubmissionInput, ExecuteSubmissionOutput } from '../../../src/machines/submission.js';
import type { WithdrawalDbActors, WithdrawalLedgerActors } from '../../../src/machines/withdrawal.actors.js';
import type { Sql } from '../../../src/store/db.js';
import { appendOutboxEvents } from '../../../src/store/outbox.js';
import { TREASURY } from './fixtures.js';
import { sampleEvent } from '../../support/outbox-events.js';
import type { OutboxEventInput } from '../../../src/events/outbox-events.js';

/**
 * A ledger model good enough to catch a double payment, and the ingestion that reports it:
 * - holdings are spent once: a transfer commits only if none of its inputs is spent and the ledger's
 *   record time is below its maxRecordTime (the attempt's deadline);
 * - a transfer instruction is accepted once;
 * - ingestion (ingest()) writes what real ingestion writes: archived holdings, the transfer on the
 *   withdrawal row, deposit credits, checkpoint record time, and the outbox events, in one transaction.
 * Every effect has a plan of behaviours (fault injection) consumed call by call; default 'ok'.
 * The ledger outlives runtimes: a "crash" is a runtime abort, the ledger keeps what committed.
 */

export type Behaviour =
  | 'ok'
  /** never answers (until the runtime aborts it) */
  | 'hang'
  /** execute: commits, then never answers (response lost in a crash) */
  | 'commitThenHang'
  /** execute: commits, then answers with an ambiguous error */
  | 'commitThenAmbiguous'
  /** execute: accepted for processing, but never commits (dropped) */
  | 'drop'
  /** answers normally after a delay */
  | { delayMs: number }
  | { throw: ActorFailure };

export const TRANSIENT: ActorFailure = { code: 'UNAVAILABLE', message: 'service unavailable', retryable: true, status: 503, category: 1 };
export const AMBIGUOUS: ActorFailure = {
  code: 'DEADLINE_EXCEEDED',
  message: 'no answer',
  retryable: true,
  definiteAnswer: false,
  status: 504,
  category: 3,
};
export const UNAUTHENTICATED: ActorFailure = {
  code: 'UNAUTHENTICATED',
  message: 'token rejected',
  retryable: false,
  status: 401,
  category: 6,
};

interface TransferTx {
  kind: 'transfer';
  withdrawalId: string;
  attempt: number;
  inputs: string[];
  deadline: string;
  transferKind: 'self' | 'direct' | 'offer';
  prepareNo: number;
}
interface AcceptTx {
  kind: 'accept';
  depositId: string;
  cid: string;
}

export interface Commit {
  updateId: string;
  withdrawalId: string;
  attempt: number;
  inputs: string[];
  transferKind: 'self' | 'direct' | 'offer';
  ingested: boolean;
}

export class FakeLedger {
  /** Ledger record time (ms). Commits happen "now" on this clock. */
  recordTime = Date.now();
  private readonly plans = new Map<string, Behaviour[]>();
  readonly calls = new Map<string, number>();
  /** Calls that have answered (successfully or not), per effect. */
  readonly answered = new Map<string, number>();
  readonly spent = new Set<string>();
  readonly commits: Commit[] = [];
  /** cid → state of a transfer instruction offered to the treasury. */
  readonly offers = new Map<
    string,
    { depositId: string; state: 'pending' | 'accepted' | 'withdrawn'; ingested: boolean; amount: string }
  >();
  readonly accepts: { depositId: string; cid: string }[] = [];
  transferKindFor: (withdrawalId: string) => 'self' | 'direct' | 'offer' = () => 'direct';
  /** Called when an execute starts, before anything else (write-ahead checks). */
  onExecute: ((input: ExecuteSubmissionInput) => Promise<void>) | undefined;
  private updateNo = 0;
  private prepareNo = 0;
  private readonly expiryReported = new Map<string, number>();

  constructor(private readonly sql: Sql) {}

  plan(name: string, ...behaviours: Behaviour[]): void {
    this.plans.set(name, [...(this.plans.get(name) ?? []), ...behaviours]);
  }

  clearPlans(): void {
    this.plans.clear();
  }

  count(name: string): number {
    return this.calls.get(name) ?? 0;
  }

  commitsOf(withdrawalId: string): Commit[] {
    return this.commits.filter((c) => c.withdrawalId === withdrawalId);
  }

  /** Runs one call of an effect under its plan. `body` does the real work for 'ok'. */
  private async run<T>(name: string, signal: AbortSignal, body: (b: Behaviour) => Promise<T> | T): Promise<T> {
    try {
      return await this.runPlanned(name, signal, body);
    } finally {
      this.answered.set(name, (this.answered.get(name) ?? 0) + 1);
    }
  }

  private async runPlanned<T>(name: string, signal: AbortSignal, body: (b: Behaviour) => Promise<T> | T): Promise<T> {
    this.calls.set(name, this.count(name) + 1);
    const b = this.plans.get(name)?.shift() ?? 'ok';
    if (typeof b === 'object' && 'throw' in b) throw new ActorError(b.throw);
    if (typeof b === 'object') {
      await new Promise((r) => setTimeout(r, b.delayMs));
      return body('ok');
    }
    if (b === 'hang') return hang(signal);
    return body(b);
  }

  withdrawalActors(): WithdrawalLedgerActors {
    return {
      fetchTransferFactory: (input, signal) =>
        this.run('fetchTransferFactory', signal, () => ({
          factoryId: 'factory',
          transferKind: this.transferKindFor(input.withdrawalId),
          choiceContextData: {},
          disclosedContracts: [],
        })),
      prepareTransfer: (input, signal) =>
        this.run('prepareTransfer', signal, () => {
          const gone = input.inputHoldingCids.filter((c) => this.spent.has(c));
          if (gone.length > 0)
            throw new ActorError({
              code: Failure.INPUT_UNAVAILABLE,
              message: `inputs spent: ${gone.join(',')}`,
              retryable: false,
              definiteAnswer: true,
              status: 404,
            });
          const tx: TransferTx = {
            kind: 'transfer',
            withdrawalId: input.withdrawalId,
            attempt: input.attempt,
            inputs: input.inputHoldingCids,
            deadline: input.maxRecordTime,
            transferKind: input.factory.transferKind,
            prepareNo: ++this.prepareNo,
          };
          return {
            commandId: input.commandId,
            preparedTransaction: JSON.stringify(tx),
            preparedTransactionHash: `hash-${tx.prepareNo}`,
            hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
          };
        }),
      verifyAndSign: (input, signal) =>
        this.run('verifyAndSign', signal, () => ({ ...input.prepared, signature: 'sig', signedBy: '1220' + 'c'.repeat(64) })),
      executeSubmission: (input, signal) => this.execute(input, signal),
      // The receiver's side of a 2-step withdrawal is closeWithdrawalOffer: a withdraw only asks.
      withdrawOffer: (_input, signal) => this.run('withdrawOffer', signal, () => ({})),
    };
  }

  depositActors(): DepositActors {
    const pendingOrGone = (cid: string) => {
      const o = this.offers.get(cid);
      if (!o || o.state !== 'pending')
        throw new ActorError({
          code: Failure.INSTRUCTION_NOT_FOUND,
          message: `instruction ${cid} is not active`,
          retryable: false,
          definiteAnswer: true,
          status: 404,
        });
    };
    return {
      fetchAcceptContext: (input, signal) =>
        this.run('fetchAcceptContext', signal, () => {
          pendingOrGone(input.transferInstructionCid);
          return { choiceContextData: { values: {} }, disclosedContracts: [] };
        }),
      prepareAccept: (input, signal) =>
        this.run('prepareAccept', signal, () => {
          pendingOrGone(input.transferInstructionCid);
          const tx: AcceptTx = { kind: 'accept', depositId: input.depositId, cid: input.transferInstructionCid };
          return {
            commandId: input.commandId,
            preparedTransaction: JSON.stringify(tx),
            preparedTransactionHash: 'hash',
            hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
          };
        }),
      verifyAndSign: (input, signal) =>
        this.run('verifyAndSign', signal, () => ({ ...input.prepared, signature: 'sig', signedBy: '1220' + 'c'.repeat(64) })),
      executeSubmission: (input, signal) => this.execute(input, signal),
    };
  }

  /** The real DB effects of the withdrawal machine, under plans too (to hold a machine in reserving/releasing). */
  wrapDb(db: WithdrawalDbActors): WithdrawalDbActors {
    return {
      reserveHoldings: (input, signal) => this.run('reserveHoldings', signal, () => db.reserveHoldings(input, signal)),
      releaseReservation: (input, signal) => this.run('releaseReservation', signal, () => db.releaseReservation(input, signal)),
      checkAttempt: (input, signal) => this.run('checkAttempt', signal, () => db.checkAttempt(input, signal)),
    };
  }

  private async execute(input: ExecuteSubmissionInput, signal: AbortSignal): Promise<ExecuteSubmissionOutput> {
    await this.onExecute?.(input);
    return this.run('executeSubmission', signal, (b) => {
      const tx = JSON.parse(input.signed.preparedTransaction) as TransferTx | AcceptTx;
      if (b === 'drop') return {};
      if (tx.kind === 'accept') {
        const o = this.offers.get(tx.cid);
        if (!o || o.state !== 'pending')
          throw new ActorError({
            code: Failure.INSTRUCTION_NOT_FOUND,
            message: 'already archived',
            retryable: false,
            definiteAnswer: true,
            status: 404,
          });
        o.state = 'accepted';
        this.accepts.push({ depositId: tx.depositId, cid: tx.cid });
      } else {
        const already = this.commits.find(
          (c) => c.withdrawalId === tx.withdrawalId && c.attempt === tx.attempt && sameInputs(c.inputs, tx.inputs),
        );
        if (already) return { duplicate: true };
        if (tx.inputs.some((c) => this.spent.has(c))) {
          throw new ActorError({
            code: Failure.INPUT_UNAVAILABLE,
            message: 'inputs already spent',
            retryable: false,
            definiteAnswer: true,
            status: 409,
            category: 9,
          });
        }
        if (this.recordTime >= Date.parse(tx.deadline)) {
          throw new ActorError({
            code: 'REQUEST_TIME_OUT_OF_BOUND',
            message: 'past maxRecordTime',
            retryable: false,
            definiteAnswer: true,
            status: 400,
          });
        }
        tx.inputs.forEach((c) => this.spent.add(c));
        this.commits.push({
          updateId: `upd-${++this.updateNo}`,
          withdrawalId: tx.withdrawalId,
          attempt: tx.attempt,
          inputs: tx.inputs,
          transferKind: tx.transferKind,
          ingested: false,
        });
      }
      if (b === 'commitThenHang') return hang<ExecuteSubmissionOutput>(signal);
      if (b === 'commitThenAmbiguous') throw new ActorError(AMBIGUOUS);
      return {};
    });
  }

  /** The customer/sender side: an offer to the treasury exists on the ledger. */
  offer(cid: string, depositId: string, amount: string): void {
    this.offers.set(cid, { depositId, state: 'pending', ingested: false, amount });
  }

  senderWithdraws(cid: string): void {
    const o = this.offers.get(cid);
    if (o && o.state === 'pending') o.state = 'withdrawn';
  }

  /**
   * Ingestion: everything committed since the last call, plus expiries decided by the record time,
   * in one transaction (as the real batch writer does).
   */
  async ingest(): Promise<void> {
    const recordTime = new Date(this.recordTime).toISOString();
    await this.sql.begin(async (tx) => {
      const events: OutboxEventInput[] = [];
      for (const c of this.commits.filter((x) => !x.ingested)) {
        c.ingested = true;
        await tx`update holdings set archived_offset = created_offset + 1000, archived_update_id = ${c.updateId}, archived_record_time = ${recordTime}
                 where contract_id = any(${c.inputs}) and archived_offset is null`;
        const pending = c.transferKind === 'offer';
        const cid = pending ? `ti-${c.updateId}` : null;
        await tx`update withdrawals set transfer_update_id = ${c.updateId}, transfer_record_time = ${recordTime}, transfer_instruction_cid = ${cid}
                 where withdrawal_id = ${c.withdrawalId}`;
        events.push(
          pending
            ? sampleEvent('withdrawal.offered', c.withdrawalId, {
                updateId: c.updateId,
                recordTime,
                transferInstructionCid: cid,
                amount: '0',
              })
            : sampleEvent('withdrawal.transferred', c.withdrawalId, {
                updateId: c.updateId,
                recordTime,
                outcome: 'completed',
                transferInstructionCid: cid,
                amount: '0',
              }),
        );
      }
      const expired = await tx<{ withdrawal_id: string; attempt: number; deadline: string }[]>`
        select withdrawal_id, attempt, deadline from withdrawals
        where deadline is not null and transfer_update_id is null and deadline < ${recordTime}::timestamptz`;
      for (const w of expired) {
        if ((this.expiryReported.get(w.withdrawal_id) ?? 0) >= w.attempt) continue;
        this.expiryReported.set(w.withdrawal_id, w.attempt);
        events.push(sampleEvent('withdrawal.attempt_expired', w.withdrawal_id, { attempt: w.attempt, deadline: w.deadline, recordTime }));
      }
      for (const [cid, o] of this.offers) {
        if (o.ingested || o.state === 'pending') continue;
        o.ingested = true;
        const updateId = `upd-${++this.updateNo}`;
        if (o.state === 'withdrawn') {
          await tx`update deposits set status = 'withdrawn', closed_update_id = ${updateId} where deposit_id = ${o.depositId}`;
          events.push(sampleEvent('deposit.offer_closed', o.depositId, { outcome: 'withdrawn', updateId, transferInstructionCid: cid }));
          continue;
        }
        const [d] = await tx<{ account_id: string | null }[]>`
          update deposits set status = case when account_id is null then 'unattributed' else 'credited' end,
                 credited_amount = ${o.amount}, credit_update_id = ${updateId}, closed_update_id = ${updateId}
          where deposit_id = ${o.depositId} returning account_id`;
        events.push(sampleEvent('deposit.offer_closed', o.depositId, { outcome: 'accepted', updateId, transferInstructionCid: cid }));
        events.push(
          d?.account_id
            ? sampleEvent('deposit.credited', o.depositId, {
                accountId: d.account_id,
                transferAmount: o.amount,
                creditedAmount: o.amount,
                updateId,
                transferInstructionCid: cid,
              })
            : sampleEvent('deposit.unattributed', o.depositId, {
                transferAmount: o.amount,
                creditedAmount: o.amount,
                updateId,
                transferInstructionCid: cid,
              }),
        );
      }
      await tx`insert into ingestion_checkpoint (treasury_party, ledger_offset, record_time) values (${TREASURY}, ${this.updateNo}, ${recordTime})
               on conflict (treasury_party) do update set record_time = excluded.record_time, ledger_offset = excluded.ledger_offset`;
      await appendOutboxEvents(tx, events);
    });
  }

  /** The receiver of a 2-step withdrawal accepts or rejects it; ingestion reports it. */
  async closeWithdrawalOffer(withdrawalId: string, outcome: 'accepted' | 'rejected'): Promise<void> {
    const updateId = `upd-${++this.updateNo}`;
    await this.sql.begin((tx) =>
      appendOutboxEvents(tx, [sampleEvent('withdrawal.instruction_closed', withdrawalId, { updateId, outcome })]),
    );
  }
}

function sameInputs(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function hang<T>(signal: AbortSignal): Promise<T> {
  return new Promise<T>((_resolve, reject) => {
    if (signal.aborted) reject(new Error('aborted'));
    signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
  });
}

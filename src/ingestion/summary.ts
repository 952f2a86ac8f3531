import type { Activity, IgnoredContract, Instrument, TransactionFacts } from './facts.js';

/**
 * The parse CLI's view of facts: one flat entry per thing that happened to the treasury, with the
 * same fields for every kind (README, "Parse output format"). Derived only from the facts, so it
 * shows exactly what ingestion would write.
 */
export interface FactSummary {
  kind: Activity['kind'];
  nodeId: number | null;
  instrument: Instrument | null;
  /** The transfer's amount (for deposits: what the sender sent). */
  amount: string | null;
  /** The treasury's net holdings change of `instrument` in this part of the transaction. */
  holdingsDelta: string | null;
  fee: string | null;
  memo: string | null;
  /** The other party: the sender of a deposit, the receiver of a withdrawal or offer. */
  counterparty: string | null;
  holdingsCreated: string[];
  holdingsArchived: string[];
  transferInstruction: { cid: string; status: string } | null;
  /** Kind-specific details: depositId, outcome, direction, txKind, executeBefore, … */
  details: Record<string, unknown>;
}

export interface TransactionSummary {
  updateId: string;
  offset: number;
  recordTime: string;
  synchronizerId: string;
  import: boolean;
  facts: FactSummary[];
  holdings: {
    created: { contractId: string; instrument: Instrument; amount: string; locked: boolean }[];
    archived: { contractId: string; instrument: Instrument; amount: string; locked: boolean }[];
  };
  /** Contracts naming the party that do not count (facts.ts, IgnoredContract). */
  ignored?: Pick<IgnoredContract, 'kind' | 'contractId' | 'instrument' | 'amount' | 'direction' | 'memo' | 'signatories' | 'reasons'>[];
  unresolvedHoldingCids?: string[];
}

function summarize(a: Activity): FactSummary[] {
  switch (a.kind) {
    case 'transfer_in':
      return [
        {
          kind: a.kind,
          nodeId: a.nodeId,
          instrument: a.instrument,
          amount: a.transferAmount,
          holdingsDelta: a.creditedAmount,
          fee: a.fee,
          memo: a.memo,
          counterparty: a.sender,
          holdingsCreated: a.holdingsCreated,
          holdingsArchived: a.holdingsArchived,
          transferInstruction: null,
          details: { depositId: a.depositId, choice: a.choice },
        },
      ];
    case 'transfer_out':
      return [
        {
          kind: a.kind,
          nodeId: a.nodeId,
          instrument: a.instrument,
          amount: a.amount,
          holdingsDelta: a.holdingsDelta,
          fee: a.fee,
          memo: a.memo,
          counterparty: a.receiver,
          holdingsCreated: a.holdingsCreated,
          holdingsArchived: a.holdingsArchived,
          transferInstruction: a.transferInstructionCid === null ? null : { cid: a.transferInstructionCid, status: 'pending' },
          details: { outcome: a.outcome, self: a.self, choice: a.choice, inputHoldingCids: a.inputHoldingCids },
        },
      ];
    case 'instruction_created':
      return [
        {
          kind: a.kind,
          nodeId: a.nodeId,
          instrument: a.instrument,
          amount: a.amount,
          holdingsDelta: null,
          fee: null,
          memo: a.memo,
          counterparty: a.direction === 'incoming' ? a.sender : a.receiver,
          holdingsCreated: [],
          holdingsArchived: [],
          transferInstruction: { cid: a.instructionCid, status: a.status },
          details: {
            direction: a.direction,
            executeBefore: a.executeBefore,
            originalInstructionCid: a.originalInstructionCid,
            lockedHoldingCids: a.lockedHoldingCids,
          },
        },
      ];
    case 'instruction_closed': {
      const delta = a.instrument
        ? (a.holdingsDelta.find((d) => d.instrument.admin === a.instrument?.admin && d.instrument.id === a.instrument.id)?.amount ??
          '0.0000000000')
        : null;
      return [
        {
          kind: a.kind,
          nodeId: a.nodeId,
          instrument: a.instrument,
          amount: a.amount,
          holdingsDelta: delta,
          fee: a.fee,
          memo: a.memo,
          counterparty: a.direction === 'incoming' ? a.sender : a.receiver,
          holdingsCreated: a.holdingsCreated,
          holdingsArchived: a.holdingsArchived,
          transferInstruction: { cid: a.instructionCid, status: a.outcome },
          details: {
            direction: a.direction,
            choice: a.choice,
            known: a.known,
            creditedAmount: a.creditedAmount,
            newInstructionCid: a.newInstructionCid,
          },
        },
      ];
    }
    case 'holdings_changed':
      return (a.holdingsDelta.length > 0 ? a.holdingsDelta : [undefined]).map((d) => ({
        kind: a.kind,
        nodeId: a.nodeId,
        instrument: d?.instrument ?? null,
        amount: null,
        holdingsDelta: d?.amount ?? null,
        fee: null,
        memo: a.memo,
        counterparty: null,
        holdingsCreated: a.holdingsCreated,
        holdingsArchived: a.holdingsArchived,
        transferInstruction: null,
        details: { txKind: a.txKind, choice: a.choice },
      }));
  }
}

export function summarizeFacts(f: TransactionFacts): TransactionSummary {
  const s: TransactionSummary = {
    updateId: f.updateId,
    offset: f.offset,
    recordTime: f.recordTime,
    synchronizerId: f.synchronizerId,
    import: f.import,
    facts: f.activities.flatMap(summarize),
    holdings: {
      created: f.holdingsCreated.map((h) => ({
        contractId: h.contractId,
        instrument: h.instrument,
        amount: h.amount,
        locked: h.lock !== null,
      })),
      archived: f.holdingsArchived.map((h) => ({ contractId: h.contractId, instrument: h.instrument, amount: h.amount, locked: h.locked })),
    },
  };
  if (f.ignored) {
    s.ignored = f.ignored.map((i) => ({
      kind: i.kind,
      contractId: i.contractId,
      instrument: i.instrument,
      amount: i.amount,
      direction: i.direction,
      memo: i.memo,
      signatories: i.signatories,
      reasons: i.reasons,
    }));
  }
  if (f.unresolvedHoldingCids) s.unresolvedHoldingCids = f.unresolvedHoldingCids;
  return s;
}

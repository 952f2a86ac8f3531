import { addAmounts } from '../../lib/decimal.js';
import type { SandboxEngine } from '../engine/engine.js';
import { holdingInfo, instructionTransfer } from '../engine/templates.js';
import { MetaKeys } from '../engine/workflows.js';
import { microsToIso } from '../util/time.js';

/**
 * Read-outs of the ledger state for invariant checks in tests and chaos campaigns: they read the
 * engine directly (the double's own truth), independent of the wire.
 */
export interface HoldingRow {
  contractId: string;
  owner: string;
  admin: string;
  instrumentId: string;
  amount: string;
  locked: boolean;
  createdOffset: number;
}

export interface CommittedTransferRow {
  updateId: string;
  offset: number;
  recordTime: string;
  choice: string;
  sender: string;
  receiver: string;
  amount: string;
  admin: string;
  instrumentId: string;
  memo: string | null;
  /** What the factory did: completed (1-step, self), pending (offer created). */
  outcome: string;
}

export interface InstructionRow {
  contractId: string;
  sender: string;
  receiver: string;
  amount: string;
  admin: string;
  instrumentId: string;
  memo: string | null;
  executeBefore: string;
}

export class Books {
  constructor(private readonly engine: SandboxEngine) {}

  holdings(owner?: string): HoldingRow[] {
    const out: HoldingRow[] = [];
    for (const s of this.engine.ledger.contracts.values()) {
      if (s.archived) continue;
      const h = holdingInfo(s.contract.payload);
      if (!h || (owner !== undefined && h.owner !== owner)) continue;
      out.push({ contractId: s.contract.contractId, ...h, createdOffset: s.created.offset });
    }
    return out.sort((a, b) => a.createdOffset - b.createdOffset);
  }

  /** Per instrument ("admin/id"): total, unlocked and locked holdings of `owner`. */
  balances(owner: string): Record<string, { total: string; unlocked: string; locked: string }> {
    const out: Record<string, { total: string; unlocked: string; locked: string }> = {};
    for (const h of this.holdings(owner)) {
      const key = `${h.admin}/${h.instrumentId}`;
      const b = (out[key] ??= { total: '0.0000000000', unlocked: '0.0000000000', locked: '0.0000000000' });
      b.total = addAmounts(b.total, h.amount);
      if (h.locked) b.locked = addAmounts(b.locked, h.amount);
      else b.unlocked = addAmounts(b.unlocked, h.amount);
    }
    return out;
  }

  /** Total of all active holdings per instrument (minted minus burned, if nothing is lost). */
  supply(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const h of this.holdings()) {
      const key = `${h.admin}/${h.instrumentId}`;
      out[key] = addAmounts(out[key] ?? '0', h.amount);
    }
    return out;
  }

  /** Committed TransferFactory_Transfer exercises, optionally only those with this memo. */
  transfers(memo?: string): CommittedTransferRow[] {
    const out: CommittedTransferRow[] = [];
    for (const e of this.engine.ledger.entriesBetween(this.engine.ledger.prunedUpTo, this.engine.ledger.ledgerEnd)) {
      if (e.kind !== 'transaction') continue;
      for (const n of e.nodes) {
        if (n.kind !== 'exercise' || n.choice !== 'TransferFactory_Transfer') continue;
        const arg = n.choiceArgument as {
          transfer?: {
            sender: string;
            receiver: string;
            amount: string;
            instrumentId: { admin: string; id: string };
            meta?: { values?: Record<string, string> };
          };
        };
        const t = arg.transfer;
        if (!t) continue;
        const m = t.meta?.values?.[MetaKeys.reason] ?? null;
        if (memo !== undefined && m !== memo) continue;
        const output = (n.result as { output?: { tag?: string } }).output?.tag ?? '';
        out.push({
          updateId: e.updateId,
          offset: e.offset,
          recordTime: microsToIso(e.recordTime),
          choice: n.choice,
          sender: t.sender,
          receiver: t.receiver,
          amount: t.amount,
          admin: t.instrumentId.admin,
          instrumentId: t.instrumentId.id,
          memo: m,
          outcome: output.replace('TransferInstructionResult_', '').toLowerCase(),
        });
      }
    }
    return out;
  }

  instructions(party?: string): InstructionRow[] {
    return this.engine.activeInstructions(party).map(({ contract, transfer }) => ({
      contractId: contract.contractId,
      sender: transfer.sender,
      receiver: transfer.receiver,
      amount: transfer.amount,
      admin: transfer.instrumentId.admin,
      instrumentId: transfer.instrumentId.id,
      memo: transfer.meta[MetaKeys.reason] ?? null,
      executeBefore: transfer.executeBefore,
    }));
  }

  /** Is `cid` an active transfer instruction? */
  isActiveInstruction(cid: string): boolean {
    const c = this.engine.ledger.active(cid);
    return c !== undefined && instructionTransfer(c) !== undefined;
  }

  ledgerEnd(): { offset: number; recordTime: string; prunedUpTo: number } {
    const l = this.engine.ledger;
    return { offset: l.ledgerEnd, recordTime: microsToIso(l.lastRecordTime()), prunedUpTo: l.prunedUpTo };
  }
}

import type { Instrument, TransactionFacts } from './facts.js';

/**
 * What the parser may know from before the transaction it parses: the treasury's active holdings
 * (an archive carries no payload, so an archived holding's amount comes from here) and the
 * transfer instructions the treasury is party to (an accept names only the instruction).
 */
export interface KnownHolding {
  contractId: string;
  instrument: Instrument;
  amount: string;
  locked: boolean;
}

export interface KnownInstruction {
  contractId: string;
  sender: string;
  receiver: string;
  instrument: Instrument;
  amount: string;
  memo: string | null;
  executeBefore: string;
}

export interface LedgerStateLookup {
  holding(contractId: string): KnownHolding | undefined;
  instruction(contractId: string): KnownInstruction | undefined;
}

export interface LedgerStateChanges {
  readonly holdings: ReadonlyMap<string, KnownHolding | null>;
  readonly instructions: ReadonlyMap<string, KnownInstruction>;
}

/**
 * A lookup over a base (what the store pre-fetched for a batch, or nothing for the CLI) plus the
 * effects of the transactions parsed so far, so a holding created earlier in the same batch is
 * visible to a later update of it.
 */
export class OverlayLedgerState implements LedgerStateLookup {
  private readonly holdings = new Map<string, KnownHolding | null>();
  private readonly instructions = new Map<string, KnownInstruction>();

  constructor(private readonly base?: LedgerStateLookup) {}

  holding(contractId: string): KnownHolding | undefined {
    const h = this.holdings.get(contractId);
    if (h === null) return undefined; // archived in this batch
    return h ?? this.base?.holding(contractId);
  }

  instruction(contractId: string): KnownInstruction | undefined {
    return this.instructions.get(contractId) ?? this.base?.instruction(contractId);
  }

  /**
   * This overlay's own effects, without its base: holdings created (archived: null) and
   * instructions created. Holding these does not hold the base (a batch parsed ahead keeps the
   * effects of the batch before it, not the whole chain of batches before that).
   */
  ownChanges(): LedgerStateChanges {
    return { holdings: this.holdings, instructions: this.instructions };
  }

  /** Makes a parsed transaction's effects visible to the next one. */
  apply(facts: TransactionFacts): void {
    for (const h of facts.holdingsCreated) {
      this.holdings.set(h.contractId, { contractId: h.contractId, instrument: h.instrument, amount: h.amount, locked: h.lock !== null });
    }
    for (const h of facts.holdingsArchived) this.holdings.set(h.contractId, null);
    for (const a of facts.activities) {
      if (a.kind !== 'instruction_created') continue;
      this.instructions.set(a.instructionCid, {
        contractId: a.instructionCid,
        sender: a.sender,
        receiver: a.receiver,
        instrument: a.instrument,
        amount: a.amount,
        memo: a.memo,
        executeBefore: a.executeBefore,
      });
    }
  }
}

/** A fixed lookup, for tests and for seeding the CLI. */
export function staticLedgerState(
  holdings: readonly KnownHolding[] = [],
  instructions: readonly KnownInstruction[] = [],
): LedgerStateLookup {
  const h = new Map(holdings.map((x) => [x.contractId, x]));
  const i = new Map(instructions.map((x) => [x.contractId, x]));
  return { holding: (cid) => h.get(cid), instruction: (cid) => i.get(cid) };
}

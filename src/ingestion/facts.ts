import { z } from 'zod';

/**
 * What ingestion derives from one ledger transaction about the treasury: the facts model shared by
 * the parser (which produces it), the store (which applies it and keeps it verbatim in
 * `ingested_updates.facts`) and the parse CLI (which prints it). Plain JSON: amounts are decimal
 * strings with 10 fractional digits, times are the ledger's ISO strings, no `undefined` anywhere
 * (absent = null) so that the stored JSON is byte-for-byte reproducible.
 */

export const Instrument = z.object({ admin: z.string(), id: z.string() });
export type Instrument = z.infer<typeof Instrument>;

/** A net change of the treasury's holdings of one instrument (locked and unlocked together). */
export const InstrumentDelta = z.object({ instrument: Instrument, amount: z.string() });
export type InstrumentDelta = z.infer<typeof InstrumentDelta>;

export const CreatedHolding = z.object({
  nodeId: z.number(),
  contractId: z.string(),
  templateId: z.string(),
  instrument: Instrument,
  amount: z.string(),
  /** The Holding view's lock (holders, expiresAt, …); null when unlocked. */
  lock: z.unknown().nullable(),
  meta: z.record(z.string(), z.string()),
});
export type CreatedHolding = z.infer<typeof CreatedHolding>;

/** The amount comes from our holdings table (or this batch): an archive carries no payload. */
export const ArchivedHolding = z.object({
  nodeId: z.number(),
  contractId: z.string(),
  instrument: Instrument,
  amount: z.string(),
  locked: z.boolean(),
});
export type ArchivedHolding = z.infer<typeof ArchivedHolding>;

/** Holding cids created and archived inside one activity's subtree. */
const SubtreeHoldings = {
  holdingsCreated: z.array(z.string()),
  holdingsArchived: z.array(z.string()),
};

/**
 * A transfer into the treasury that completed in this transaction without an offer: a 1-step
 * deposit, or funds that arrived with no explanation (credited to nobody, never lost). The
 * deposit id is derived from the ledger, so re-ingestion cannot credit twice.
 */
export const TransferIn = z.object({
  kind: z.literal('transfer_in'),
  nodeId: z.number(),
  depositId: z.string(),
  /** The exercised choice that carried the transfer; null for a bare holding creation. */
  choice: z.string().nullable(),
  sender: z.string().nullable(),
  instrument: Instrument,
  /** What the sender asked to transfer; equals creditedAmount when the ledger does not say. */
  transferAmount: z.string(),
  /** The treasury's net holdings delta: what actually arrived. */
  creditedAmount: z.string(),
  /** transferAmount − creditedAmount, when they differ. */
  fee: z.string().nullable(),
  memo: z.string().nullable(),
  ...SubtreeHoldings,
});
export type TransferIn = z.infer<typeof TransferIn>;

/**
 * A transfer the treasury sent (TransferFactory_Transfer with sender = treasury, or a token's own
 * 1-step choice whose result says tx-kind transfer and sender = treasury). `receiver` = treasury
 * makes it a self-transfer (merge/split). Its memo is the withdrawal id.
 */
export const TransferOut = z.object({
  kind: z.literal('transfer_out'),
  nodeId: z.number(),
  choice: z.string(),
  self: z.boolean(),
  sender: z.string(),
  receiver: z.string().nullable(),
  instrument: Instrument,
  amount: z.string(),
  /** completed: 1-step done; pending: an offer (transfer instruction) was created; failed: funds returned. */
  outcome: z.enum(['completed', 'pending', 'failed']),
  transferInstructionCid: z.string().nullable(),
  /**
   * Net change of the treasury's holdings in the subtree (negative: amount and fees left). Null
   * only in the parse CLI's lenient mode, when inputs of unknown amount were spent.
   */
  holdingsDelta: z.string().nullable(),
  fee: z.string().nullable(),
  memo: z.string().nullable(),
  inputHoldingCids: z.array(z.string()),
  executeBefore: z.string().nullable(),
  ...SubtreeHoldings,
});
export type TransferOut = z.infer<typeof TransferOut>;

export const InstructionDirection = z.enum(['incoming', 'outgoing', 'self']);
export type InstructionDirection = z.infer<typeof InstructionDirection>;

/** A TransferInstruction (2-step offer) created with the treasury as sender or receiver. */
export const InstructionCreated = z.object({
  kind: z.literal('instruction_created'),
  nodeId: z.number(),
  instructionCid: z.string(),
  /** Set when this instruction continues an earlier one (registry-internal workflow steps). */
  originalInstructionCid: z.string().nullable(),
  direction: InstructionDirection,
  sender: z.string(),
  receiver: z.string(),
  instrument: Instrument,
  amount: z.string(),
  memo: z.string().nullable(),
  requestedAt: z.string(),
  executeBefore: z.string(),
  /** The instruction's own input holdings: for CC and most registries the locked holding. */
  lockedHoldingCids: z.array(z.string()),
  status: z.string(),
});
export type InstructionCreated = z.infer<typeof InstructionCreated>;

export const InstructionOutcome = z.enum(['accepted', 'rejected', 'withdrawn', 'expired', 'failed', 'pending']);
export type InstructionOutcome = z.infer<typeof InstructionOutcome>;

/**
 * A choice on a TransferInstruction the treasury is party to: accept / reject / withdraw, a
 * registry-internal update (`pending`: it continues as `newInstructionCid`), or the registry's
 * own choice returning the funds after executeBefore (`expired`). Expiry without any transaction
 * is decided by the store from record time (docs/internals.md).
 */
export const InstructionClosed = z.object({
  kind: z.literal('instruction_closed'),
  nodeId: z.number(),
  instructionCid: z.string(),
  choice: z.string(),
  direction: InstructionDirection,
  outcome: InstructionOutcome,
  newInstructionCid: z.string().nullable(),
  /** Whether the instruction was known (ingested earlier); if not, amount and memo are null. */
  known: z.boolean(),
  sender: z.string().nullable(),
  receiver: z.string().nullable(),
  instrument: Instrument.nullable(),
  amount: z.string().nullable(),
  memo: z.string().nullable(),
  /** The treasury's net holdings change in the subtree (per instrument). */
  holdingsDelta: z.array(InstrumentDelta),
  /** Incoming and accepted: the treasury's delta of the instrument, what is credited. */
  creditedAmount: z.string().nullable(),
  fee: z.string().nullable(),
  ...SubtreeHoldings,
});
export type InstructionClosed = z.infer<typeof InstructionClosed>;

/**
 * The treasury's holdings changed but no customer is involved: merges and splits by other means,
 * locks and unlocks, dust expiry, mints and burns, or anything the token's registry did.
 */
export const HoldingsChanged = z.object({
  kind: z.literal('holdings_changed'),
  /** The exercise whose subtree it was; null for changes outside any exercise we recognise. */
  nodeId: z.number().nullable(),
  choice: z.string().nullable(),
  /** The result meta's tx-kind (merge-split, unlock, expire-dust, burn, mint, …) when there is one. */
  txKind: z.string().nullable(),
  memo: z.string().nullable(),
  holdingsDelta: z.array(InstrumentDelta),
  ...SubtreeHoldings,
});
export type HoldingsChanged = z.infer<typeof HoldingsChanged>;

export const Activity = z.discriminatedUnion('kind', [TransferIn, TransferOut, InstructionCreated, InstructionClosed, HoldingsChanged]);
export type Activity = z.infer<typeof Activity>;

/** Why a contract that names the treasury does not count (docs/internals.md, money-safety rules). */
export const IgnoreReason = z.enum(['instrument not onboarded', 'admin not a signatory']);
export type IgnoreReason = z.infer<typeof IgnoreReason>;

/**
 * A Holding the treasury is named owner of, or a TransferInstruction naming it sender or receiver,
 * that does not count: its instrument is not onboarded, or the instrument's admin did not sign it
 * (any package on the validator can implement the interfaces with whatever view it likes; the
 * signatories are what the ledger vouches for). It takes no part in holdings, deltas or
 * activities, so nothing is credited or debited for it, ever; ingestion records it (an `ignored`
 * deposit when it comes in) and says so.
 */
export const IgnoredContract = z.object({
  kind: z.enum(['holding', 'instruction']),
  nodeId: z.number(),
  contractId: z.string(),
  templateId: z.string(),
  /** The instrument it claims. */
  instrument: Instrument,
  amount: z.string(),
  /** A holding: incoming; an instruction: its direction as the view states it. */
  direction: InstructionDirection,
  /** The instruction's sender, or for a holding the sender its enclosing exercise states; null when none does. */
  sender: z.string().nullable(),
  /** The memo of the instruction, of the holding's own meta, or of its enclosing exercise. */
  memo: z.string().nullable(),
  /** An instruction's executeBefore; null for a holding. */
  executeBefore: z.string().nullable(),
  signatories: z.array(z.string()),
  reasons: z.array(IgnoreReason),
});
export type IgnoredContract = z.infer<typeof IgnoredContract>;

export const TransactionFacts = z.object({
  updateId: z.string(),
  offset: z.number(),
  recordTime: z.string(),
  synchronizerId: z.string(),
  /** A major-upgrade import transaction (record time 0001-01-01): re-creates holdings, credits nobody. */
  import: z.boolean(),
  holdingsCreated: z.array(CreatedHolding),
  holdingsArchived: z.array(ArchivedHolding),
  /** In node order. */
  activities: z.array(Activity),
  /** Contracts naming the treasury that do not count (IgnoredContract); absent when there are none. */
  ignored: z.array(IgnoredContract).optional(),
  /**
   * Only in the parse CLI's lenient mode: holdings that must be the treasury's (inputs of a
   * transfer it sent) but whose amounts are unknown. Ingestion never writes facts with any.
   */
  unresolvedHoldingCids: z.array(z.string()).optional(),
});
export type TransactionFacts = z.infer<typeof TransactionFacts>;

export function instrumentKey(i: Instrument): string {
  return `${i.admin}\u0000${i.id}`;
}

export function sameInstrument(a: Instrument, b: Instrument): boolean {
  return a.admin === b.admin && a.id === b.id;
}

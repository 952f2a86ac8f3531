import type { Json } from '../util/json.js';
import type { Micros } from '../util/time.js';

/** A template or interface: what the server emits as "<packageId>:<Module>:<Entity>". */
export interface QualifiedName {
  readonly packageId: string;
  readonly packageName: string;
  readonly moduleName: string;
  readonly entityName: string;
}

export function idString(q: QualifiedName): string {
  return `${q.packageId}:${q.moduleName}:${q.entityName}`;
}

export interface InstrumentRef {
  readonly admin: string;
  readonly id: string;
}

/** The token standard's Transfer record, amounts as normalised decimal strings. */
export interface TransferData {
  readonly sender: string;
  readonly receiver: string;
  readonly amount: string;
  readonly instrumentId: InstrumentRef;
  readonly requestedAt: string;
  readonly executeBefore: string;
  readonly inputHoldingCids: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
}

/**
 * The double's "Daml": every contract is one of these typed payloads; the create argument,
 * signatories, observers and interface views a client sees are derived from it (templates.ts).
 */
export type Payload =
  | { t: 'Amulet'; dso: string; owner: string; amount: string; round: string }
  | {
      t: 'LockedAmulet';
      dso: string;
      owner: string;
      amount: string;
      round: string;
      expiresAt: string;
      context: string;
    }
  | { t: 'AmuletRules'; dso: string; synchronizerId: string }
  | { t: 'ExternalPartyAmuletRules'; dso: string }
  | { t: 'TransferPreapproval'; dso: string; receiver: string; provider: string; lastRenewedAt: string; expiresAt: string }
  | { t: 'AmuletTransferInstruction'; lockedAmulet: string; transfer: TransferData }
  | { t: 'OpenMiningRound'; dso: string; round: string; opensAt: string; targetClosesAt: string }
  | { t: 'ValidatorRewardCoupon'; dso: string; user: string; amount: string; round: string }
  | { t: 'AppRewardCoupon'; dso: string; provider: string; beneficiary: string; amount: string; round: string }
  | {
      t: 'RegistryHolding';
      operator: string;
      provider: string;
      registrar: string;
      owner: string;
      instrumentId: string;
      amount: string;
      lock?: { context: string; receiver: string };
    }
  | { t: 'AllocationFactory'; operator: string; provider: string; registrar: string }
  | { t: 'TransferOffer'; operator: string; provider: string; registrar: string; transfer: TransferData }
  | { t: 'TransferRule'; operator: string; provider: string; registrar: string }
  | { t: 'InstrumentConfiguration'; operator: string; provider: string; registrar: string; instrumentId: string }
  | {
      t: 'ExecutedTransfer';
      operator: string;
      provider: string;
      registrar: string;
      sender: string;
      receiver: string;
      instrumentId: string;
      amount: string;
      reference: string;
    }
  /*
   * A stranger's own package (control.counterfeit): templates that implement the token-standard
   * interfaces with views of their choosing, signed by the stranger alone. What a package uploaded
   * to a validator can do: the interface view is the template's claim, the signatories are real.
   */
  | { t: 'CounterfeitIssuer'; issuer: string }
  | {
      t: 'CounterfeitHolding';
      issuer: string;
      owner: string;
      instrumentId: InstrumentRef;
      amount: string;
      meta: Readonly<Record<string, string>>;
    }
  | { t: 'CounterfeitInstruction'; issuer: string; transfer: TransferData };

export type PayloadKind = Payload['t'];
export type PayloadOf<K extends PayloadKind> = Extract<Payload, { t: K }>;

/** A contract instance (before or after commit; `contractId` is final once committed). */
export interface Contract {
  readonly contractId: string;
  readonly payload: Payload;
  /** Ledger effective time of the creating transaction. */
  readonly createdAt: string;
}

export interface CreatedRef {
  readonly offset: number;
  readonly nodeId: number;
  readonly updateId: string;
}

/** Engine-side state of a contract; archived contracts stay until pruned. */
export interface ContractState {
  readonly contract: Contract;
  readonly created: CreatedRef;
  /** Parties that witnessed the create (they may look it up by id). */
  readonly createWitnesses: ReadonlySet<string>;
  archived?: CreatedRef & { readonly witnesses: ReadonlySet<string> };
}

/** A node of an interpreted transaction, before node ids are assigned. */
export type NodeDraft =
  | { kind: 'create'; contract: Contract }
  | {
      kind: 'exercise';
      target: Contract;
      interfaceId?: QualifiedName;
      choice: string;
      choiceArgument: Json;
      actingParties: readonly string[];
      /** A choice's own observers (Daml `observer` in a choice): informed of the exercise and its subtree. */
      choiceObservers?: readonly string[];
      consuming: boolean;
      result: Json;
      children: NodeDraft[];
    }
  | { kind: 'fetch'; target: Contract; actingParties: readonly string[] };

/** A committed node as streams project it (fetch nodes take a node id but are never shown). */
export type TxNode =
  | {
      kind: 'create';
      nodeId: number;
      contract: Contract;
      witnesses: ReadonlySet<string>;
      /** Archived later in the same transaction: not part of the ACS delta. */
      consumedInTx: boolean;
    }
  | {
      kind: 'exercise';
      nodeId: number;
      lastDescendantNodeId: number;
      target: Contract;
      interfaceId?: QualifiedName;
      choice: string;
      choiceArgument: Json;
      actingParties: readonly string[];
      consuming: boolean;
      result: Json;
      witnesses: ReadonlySet<string>;
      /** The target was created in the same transaction: its archive is not an ACS delta. */
      createdInTx: boolean;
    };

export interface SubmitterInfo {
  readonly userId: string;
  readonly actAs: readonly string[];
  readonly commandId: string;
  readonly submissionId?: string;
}

export interface CommittedTx {
  readonly kind: 'transaction';
  readonly offset: number;
  readonly updateId: string;
  readonly recordTime: Micros;
  readonly effectiveAt: string;
  readonly workflowId?: string;
  readonly submitter?: SubmitterInfo;
  readonly externalTransactionHash?: string;
  readonly traceparent: string;
  readonly nodes: readonly TxNode[];
  /** The synchronizer it was sequenced on; absent: the participant's first one (Ledger.synchronizerId). */
  readonly synchronizerId?: string;
}

/**
 * Offsets not carrying a transaction: a rejected submission (it has a completion) or an update
 * no hosted party can see. Streams show them only through OffsetCheckpoints.
 */
export interface SilentUpdate {
  readonly kind: 'silent';
  readonly offset: number;
  readonly recordTime: Micros;
}

export type LogEntry = CommittedTx | SilentUpdate;

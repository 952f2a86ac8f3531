import { isPositiveAmount, normalizeAmount } from '../../lib/decimal.js';
import { isoToMicros, microsToIso } from '../util/time.js';
import { contractNotFound, interpretationError } from './errors.js';
import type { Ledger } from './ledger.js';
import { metaJson } from './templates.js';
import type { TxPlan } from './tx.js';
import type { Contract, InstrumentRef, NodeDraft, Payload } from './types.js';
import { MetaKeys } from './workflows.js';

/**
 * The "Daml" of a stranger's own package (templates.ts, `Counterfeit*`): what any party can do
 * once its package is on a validator. Its templates implement the token-standard Holding and
 * TransferInstruction interfaces and their views say whatever the stranger wants (an owner, an
 * instrument such as Canton Coin, an amount, a memo); the stranger alone signs them, and names
 * the victim as an observer so the victim's participant delivers them. Its `Issuer` choices have
 * the victim as a choice observer (Daml `observer` in a choice), so the victim also sees the
 * exercise around a counterfeit and the result meta the stranger chose for it (tx-kind
 * `transfer`, a sender, a memo), as a registry's own transfer choice would show it.
 */

export interface CounterfeitIssue {
  /** The stranger: the only signatory. */
  readonly issuer: string;
  /** Named owner of the holding, or receiver of the offer. */
  readonly to: string;
  /** The instrument the view claims (any admin and id). */
  readonly instrumentId: InstrumentRef;
  readonly amount: string;
  readonly memo?: string | undefined;
  readonly kind: 'holding' | 'offer';
  /** A holding: created inside the issuer's transfer-looking choice, or bare. */
  readonly via: 'transfer' | 'create';
  readonly executeBefore?: string | undefined;
}

/** An archive dressed as a transfer: the issuer's choice result says `sender` sent it, with `memo`. */
export interface CounterfeitClaim {
  readonly sender: string;
  readonly memo?: string | undefined;
}

export class Counterfeits {
  constructor(private readonly ledger: Ledger) {}

  private contract(payload: Payload, createdAt: string): Contract {
    return { contractId: this.ledger.ids.discriminator(), payload, createdAt };
  }

  /** The issuer's Issuer contract, and the create that makes one if it has none yet. */
  private issuerContract(issuer: string, at: string): { contract: Contract; create: NodeDraft[] } {
    for (const s of this.ledger.contracts.values()) {
      if (!s.archived && s.contract.payload.t === 'CounterfeitIssuer' && s.contract.payload.issuer === issuer)
        return { contract: s.contract, create: [] };
    }
    const contract = this.contract({ t: 'CounterfeitIssuer', issuer }, at);
    return { contract, create: [{ kind: 'create', contract }] };
  }

  private static transferMeta(sender: string, memo: string | undefined): Record<string, string> {
    return { [MetaKeys.txKind]: 'transfer', [MetaKeys.sender]: sender, ...(memo === undefined ? {} : { [MetaKeys.reason]: memo }) };
  }

  issue(req: CounterfeitIssue): TxPlan {
    if (!isPositiveAmount(req.amount)) throw interpretationError('amount must be positive');
    if (!this.ledger.parties.has(req.issuer)) throw interpretationError(`unknown issuer ${req.issuer}`);
    const at = this.ledger.nowIso();
    const amount = normalizeAmount(req.amount);
    const meta: Record<string, string> = req.memo === undefined ? {} : { [MetaKeys.reason]: req.memo };
    if (req.kind === 'offer') {
      const now = isoToMicros(at);
      const offer = this.contract(
        {
          t: 'CounterfeitInstruction',
          issuer: req.issuer,
          transfer: {
            sender: req.issuer,
            receiver: req.to,
            amount,
            instrumentId: req.instrumentId,
            requestedAt: microsToIso(now - 1_000_000n),
            executeBefore: req.executeBefore ?? microsToIso(now + 24n * 3600n * 1_000_000n),
            inputHoldingCids: [],
            meta,
          },
        },
        at,
      );
      return { effectiveAt: at, description: 'counterfeit-offer', roots: [{ kind: 'create', contract: offer }] };
    }
    const holding = this.contract(
      { t: 'CounterfeitHolding', issuer: req.issuer, owner: req.to, instrumentId: req.instrumentId, amount, meta },
      at,
    );
    if (req.via === 'create')
      return { effectiveAt: at, description: 'counterfeit-holding', roots: [{ kind: 'create', contract: holding }] };
    const issuer = this.issuerContract(req.issuer, at);
    return {
      effectiveAt: at,
      description: 'counterfeit-transfer',
      roots: [
        ...issuer.create,
        {
          kind: 'exercise',
          target: issuer.contract,
          choice: 'Issuer_Transfer',
          choiceArgument: {
            receiver: req.to,
            instrumentId: { admin: req.instrumentId.admin, id: req.instrumentId.id },
            amount,
            meta: metaJson(meta),
          },
          actingParties: [req.issuer],
          choiceObservers: [req.to],
          consuming: false,
          result: { holdingCid: holding.contractId, meta: metaJson(Counterfeits.transferMeta(req.issuer, req.memo)) },
          children: [{ kind: 'create', contract: holding }],
        },
      ],
    };
  }

  /** The issuer archives its counterfeit; with a claim, inside a choice whose result says it was a transfer. */
  archive(cid: string, claim?: CounterfeitClaim): TxPlan {
    const s = this.ledger.contracts.get(cid);
    if (!s || s.archived) throw contractNotFound(cid);
    const target = s.contract;
    const p = target.payload;
    if (p.t !== 'CounterfeitHolding' && p.t !== 'CounterfeitInstruction') throw interpretationError(`${cid} is not a counterfeit`);
    const at = this.ledger.nowIso();
    const archive: NodeDraft = {
      kind: 'exercise',
      target,
      choice: 'Archive',
      choiceArgument: {},
      actingParties: [p.issuer],
      consuming: true,
      result: {},
      children: [],
    };
    if (!claim) return { effectiveAt: at, description: 'counterfeit-archive', roots: [archive] };
    const issuer = this.issuerContract(p.issuer, at);
    const victim = p.t === 'CounterfeitHolding' ? p.owner : p.transfer.receiver;
    return {
      effectiveAt: at,
      description: 'counterfeit-archive',
      roots: [
        ...issuer.create,
        {
          kind: 'exercise',
          target: issuer.contract,
          choice: 'Issuer_Burn',
          choiceArgument: { holdingCid: cid },
          actingParties: [p.issuer],
          choiceObservers: [...new Set([victim, claim.sender])],
          consuming: false,
          result: { meta: metaJson(Counterfeits.transferMeta(claim.sender, claim.memo)) },
          children: [archive],
        },
      ],
    };
  }
}

import { Decimal } from 'decimal.js';
import { z } from 'zod';
import { AmountString, normalizeAmount } from '../../lib/decimal.js';

const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_DOWN });

/**
 * Fees of an instrument, all burned (reported as meta "splice.lfdecentralizedtrust.org/burned"):
 *  - senderFlat + senderRate × amount: paid by the sender on top of the amount (Canton Coin
 *    style), so the receiver gets the full amount;
 *  - receiverRate × amount: deducted from what the receiver gets, so the receiver's holdings
 *    grow by less than the transfer amount.
 * Charged when funds reach the receiver (a direct transfer or an accepted offer); self-transfers,
 * rejected, withdrawn and expired offers are free.
 */
export const FeePolicy = z.object({
  senderFlat: AmountString.default('0'),
  senderRate: AmountString.default('0'),
  receiverRate: AmountString.default('0'),
});
export type FeePolicy = z.infer<typeof FeePolicy>;

export const InstrumentConfig = z.object({
  /** Instrument id within its admin ("Amulet" for the Canton Coin family). */
  id: z.string().min(1),
  /** amulet: Canton Coin–like (preapprovals, LockedAmulet); registry: a registry-issued token (offers only). */
  family: z.enum(['amulet', 'registry']),
  /** Party hint of the instrument's admin (DSO / registrar). */
  adminHint: z.string().min(1),
  /** URL segment of this admin's registry: <base>/registries/<registry>. */
  registry: z.string().regex(/^[a-z0-9-]+$/),
  name: z.string().min(1),
  symbol: z.string().min(1),
  decimals: z.int().min(0).max(10).default(10),
  fees: FeePolicy.default({ senderFlat: '0', senderRate: '0', receiverRate: '0' }),
  /**
   * Whether the admin's automation expires offers past executeBefore, returning the locked funds
   * (Splice's SVs do it for Canton Coin with ExpiredAmuletTransferInstructionTrigger, and skip it
   * while a stakeholder has not vetted the Amulet version that can). false: a registry whose admin
   * never does — nothing in the token standard obliges one to — so an expired offer stays on the
   * ledger, its funds locked, until the sender withdraws it (TransferInstruction_Withdraw).
   */
  expiresOffers: z.boolean().default(true),
});
export type InstrumentConfig = z.infer<typeof InstrumentConfig>;
export type InstrumentConfigInput = z.input<typeof InstrumentConfig>;

export const DEFAULT_INSTRUMENTS: InstrumentConfigInput[] = [
  {
    id: 'Amulet',
    family: 'amulet',
    adminHint: 'DSO',
    registry: 'canton-coin',
    name: 'Canton Coin',
    symbol: 'CC',
    fees: { senderFlat: '0.5', senderRate: '0.001', receiverRate: '0' },
  },
  {
    id: 'UTK',
    family: 'registry',
    adminHint: 'utility-registrar',
    registry: 'utility',
    name: 'Utility Token',
    symbol: 'UTK',
    fees: { senderFlat: '0', senderRate: '0', receiverRate: '0' },
  },
];

/** An instrument on the running double, with its admin party and its infrastructure contracts. */
export interface Instrument {
  readonly config: InstrumentConfig;
  readonly admin: string;
  /** Registry family only: the operator and provider parties of the utility-style registry. */
  readonly operator: string;
  readonly provider: string;
  /** The contract implementing TransferFactory. */
  factoryCid: string;
  /** Canton Coin family: AmuletRules and the current OpenMiningRound. */
  rulesCid?: string;
  openRoundCid?: string;
  round: string;
  /** Canton Coin family: the open rounds, oldest first (the newest is openRoundCid). */
  openRounds?: string[];
  /** When the newest round opened (ISO). */
  roundOpenedAt?: string;
  /** Registry family: TransferRule and InstrumentConfiguration. */
  transferRuleCid?: string;
  instrumentConfigCid?: string;
}

function fee(rateTimesAmount: Decimal, flat: string): string {
  return normalizeAmount(rateTimesAmount.plus(flat).toDecimalPlaces(10, Decimal.ROUND_DOWN).toFixed(10));
}

export function senderFee(inst: Instrument, amount: string): string {
  const f = inst.config.fees;
  return fee(new D(amount).times(f.senderRate), f.senderFlat);
}

export function receiverFee(inst: Instrument, amount: string): string {
  return fee(new D(amount).times(inst.config.fees.receiverRate), '0');
}

/** Daml's `show` of a Decimal, as meta "burned" values are written ("14.0", "0.7015"). */
export function showDecimal(amount: string): string {
  const s = new D(amount).toFixed(10).replace(/0+$/, '');
  return s.endsWith('.') ? `${s}0` : s;
}

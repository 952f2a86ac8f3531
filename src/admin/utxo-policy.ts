import { z } from 'zod';
import { compareAmounts, isAmountString, normalizeAmount, PositiveAmountString } from '../lib/decimal.js';

/**
 * How the holdings job manages one instrument's treasury holdings (`instruments.utxo_policy`).
 * The empty policy `{}` (the column's default) manages nothing: merging and the pool are opt-in.
 *
 * - Merge: when more than `mergeThreshold` free holdings are "small" (below `smallAmount`), merge
 *   them by self-transfers of at most `maxInputs` inputs each (the ledger allows 100).
 * - Pool: keep `poolSize` free holdings of at least `poolTargetAmount`, so that many withdrawals
 *   can run at once: split large holdings, or merge smaller ones up to the target.
 */
const Amount = PositiveAmountString.transform(normalizeAmount);

export const UtxoPolicy = z
  .object({
    mergeThreshold: z
      .int()
      .min(1)
      .optional()
      .describe('Merge once more than this many free small holdings exist; absent: never merge on count'),
    smallAmount: Amount.optional().describe(
      'Holdings below this amount are small; default: poolTargetAmount, or every holding when no pool is kept',
    ),
    maxInputs: z.int().min(2).max(100).default(100).describe('Input holdings per merge self-transfer (ledger limit 100)'),
    poolSize: z
      .int()
      .min(0)
      .max(1000)
      .default(0)
      .describe('How many free holdings of at least poolTargetAmount to keep (k concurrent withdrawals)'),
    poolTargetAmount: Amount.optional().describe('Minimum amount of a pool holding; required when poolSize > 0'),
    maxTransfersPerRun: z.int().min(1).max(100).default(10).describe('Self-transfers one run of the job may create for this instrument'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.poolSize > 0 && p.poolTargetAmount === undefined) {
      ctx.addIssue({ code: 'custom', path: ['poolTargetAmount'], message: 'required when poolSize > 0' });
    }
    // zod runs this even when a field failed (then it holds the raw string): compare amounts only.
    const amounts =
      p.smallAmount !== undefined &&
      p.poolTargetAmount !== undefined &&
      isAmountString(p.smallAmount) &&
      isAmountString(p.poolTargetAmount);
    if (amounts && compareAmounts(p.smallAmount!, p.poolTargetAmount!) > 0) {
      // A holding both small and a pool holding would be merged away from the pool it belongs to.
      ctx.addIssue({ code: 'custom', path: ['smallAmount'], message: 'must not exceed poolTargetAmount' });
    }
  });
export type UtxoPolicy = z.output<typeof UtxoPolicy>;
export type UtxoPolicyInput = z.input<typeof UtxoPolicy>;

/** What the job acts on: the policy with its defaults resolved. */
export interface EffectivePolicy {
  /** null: no merging on count. */
  mergeThreshold: number | null;
  /** null: every holding is small. */
  smallAmount: string | null;
  maxInputs: number;
  /** 0: no pool. */
  poolSize: number;
  /** Set exactly when poolSize > 0. */
  poolTargetAmount: string | null;
  maxTransfersPerRun: number;
}

export function effectivePolicy(p: UtxoPolicy): EffectivePolicy {
  const pool = p.poolSize > 0 && p.poolTargetAmount !== undefined;
  return {
    mergeThreshold: p.mergeThreshold ?? null,
    smallAmount: p.smallAmount ?? (pool ? (p.poolTargetAmount ?? null) : null),
    maxInputs: p.maxInputs,
    poolSize: pool ? p.poolSize : 0,
    poolTargetAmount: pool ? (p.poolTargetAmount ?? null) : null,
    maxTransfersPerRun: p.maxTransfersPerRun,
  };
}

/** Whether the job has anything to do for an instrument with this policy. */
export function managesAnything(p: EffectivePolicy): boolean {
  return p.mergeThreshold !== null || p.poolSize > 0;
}

/**
 * The machines' ledger effects (src/machines/README.md, "For whoever implements the ledger effects"):
 *
 *   const effects = createLedgerEffects({ sql, ledger, logger });   // loads and checks the key
 *   const withdrawals = createWithdrawalRuntime({ sql, logger, actors: createWithdrawalLedgerActors({ effects }), config });
 *   const deposits = createDepositRuntime({ sql, logger, actors: createDepositLedgerActors({ effects }), config });
 */
export {
  createLedgerEffects,
  submissionOptions,
  type LedgerEffects,
  type LedgerEffectsDeps,
  type LedgerEffectsOptions,
  type SignatureRecord,
} from './context.js';
export { createWithdrawalLedgerActors, prepareWithdraw } from './withdrawal.js';
export { createDepositLedgerActors } from './deposit.js';
export { checkPreparedTransaction } from './verify.js';
export { toActorError, type FailureScope } from './errors.js';
export { createRegistryClients, createRegistryDirectory, type RegistryDirectory } from './registries.js';

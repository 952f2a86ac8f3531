/**
 * What the daemon and the HTTP layer use of the machines (src/machines/README.md).
 *
 *   const withdrawals = createWithdrawalRuntime({ sql, logger, actors, config: { treasuryParty } });
 *   const deposits = createDepositRuntime({ sql, logger, actors, config: { treasuryParty } });
 *   // both are Components: start them after migrations, stop them before the pool closes
 *   const commands = createOperatorCommands({ withdrawal: withdrawals, deposit: deposits });
 *   await commands.send('withdrawal', id, { type: 'CANCEL', by: 'ops', reason: '…' });
 */
import type { MachineRuntime } from './runtime.js';
import type { CommandResult } from './types.js';

export {
  createWithdrawalRuntime,
  withdrawalDefinition,
  WITHDRAWAL_MACHINE_TYPE,
  WITHDRAWAL_TOPICS,
  type CreateWithdrawalRuntimeOptions,
  type WithdrawalRuntimeConfig,
  type WithdrawalOperatorCommand,
} from './withdrawal.js';
export {
  createDepositRuntime,
  depositDefinition,
  DEPOSIT_MACHINE_TYPE,
  DEPOSIT_TOPICS,
  type CreateDepositRuntimeOptions,
  type DepositRuntimeConfig,
  type DepositOperatorCommand,
} from './deposit.js';
export { createMachineRuntime, MachineVersionError, BadOutboxEventError, type MachineRuntime } from './runtime.js';
export type { CatchUp, CommandResult, MachineDefinition, CommittedTransition, RuntimeHooks, RuntimeOptions } from './types.js';
export { createIngestionCatchUp, type IngestionCatchUpOptions } from './catch-up.js';
export { getMachineView, listMachineTransitions, type MachineView, type TransitionView } from '../../store/machines.js';

import type { MachineTypeName } from '../machine-types.js';

export type MachineType = MachineTypeName;

export interface OperatorCommands {
  /**
   * Applies an operator command if the machine allows it in its current state. Refusals come back
   * as values: NOT_FOUND → 404, STATE_CONFLICT → 409, INVALID → 400, NOT_ACTIVE → 503 (this
   * instance is a standby). A database failure while persisting throws.
   */
  send(type: MachineType, machineId: string, command: unknown): Promise<CommandResult>;
}

export function createOperatorCommands(runtimes: Record<MachineType, MachineRuntime>): OperatorCommands {
  return { send: (type, machineId, command) => runtimes[type].sendOperatorCommand(machineId, command) };
}

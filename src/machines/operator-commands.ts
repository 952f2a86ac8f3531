import type { EventObject } from 'xstate';
import { DepositContext, depositCommandRefusal } from './deposit.context.js';
import { machineOf, OPERATOR_EVENTS, type MachineTypeName } from './definition-export.js';
import { WithdrawalContext, withdrawalCommandRefusal } from './withdrawal.context.js';

/**
 * Which operator commands a machine accepts in a given state, asked of the machine itself
 * (`snapshot.can(event)` on its definition, resolved at the stored state and context: the check
 * the runtime makes before delivering a command), with the words it would refuse the others in.
 * What an operator sees before pressing a button; the runtime decides again when one is pressed.
 */

export interface CommandAvailability {
  command: string;
  allowed: boolean;
  /** Why the machine refuses it now (null when allowed). */
  reason: string | null;
}

/** A command as the machine receives it: what it carries besides its type does not change whether it is taken. */
function sample(command: string): EventObject {
  const event: EventObject & Record<string, string> = { type: command, by: 'operator', reason: 'asked', accountId: 'account' };
  return event;
}

export function commandsAccepted(type: MachineTypeName, stateValue: unknown, context: unknown): CommandAvailability[] {
  const machine = machineOf(type);
  const snapshot = machine.resolveState({ value: stateValue as never, context: context as never });
  return OPERATOR_EVENTS[type].map((command) => {
    if (snapshot.can(sample(command))) return { command, allowed: true, reason: null };
    return { command, allowed: false, reason: refusal(type, stateValue, context, command) };
  });
}

function refusal(type: MachineTypeName, stateValue: unknown, context: unknown, command: string): string {
  if (type === 'withdrawal')
    return withdrawalCommandRefusal(stateValue, WithdrawalContext.parse(context), command as 'RETRY' | 'CANCEL' | 'FAIL');
  return depositCommandRefusal(stateValue, DepositContext.parse(context), command as 'RETRY_ACCEPT' | 'ASSIGN');
}

import type { Logger } from '../../logger.js';
import type { MachineSet } from './machine-set.js';
import type { RuntimeStore } from './store.js';
import type { CommandResult, MachineDefinition } from './types.js';

export interface CommandTarget<TContext> {
  def: Pick<MachineDefinition<TContext>, 'type' | 'parseCommand' | 'parseContext' | 'explainRefusal'>;
  log: Logger;
  store: Pick<RuntimeStore<TContext>, 'precheckCommand'>;
  machines: Pick<MachineSet<TContext>, 'getOrLoad' | 'deliver'>;
  /** Undefined while this instance runs the machines; otherwise what it is doing instead (its status). */
  inactive(): string | undefined;
}

/**
 * An operator command, validated by the machine: refused with a reason when its state does not
 * allow it (asked again after the definition's database checks: the machine may have moved
 * meanwhile), otherwise sent to the machine and resolved once the transition is committed.
 */
export async function applyOperatorCommand<TContext>(
  o: CommandTarget<TContext>,
  machineId: string,
  command: unknown,
): Promise<CommandResult> {
  const inactive = o.inactive();
  if (inactive !== undefined)
    return { accepted: false, code: 'NOT_ACTIVE', reason: `this instance is not running the ${o.def.type} machines (${inactive})` };
  const parsed = o.def.parseCommand(command);
  if (!parsed.ok) return { accepted: false, code: 'INVALID', reason: parsed.reason };
  const got = await o.machines.getOrLoad(machineId);
  if (got.kind === 'absent') return { accepted: false, code: 'NOT_FOUND', reason: `no ${o.def.type} ${machineId}` };
  if (got.kind === 'final') {
    const context = o.def.parseContext((got.row.snapshot as { context?: unknown }).context);
    return { accepted: false, code: 'STATE_CONFLICT', reason: o.def.explainRefusal(got.row.stateValue, context, parsed.event) };
  }
  const refusal = () => {
    const snap = got.handle.actor.getSnapshot();
    return snap.can(parsed.event) ? null : o.def.explainRefusal(snap.value, snap.context as TContext, parsed.event);
  };
  const first = refusal();
  if (first !== null) return { accepted: false, code: 'STATE_CONFLICT', reason: first };
  const pre = await o.store.precheckCommand(machineId, parsed.event);
  if (pre) return { accepted: false, code: 'STATE_CONFLICT', reason: pre };
  // The machine may have moved while we were reading the database.
  if (got.handle.state !== 'live')
    return { accepted: false, code: 'STATE_CONFLICT', reason: `${o.def.type} ${machineId} changed meanwhile; try again` };
  const second = refusal();
  if (second !== null) return { accepted: false, code: 'STATE_CONFLICT', reason: second };
  await o.machines.deliver(got.handle, parsed.event, { operator: parsed.by });
  o.log.info({ machineId, command: parsed.event.type, by: parsed.by }, 'operator command applied');
  return { accepted: true, state: got.handle.lastValue };
}

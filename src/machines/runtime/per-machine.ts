import type { TransitionRecord } from './types.js';
import { settleAll } from '../../lib/settle-all.js';

/**
 * Runs `fn` over a commit group's transitions: each machine's in order, different machines'
 * concurrently, so their statements travel together on the transaction's connection.
 */
export async function perMachine<TContext>(
  transitions: readonly TransitionRecord<TContext>[],
  fn: (t: TransitionRecord<TContext>) => Promise<void>,
): Promise<void> {
  const byMachine = new Map<string, TransitionRecord<TContext>[]>();
  for (const t of transitions) {
    const list = byMachine.get(t.machineId);
    if (list) list.push(t);
    else byMachine.set(t.machineId, [t]);
  }
  await settleAll(
    [...byMachine.values()].map(async (list) => {
      for (const t of list) await fn(t);
    }),
  );
}

/** The last transition of each machine in a commit group. */
export function lastPerMachine<TContext>(transitions: readonly TransitionRecord<TContext>[]): TransitionRecord<TContext>[] {
  const last = new Map<string, TransitionRecord<TContext>>();
  for (const t of transitions) last.set(t.machineId, t);
  return [...last.values()];
}

import type { WithdrawalActors } from '../../../src/machines/withdrawal.actors.js';

/**
 * Crash points inside the withdrawal's effects. A crash point fires once, for one withdrawal:
 * `before` = the machine has persisted the state that runs the effect and the effect is starting
 * (nothing reached the ledger or the database yet); `after` = the effect completed (the ledger or
 * the database has its result) but the machine has not persisted it. `onCrash` is what "the
 * process dies" means to the caller: an in-process abort, or process.kill(pid, 'SIGKILL').
 */

export type EffectStep = keyof WithdrawalActors;
export type CrashWhen = 'before' | 'after';

export interface CrashPoint {
  step: EffectStep;
  when: CrashWhen;
  withdrawalId: string;
  /** Only this attempt (default: any). */
  attempt?: number;
}

/** The withdrawal (and attempt) an effect's input is about. */
export function effectTarget(step: EffectStep, input: unknown): { withdrawalId: string; attempt: number | undefined } | undefined {
  const i = input as Record<string, unknown>;
  switch (step) {
    case 'reserveHoldings':
    case 'fetchTransferFactory':
    case 'prepareTransfer':
      return { withdrawalId: String(i['withdrawalId']), attempt: Number(i['attempt']) };
    case 'releaseReservation':
      return { withdrawalId: String(i['withdrawalId']), attempt: undefined };
    case 'verifyAndSign':
      return fromCommandId(String((i['expected'] as { commandId: string }).commandId));
    case 'executeSubmission':
      return fromCommandId(String((i['signed'] as { commandId: string }).commandId));
  }
}

/** commandId = withdrawal-<id>-<attempt> (withdrawal.machine.ts). */
function fromCommandId(commandId: string): { withdrawalId: string; attempt: number } | undefined {
  const m = /^withdrawal-(.+)-(\d+)$/.exec(commandId);
  return m ? { withdrawalId: m[1]!, attempt: Number(m[2]) } : undefined;
}

/** Never settles until the effect is abandoned (its signal aborts): the process is gone. */
export function hang(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) =>
    signal.addEventListener('abort', () => reject(new Error('abandoned: the process crashed')), { once: true }),
  );
}

export function crashAt(point: CrashPoint, onCrash: () => void): (actors: WithdrawalActors) => WithdrawalActors {
  let fired = false;
  const matches = (step: EffectStep, input: unknown) => {
    if (fired || step !== point.step) return false;
    const t = effectTarget(step, input);
    return (
      t !== undefined &&
      t.withdrawalId === point.withdrawalId &&
      (point.attempt === undefined || t.attempt === undefined || t.attempt === point.attempt)
    );
  };
  return (actors) => {
    const wrapped = { ...actors };
    for (const step of Object.keys(actors) as EffectStep[]) {
      const real = actors[step] as (input: unknown, signal: AbortSignal) => Promise<unknown>;
      (wrapped as Record<EffectStep, (input: unknown, signal: AbortSignal) => Promise<unknown>>)[step] = async (input, signal) => {
        if (!matches(step, input)) return real(input, signal);
        fired = true;
        if (point.when === 'before') {
          onCrash();
          return hang(signal);
        }
        await real(input, signal);
        onCrash();
        return hang(signal);
      };
    }
    return wrapped;
  };
}

/** Every effect of the withdrawal machine, before and after: where a crash can hit a withdrawal. */
export const CRASH_POINTS: readonly { step: EffectStep; when: CrashWhen }[] = (
  ['reserveHoldings', 'fetchTransferFactory', 'prepareTransfer', 'verifyAndSign', 'executeSubmission'] as const
).flatMap((step) => (['before', 'after'] as const).map((when) => ({ step, when })));

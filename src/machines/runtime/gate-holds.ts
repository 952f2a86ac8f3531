import type { Switches } from '../../gates/switches.js';
import type { TrafficGate } from '../../gates/traffic.js';
import type { SwitchName } from '../../store/switches.js';
import type { EffectHold } from './types.js';

export interface GateHolds {
  /** For every effect up to the submission: waits for the switch, then for the validator's traffic. */
  beforeSubmission: EffectHold;
  /** For the submission itself: the switch, then the traffic gate's rate cap and hold. */
  submission: EffectHold;
}

/**
 * The holds a machine type's effects wait on: its operator pause switch, then the validator's
 * traffic (src/gates). Every effect gets one even with neither gate configured, because held
 * effects also wait for the runtime's start gate (catchUp).
 */
export function gateHolds(
  switchName: SwitchName,
  machineType: string,
  switches: Pick<Switches, 'whenOpen'> | undefined,
  traffic: Pick<TrafficGate, 'beforeSubmission' | 'submission'> | undefined,
): GateHolds {
  const holdFor =
    (step: keyof GateHolds): EffectHold =>
    async (signal, machineId) => {
      await switches?.whenOpen(switchName, signal);
      await traffic?.[step](`${machineType}:${machineId}`, signal);
    };
  return { beforeSubmission: holdFor('beforeSubmission'), submission: holdFor('submission') };
}

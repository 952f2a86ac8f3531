import { describePause } from '../../gates/switches.js';
import type { Queryable } from '../../store/db.js';
import { listSwitches, type SwitchName, type SwitchState } from '../../store/switches.js';

/**
 * A machine held by a pause switch never transitions while held, so the reason its runtime last
 * wrote cannot say so: the API adds it when it reads the row. Statuses whose next step is one the
 * switch holds (src/machines/runtime/withdrawal.ts and deposit.ts: the effects wrapped with the
 * switch's hold); a release or a ledger outcome is never held, so other statuses are left alone.
 */
const HELD_STATUSES: Record<'withdrawals' | 'acceptance', ReadonlySet<string>> = {
  withdrawals: new Set(['requested', 'reserving', 'waiting_for_funds', 'preparing', 'signing', 'executing', 'withdrawing_offer']),
  acceptance: new Set(['accepting']),
};

/** The switch if it is paused now (read from the table every instance reads). */
export async function pausedSwitch(db: Queryable, name: SwitchName): Promise<SwitchState | undefined> {
  return (await listSwitches(db)).find((s) => s.name === name && s.paused);
}

export function withHeldReason<T extends { status: string; statusReason: string | null }>(row: T, paused: SwitchState | undefined): T {
  if (paused === undefined || paused.name === 'ingestion' || !HELD_STATUSES[paused.name].has(row.status)) return row;
  const held = `held: the ${paused.name} switch is ${describePause(paused)}`;
  return { ...row, statusReason: row.statusReason === null ? held : `${held}; ${row.statusReason}` };
}

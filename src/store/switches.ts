import { z } from 'zod';
import type { Queryable, Sql, Tx } from './db.js';
import { appendOutboxEvents } from './outbox.js';

/** The operator pause switches (sql/005_switches.sql). */
export const SWITCH_NAMES = ['ingestion', 'withdrawals', 'acceptance'] as const;
export const SwitchName = z.enum(SWITCH_NAMES);
export type SwitchName = z.infer<typeof SwitchName>;

export interface SwitchState {
  name: SwitchName;
  paused: boolean;
  /** Why it was last changed (always set while paused). */
  reason: string | null;
  changedBy: string | null;
  changedAt: string;
}

const Row = z.object({
  name: SwitchName,
  paused: z.boolean(),
  reason: z.string().nullable(),
  changed_by: z.string().nullable(),
  changed_at: z.string(),
});

const toState = (r: unknown): SwitchState => {
  const row = Row.parse(r);
  return { name: row.name, paused: row.paused, reason: row.reason, changedBy: row.changed_by, changedAt: row.changed_at };
};

/** All switches, in SWITCH_NAMES order. A switch without a row (should not happen) reads as open. */
export async function listSwitches(db: Queryable): Promise<SwitchState[]> {
  const rows = await db`select name, paused, reason, changed_by, changed_at from operator_switches`;
  const byName = new Map(rows.map((r) => toState(r)).map((s) => [s.name, s]));
  return SWITCH_NAMES.map(
    (name) => byName.get(name) ?? { name, paused: false, reason: null, changedBy: null, changedAt: new Date(0).toISOString() },
  );
}

export interface SwitchChange {
  paused: boolean;
  reason: string | null;
  by: string;
}

/**
 * Sets a switch. `changed_at` is taken after the row lock (clock_timestamp, not the transaction's
 * start), so it grows in commit order: readers use it to ignore a read older than what they have.
 * Pausing again replaces the reason; resuming an open switch changes nothing. A
 * change of the paused flag appends an `operator.switch_changed` event (the audit trail) in the
 * same transaction. Returns the stored state and whether the flag changed.
 */
export async function setSwitch(sql: Sql, name: SwitchName, change: SwitchChange): Promise<{ state: SwitchState; changed: boolean }> {
  if (change.paused && !change.reason) throw new RangeError('a pause needs a reason');
  return sql.begin((tx) => setSwitchIn(tx, name, change));
}

/** setSwitch inside the caller's transaction (with what else it changes atomically). */
export async function setSwitchIn(tx: Tx, name: SwitchName, change: SwitchChange): Promise<{ state: SwitchState; changed: boolean }> {
  if (change.paused && !change.reason) throw new RangeError('a pause needs a reason');
  const [before] = await tx`select name, paused, reason, changed_by, changed_at from operator_switches where name = ${name} for update`;
  const wasPaused = before ? toState(before).paused : false;
  if (!change.paused && !wasPaused && before) return { state: toState(before), changed: false };
  const [after] = await tx`
    insert into operator_switches (name, paused, reason, changed_by, changed_at)
    values (${name}, ${change.paused}, ${change.reason}, ${change.by}, clock_timestamp())
    on conflict (name) do update set paused = excluded.paused, reason = excluded.reason, changed_by = excluded.changed_by, changed_at = excluded.changed_at
    returning name, paused, reason, changed_by, changed_at`;
  const state = toState(after);
  const changed = state.paused !== wasPaused;
  if (changed) {
    await appendOutboxEvents(tx, [
      {
        topic: 'operator.switch_changed',
        aggregateType: 'switch',
        aggregateId: name,
        payload: { name, paused: state.paused, reason: state.reason, by: change.by, changedAt: state.changedAt },
      },
    ]);
  }
  return { state, changed };
}

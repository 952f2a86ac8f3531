/** The machine types: the `machine_type` of every persisted machine, each named once here. */
export const WITHDRAWAL_MACHINE_TYPE = 'withdrawal';
export const DEPOSIT_MACHINE_TYPE = 'deposit';
export const MACHINE_TYPES = [WITHDRAWAL_MACHINE_TYPE, DEPOSIT_MACHINE_TYPE] as const;
export type MachineTypeName = (typeof MACHINE_TYPES)[number];

export const isMachineType = (s: string): s is MachineTypeName => (MACHINE_TYPES as readonly string[]).includes(s);

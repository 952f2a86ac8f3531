import type { RegistryAuth, RegistryAuthMode } from '../ledger/registry-auth.js';
import { normalizeAmount } from '../lib/decimal.js';
import type { FeeReserve } from '../lib/fee-reserve.js';
import type { Queryable, Tx } from './db.js';

export type TransferPolicy = 'direct-only' | 'direct-or-offer' | 'offer-only';

export interface InstrumentRow {
  admin: string;
  id: string;
  registryUrl: string;
  /** How its registry client authenticates: the mode and a credential's name, never a secret. */
  registryAuth: RegistryAuth;
  displayDecimals: number;
  transferPolicy: TransferPolicy;
  utxoPolicy: Record<string, unknown>;
  /** What coin selection covers beyond a withdrawal's amount (src/lib/fee-reserve.ts). */
  feeReserve: FeeReserve;
  enabled: boolean;
}

interface Row {
  admin_party: string;
  instrument_id: string;
  registry_url: string;
  registry_auth: RegistryAuthMode;
  registry_credential: string | null;
  display_decimals: number;
  transfer_policy: TransferPolicy;
  utxo_policy: Record<string, unknown>;
  /** numeric(38,10), as text. */
  fee_reserve_rate: string;
  fee_reserve_flat: string;
  enabled: boolean;
}

const toInstrument = (r: Row): InstrumentRow => ({
  admin: r.admin_party,
  id: r.instrument_id,
  registryUrl: r.registry_url,
  registryAuth:
    r.registry_auth === 'credential' ? { mode: 'credential', credential: r.registry_credential ?? '' } : { mode: r.registry_auth },
  displayDecimals: r.display_decimals,
  transferPolicy: r.transfer_policy,
  utxoPolicy: r.utxo_policy,
  feeReserve: { rate: normalizeAmount(r.fee_reserve_rate), flat: normalizeAmount(r.fee_reserve_flat) },
  enabled: r.enabled,
});

export async function findInstrument(db: Queryable, admin: string, id: string): Promise<InstrumentRow | undefined> {
  const [row] = await db<Row[]>`select * from instruments where admin_party = ${admin} and instrument_id = ${id}`;
  return row ? toInstrument(row) : undefined;
}

/**
 * An instrument's fee reserve; none for an instrument nobody onboarded. Read by coin selection in
 * its own transaction, so a reservation uses the reserve configured when it is made.
 */
export async function readFeeReserve(db: Queryable, admin: string, id: string): Promise<FeeReserve | undefined> {
  const [row] = await db<{ rate: string; flat: string }[]>`
    select fee_reserve_rate::text as rate, fee_reserve_flat::text as flat from instruments where admin_party = ${admin} and instrument_id = ${id}`;
  return row ? { rate: normalizeAmount(row.rate), flat: normalizeAmount(row.flat) } : undefined;
}

export async function listInstruments(db: Queryable): Promise<InstrumentRow[]> {
  const rows = await db<Row[]>`select * from instruments order by admin_party, instrument_id`;
  return rows.map(toInstrument);
}

const credentialOf = (a: RegistryAuth): string | null => (a.mode === 'credential' ? a.credential : null);

/**
 * Creates or replaces an instrument's configuration. Without `feeReserve` a new instrument reserves
 * nothing and an existing one keeps its reserve (callers re-pointing an instrument need not know
 * it); likewise without `registryAuth` a new one uses none and an existing one keeps its own.
 */
export async function upsertInstrument(
  db: Queryable,
  i: Omit<InstrumentRow, 'utxoPolicy' | 'feeReserve' | 'registryAuth'> & {
    utxoPolicy?: Record<string, unknown>;
    feeReserve?: FeeReserve;
    registryAuth?: RegistryAuth;
  },
): Promise<InstrumentRow> {
  const rate = i.feeReserve?.rate ?? null;
  const flat = i.feeReserve?.flat ?? null;
  const mode = i.registryAuth?.mode ?? null;
  const credential = i.registryAuth ? credentialOf(i.registryAuth) : null;
  const [row] = await db<Row[]>`
    insert into instruments (admin_party, instrument_id, registry_url, registry_auth, registry_credential, display_decimals, transfer_policy, utxo_policy, fee_reserve_rate, fee_reserve_flat, enabled)
    values (${i.admin}, ${i.id}, ${i.registryUrl}, coalesce(${mode}::text, 'none'), ${credential}, ${i.displayDecimals}, ${i.transferPolicy}, ${db.json((i.utxoPolicy ?? {}) as Parameters<typeof db.json>[0])},
      coalesce(${rate}::numeric, 0), coalesce(${flat}::numeric, 0), ${i.enabled})
    on conflict (admin_party, instrument_id) do update set
      registry_url = excluded.registry_url, display_decimals = excluded.display_decimals,
      registry_auth = coalesce(${mode}::text, instruments.registry_auth),
      registry_credential = case when ${mode}::text is null then instruments.registry_credential else excluded.registry_credential end,
      transfer_policy = excluded.transfer_policy, utxo_policy = excluded.utxo_policy,
      fee_reserve_rate = coalesce(${rate}::numeric, instruments.fee_reserve_rate),
      fee_reserve_flat = coalesce(${flat}::numeric, instruments.fee_reserve_flat),
      enabled = excluded.enabled, updated_at = now()
    returning *`;
  return toInstrument(row!);
}

/** An instrument's configuration with its timestamps, as the admin API shows it. */
export interface InstrumentRecord extends InstrumentRow {
  createdAt: string;
  updatedAt: string;
}

interface RecordRow extends Row {
  created_at: string;
  updated_at: string;
}

const toRecord = (r: RecordRow): InstrumentRecord => ({ ...toInstrument(r), createdAt: r.created_at, updatedAt: r.updated_at });

export async function findInstrumentRecord(db: Queryable, admin: string, id: string): Promise<InstrumentRecord | undefined> {
  const [row] = await db<RecordRow[]>`select * from instruments where admin_party = ${admin} and instrument_id = ${id}`;
  return row ? toRecord(row) : undefined;
}

/** Locks the row for a read-modify-write in the caller's transaction. */
export async function lockInstrumentRecord(tx: Tx, admin: string, id: string): Promise<InstrumentRecord | undefined> {
  const [row] = await tx<RecordRow[]>`select * from instruments where admin_party = ${admin} and instrument_id = ${id} for update`;
  return row ? toRecord(row) : undefined;
}

export async function listInstrumentRecords(db: Queryable, filter: { enabled?: boolean | undefined } = {}): Promise<InstrumentRecord[]> {
  const rows = await db<RecordRow[]>`
    select * from instruments
    ${filter.enabled === undefined ? db`` : db`where enabled = ${filter.enabled}`}
    order by admin_party, instrument_id`;
  return rows.map(toRecord);
}

export type InstrumentConfig = InstrumentRow;

/** Adds an instrument; undefined when one with that admin and id exists already (nothing written). */
export async function insertInstrument(db: Queryable, i: InstrumentConfig): Promise<InstrumentRecord | undefined> {
  const [row] = await db<RecordRow[]>`
    insert into instruments (admin_party, instrument_id, registry_url, registry_auth, registry_credential, display_decimals, transfer_policy, utxo_policy, fee_reserve_rate, fee_reserve_flat, enabled)
    values (${i.admin}, ${i.id}, ${i.registryUrl}, ${i.registryAuth.mode}, ${credentialOf(i.registryAuth)}, ${i.displayDecimals}, ${i.transferPolicy}, ${db.json(i.utxoPolicy as Parameters<typeof db.json>[0])},
      ${i.feeReserve.rate}::numeric, ${i.feeReserve.flat}::numeric, ${i.enabled})
    on conflict (admin_party, instrument_id) do nothing
    returning *`;
  return row ? toRecord(row) : undefined;
}

/** Replaces the configurable fields of an existing instrument; undefined when there is none. */
export async function updateInstrument(db: Queryable, i: InstrumentConfig): Promise<InstrumentRecord | undefined> {
  const [row] = await db<RecordRow[]>`
    update instruments set
      registry_url = ${i.registryUrl}, registry_auth = ${i.registryAuth.mode}, registry_credential = ${credentialOf(i.registryAuth)},
      display_decimals = ${i.displayDecimals}, transfer_policy = ${i.transferPolicy},
      utxo_policy = ${db.json(i.utxoPolicy as Parameters<typeof db.json>[0])},
      fee_reserve_rate = ${i.feeReserve.rate}::numeric, fee_reserve_flat = ${i.feeReserve.flat}::numeric,
      enabled = ${i.enabled}, updated_at = now()
    where admin_party = ${i.admin} and instrument_id = ${i.id}
    returning *`;
  return row ? toRecord(row) : undefined;
}

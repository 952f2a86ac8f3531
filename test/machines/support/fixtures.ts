import type { Queryable } from '../../../src/store/db.js';

/** Rows as ingestion / the HTTP layer would write them, for runtime and reservation tests. */

export const TREASURY = 'treasury::1220' + 'c'.repeat(64);
export const DSO = 'dso::1220' + 'a'.repeat(64);
export const AMULET = { admin: DSO, id: 'Amulet' };

let offsetCounter = 1;

export async function insertHolding(
  db: Queryable,
  h: {
    contractId: string;
    amount: string;
    owner?: string;
    instrument?: { admin: string; id: string };
    locked?: boolean;
    archived?: boolean;
  },
): Promise<void> {
  const instrument = h.instrument ?? AMULET;
  const offset = offsetCounter++;
  await db`
    insert into holdings (contract_id, owner, instrument_admin, instrument_id, amount, lock, template_id, created_offset, created_update_id, created_record_time,
                          archived_offset, archived_update_id, archived_record_time)
    values (${h.contractId}, ${h.owner ?? TREASURY}, ${instrument.admin}, ${instrument.id}, ${h.amount},
            ${h.locked ? db.json({ holders: [DSO] }) : null}, 'Splice.Amulet:Amulet', ${offset}, ${'u-' + h.contractId}, now(),
            ${h.archived ? offset + 1 : null}, ${h.archived ? 'u-archive-' + h.contractId : null}, ${h.archived ? db`now()` : null})`;
}

export async function archiveHoldings(db: Queryable, contractIds: readonly string[]): Promise<void> {
  if (contractIds.length === 0) return;
  await db`
    update holdings set archived_offset = created_offset + 1000, archived_update_id = 'u-spent', archived_record_time = now()
    where contract_id = any(${contractIds as string[]}) and archived_offset is null`;
}

export async function insertWithdrawal(
  db: Queryable,
  w: {
    id: string;
    amount: string;
    receiver?: string;
    purpose?: 'payout' | 'self_transfer';
    instrument?: { admin: string; id: string };
    account?: string;
  },
): Promise<void> {
  const instrument = w.instrument ?? AMULET;
  await db`
    insert into withdrawals (withdrawal_id, purpose, account, instrument_admin, instrument_id, amount, receiver)
    values (${w.id}, ${w.purpose ?? 'payout'}, ${w.account ?? 'acct-1'}, ${instrument.admin}, ${instrument.id}, ${w.amount}, ${w.receiver ?? 'alice::1220' + 'b'.repeat(64)})`;
}

export async function insertInstrument(
  db: Queryable,
  i: { admin: string; id: string; policy?: 'direct-only' | 'direct-or-offer' | 'offer-only'; enabled?: boolean },
): Promise<void> {
  await db`
    insert into instruments (admin_party, instrument_id, registry_url, transfer_policy, enabled)
    values (${i.admin}, ${i.id}, 'http://registry.invalid', ${i.policy ?? 'direct-or-offer'}, ${i.enabled ?? true})
    on conflict (admin_party, instrument_id) do update set transfer_policy = excluded.transfer_policy, enabled = excluded.enabled`;
}

/** Ingestion's checkpoint: what "the ingested record time" is. */
export async function setIngestedRecordTime(db: Queryable, recordTime: string): Promise<void> {
  await db`
    insert into ingestion_checkpoint (treasury_party, ledger_offset, record_time) values (${TREASURY}, 1, ${recordTime})
    on conflict (treasury_party) do update set record_time = excluded.record_time, updated_at = now()`;
}

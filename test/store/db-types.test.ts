import { describe, expect, it } from 'vitest';
import { useMigratedDatabase } from '../support/db.js';

const { sql } = await useMigratedDatabase();

describe('database type mapping', () => {
  it('keeps numeric amounts as exact decimal strings', async () => {
    const [row] = await sql<{ a: string; s: string }[]>`
      select ${'0.1000000001'}::numeric(38,10) as a, (${'0.1'}::numeric(38,10) + ${'0.2'}::numeric(38,10)) as s`;
    expect(row).toEqual({ a: '0.1000000001', s: '0.3000000000' });
  });

  it('keeps record times as ISO strings with microseconds, including the major-upgrade epoch', async () => {
    const [row] = await sql<{ t: string; zero: string }[]>`
      select ${'2025-10-14T11:29:19.916535Z'}::timestamptz as t, ${'0001-01-01T00:00:00Z'}::timestamptz as zero`;
    expect(row!.t).toBe('2025-10-14T11:29:19.916535Z');
    expect(row!.zero).toBe('0001-01-01T00:00:00Z');
  });

  it('returns offsets (int8) as numbers and refuses unsafe ones', async () => {
    const [row] = await sql<{ o: number }[]>`select ${60678}::bigint as o`;
    expect(row!.o).toBe(60678);
    await expect(sql`select 9223372036854775807::bigint as o`).rejects.toThrow(/safe integer/);
  });

  it('enforces one live reservation per holding', async () => {
    await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver)
              values ('w1', 'acc', 'DSO::1220', 'Amulet', '1', 'r::1220'), ('w2', 'acc', 'DSO::1220', 'Amulet', '1', 'r::1220')`;
    await sql`insert into holdings (contract_id, owner, instrument_admin, instrument_id, amount, template_id, created_offset, created_update_id, created_record_time)
              values ('c1', 't::1220', 'DSO::1220', 'Amulet', '5', 'pkg:M:T', 1, 'u1', now())`;
    await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values ('c1', 'w1', 1)`;
    await expect(sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values ('c1', 'w2', 1)`).rejects.toThrow(
      /holding_reservations_live/,
    );
    await sql`update holding_reservations set released_at = now() where withdrawal_id = 'w1'`;
    await sql`insert into holding_reservations (contract_id, withdrawal_id, attempt) values ('c1', 'w2', 1)`;
  });
});

import { randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Queryable, Sql } from './db.js';
import { decodeCursor, encodeCursor } from './paging.js';

export interface DepositAccount {
  accountId: string;
  memo: string;
  customerRef: string;
  createdAt: string;
}

interface Row {
  account_id: string;
  memo: string;
  customer_ref: string;
  created_at: string;
}
const toAccount = (r: Row): DepositAccount => ({
  accountId: r.account_id,
  memo: r.memo,
  customerRef: r.customer_ref,
  createdAt: r.created_at,
});

/** Crockford-style base32 without look-alikes: memos are typed by customers into wallets. */
const ALPHABET = 'abcdefghjkmnpqrstvwxyz0123456789';
function randomToken(length: number): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join('');
}

export function newMemo(): string {
  return `dep-${randomToken(12)}`;
}

/**
 * Opens a deposit account. The memo is what customers put in the transfer's reason; a given memo
 * is idempotent for the same customer and a conflict for another one.
 */
export async function createDepositAccount(
  sql: Sql,
  input: { customerRef: string; memo?: string | undefined },
): Promise<{ created: boolean; account: DepositAccount }> {
  const memo = input.memo ?? newMemo();
  const [inserted] = await sql<Row[]>`
    insert into deposit_accounts (account_id, memo, customer_ref)
    values (${`acc-${randomToken(16)}`}, ${memo}, ${input.customerRef})
    on conflict (memo) do nothing
    returning *`;
  if (inserted) return { created: true, account: toAccount(inserted) };
  const [existing] = await sql<Row[]>`select * from deposit_accounts where memo = ${memo}`;
  if (!existing) throw new Error(`deposit account with memo ${memo} vanished during creation`);
  if (existing.customer_ref !== input.customerRef) {
    throw new AppError('IDEMPOTENCY_CONFLICT', `Memo ${memo} already belongs to another customer.`, { memo });
  }
  return { created: false, account: toAccount(existing) };
}

export async function findDepositAccount(db: Queryable, accountId: string): Promise<DepositAccount | undefined> {
  const [row] = await db<Row[]>`select * from deposit_accounts where account_id = ${accountId}`;
  return row ? toAccount(row) : undefined;
}

export interface CreditedTotal {
  instrument: { admin: string; id: string };
  credited: string;
  deposits: number;
}

/** Sum of what was credited to the account, per instrument (amounts exact, summed in SQL). */
export async function creditedTotals(db: Queryable, accountId: string): Promise<CreditedTotal[]> {
  const rows = await db<{ instrument_admin: string; instrument_id: string; credited: string; n: number }[]>`
    select instrument_admin, instrument_id, sum(credited_amount)::numeric(38,10)::text as credited, count(*)::int as n
    from deposits where account_id = ${accountId} and status = 'credited'
    group by 1, 2 order by 1, 2`;
  return rows.map((r) => ({ instrument: { admin: r.instrument_admin, id: r.instrument_id }, credited: r.credited, deposits: r.n }));
}

export async function findDepositAccountByMemo(db: Queryable, memo: string): Promise<DepositAccount | undefined> {
  const [row] = await db<Row[]>`select * from deposit_accounts where memo = ${memo}`;
  return row ? toAccount(row) : undefined;
}

/** The account an operator names: by its id, else by its memo (what the customer typed). */
export async function resolveDepositAccount(db: Queryable, idOrMemo: string): Promise<DepositAccount | undefined> {
  return (await findDepositAccount(db, idOrMemo)) ?? (await findDepositAccountByMemo(db, idOrMemo));
}

export interface AccountFilter {
  /** Exact memo. */
  memo?: string | undefined;
  /** Exact customer reference. */
  customerRef?: string | undefined;
  /** The start of a memo, a customer reference or an account id, any case. */
  search?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** Newest first, keyset-paged on (created_at, account_id) like the other lists. */
export async function listDepositAccounts(
  db: Queryable,
  f: AccountFilter,
): Promise<{ items: DepositAccount[]; nextCursor: string | null }> {
  const c = f.cursor === undefined ? undefined : decodeCursor(f.cursor);
  // LIKE's own wildcards in what the operator typed are literal characters.
  const prefix = f.search === undefined ? undefined : `${f.search.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
  const rows = await db<Row[]>`
    select * from deposit_accounts
    where true
      ${f.memo === undefined ? db`` : db`and memo = ${f.memo}`}
      ${f.customerRef === undefined ? db`` : db`and customer_ref = ${f.customerRef}`}
      ${prefix === undefined ? db`` : db`and (memo ilike ${prefix} or customer_ref ilike ${prefix} or account_id ilike ${prefix})`}
      ${c === undefined ? db`` : db`and (created_at, account_id) < (${c.t}::timestamptz, ${c.id})`}
    order by created_at desc, account_id desc
    limit ${f.limit + 1}`;
  const items = rows.slice(0, f.limit).map(toAccount);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > f.limit && last ? encodeCursor({ t: last.createdAt, id: last.accountId }) : null };
}

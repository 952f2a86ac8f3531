import { afterEach, describe, expect, it } from 'vitest';
import { staticToken } from '../../src/ledger/auth.js';
import { LedgerHttp } from '../../src/ledger/http.js';
import { LedgerReadClient, treasuryUpdateFormat } from '../../src/ledger/read-client.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { listActiveHoldings } from '../../src/store/holdings.js';
import { upsertInstrument } from '../../src/store/instruments.js';
import { ingestBatch } from '../../src/store/ingestion.js';
import { toIngestElement } from '../../src/ingestion/elements.js';
import { TransactionSlimmer } from '../../src/ingestion/slim.js';
import { auth, buildApiApp } from '../support/api-app.js';
import { useMigratedDatabase } from '../support/db.js';
import { eventsOf, resetIngestionTables } from './support/db-state.js';

/**
 * Counterfeit holdings (issue 19, item 5): a stranger's own package can implement the Holding and
 * TransferInstruction interfaces with any view — the treasury as owner, "Canton Coin", a known
 * memo — and name the treasury an observer. Only what the instrument's admin signed, of an
 * onboarded instrument, is the treasury's. Against the ledger double (control.counterfeit), its
 * updates read as the daemon reads them and ingested in one batch.
 */

const { sql } = await useMigratedDatabase({ max: 4 });

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.stop();
  sb = undefined;
});

/** The double with a funded customer, the treasury, and only `onboard` in the instruments table. */
async function world(onboard: readonly ('Amulet' | 'UTK')[]) {
  await resetIngestionTables(sql);
  await sql`delete from instruments`;
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values ('acct-1', 'memo-1', 'a')`;
  const s = (sb = await startSandbox({ clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } }));
  for (const i of s.instruments.filter((x) => (onboard as readonly string[]).includes(x.id))) {
    await upsertInstrument(sql, {
      admin: i.admin,
      id: i.id,
      registryUrl: i.registryUrl,
      displayDecimals: 10,
      transferPolicy: 'direct-or-offer',
      enabled: true,
    });
  }
  const treasury = s.treasury!.party;
  const bob = s.control.createCustomer({
    fund: [
      { instrument: 'Amulet', amount: '1000' },
      { instrument: 'UTK', amount: '1000' },
    ],
  }).party;
  return { s, treasury, bob, cc: s.control.instrument('Amulet'), utk: s.control.instrument('UTK') };
}

/** Everything the treasury saw so far (from `after`), ingested as one batch, as the daemon reads it. */
async function ingestAll(s: Sandbox, treasury: string, after = 0) {
  const reads = new LedgerReadClient(new LedgerHttp({ baseUrl: s.jsonApiUrl, auth: staticToken(await s.tokenFor(s.treasury!.userId)) }));
  const end = await reads.ledgerEnd();
  const raw = await reads.updates({ beginExclusive: after, endInclusive: end, updateFormat: treasuryUpdateFormat(treasury) });
  const slimmer = new TransactionSlimmer();
  return ingestBatch(
    sql,
    raw.map((el) => toIngestElement(el, slimmer)),
    { treasuryParty: treasury },
  );
}

async function depositRows() {
  return sql<
    {
      deposit_id: string;
      kind: string;
      status: string;
      status_reason: string | null;
      instrument_admin: string;
      instrument_id: string;
      memo: string | null;
      account_id: string | null;
      transfer_amount: string;
      credited_amount: string | null;
      transfer_instruction_cid: string | null;
    }[]
  >`
    select deposit_id, kind, status, status_reason, instrument_admin, instrument_id, memo, account_id, transfer_amount::text, credited_amount::text, transfer_instruction_cid
    from deposits order by deposit_id`;
}

describe('counterfeit holdings', () => {
  it('a counterfeit Canton Coin holding with a known memo, and tokens not onboarded, are recorded with the reason, never credited nor held; a genuine deposit in the same batch is credited', async () => {
    const { s, treasury, bob, cc, utk } = await world(['Amulet']);
    const genuine = s.control.transfer({ from: bob, to: treasury, instrument: 'Amulet', amount: '10', memo: 'memo-1' });
    // The stranger's own choice creates it; its result says "a transfer of 1,000,000 Canton Coin to memo-1".
    const viaTransfer = s.control.counterfeit({ to: treasury, instrument: 'Amulet', amount: '1000000', memo: 'memo-1' });
    // Bare, the memo only in the holding's own meta.
    const bare = s.control.counterfeit({
      issuer: viaTransfer.issuer,
      to: treasury,
      instrument: 'Amulet',
      amount: '500',
      memo: 'memo-1',
      via: 'create',
    });
    // The stranger's own token, which it administers and signs: genuine, but nobody onboarded it.
    const own = s.control.counterfeit({
      issuer: viaTransfer.issuer,
      to: treasury,
      instrument: { admin: viaTransfer.issuer, id: 'STR' },
      amount: '77',
      memo: 'memo-1',
    });
    // A real token of the double that the exchange has not onboarded.
    const unlisted = s.control.transfer({ from: bob, to: treasury, instrument: 'UTK', amount: '20', memo: 'memo-1', mode: 'offer' });
    const mintedUtk = s.control.mint(treasury, 'UTK', '30');

    const r = await ingestAll(s, treasury);
    const rows = await depositRows();
    const byInstrument = (admin: string, id: string) => rows.filter((d) => d.instrument_admin === admin && d.instrument_id === id);
    // The genuine deposit alone is credited.
    const credited = rows.filter((d) => d.status === 'credited');
    expect(credited).toEqual([expect.objectContaining({ account_id: 'acct-1', credited_amount: '10.0000000000' })]);
    expect(credited[0]!.deposit_id.startsWith(`${genuine.updateId}:`)).toBe(true);
    expect(r.facts.flatMap((f) => f.ignored ?? []).map((i) => [i.contractId, i.reasons])).toEqual([
      [viaTransfer.contractId, ['admin not a signatory']],
      [bare.contractId, ['admin not a signatory']],
      [own.contractId, ['instrument not onboarded']],
      [unlisted.transferInstructionCid, ['instrument not onboarded']],
      [expect.any(String), ['instrument not onboarded']],
    ]);
    const ignored = rows.filter((d) => d.status === 'ignored');
    expect(ignored).toHaveLength(5);
    for (const d of ignored) expect(d).toMatchObject({ account_id: null, credited_amount: null });
    expect(
      byInstrument(cc.admin, 'Amulet')
        .filter((d) => d.status === 'ignored')
        .map((d) => [d.transfer_amount, d.memo, d.status_reason]),
    ).toEqual(
      expect.arrayContaining([
        ['1000000.0000000000', 'memo-1', `admin not a signatory (signed by ${viaTransfer.issuer})`],
        ['500.0000000000', 'memo-1', `admin not a signatory (signed by ${viaTransfer.issuer})`],
      ]),
    );
    expect(byInstrument(viaTransfer.issuer, 'STR')).toEqual([
      expect.objectContaining({
        status: 'ignored',
        memo: 'memo-1',
        transfer_amount: '77.0000000000',
        status_reason: `instrument not onboarded (signed by ${viaTransfer.issuer})`,
      }),
    ]);
    expect(byInstrument(utk.admin, 'UTK')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'two_step',
          deposit_id: unlisted.transferInstructionCid,
          transfer_instruction_cid: unlisted.transferInstructionCid,
          status: 'ignored',
          memo: 'memo-1',
          status_reason: expect.stringMatching(/^instrument not onboarded \(signed by /),
        }),
        expect.objectContaining({
          kind: 'one_step',
          deposit_id: expect.stringMatching(new RegExp(`^${mintedUtk.updateId}:`)),
          status: 'ignored',
          transfer_amount: '30.0000000000',
        }),
      ]),
    );

    // The treasury's holdings are exactly its genuine Canton Coin: the double's own books.
    const held = await listActiveHoldings(sql, treasury);
    expect(held.map((h) => [h.instrument, h.amount])).toEqual([[{ admin: cc.admin, id: 'Amulet' }, '10.0000000000']]);
    expect(s.control.books.balances(treasury)[`${cc.admin}/Amulet`]?.total).toBe('10.0000000000');
    expect(await sql`select 1 from transfer_instructions`).toHaveLength(0);

    // Events: one credit, one deposit.ignored per ignored deposit, no offer to accept.
    const events = await eventsOf(sql);
    expect(events.filter((e) => e.topic === 'deposit.credited').map((e) => e.aggregate_id)).toEqual([credited[0]!.deposit_id]);
    expect(events.filter((e) => e.topic === 'deposit.offer_received' || e.topic === 'deposit.unattributed')).toEqual([]);
    expect(
      events
        .filter((e) => e.topic === 'deposit.ignored')
        .map((e) => e.aggregate_id)
        .sort(),
    ).toEqual(ignored.map((d) => d.deposit_id).sort());
    expect(r.warnings.filter((w) => w.message.startsWith('ignored a '))).toHaveLength(5);

    // The operators' list of what does not count, with the reason.
    const app = await buildApiApp(sql);
    try {
      const res = await app.inject({ method: 'GET', url: '/v1/deposits?status=ignored', headers: auth('read') });
      expect(res.statusCode).toBe(200);
      const items = res.json<{
        items: { depositId: string; status: string; statusReason: string; creditedAmount: string | null; accountId: string | null }[];
      }>().items;
      expect(items.map((i) => i.depositId).sort()).toEqual(ignored.map((d) => d.deposit_id).sort());
      const forged = items.find((i) => i.depositId === `${viaTransfer.updateId}:${r.facts.flatMap((f) => f.ignored ?? [])[0]!.nodeId}`);
      expect(forged).toMatchObject({
        status: 'ignored',
        statusReason: expect.stringMatching(/^admin not a signatory/),
        creditedAmount: null,
        accountId: null,
      });
      // Not among the deposits an operator may assign to an account.
      const assignable = (await app.inject({ method: 'GET', url: '/v1/deposits?status=unattributed', headers: auth('read') })).json<{
        items: unknown[];
      }>().items;
      expect(assignable).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('a counterfeit archived, even inside a choice claiming the treasury sent it with a withdrawal id, debits nothing, in its own batch or a later one', async () => {
    const { s, treasury, bob, cc } = await world(['Amulet', 'UTK']);
    await sql`insert into withdrawals (withdrawal_id, account, instrument_admin, instrument_id, amount, receiver, status)
              values ('w-1', 'acct-1', ${cc.admin}, 'Amulet', 5, ${bob}, 'executing'), ('w-2', 'acct-1', ${cc.admin}, 'Amulet', 5, ${bob}, 'executing')`;
    s.control.transfer({ from: bob, to: treasury, instrument: 'Amulet', amount: '10', memo: 'memo-1' });
    // Created and archived in the same batch: the archive dressed as the treasury paying w-1.
    const early = s.control.counterfeit({ to: treasury, instrument: 'Amulet', amount: '7', memo: 'memo-1' });
    s.control.archiveCounterfeit(early.contractId, { claimSender: treasury, memo: 'w-1' });
    const late = s.control.counterfeit({
      issuer: early.issuer,
      to: treasury,
      instrument: 'Amulet',
      amount: '8',
      memo: 'memo-1',
      via: 'create',
    });
    const plain = s.control.counterfeit({ issuer: early.issuer, to: treasury, instrument: 'Amulet', amount: '9', via: 'create' });
    const first = await ingestAll(s, treasury);
    // Archived in a later batch: once dressed as paying w-2, once plainly.
    s.control.archiveCounterfeit(late.contractId, { claimSender: treasury, memo: 'w-2' });
    s.control.archiveCounterfeit(plain.contractId);
    const second = await ingestAll(s, treasury, first.checkpoint.offset);

    expect(await sql`select withdrawal_id, transfer_update_id, recovered from withdrawals order by withdrawal_id`).toEqual([
      { withdrawal_id: 'w-1', transfer_update_id: null, recovered: false },
      { withdrawal_id: 'w-2', transfer_update_id: null, recovered: false },
    ]);
    expect((await eventsOf(sql)).filter((e) => e.topic.startsWith('withdrawal.'))).toEqual([]);
    expect((await listActiveHoldings(sql, treasury)).map((h) => h.amount)).toEqual(['10.0000000000']);
    for (const f of [...first.facts, ...second.facts]) {
      expect(f.holdingsArchived).toEqual([]);
      expect(f.activities.filter((a) => a.kind === 'transfer_out' || a.kind === 'holdings_changed')).toEqual([]);
    }
    expect(
      (await depositRows())
        .filter((d) => d.status === 'ignored')
        .map((d) => d.transfer_amount)
        .sort(),
    ).toEqual(['7.0000000000', '8.0000000000', '9.0000000000']);
  });
});

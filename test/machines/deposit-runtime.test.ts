import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/store/db.js';
import { appendOutboxEvents } from '../../src/store/outbox.js';
import { FakeLedger, TRANSIENT, UNAUTHENTICATED } from './support/fake-ledger.js';
import { AMULET } from './support/fixtures.js';
import { freshDatabase, outboxOf, startDeposits, stateOf, transitionsOf, waitFor, waitForState } from './support/runtime.js';
import { sampleEvent } from '../support/outbox-events.js';

const D = 'deposit';
const FINAL = ['credited', 'rejected', 'withdrawnBySender', 'expired', 'failed'];

async function account(sql: Sql, accountId: string): Promise<void> {
  await sql`insert into deposit_accounts (account_id, memo, customer_ref) values (${accountId}, ${'memo-' + accountId}, ${'cust-' + accountId})`;
}

/** A 2-step offer as ingestion records it: row + deposit.offer_received, and the instruction on the ledger. */
async function offer(sql: Sql, ledger: FakeLedger, cid: string, accountId: string | null, amount = '25'): Promise<void> {
  ledger.offer(cid, cid, amount);
  await sql.begin(async (tx) => {
    await tx`
      insert into deposits (deposit_id, kind, status, instrument_admin, instrument_id, sender, memo, account_id, transfer_amount, transfer_instruction_cid, execute_before, offer_update_id)
      values (${cid}, 'two_step', 'offered', ${AMULET.admin}, ${AMULET.id}, 'alice::1220bb', ${accountId ? 'memo-' + accountId : 'who?'}, ${accountId}, ${amount}, ${cid}, now() + interval '1 day', 'u-offer')`;
    await appendOutboxEvents(tx, [sampleEvent('deposit.offer_received', cid, { transferInstructionCid: cid, accountId, amount })]);
  });
}

/** A 1-step deposit with an unknown memo, as ingestion records it. */
async function unattributedTransfer(sql: Sql, id: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`
      insert into deposits (deposit_id, kind, status, instrument_admin, instrument_id, memo, transfer_amount, credited_amount, fee, credit_update_id, credit_offset, credit_record_time)
      values (${id}, 'one_step', 'unattributed', ${AMULET.admin}, ${AMULET.id}, 'typo', '10', '9.9', '0.1', 'u-in', 7, now())`;
    await appendOutboxEvents(tx, [
      sampleEvent('deposit.unattributed', id, { kind: 'one_step', memo: 'typo', transferInstructionCid: null }),
    ]);
  });
}

async function depositRow(sql: Sql, id: string) {
  const [r] = await sql<
    { status: string; account_id: string | null; status_reason: string | null }[]
  >`select status, account_id, status_reason from deposits where deposit_id = ${id}`;
  return r;
}

async function ingestUntilFinal(sql: Sql, ledger: FakeLedger, id: string): Promise<string> {
  return waitFor(
    `${id} final`,
    async () => {
      await ledger.ingest();
      return stateOf(sql, D, id);
    },
    (s) => FINAL.includes(s),
    15_000,
  );
}

describe('deposit runtime', () => {
  it('2-step with a known account: accepted, credited once by ingestion; the machine mirrors accepting', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a1');
    await startDeposits(sql, ledger);
    await offer(sql, ledger, 'ti-1', 'a1');
    await waitForState(sql, D, 'ti-1', 'awaitingLedger');
    expect(await depositRow(sql, 'ti-1')).toMatchObject({ status: 'accepting', account_id: 'a1' });
    expect(await ingestUntilFinal(sql, ledger, 'ti-1')).toBe('credited');
    expect(ledger.accepts).toEqual([{ depositId: 'ti-1', cid: 'ti-1' }]);
    expect(await outboxOf(sql, 'deposit.credited', 'ti-1')).toHaveLength(1);
    expect(await depositRow(sql, 'ti-1')).toMatchObject({ status: 'credited' });
    expect((await transitionsOf(sql, D, 'ti-1')).map((t) => t.event_type).slice(-2)).toEqual(['OFFER_CLOSED', 'CREDITED']);
  });

  it('an offer accepted, closed and credited while the automation was down: created final from its row, never accepted again', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a1');
    await offer(sql, ledger, 'ti-1', 'a1');
    ledger.offers.get('ti-1')!.state = 'accepted';
    await ledger.ingest();
    await startDeposits(sql, ledger);
    await waitForState(sql, D, 'ti-1', 'credited');
    expect(ledger.count('fetchAcceptContext')).toBe(0);
    expect(await outboxOf(sql, 'deposit.credited', 'ti-1')).toHaveLength(1);
  });

  it('an offer withdrawn by the sender while we were accepting ends withdrawnBySender, no credit', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a1');
    ledger.plan('executeSubmission', 'hang');
    await startDeposits(sql, ledger);
    await offer(sql, ledger, 'ti-1', 'a1');
    await waitForState(sql, D, 'ti-1', 'accepting.executing');
    ledger.senderWithdraws('ti-1');
    expect(await ingestUntilFinal(sql, ledger, 'ti-1')).toBe('withdrawnBySender');
    expect(await depositRow(sql, 'ti-1')).toMatchObject({ status: 'withdrawn' });
    expect(await outboxOf(sql, 'deposit.credited', 'ti-1')).toEqual([]);
  });

  it('duplicate accept submissions (an answer lost, then a retry) end in one accept and one credit', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a1');
    ledger.plan('executeSubmission', 'commitThenAmbiguous');
    await startDeposits(sql, ledger);
    await offer(sql, ledger, 'ti-1', 'a1');
    await waitForState(sql, D, 'ti-1', 'acceptBackoff');
    await waitForState(sql, D, 'ti-1', 'awaitingLedger');
    expect(await ingestUntilFinal(sql, ledger, 'ti-1')).toBe('credited');
    expect(ledger.accepts).toHaveLength(1);
    expect(await outboxOf(sql, 'deposit.credited', 'ti-1')).toHaveLength(1);
  });

  it('an unattributed 1-step deposit: ASSIGN credits it exactly once, in the transition transaction; every later ASSIGN is refused', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a9');
    const rt = await startDeposits(sql, ledger);
    await unattributedTransfer(sql, 'd1');
    await waitForState(sql, D, 'd1', 'unattributed');
    expect(await rt.sendOperatorCommand('d1', { type: 'ASSIGN', accountId: 'nobody', by: 'admin' })).toEqual({
      accepted: false,
      code: 'STATE_CONFLICT',
      reason: 'unknown deposit account nobody',
    });
    expect(await rt.sendOperatorCommand('d1', { type: 'RETRY_ACCEPT', by: 'admin' })).toMatchObject({
      accepted: false,
      code: 'STATE_CONFLICT',
    });
    expect(await rt.sendOperatorCommand('d1', { type: 'ASSIGN', accountId: 'a9', by: 'admin' })).toEqual({
      accepted: true,
      state: 'credited',
    });
    expect(await depositRow(sql, 'd1')).toEqual({ status: 'credited', account_id: 'a9', status_reason: 'assigned by admin' });
    expect(await outboxOf(sql, 'deposit.credited', 'd1')).toEqual([
      expect.objectContaining({
        depositId: 'd1',
        accountId: 'a9',
        transferAmount: '10.0000000000',
        creditedAmount: '9.9000000000',
        fee: '0.1000000000',
        updateId: 'u-in',
        offset: 7,
        assignedBy: 'admin',
      }),
    ]);
    expect(await rt.sendOperatorCommand('d1', { type: 'ASSIGN', accountId: 'a9', by: 'admin' })).toEqual({
      accepted: false,
      code: 'STATE_CONFLICT',
      reason: 'deposit d1 is already credited to a9',
    });
    // The runtime reads its own deposit.credited back: nothing changes.
    const [last] = await sql<{ max: number }[]>`select max(event_id)::bigint as max from outbox_events`;
    await waitFor(
      'cursor past the credit',
      async () =>
        (await sql<{ last_event_id: number }[]>`select last_event_id from outbox_cursors where consumer = 'deposit-runtime'`)[0]
          ?.last_event_id,
      (c) => c === last!.max,
    );
    expect(await outboxOf(sql, 'deposit.credited', 'd1')).toHaveLength(1);
    expect((await transitionsOf(sql, D, 'd1')).map((t) => t.event_type)).toEqual(['xstate.init', 'ASSIGN']);
  });

  it('an ASSIGN whose transaction fails writes nothing, and the machine stays assignable', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a9');
    let fail = true;
    const rt = await startDeposits(sql, ledger, {
      hooks: {
        beforeCommit: ({ eventType }) => {
          if (eventType === 'ASSIGN' && fail) {
            fail = false;
            throw new Error('injected crash before commit');
          }
        },
      },
    });
    await unattributedTransfer(sql, 'd1');
    await waitForState(sql, D, 'd1', 'unattributed');
    await expect(rt.sendOperatorCommand('d1', { type: 'ASSIGN', accountId: 'a9', by: 'admin' })).rejects.toThrow(
      'injected crash before commit',
    );
    expect(await depositRow(sql, 'd1')).toMatchObject({ status: 'unattributed', account_id: null });
    expect(await outboxOf(sql, 'deposit.credited', 'd1')).toEqual([]);
    expect(await stateOf(sql, D, 'd1')).toBe('unattributed');
    const again = await waitFor(
      'reloaded and assignable',
      () => rt.sendOperatorCommand('d1', { type: 'ASSIGN', accountId: 'a9', by: 'admin' }),
      (r) => r.accepted,
    );
    expect(again).toEqual({ accepted: true, state: 'credited' });
    expect(await outboxOf(sql, 'deposit.credited', 'd1')).toHaveLength(1);
  });

  it('a 2-step offer with an unknown memo is never accepted; ASSIGN before it closes accepts it and ingestion credits the assigned account', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a5');
    const rt = await startDeposits(sql, ledger);
    await offer(sql, ledger, 'ti-u', null);
    await waitForState(sql, D, 'ti-u', 'unattributed');
    await new Promise((r) => setTimeout(r, 200));
    expect(ledger.count('fetchAcceptContext')).toBe(0);
    // Ingestion keeps owning the row's status so that it can still close the offer.
    expect(await depositRow(sql, 'ti-u')).toMatchObject({ status: 'offered', status_reason: 'unknown memo "who?"' });
    expect(await rt.sendOperatorCommand('ti-u', { type: 'ASSIGN', accountId: 'a5', by: 'admin' })).toMatchObject({ accepted: true });
    expect(await ingestUntilFinal(sql, ledger, 'ti-u')).toBe('credited');
    expect(await outboxOf(sql, 'deposit.credited', 'ti-u')).toEqual([expect.objectContaining({ accountId: 'a5' })]);
  });

  it('accept failures that must not be retried mark the offer acceptFailed (announced); RETRY_ACCEPT tries again', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a1');
    ledger.plan('fetchAcceptContext', { throw: UNAUTHENTICATED });
    const rt = await startDeposits(sql, ledger);
    await offer(sql, ledger, 'ti-1', 'a1');
    await waitForState(sql, D, 'ti-1', 'acceptFailed');
    expect(await depositRow(sql, 'ti-1')).toMatchObject({
      status: 'accept_failed',
      status_reason: expect.stringMatching(/UNAUTHENTICATED \(HTTP 401\)/),
    });
    expect(await outboxOf(sql, 'deposit.accept_failed', 'ti-1')).toEqual([expect.objectContaining({ depositId: 'ti-1', attempts: 1 })]);
    expect(await rt.sendOperatorCommand('ti-1', { type: 'RETRY_ACCEPT', by: 'ops' })).toMatchObject({ accepted: true });
    expect(await ingestUntilFinal(sql, ledger, 'ti-1')).toBe('credited');
  });
});

interface DepositCrash {
  name: string;
  state: string;
  kind?: 'offer' | 'unattributed-offer' | 'one-step';
  setup?: (c: { sql: Sql; ledger: FakeLedger }) => void | Promise<void>;
  reach?: (c: { sql: Sql; ledger: FakeLedger }) => Promise<void>;
  finish?: (c: { sql: Sql; ledger: FakeLedger; rt: Awaited<ReturnType<typeof startDeposits>> }) => Promise<void>;
}

const DEPOSIT_CRASHES: DepositCrash[] = [
  {
    name: 'fetching the accept context',
    state: 'accepting.fetchingContext',
    setup: ({ ledger }) => ledger.plan('fetchAcceptContext', 'hang'),
  },
  { name: 'preparing the accept', state: 'accepting.preparing', setup: ({ ledger }) => ledger.plan('prepareAccept', 'hang') },
  { name: 'signing', state: 'accepting.signing', setup: ({ ledger }) => ledger.plan('verifyAndSign', 'hang') },
  {
    name: 'executing, before the ledger saw it',
    state: 'accepting.executing',
    setup: ({ ledger }) => ledger.plan('executeSubmission', 'hang'),
  },
  {
    name: 'executing, accepted but the answer lost',
    state: 'accepting.executing',
    setup: ({ ledger }) => ledger.plan('executeSubmission', 'commitThenHang'),
  },
  { name: 'accept backoff', state: 'acceptBackoff', setup: ({ ledger }) => ledger.plan('fetchAcceptContext', { throw: TRANSIENT }) },
  { name: 'awaiting the ledger', state: 'awaitingLedger' },
  {
    name: 'accept failed',
    state: 'acceptFailed',
    setup: ({ ledger }) => ledger.plan('fetchAcceptContext', { throw: UNAUTHENTICATED }),
    finish: async ({ rt }) => {
      expect(await rt.sendOperatorCommand('ti-1', { type: 'RETRY_ACCEPT', by: 'ops' })).toMatchObject({ accepted: true });
    },
  },
  {
    name: 'awaiting the credit after the accept was seen',
    state: 'awaitingCredit',
    setup: ({ ledger }) => ledger.plan('executeSubmission', 'hang'),
    reach: async ({ sql }) => {
      await waitForState(sql, D, 'ti-1', 'accepting.executing');
      // Ingestion has reported the close but not (yet) the credit.
      await sql.begin((tx) =>
        appendOutboxEvents(tx, [sampleEvent('deposit.offer_closed', 'ti-1', { outcome: 'accepted', updateId: 'u-x' })]),
      );
    },
    finish: async ({ sql }) => {
      await sql.begin(async (tx) => {
        await tx`update deposits set status = 'credited', credited_amount = 25 where deposit_id = 'ti-1'`;
        await appendOutboxEvents(tx, [sampleEvent('deposit.credited', 'ti-1', { accountId: 'a1', creditedAmount: '25', updateId: 'u-x' })]);
      });
    },
  },
  {
    name: 'unattributed 2-step offer',
    state: 'unattributed',
    kind: 'unattributed-offer',
    finish: async ({ rt }) => {
      expect(await rt.sendOperatorCommand('ti-1', { type: 'ASSIGN', accountId: 'a1', by: 'admin' })).toMatchObject({ accepted: true });
    },
  },
  {
    name: 'unattributed 1-step transfer',
    state: 'unattributed',
    kind: 'one-step',
    finish: async ({ rt }) => {
      expect(await rt.sendOperatorCommand('ti-1', { type: 'ASSIGN', accountId: 'a1', by: 'admin' })).toMatchObject({ accepted: true });
    },
  },
];

describe('deposit runtime: crash in every state, restart, exactly one credit', () => {
  it.each(DEPOSIT_CRASHES)('crash while $name', async (c) => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await account(sql, 'a1');
    await c.setup?.({ sql, ledger });
    const first = await startDeposits(sql, ledger);
    if (c.kind === 'one-step') await unattributedTransfer(sql, 'ti-1');
    else await offer(sql, ledger, 'ti-1', c.kind === 'unattributed-offer' ? null : 'a1');
    if (c.reach) await c.reach({ sql, ledger });
    await waitForState(sql, D, 'ti-1', c.state);
    await first.abort();
    expect(await stateOf(sql, D, 'ti-1')).toBe(c.state);

    ledger.clearPlans();
    const second = await startDeposits(sql, ledger);
    await c.finish?.({ sql, ledger, rt: second });
    expect(await ingestUntilFinal(sql, ledger, 'ti-1')).toBe('credited');
    expect(ledger.accepts.length).toBeLessThanOrEqual(1);
    expect(await outboxOf(sql, 'deposit.credited', 'ti-1')).toEqual([expect.objectContaining({ depositId: 'ti-1', accountId: 'a1' })]);
    expect(await depositRow(sql, 'ti-1')).toMatchObject({ status: 'credited', account_id: 'a1' });
  });
});

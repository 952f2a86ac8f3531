import { afterEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { acceptsOnLedger, amt, checkCreditedOnce, customerDeposits, depositEvents, waitForMachine, wrapDepositActors } from './support.js';

/**
 * Counterfeit offers (issue 19, item 5): a TransferInstruction of a stranger's own package, signed
 * by the stranger alone, naming the treasury as receiver of "Canton Coin" with a known memo. The
 * deposit automation must never accept it: accepting runs the offer's own choice with the
 * treasury's authority, and the offer does not count anyway.
 */

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('counterfeit offers', () => {
  it('a counterfeit 2-step offer with a known memo, or of a token nobody onboarded, is recorded as ignored and never accepted', async () => {
    // Every step the deposit automation takes, by deposit.
    const touched = new Set<string>();
    const s = (stack = await startStack({
      intercept: {
        deposit: wrapDepositActors((_step, depositId, input, real, signal) => {
          if (depositId !== undefined) touched.add(depositId);
          return real(input, signal);
        }),
      },
    }));
    const acct = await s.depositAccount('memo-cf');
    const forged = s.sandbox.control.counterfeit({ to: s.treasury, instrument: 'Amulet', amount: '250', memo: 'memo-cf', kind: 'offer' });
    const own = s.sandbox.control.counterfeit({
      issuer: forged.issuer,
      to: s.treasury,
      instrument: { admin: forged.issuer, id: 'STR' },
      amount: '40',
      memo: 'memo-cf',
      kind: 'offer',
    });
    // A genuine offer after them: once it is credited, the automation has seen the counterfeits.
    const bo = s.customer({ fund: [{ instrument: 'UTK', amount: '100' }] });
    const genuine = await customerDeposits(s, { from: bo, instrument: 'UTK', amount: '12', memo: 'memo-cf' });
    expect(await s.waitForDeposit(genuine.depositId, ['credited', 'accept_failed', 'failed'])).toMatchObject({
      status: 'credited',
      accountId: acct,
      creditedAmount: amt('12'),
    });
    await waitForMachine(s, genuine.depositId, 'credited');

    for (const [c, reason] of [
      [forged, `admin not a signatory (signed by ${forged.issuer})`],
      [own, `instrument not onboarded (signed by ${forged.issuer})`],
    ] as const) {
      // Never accepted, never even attempted; nothing for an operator to assign or retry.
      expect(touched.has(c.contractId), `the deposit automation worked on ${c.contractId}`).toBe(false);
      expect(acceptsOnLedger(s, c.contractId)).toEqual([]);
      const row = await s.waitForDeposit(c.contractId, () => true);
      expect(row).toMatchObject({
        kind: 'two_step',
        status: 'ignored',
        statusReason: reason,
        memo: 'memo-cf',
        accountId: null,
        creditedAmount: null,
        transferInstructionCid: c.contractId,
      });
      expect((await depositEvents(s, c.contractId)).map((e) => e.topic)).toEqual(['deposit.ignored']);
      expect(await s.daemon.deposits.sendOperatorCommand(c.contractId, { type: 'ASSIGN', accountId: acct, by: 'ops' })).toMatchObject({
        accepted: false,
      });
      expect(await s.daemon.deposits.sendOperatorCommand(c.contractId, { type: 'RETRY_ACCEPT', by: 'ops' })).toMatchObject({
        accepted: false,
      });
    }
    expect(touched.has(genuine.depositId)).toBe(true);

    // The operators' list: what does not count, with the reason; the account shows the genuine deposit only.
    const listed = (await s.api('GET', '/v1/deposits?status=ignored')).body['items'] as { depositId: string; statusReason: string }[];
    expect(listed.map((d) => d.depositId).sort()).toEqual([forged.contractId, own.contractId].sort());
    const account = await s.api('GET', `/v1/accounts/${acct}`);
    expect(account.body['credited']).toEqual([{ instrument: { admin: s.utk.admin, id: s.utk.id }, credited: amt('12'), deposits: 1 }]);
    await checkCreditedOnce(s, [genuine.depositId, forged.contractId, own.contractId]);
  });
});

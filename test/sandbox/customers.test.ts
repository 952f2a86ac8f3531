import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerScript } from '../../src/sandbox/customers.js';
import { DEFAULT_INSTRUMENTS } from '../../src/sandbox/engine/instruments.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { transactionsOf, updatesRequest, viewOf } from './support/requests.js';
import { TreasuryWallet } from './support/treasury-wallet.js';
import { WireClient } from './support/wire-client.js';

const REASON = 'splice.lfdecentralizedtrust.org/reason';

describe('scripted customers and fee policies', () => {
  let sb: Sandbox;
  let client: WireClient;
  let treasury: string;

  beforeAll(async () => {
    sb = await startSandbox({
      seed: 'customers',
      clock: { mode: 'manual' },
      commitDelayMs: 1,
      instruments: [
        ...DEFAULT_INSTRUMENTS,
        {
          id: 'USDF',
          family: 'registry',
          adminHint: 'fee-registrar',
          registry: 'fee-token',
          name: 'Fee Dollar',
          symbol: 'USDF',
          fees: { senderFlat: '0', senderRate: '0', receiverRate: '0.02' },
        },
      ],
      treasury: { fund: [{ instrument: 'UTK', amount: '1000' }] },
    });
    treasury = sb.treasury?.party ?? '';
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
  });
  afterAll(() => sb.stop());

  it('performs every scripted action the treasury must handle', async () => {
    const script = new CustomerScript(sb.control, { treasury, memos: ['acct-1'], intervalMs: 60_000, customers: 2, seed: 'x' });
    script.setUp();
    const wallet = new TreasuryWallet(sb, client);
    // an offer from the treasury to a customer, for the customer to answer
    const [input] = wallet.holdings('UTK');
    const { prepared } = await wallet.prepareTransfer({
      receiver: script.customers[0] ?? '',
      instrumentId: 'UTK',
      amount: '5',
      memo: 'wd-c',
      inputs: [input?.contractId ?? ''],
    });
    expect((await wallet.execute(prepared.body, { path: '/v2/interactive-submission/executeAndWait' })).status).toBe(200);

    const begin = sb.control.books.ledgerEnd().offset;
    for (const a of [
      'deposit-1step',
      'deposit-2step',
      'deposit-wrong-memo',
      'deposit-no-memo',
      'withdraw-own-offer',
      'answer-treasury-offer',
      'top-up',
    ] as const)
      script.step(a);
    expect(script.log.map((l) => l.action)).toEqual([
      'deposit-1step',
      'deposit-2step',
      'deposit-wrong-memo',
      'deposit-no-memo',
      'withdraw-own-offer',
      'answer-treasury-offer',
      'top-up',
    ]);

    const txs = transactionsOf(
      await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, begin)),
    );
    const reasons = txs.flatMap((t) =>
      t.events.flatMap((e) => {
        const meta = (e['exerciseResult'] as { meta?: { values?: Record<string, string> } } | undefined)?.meta?.values;
        const view = viewOf(e, 'TransferInstruction') as { transfer?: { meta: { values: Record<string, string> } } } | undefined;
        return [meta?.[REASON], view?.transfer?.meta.values[REASON]].filter((x) => x !== undefined);
      }),
    );
    expect(reasons).toContain('acct-1');
    expect(reasons.some((r) => r?.startsWith('no-such-account-'))).toBe(true);
    // the deposit without a memo is there too: a 1-step transfer with no reason in its meta
    const memoless = txs.filter((t) =>
      t.events.some(
        (e) =>
          e['choice'] === 'TransferPreapproval_Send' &&
          !(e['exerciseResult'] as { meta: { values: Record<string, string> } }).meta.values[REASON],
      ),
    );
    expect(memoless).toHaveLength(1);
  });

  it('credits less than the transfer amount when the receiver pays the fee', async () => {
    const { party } = sb.control.createCustomer({ fund: [{ instrument: 'USDF', amount: '100' }] });
    const offer = sb.control.transfer({ from: party, to: treasury, instrument: 'USDF', amount: '50', memo: 'acct-fee' });
    const wallet = new TreasuryWallet(sb, client);
    const p = await wallet.prepareInstructionChoice('USDF', offer.transferInstructionCid ?? '', 'accept');
    const r = await wallet.execute(p.body, { path: '/v2/interactive-submission/executeAndWait' });
    expect(r.status).toBe(200);
    const [tx] = transactionsOf(
      await client.ok<unknown[]>(
        'POST',
        '/v2/updates?stream_idle_timeout_ms=50',
        updatesRequest(treasury, Number(r.body['completionOffset']) - 1),
      ),
    );
    const credited = tx?.events.find((e) => viewOf(e, 'Holding')?.['owner'] === treasury);
    expect(viewOf(credited ?? {}, 'Holding')?.['amount']).toBe('49.0000000000');
    expect(tx?.events[0]?.['exerciseResult']).toMatchObject({ meta: { values: { 'splice.lfdecentralizedtrust.org/burned': '1.0' } } });
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPersistentSandbox } from '../../src/sandbox/persistent.js';
import { testLogger } from '../support/silent-logger.js';
import { transactionsOf, updatesRequest } from './support/requests.js';
import { TreasuryWallet } from './support/treasury-wallet.js';
import { WireClient } from './support/wire-client.js';

describe('ledger double: a saved ledger continues after a restart', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cxi-sandbox-state-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps parties, contracts, offsets, history, completions and dedup', async () => {
    const first = await startPersistentSandbox(
      dir,
      { commitDelayMs: 1, treasury: { fund: [{ instrument: 'Amulet', amount: '300' }] } },
      testLogger(),
    );
    expect(first.restored).toBe(false);
    const sb1 = first.sb;
    const treasury = sb1.treasury?.party ?? '';
    const { party: alice } = sb1.control.createCustomer({ hint: 'alice', preapproval: true, fund: [{ instrument: 'UTK', amount: '50' }] });
    sb1.control.transfer({ from: alice, to: treasury, instrument: 'UTK', amount: '20', memo: 'acct-a' });
    const wallet1 = new TreasuryWallet(sb1, new WireClient(sb1.jsonApiUrl, await sb1.tokenFor('exchange')));
    const [input] = wallet1.holdings('Amulet');
    const { prepared } = await wallet1.prepareTransfer({
      receiver: alice,
      instrumentId: 'Amulet',
      amount: '10',
      memo: 'wd-1',
      inputs: [input?.contractId ?? ''],
      commandId: 'wd-1',
    });
    const ex = await wallet1.execute(prepared.body, { path: '/v2/interactive-submission/executeAndWait' });
    expect(ex.status).toBe(200);
    const history1 = await wallet1.client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, 0));
    const end1 = sb1.control.books.ledgerEnd();
    const holdings1 = sb1.control.books.holdings();
    await sb1.stop();

    const second = await startPersistentSandbox(dir, { commitDelayMs: 1 }, testLogger());
    try {
      expect(second.restored).toBe(true);
      const sb2 = second.sb;
      expect(sb2.treasury?.party).toBe(treasury);
      expect(sb2.participantId).toBe(sb1.participantId);
      expect(sb2.control.books.ledgerEnd()).toEqual(end1);
      expect(sb2.control.books.holdings()).toEqual(holdings1);
      const client2 = new WireClient(sb2.jsonApiUrl, await sb2.tokenFor('exchange'));
      const history2 = await client2.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, 0));
      expect(transactionsOf(history2)).toEqual(transactionsOf(history1));
      const wallet2 = new TreasuryWallet(sb2, client2);
      expect((await wallet2.completions()).map((c) => c['commandId'])).toContain('wd-1');
      // the same change id is still deduplicated after the restart
      const [input2] = wallet2.holdings('Amulet');
      const again = await wallet2.prepareTransfer({
        receiver: alice,
        instrumentId: 'Amulet',
        amount: '10',
        memo: 'wd-1',
        inputs: [input2?.contractId ?? ''],
        commandId: 'wd-1',
      });
      const dup = await wallet2.execute(again.prepared.body);
      expect(dup.status).toBe(409);
      // and the ledger goes on from where it was
      const next = sb2.control.mint(treasury, 'UTK', '1');
      expect(next.offset).toBe(end1.offset + 1);
    } finally {
      await second.sb.stop();
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { transactionsOf, updatesRequest } from './support/requests.js';
import { WireClient } from './support/wire-client.js';

/**
 * The double's node-level recovery operations: a restore from a backup (offsets move, update ids
 * and record times stay) and a major upgrade (new synchronizer, offsets from the start, the
 * active contracts as import transactions at 0001-01-01T00:00:00Z).
 */
describe('ledger double: node restore and major upgrade', () => {
  let sb: Sandbox | undefined;
  afterEach(async () => {
    await sb?.stop();
    sb = undefined;
  });

  async function setup(seed: string) {
    sb = await startSandbox({ seed, clock: { mode: 'manual' } });
    const treasury = sb.treasury?.party ?? '';
    const client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    const { party: customer } = sb.control.createCustomer({
      hint: 'c',
      fund: [
        { instrument: 'UTK', amount: '50' },
        { instrument: 'Amulet', amount: '50' },
      ],
    });
    sb.control.mint(treasury, 'UTK', '10');
    const read = async () =>
      transactionsOf(await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, 0)));
    return { sb, treasury, client, customer, read };
  }

  it('restores with redelivery: the same updates and record times at offsets moved by the shift', async () => {
    const { sb, treasury, customer, read } = await setup('restore-redeliver');
    const backup = sb.control.backupNode();
    sb.control.transfer({ from: customer, to: treasury, instrument: 'UTK', amount: '2', memo: 'after-backup' });
    const before = await read();
    const r = sb.control.restoreNode({ backupId: backup.backupId, redeliver: true, offsetShift: 5 });
    expect(r.ledgerEnd).toBe(backup.ledgerEnd + (before.at(-1)!.offset - backup.ledgerEnd) + 5);
    const after = await read();
    expect(after.map((t) => [t.updateId, t.recordTime])).toEqual(before.map((t) => [t.updateId, t.recordTime]));
    expect(after.map((t) => t.offset)).toEqual(before.map((t) => (t.offset > backup.ledgerEnd ? t.offset + 5 : t.offset)));
    // the next update comes after, later in record time
    const next = sb.control.transfer({ from: customer, to: treasury, instrument: 'UTK', amount: '1', memo: 'after-restore' });
    expect(next.offset).toBe(r.ledgerEnd + 1);
    expect(next.recordTime > after.at(-1)!.recordTime).toBe(true);
  });

  it('restores without redelivery: what came after the backup is lost and its offsets are taken by new updates', async () => {
    const { sb, treasury, customer, read } = await setup('restore-lost');
    const backup = sb.control.backupNode();
    const lost = sb.control.transfer({ from: customer, to: treasury, instrument: 'Amulet', amount: '2', memo: 'lost' });
    const balanceBefore = sb.control.books.balances(treasury);
    const r = sb.control.restoreNode({ backupId: backup.backupId });
    expect(r.ledgerEnd).toBe(backup.ledgerEnd);
    expect((await read()).map((t) => t.updateId)).not.toContain(lost.updateId);
    expect(sb.control.books.balances(treasury)).not.toEqual(balanceBefore);
    const next = sb.control.transfer({ from: customer, to: treasury, instrument: 'UTK', amount: '1', memo: 'new' });
    expect(next.offset).toBe(lost.offset);
    expect(next.updateId).not.toBe(lost.updateId);
  });

  it('a major upgrade: new synchronizer, offsets from 1, the active contracts imported at 0001-01-01', async () => {
    const { sb, treasury, client, customer, read } = await setup('major-upgrade');
    sb.control.transfer({ from: customer, to: treasury, instrument: 'UTK', amount: '2', memo: 'before' });
    const oldSynchronizer = sb.synchronizerId;
    const holdings = sb.control.books
      .holdings(treasury)
      .map((h) => h.contractId)
      .sort();
    const r = sb.control.majorUpgrade();
    expect(r.synchronizerId).not.toBe(oldSynchronizer);
    const connected = await client.ok<{ connectedSynchronizers: { synchronizerId: string }[] }>('GET', '/v2/state/connected-synchronizers');
    expect(connected.connectedSynchronizers.map((s) => s.synchronizerId)).toEqual([r.synchronizerId]);
    const txs = await read();
    expect(txs.length).toBeGreaterThan(0);
    expect(txs[0]!.offset).toBe(1);
    for (const t of txs) {
      expect(t.recordTime).toBe('0001-01-01T00:00:00Z');
      expect((t as unknown as { synchronizerId: string }).synchronizerId).toBe(r.synchronizerId);
      expect(t.events.every((e) => e.kind === 'CreatedEvent')).toBe(true);
    }
    const imported = txs.flatMap((t) => t.events.map((e) => e['contractId'] as string));
    for (const h of holdings) expect(imported).toContain(h);
    expect(
      sb.control.books
        .holdings(treasury)
        .map((h) => h.contractId)
        .sort(),
    ).toEqual(holdings);
    // new history follows on the new synchronizer, at a real record time
    const next = sb.control.transfer({ from: customer, to: treasury, instrument: 'UTK', amount: '1', memo: 'after' });
    expect(next.offset).toBe(r.ledgerEnd + 1);
    const last = (await read()).at(-1)!;
    expect(last.updateId).toBe(next.updateId);
    expect((last as unknown as { synchronizerId: string }).synchronizerId).toBe(r.synchronizerId);
  });
});

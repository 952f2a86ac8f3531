import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createMachineInspector } from '../../src/machines/runtime/inspector.js';
import { createWithdrawalRuntime } from '../../src/machines/runtime/withdrawal.js';
import { createReservationActors } from '../../src/store/reservations.js';
import { testLogger } from '../support/silent-logger.js';
import { FakeLedger } from './support/fake-ledger.js';
import { insertHolding, TREASURY } from './support/fixtures.js';
import { freshDatabase, requestWithdrawal, TIMINGS, waitFor, waitForState } from './support/runtime.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('inspector', () => {
  it('streams live machines to the Stately inspector bridge, without transaction blobs', async () => {
    const sql = await freshDatabase();
    const ledger = new FakeLedger(sql);
    await insertHolding(sql, { contractId: 'h1', amount: '10' });
    const port = await freePort();
    const inspector = await createMachineInspector({ port });
    const received: string[] = [];
    const viewer = new WebSocket(`ws://localhost:${port}`);
    viewer.on('message', (m: Buffer) => received.push(m.toString()));
    await new Promise((r) => viewer.once('open', r));
    const rt = createWithdrawalRuntime({
      sql,
      logger: testLogger(),
      actors: { ...ledger.withdrawalActors(), ...createReservationActors(sql) },
      config: { treasuryParty: TREASURY },
      runtime: TIMINGS,
      inspect: inspector.inspect,
    });
    try {
      await rt.start();
      await requestWithdrawal(sql, 'w1', '10');
      await waitForState(sql, 'withdrawal', 'w1', 'awaitingLedger.waiting');
      const snapshots = await waitFor(
        'inspection events',
        async () => received.map((m) => JSON.parse(m) as { type: string; snapshot?: { value?: unknown; context?: Record<string, unknown> } }).filter((e) => e.type === '@xstate.snapshot' && e.snapshot?.context?.withdrawalId === 'w1'),
        (s) => s.some((e) => JSON.stringify(e.snapshot?.value) === JSON.stringify({ awaitingLedger: 'waiting' })),
      );
      const last = snapshots[snapshots.length - 1]!;
      expect(last.snapshot?.context?.signed).toBe('[signed]');
    } finally {
      await rt.abort();
      viewer.close();
      inspector.stop();
    }
  });
});

import type { Sandbox } from '../../../src/sandbox/index.js';

/** 1-step CC deposits and UTK offers (every third), half of them accepted, with every kind of memo. */
export function customerActivity(s: Sandbox, n: number): void {
  const treasury = s.treasury?.party;
  if (treasury === undefined) throw new Error('the double has no treasury');
  const alice = s.control.createCustomer({
    fund: [
      { instrument: 'Amulet', amount: '100000' },
      { instrument: 'UTK', amount: '100000' },
    ],
  }).party;
  const memos = ['memo-1', 'memo-2', 'stranger', null] as const;
  for (let i = 0; i < n; i++) {
    const memo = memos[i % memos.length] ?? null;
    s.control.transfer({ from: alice, to: treasury, instrument: 'Amulet', amount: String(1 + i), memo });
    if (i % 3 === 0) {
      const offer = s.control.transfer({ from: alice, to: treasury, instrument: 'UTK', amount: String(2 + i), memo });
      if (i % 2 === 0 && offer.transferInstructionCid !== undefined) s.control.accept(offer.transferInstructionCid);
    }
  }
}

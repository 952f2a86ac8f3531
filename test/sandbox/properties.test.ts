import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addAmounts, subAmounts } from '../../src/lib/decimal.js';
import { Books } from '../../src/sandbox/control/books.js';
import { SandboxEngine } from '../../src/sandbox/engine/engine.js';
import { LedgerError } from '../../src/sandbox/engine/errors.js';
import { DEFAULT_INSTRUMENTS } from '../../src/sandbox/engine/instruments.js';

const BURNED = 'splice.lfdecentralizedtrust.org/burned';

type Action =
  | { kind: 'transfer'; from: number; to: number; inst: number; amount: number; offer: boolean }
  | { kind: 'instruction'; pick: number; choice: 'Accept' | 'Reject' | 'Withdraw' }
  | { kind: 'advance'; seconds: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant('transfer' as const),
    from: fc.nat(3),
    to: fc.nat(3),
    inst: fc.nat(2),
    amount: fc.integer({ min: 1, max: 400 }),
    offer: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('instruction' as const),
    pick: fc.nat(10),
    choice: fc.constantFrom('Accept' as const, 'Reject' as const, 'Withdraw' as const),
  }),
  fc.record({ kind: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 120 }) }),
);

describe('ledger double: UTXO properties under random activity', () => {
  it('conserves supply minus burned fees per instrument, and never spends a holding twice', () => {
    const seen = { transfers: 0, burns: 0, accepts: 0 };
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 40 }), fc.string({ minLength: 1, maxLength: 8 }), (actions, seed) => {
        const engine = new SandboxEngine({
          seed,
          clock: { mode: 'manual', start: '2026-03-01T00:00:00Z' },
          instruments: [
            ...DEFAULT_INSTRUMENTS,
            // a registry token whose receiver pays 1%: credited amounts are below transfer amounts
            {
              id: 'FEE',
              family: 'registry',
              adminHint: 'fee-registrar',
              registry: 'fee',
              name: 'Fee Token',
              symbol: 'FEE',
              fees: { senderFlat: '0', senderRate: '0', receiverRate: '0.01' },
            },
          ],
        });
        const books = new Books(engine);
        const insts = engine.instruments;
        const parties = [0, 1, 2, 3].map((i) => engine.allocateInternal(`p${i}`).party);
        for (const inst of insts) if (inst.config.family === 'amulet') engine.createPreapproval(parties[0] ?? '', inst);
        const minted = new Map<string, string>();
        for (const p of parties) {
          for (const inst of insts) {
            engine.mint(p, inst, '500');
            const key = `${inst.admin}/${inst.config.id}`;
            minted.set(key, addAmounts(minted.get(key) ?? '0', '500'));
          }
        }
        for (const a of actions) {
          const endBefore = engine.ledger.ledgerEnd;
          try {
            if (a.kind === 'transfer') {
              const inst = insts[a.inst % insts.length];
              if (!inst) continue;
              engine.transferAs({
                sender: parties[a.from] ?? '',
                receiver: parties[a.to] ?? '',
                instrument: inst,
                amount: String(a.amount),
                memo: `m-${a.amount}`,
                mode: a.offer ? 'offer' : 'auto',
                executeBefore: new Date(Date.parse(engine.clock.nowIso()) + 90_000).toISOString(),
              });
            } else if (a.kind === 'instruction') {
              const open = engine.activeInstructions();
              const target = open[a.pick % Math.max(open.length, 1)];
              if (!target) continue;
              const actor = a.choice === 'Withdraw' ? target.transfer.sender : target.transfer.receiver;
              engine.instructionActionAs(actor, target.contract.contractId, a.choice);
            } else {
              engine.clock.advance(a.seconds * 1000);
              engine.expireDue();
            }
          } catch (e) {
            // a refused action (insufficient funds, expired, …) must leave no trace
            if (!(e instanceof LedgerError)) throw e;
            expect(engine.ledger.ledgerEnd).toBe(endBefore);
          }
        }

        // every contract is consumed at most once, and what was consumed is no longer active
        const consumed = new Set<string>();
        const burned = new Map<string, string>();
        for (const e of engine.ledger.entriesBetween(0, engine.ledger.ledgerEnd)) {
          if (e.kind !== 'transaction') continue;
          for (const n of e.nodes) {
            if (n.kind !== 'exercise') continue;
            if (n.consuming) {
              expect(consumed.has(n.target.contractId)).toBe(false);
              consumed.add(n.target.contractId);
              expect(engine.ledger.active(n.target.contractId)).toBeUndefined();
            }
          }
          const root = e.nodes[0];
          if (root?.kind === 'exercise' && root.nodeId === 0) {
            const meta = (root.result as { meta?: { values?: Record<string, string> } } | null)?.meta?.values;
            const arg = root.choiceArgument as { transfer?: { instrumentId: { admin: string; id: string } } };
            const t =
              arg.transfer ??
              (root.target.payload.t === 'AmuletTransferInstruction' || root.target.payload.t === 'TransferOffer'
                ? root.target.payload.transfer
                : undefined);
            if (root.choice === 'TransferFactory_Transfer') seen.transfers++;
            if (root.choice === 'TransferInstruction_Accept') seen.accepts++;
            if (meta?.[BURNED] && t) {
              seen.burns++;
              const key = `${t.instrumentId.admin}/${t.instrumentId.id}`;
              burned.set(key, addAmounts(burned.get(key) ?? '0', meta[BURNED]));
            }
          }
        }
        const supply = books.supply();
        for (const [key, m] of minted) {
          expect(supply[key], key).toBe(subAmounts(m, burned.get(key) ?? '0'));
        }
      }),
      { numRuns: 60 },
    );
    // the runs did exercise the paths the property is about
    expect(seen.transfers).toBeGreaterThan(50);
    expect(seen.accepts).toBeGreaterThan(0);
    expect(seen.burns).toBeGreaterThan(0);
  });
});

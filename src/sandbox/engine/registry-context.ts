import type { JsonObject } from '../util/json.js';
import { isoToMicros } from '../util/time.js';
import { contractNotFound, interpretationError } from './errors.js';
import type { Instrument } from './instruments.js';
import type { Ledger } from './ledger.js';
import type { Contract, TransferData } from './types.js';
import { av, ContextKeys, type InstructionChoice, type TransferKind } from './workflows.js';

export interface ChoiceContextPlan {
  /** The `{values: {...}}` to put in extraArgs.context. */
  readonly contextValues: JsonObject;
  /** Contracts the submitter cannot see and must disclose. */
  readonly disclosed: readonly Contract[];
}

export interface FactoryContextPlan extends ChoiceContextPlan {
  readonly factory: Contract;
  readonly kind: TransferKind;
}

function activeOrThrow(ledger: Ledger, cid: string | undefined): Contract {
  const c = cid === undefined ? undefined : ledger.active(cid);
  if (!c) throw contractNotFound(cid ?? '(unset)');
  return c;
}

/** The active TransferPreapproval of `receiver` for a Canton Coin–family instrument, if any. */
export function findPreapproval(ledger: Ledger, inst: Instrument, receiver: string): Contract | undefined {
  if (inst.config.family !== 'amulet') return undefined;
  const now = ledger.clock.now();
  for (const s of ledger.contracts.values()) {
    const p = s.contract.payload;
    if (s.archived === undefined && p.t === 'TransferPreapproval' && p.receiver === receiver && p.dso === inst.admin) {
      if (isoToMicros(p.expiresAt) > now) return s.contract;
    }
  }
  return undefined;
}

/**
 * What the registry answers for a transfer-factory request: the factory, the kind of transfer
 * the factory will run, the choice context and the contracts to disclose. The kind is computed
 * the way the factory itself decides (workflows.transferKind), so registry and ledger agree.
 */
export function factoryContext(ledger: Ledger, inst: Instrument, transfer: Pick<TransferData, 'sender' | 'receiver'>): FactoryContextPlan {
  const factory = activeOrThrow(ledger, inst.factoryCid);
  if (inst.config.family === 'amulet') {
    const rules = activeOrThrow(ledger, inst.rulesCid);
    const round = activeOrThrow(ledger, inst.openRoundCid);
    const values: JsonObject = { [ContextKeys.amuletRules]: av(rules.contractId), [ContextKeys.openRound]: av(round.contractId) };
    const disclosed: Contract[] = [factory, rules, round];
    let kind: TransferKind = transfer.sender === transfer.receiver ? 'self' : 'offer';
    if (kind === 'offer') {
      const pre = findPreapproval(ledger, inst, transfer.receiver);
      if (pre) {
        values[ContextKeys.transferPreapproval] = av(pre.contractId);
        disclosed.push(pre);
        kind = 'direct';
      }
    }
    return { factory, kind, contextValues: values, disclosed };
  }
  const config = activeOrThrow(ledger, inst.instrumentConfigCid);
  const rule = activeOrThrow(ledger, inst.transferRuleCid);
  return {
    factory,
    kind: transfer.sender === transfer.receiver ? 'self' : 'offer',
    contextValues: {
      [ContextKeys.instrumentConfiguration]: av(config.contractId),
      [ContextKeys.transferRule]: av(rule.contractId),
      [ContextKeys.utilityInstrumentConfiguration]: av(config.contractId),
      [ContextKeys.utilityTransferRule]: av(rule.contractId),
    },
    disclosed: [factory, config, rule],
  };
}

/** Choice context for accept / reject / withdraw of a transfer instruction. */
export function instructionContext(ledger: Ledger, inst: Instrument, instructionCid: string, choice: InstructionChoice): ChoiceContextPlan {
  const instruction = activeOrThrow(ledger, instructionCid);
  const p = instruction.payload;
  if (p.t !== 'AmuletTransferInstruction' && p.t !== 'TransferOffer')
    throw interpretationError(`${instructionCid} is not a transfer instruction`);
  if (inst.config.family === 'amulet') {
    const rules = activeOrThrow(ledger, inst.rulesCid);
    const round = activeOrThrow(ledger, inst.openRoundCid);
    const values: JsonObject = { [ContextKeys.amuletRules]: av(rules.contractId), [ContextKeys.openRound]: av(round.contractId) };
    if (choice === 'Accept') values[ContextKeys.expireLock] = { tag: 'AV_Bool', value: true };
    // The receiver cannot see the sender's locked amulet: disclose it with the rules and round.
    const locked = p.t === 'AmuletTransferInstruction' ? ledger.active(p.lockedAmulet) : undefined;
    return { contextValues: values, disclosed: [rules, round, ...(locked ? [locked] : [])] };
  }
  const config = activeOrThrow(ledger, inst.instrumentConfigCid);
  const rule = activeOrThrow(ledger, inst.transferRuleCid);
  return {
    contextValues: {
      [ContextKeys.instrumentConfiguration]: av(config.contractId),
      [ContextKeys.transferRule]: av(rule.contractId),
      [ContextKeys.utilityInstrumentConfiguration]: av(config.contractId),
      [ContextKeys.utilityTransferRule]: av(rule.contractId),
    },
    disclosed: [config, rule],
  };
}

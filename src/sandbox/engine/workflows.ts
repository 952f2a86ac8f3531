import { Decimal } from 'decimal.js';
import { addAmounts, compareAmounts, isPositiveAmount, isZeroAmount, normalizeAmount, subAmounts } from '../../lib/decimal.js';
import { isJsonObject, type Json, type JsonObject } from '../util/json.js';
import { isoToMicros, microsToIso } from '../util/time.js';
import { contractNotFound, interpretationError, LedgerError } from './errors.js';
import { receiverFee, senderFee, showDecimal, type Instrument } from './instruments.js';
import type { Ledger } from './ledger.js';
import { holdingInfo, Interfaces, metaJson, transferJson } from './templates.js';
import type { TxPlan } from './tx.js';
import type { Contract, NodeDraft, Payload, TransferData } from './types.js';

export const MetaKeys = {
  reason: 'splice.lfdecentralizedtrust.org/reason',
  txKind: 'splice.lfdecentralizedtrust.org/tx-kind',
  sender: 'splice.lfdecentralizedtrust.org/sender',
  burned: 'splice.lfdecentralizedtrust.org/burned',
} as const;

/** Keys of the registry-provided choice context (AnyValue entries of extraArgs.context). */
export const ContextKeys = {
  amuletRules: 'amulet-rules',
  openRound: 'open-round',
  transferPreapproval: 'transfer-preapproval',
  expireLock: 'expire-lock',
  instrumentConfiguration: 'instrument-configuration',
  transferRule: 'transfer-rule',
  utilityInstrumentConfiguration: 'utility.digitalasset.com/instrument-configuration',
  utilityTransferRule: 'utility.digitalasset.com/transfer-rule',
} as const;

/** Canton Coin transfers accept at most this many inputs. */
export const MAX_INPUTS = 100;

export type TransferKind = 'self' | 'direct' | 'offer';
export type InstructionChoice = 'Accept' | 'Reject' | 'Withdraw';

export interface FactoryTransferRequest {
  readonly instrument: Instrument;
  readonly factory: Contract;
  readonly expectedAdmin: string;
  readonly transfer: TransferData;
  /** extraArgs exactly as submitted (it is echoed in the choice argument). */
  readonly extraArgs: Json;
}

export interface InstructionChoiceRequest {
  readonly instrument: Instrument;
  readonly instruction: Contract;
  readonly choice: InstructionChoice;
  readonly actor: string;
  readonly extraArgs: Json;
}

export function av(cid: string): JsonObject {
  return { tag: 'AV_ContractId', value: cid };
}

export function emptyExtraArgs(context: JsonObject = {}): JsonObject {
  return { context: { values: context }, meta: { values: {} } };
}

/** The contract id under `key` of a choice context (`{values: {key: {tag: AV_ContractId, value}}}`). */
export function contextCid(extraArgs: Json, key: string): string | undefined {
  if (!isJsonObject(extraArgs)) return undefined;
  const ctx = extraArgs['context'];
  const values = isJsonObject(ctx) ? ctx['values'] : undefined;
  const v = isJsonObject(values) ? values[key] : undefined;
  return isJsonObject(v) && v['tag'] === 'AV_ContractId' && typeof v['value'] === 'string' ? v['value'] : undefined;
}

const sum = (xs: readonly string[]): string => addAmounts('0', ...xs);
const D = Decimal.clone({ precision: 60 });

/**
 * The double's Daml: builds the transaction tree of each token-standard choice against the
 * current ledger state, checking what the real templates check. Nothing here commits; a plan
 * is committed (or prepared for signing) by the caller.
 */
export class Workflows {
  constructor(private readonly ledger: Ledger) {}

  private now(): string {
    return this.ledger.nowIso();
  }

  private contract(payload: Payload, createdAt: string): Contract {
    return { contractId: this.ledger.ids.discriminator(), payload, createdAt };
  }

  private requireActive(cid: string): Contract {
    const c = this.ledger.active(cid);
    if (!c) throw contractNotFound(cid);
    return c;
  }

  private roundCid(inst: Instrument, extraArgs: Json | undefined): string {
    const fromContext = extraArgs === undefined ? undefined : contextCid(extraArgs, ContextKeys.openRound);
    const cid = fromContext ?? inst.openRoundCid;
    if (!cid) throw interpretationError('no open mining round');
    return cid;
  }

  // ---------------------------------------------------------------- set-up and funding

  /** Funding: the admin mints a holding; the owner sees only the created holding. */
  mint(inst: Instrument, owner: string, amount: string): TxPlan {
    const at = this.now();
    if (!isPositiveAmount(amount)) throw interpretationError('mint amount must be positive');
    const amt = normalizeAmount(amount);
    if (inst.config.family === 'amulet') {
      const rules = this.requireActive(inst.rulesCid ?? '');
      const round = this.requireActive(inst.openRoundCid ?? '');
      const amulet = this.contract({ t: 'Amulet', dso: inst.admin, owner, amount: amt, round: inst.round }, at);
      return {
        effectiveAt: at,
        description: 'mint',
        roots: [
          {
            kind: 'exercise',
            target: rules,
            choice: 'AmuletRules_Mint',
            choiceArgument: { receiver: owner, amount: amt, openRound: round.contractId },
            actingParties: [inst.admin],
            consuming: false,
            result: {
              amuletSum: { amulet: amulet.contractId, round: { number: inst.round } },
              meta: metaJson({ [MetaKeys.txKind]: 'mint' }),
            },
            children: [
              { kind: 'fetch', target: round, actingParties: [inst.admin] },
              { kind: 'create', contract: amulet },
            ],
          },
        ],
      };
    }
    const config = this.requireActive(inst.instrumentConfigCid ?? '');
    const holding = this.contract(this.registryHolding(inst, owner, amt), at);
    return {
      effectiveAt: at,
      description: 'mint',
      roots: [
        {
          kind: 'exercise',
          target: config,
          choice: 'InstrumentConfiguration_Mint',
          choiceArgument: { holder: owner, amount: amt, reference: 'sandbox-funding' },
          actingParties: [inst.admin],
          consuming: false,
          result: { holdingCid: holding.contractId, meta: metaJson({ [MetaKeys.txKind]: 'mint' }) },
          children: [{ kind: 'create', contract: holding }],
        },
      ],
    };
  }

  /** A TransferPreapproval for `receiver` (Canton Coin family only). */
  createPreapproval(inst: Instrument, receiver: string, provider: string, validForMs = 365 * 24 * 3600_000): TxPlan {
    if (inst.config.family !== 'amulet') throw interpretationError(`${inst.config.id} does not support transfer preapprovals`);
    const at = this.now();
    const expiresAt = microsToIso(isoToMicros(at) + BigInt(validForMs) * 1000n);
    const pre = this.contract({ t: 'TransferPreapproval', dso: inst.admin, receiver, provider, lastRenewedAt: at, expiresAt }, at);
    return { effectiveAt: at, description: 'preapproval', roots: [{ kind: 'create', contract: pre }] };
  }

  private registryHolding(inst: Instrument, owner: string, amount: string, lock?: { context: string; receiver: string }): Payload {
    return {
      t: 'RegistryHolding',
      operator: inst.operator,
      provider: inst.provider,
      registrar: inst.admin,
      owner,
      instrumentId: inst.config.id,
      amount,
      ...(lock ? { lock } : {}),
    };
  }

  // ---------------------------------------------------------------- validation

  /** The checks TransferFactory_Transfer makes before moving anything. */
  private validateTransfer(req: FactoryTransferRequest): { inputs: Contract[]; total: string } {
    const { instrument: inst, transfer: t } = req;
    if (req.expectedAdmin !== inst.admin) {
      throw interpretationError(`expectedAdmin ${req.expectedAdmin} does not match the factory admin ${inst.admin}`);
    }
    if (t.instrumentId.admin !== inst.admin || t.instrumentId.id !== inst.config.id) {
      throw interpretationError(`unsupported instrument ${t.instrumentId.admin}/${t.instrumentId.id}`);
    }
    if (!isPositiveAmount(t.amount)) throw interpretationError('Transfer amount must be positive');
    const now = isoToMicros(this.now());
    if (isoToMicros(t.requestedAt) > now) throw interpretationError('requestedAt must be in the past');
    if (isoToMicros(t.executeBefore) <= now) throw interpretationError('executeBefore must be in the future');
    if (!this.ledger.parties.has(t.receiver)) {
      // The receiver is an informee (observer of the offer or the holding it gets): Canton's routing
      // finds it hosted on no synchronizer (AdmissibleSynchronizersComputation.scala). Not a
      // definite answer (TransactionErrorImpl's default); the parties in the context as Scala prints a Set.
      throw LedgerError.of(
        'UNKNOWN_INFORMEES',
        'The participant is not connected to any synchronizer where the given informees are known.',
        {
          context: { unknownInformees: `Set(${t.receiver})` },
          definiteAnswer: false,
        },
      );
    }
    if (t.inputHoldingCids.length === 0) throw interpretationError('inputHoldingCids must not be empty');
    if (t.inputHoldingCids.length > MAX_INPUTS) throw interpretationError(`at most ${MAX_INPUTS} input holdings per transfer`);
    if (new Set(t.inputHoldingCids).size !== t.inputHoldingCids.length) throw interpretationError('duplicate input holding');
    const inputs = t.inputHoldingCids.map((cid) => {
      const c = this.requireActive(cid);
      const h = holdingInfo(c.payload);
      if (!h) throw interpretationError(`${cid} is not a holding`);
      if (h.admin !== inst.admin || h.instrumentId !== inst.config.id) throw interpretationError(`holding ${cid} is of another instrument`);
      if (h.owner !== t.sender) throw interpretationError(`holding ${cid} is not owned by the sender ${t.sender}`);
      if (h.locked) throw interpretationError(`holding ${cid} is locked`);
      return c;
    });
    return { inputs, total: sum(inputs.map((c) => holdingInfo(c.payload)?.amount ?? '0')) };
  }

  /** Which workflow a TransferFactory_Transfer with this context runs. */
  transferKind(req: FactoryTransferRequest): TransferKind {
    const t = req.transfer;
    if (t.sender === t.receiver) return 'self';
    if (req.instrument.config.family === 'amulet') {
      const cid = contextCid(req.extraArgs, ContextKeys.transferPreapproval);
      const pre = cid === undefined ? undefined : this.ledger.active(cid);
      if (pre?.payload.t === 'TransferPreapproval' && pre.payload.receiver === t.receiver && pre.payload.dso === req.instrument.admin) {
        if (isoToMicros(pre.payload.expiresAt) > isoToMicros(this.now())) return 'direct';
      }
    }
    return 'offer';
  }

  // ---------------------------------------------------------------- TransferFactory_Transfer

  factoryTransfer(req: FactoryTransferRequest): TxPlan {
    const { inputs, total } = this.validateTransfer(req);
    const kind = this.transferKind(req);
    const inst = req.instrument;
    const t = req.transfer;
    const needed = kind === 'self' ? t.amount : addAmounts(t.amount, senderFee(inst, t.amount));
    if (compareAmounts(total, needed) < 0) {
      throw interpretationError(`insufficient funds: inputs hold ${total}, the transfer needs ${needed}`);
    }
    const at = this.now();
    const built =
      inst.config.family === 'amulet'
        ? this.amuletFactoryTransfer(req, kind, inputs, total, at)
        : this.registryFactoryTransfer(req, kind, inputs, total, at);
    const choiceArgument: JsonObject = { expectedAdmin: req.expectedAdmin, transfer: transferJson(t), extraArgs: req.extraArgs };
    return {
      effectiveAt: at,
      description: kind === 'offer' ? 'transfer-offer' : kind === 'self' ? 'self-transfer' : 'transfer',
      roots: [
        {
          kind: 'exercise',
          target: req.factory,
          interfaceId: Interfaces.TransferFactory,
          choice: 'TransferFactory_Transfer',
          choiceArgument,
          actingParties: [t.sender],
          consuming: false,
          result: built.result,
          children: built.children,
        },
      ],
    };
  }

  private resultMeta(kind: TransferKind, t: TransferData, burned: string): JsonObject {
    if (kind === 'offer') return metaJson({});
    const values: Record<string, string> = {
      [MetaKeys.txKind]: kind === 'self' ? 'merge-split' : 'transfer',
      [MetaKeys.sender]: t.sender,
    };
    const reason = t.meta[MetaKeys.reason];
    if (reason !== undefined) values[MetaKeys.reason] = reason;
    if (!isZeroAmount(burned)) values[MetaKeys.burned] = showDecimal(burned);
    return metaJson(values);
  }

  private amuletFactoryTransfer(
    req: FactoryTransferRequest,
    kind: TransferKind,
    inputs: Contract[],
    total: string,
    at: string,
  ): { children: NodeDraft[]; result: Json } {
    const inst = req.instrument;
    const t = req.transfer;
    const rules = this.requireActive(contextCid(req.extraArgs, ContextKeys.amuletRules) ?? inst.rulesCid ?? '');
    const round = this.requireActive(this.roundCid(inst, req.extraArgs));
    const fetches: NodeDraft[] = [
      { kind: 'fetch', target: rules, actingParties: [t.sender] },
      { kind: 'fetch', target: round, actingParties: [t.sender] },
    ];
    if (kind === 'self') {
      const x = this.amuletRulesTransfer(
        inst,
        rules,
        round,
        t.sender,
        [t.sender],
        inputs,
        total,
        [{ receiver: t.sender, amount: t.amount }],
        '0',
        '0',
        at,
      );
      return {
        children: [...fetches, x.node],
        result: this.instructionResult({ completed: x.outputs }, x.change, this.resultMeta('self', t, '0')),
      };
    }
    if (kind === 'direct') {
      const pre = this.requireActive(contextCid(req.extraArgs, ContextKeys.transferPreapproval) ?? '');
      const sFee = senderFee(inst, t.amount);
      const rFee = receiverFee(inst, t.amount);
      const x = this.amuletRulesTransfer(
        inst,
        rules,
        round,
        t.sender,
        [t.sender, t.receiver],
        inputs,
        total,
        [{ receiver: t.receiver, amount: subAmounts(t.amount, rFee) }],
        sFee,
        rFee,
        at,
      );
      const burned = addAmounts(sFee, rFee);
      const meta = this.resultMeta('direct', t, burned);
      const send: NodeDraft = {
        kind: 'exercise',
        target: pre,
        choice: 'TransferPreapproval_Send',
        choiceArgument: {
          context: {
            amuletRules: rules.contractId,
            context: { openMiningRound: round.contractId, issuingMiningRounds: [], validatorRights: [], featuredAppRight: null },
          },
          inputs: inputs.map((c) => ({ tag: 'InputAmulet', value: c.contractId })),
          amount: normalizeAmount(t.amount),
          sender: t.sender,
          description: t.meta[MetaKeys.reason] ?? null,
        },
        actingParties: [t.sender],
        consuming: false,
        result: { result: { ...x.amuletResult, meta: null }, meta },
        children: [x.node],
      };
      return {
        children: [...fetches, { kind: 'fetch', target: pre, actingParties: [t.sender] }, send],
        result: this.instructionResult({ completed: x.outputs }, x.change, meta),
      };
    }
    // offer: lock amount + the sender fee (paid when the offer is accepted) and create the instruction
    const sFee = senderFee(inst, t.amount);
    const x = this.amuletRulesTransfer(
      inst,
      rules,
      round,
      t.sender,
      [t.sender],
      inputs,
      total,
      [
        {
          receiver: t.sender,
          amount: addAmounts(t.amount, sFee),
          lock: { expiresAt: t.executeBefore, context: `transfer to ${t.receiver}` },
        },
      ],
      '0',
      '0',
      at,
    );
    const locked = x.outputs[0];
    if (!locked) throw interpretationError('no locked output');
    // As recorded: the instruction's transfer names the locked holding as its only input.
    const instruction = this.contract(
      { t: 'AmuletTransferInstruction', lockedAmulet: locked, transfer: { ...t, inputHoldingCids: [locked] } },
      at,
    );
    return {
      children: [...fetches, x.node, { kind: 'create', contract: instruction }],
      result: this.instructionResult({ pending: instruction.contractId }, x.change, this.resultMeta('offer', t, '0')),
    };
  }

  private instructionResult(
    output: { completed: string[] } | { pending: string } | { failed: true },
    senderChange: string[],
    meta: JsonObject,
  ): JsonObject {
    const o: JsonObject =
      'completed' in output
        ? { tag: 'TransferInstructionResult_Completed', value: { receiverHoldingCids: output.completed } }
        : 'pending' in output
          ? { tag: 'TransferInstructionResult_Pending', value: { transferInstructionCid: output.pending } }
          : { tag: 'TransferInstructionResult_Failed', value: {} };
    return { output: o, senderChangeCids: senderChange, meta };
  }

  /**
   * AmuletRules_Transfer: archives the inputs, creates the outputs (plain or locked Amulets) and
   * one change Amulet for the sender, burning the fees. Mirrors the recorded node structure.
   */
  private amuletRulesTransfer(
    inst: Instrument,
    rules: Contract,
    round: Contract,
    sender: string,
    actors: string[],
    inputs: Contract[],
    total: string,
    outputs: { receiver: string; amount: string; lock?: { expiresAt: string; context: string } }[],
    sFee: string,
    rFee: string,
    at: string,
  ): { node: NodeDraft; outputs: string[]; change: string[]; amuletResult: JsonObject } {
    const children: NodeDraft[] = [{ kind: 'fetch', target: round, actingParties: actors }];
    for (const input of inputs) {
      children.push({ kind: 'fetch', target: input, actingParties: actors });
      children.push({
        kind: 'exercise',
        target: input,
        choice: 'Archive',
        choiceArgument: {},
        actingParties: [inst.admin, sender],
        consuming: true,
        result: {},
        children: [],
      });
    }
    const outAmount = sum(outputs.map((o) => o.amount));
    const changeAmount = subAmounts(subAmounts(subAmounts(total, outAmount), sFee), rFee);
    if (compareAmounts(changeAmount, '0') < 0) throw interpretationError('insufficient funds');
    const toOthers = outputs.some((o) => o.receiver !== sender);
    if (toOthers) {
      const coupon = normalizeAmount(new D(outAmount).times('0.001').toDecimalPlaces(10, Decimal.ROUND_DOWN).toFixed(10));
      children.push({
        kind: 'create',
        contract: this.contract({ t: 'ValidatorRewardCoupon', dso: inst.admin, user: sender, amount: coupon, round: inst.round }, at),
      });
      children.push({
        kind: 'create',
        contract: this.contract(
          { t: 'AppRewardCoupon', dso: inst.admin, provider: sender, beneficiary: sender, amount: coupon, round: inst.round },
          at,
        ),
      });
    }
    const created: { tag: string; value: string }[] = [];
    for (const o of outputs) {
      const c = o.lock
        ? this.contract(
            {
              t: 'LockedAmulet',
              dso: inst.admin,
              owner: o.receiver,
              amount: o.amount,
              round: inst.round,
              expiresAt: o.lock.expiresAt,
              context: o.lock.context,
            },
            at,
          )
        : this.contract({ t: 'Amulet', dso: inst.admin, owner: o.receiver, amount: o.amount, round: inst.round }, at);
      children.push({ kind: 'create', contract: c });
      created.push({ tag: o.lock ? 'TransferResultLockedAmulet' : 'TransferResultAmulet', value: c.contractId });
    }
    let change: Contract | undefined;
    if (!isZeroAmount(changeAmount)) {
      change = this.contract({ t: 'Amulet', dso: inst.admin, owner: sender, amount: changeAmount, round: inst.round }, at);
      children.push({ kind: 'create', contract: change });
    }
    const burned = addAmounts(sFee, rFee);
    const meta: Record<string, string> = { [MetaKeys.sender]: sender, [MetaKeys.txKind]: 'transfer' };
    if (!isZeroAmount(burned)) meta[MetaKeys.burned] = showDecimal(burned);
    const balanceChanges: Json[] = [
      [
        sender,
        { changeToInitialAmountAsOfRoundZero: normalizeAmount(subAmounts(changeAmount, total)), changeToHoldingFeesRate: '0.0000000000' },
      ],
    ];
    for (const o of outputs) {
      if (o.receiver !== sender) {
        balanceChanges.push([
          o.receiver,
          { changeToInitialAmountAsOfRoundZero: normalizeAmount(o.amount), changeToHoldingFeesRate: '0.0000000000' },
        ]);
      }
    }
    const amuletResult: JsonObject = {
      round: { number: inst.round },
      summary: {
        inputAppRewardAmount: '0.0000000000',
        inputValidatorRewardAmount: '0.0000000000',
        inputSvRewardAmount: '0.0000000000',
        inputAmuletAmount: normalizeAmount(total),
        balanceChanges,
        holdingFees: '0.0000000000',
        outputFees: outputs.map(() => normalizeAmount(addAmounts(sFee, rFee))),
        senderChangeFee: '0.0000000000',
        senderChangeAmount: normalizeAmount(changeAmount),
        amuletPrice: '0.0050000000',
        inputValidatorFaucetAmount: '0.0000000000',
        inputUnclaimedActivityRecordAmount: '0.0000000000',
      },
      createdAmulets: created,
      senderChangeAmulet: change?.contractId ?? null,
      meta: metaJson(meta),
    };
    return {
      node: {
        kind: 'exercise',
        target: rules,
        choice: 'AmuletRules_Transfer',
        choiceArgument: {
          transfer: {
            sender,
            provider: sender,
            inputs: inputs.map((c) => ({ tag: 'InputAmulet', value: c.contractId })),
            outputs: outputs.map((o) => ({
              receiver: o.receiver,
              receiverFeeRatio: '0.0000000000',
              amount: normalizeAmount(o.amount),
              lock: o.lock ? { holders: [inst.admin], expiresAt: o.lock.expiresAt, optContext: o.lock.context } : null,
            })),
            beneficiaries: null,
          },
          context: { openMiningRound: round.contractId, issuingMiningRounds: [], validatorRights: [], featuredAppRight: null },
          expectedDso: inst.admin,
        },
        actingParties: actors,
        consuming: false,
        result: amuletResult,
        children,
      },
      outputs: created.map((c) => c.value),
      change: change ? [change.contractId] : [],
      amuletResult,
    };
  }

  private registryFactoryTransfer(
    req: FactoryTransferRequest,
    kind: TransferKind,
    inputs: Contract[],
    total: string,
    at: string,
  ): { children: NodeDraft[]; result: Json } {
    const inst = req.instrument;
    const t = req.transfer;
    const config = this.requireActive(contextCid(req.extraArgs, ContextKeys.instrumentConfiguration) ?? inst.instrumentConfigCid ?? '');
    const children: NodeDraft[] = [
      { kind: 'fetch', target: req.factory, actingParties: [t.sender] },
      { kind: 'fetch', target: config, actingParties: [t.sender] },
    ];
    for (const input of inputs) {
      children.push({ kind: 'fetch', target: input, actingParties: [t.sender] });
      children.push({
        kind: 'exercise',
        target: input,
        choice: 'Archive',
        choiceArgument: {},
        actingParties: [inst.admin, t.sender],
        consuming: true,
        result: {},
        children: [],
      });
    }
    const sFee = kind === 'self' ? '0' : senderFee(inst, t.amount);
    const outAmount = kind === 'self' ? t.amount : addAmounts(t.amount, sFee);
    const changeAmount = subAmounts(total, outAmount);
    const out =
      kind === 'self'
        ? this.contract(this.registryHolding(inst, t.sender, t.amount), at)
        : this.contract(
            this.registryHolding(inst, t.sender, outAmount, { context: t.meta[MetaKeys.reason] ?? '', receiver: t.receiver }),
            at,
          );
    children.push({ kind: 'create', contract: out });
    const change = isZeroAmount(changeAmount) ? undefined : this.contract(this.registryHolding(inst, t.sender, changeAmount), at);
    if (change) children.push({ kind: 'create', contract: change });
    const changeCids = change ? [change.contractId] : [];
    if (kind === 'self') {
      return { children, result: this.instructionResult({ completed: [out.contractId] }, changeCids, this.resultMeta('self', t, '0')) };
    }
    const offer = this.contract(
      {
        t: 'TransferOffer',
        operator: inst.operator,
        provider: inst.provider,
        registrar: inst.admin,
        transfer: { ...t, inputHoldingCids: [out.contractId] },
      },
      at,
    );
    children.push({ kind: 'create', contract: offer });
    return { children, result: this.instructionResult({ pending: offer.contractId }, changeCids, this.resultMeta('offer', t, '0')) };
  }

  // ---------------------------------------------------------------- TransferInstruction choices

  /** TransferInstruction_Accept / _Reject / _Withdraw, with the controller checks of the standard. */
  instructionChoice(req: InstructionChoiceRequest): TxPlan {
    const { instrument: inst, instruction } = req;
    const p = instruction.payload;
    if (p.t !== 'AmuletTransferInstruction' && p.t !== 'TransferOffer')
      throw interpretationError(`${instruction.contractId} is not a transfer instruction`);
    const t = p.transfer;
    const controller = req.choice === 'Withdraw' ? t.sender : t.receiver;
    if (req.actor !== controller) {
      throw LedgerError.of(
        'DAML_AUTHORIZATION_ERROR',
        `Interpretation error: Error: node NodeId(0) requires authorizers ${controller}, but only ${req.actor} were given`,
        { definiteAnswer: false },
      );
    }
    const at = this.now();
    if (req.choice === 'Accept' && isoToMicros(t.executeBefore) <= isoToMicros(at)) {
      throw interpretationError(`the transfer instruction expired at ${t.executeBefore}`);
    }
    const built =
      inst.config.family === 'amulet'
        ? this.amuletInstructionChoice(inst, instruction, t, req.choice, req.extraArgs, at)
        : this.registryInstructionChoice(inst, instruction, t, req.choice, at);
    return {
      effectiveAt: at,
      description: `instruction-${req.choice.toLowerCase()}`,
      roots: [
        {
          kind: 'exercise',
          target: instruction,
          interfaceId: Interfaces.TransferInstruction,
          choice: `TransferInstruction_${req.choice}`,
          choiceArgument: { extraArgs: req.extraArgs },
          actingParties: [req.actor],
          consuming: true,
          result: built.result,
          children: built.children,
        },
      ],
    };
  }

  /**
   * The registry admin's automation once record time passes executeBefore: the locked funds go
   * back to the sender and the instruction is archived. The receiver is a stakeholder of the
   * instruction, so it witnesses this transaction too.
   */
  expire(inst: Instrument, instruction: Contract): TxPlan {
    const p = instruction.payload;
    if (p.t !== 'AmuletTransferInstruction' && p.t !== 'TransferOffer') throw interpretationError('not a transfer instruction');
    const at = this.now();
    const t = p.transfer;
    const built =
      inst.config.family === 'amulet'
        ? this.amuletInstructionChoice(inst, instruction, t, 'Expire', emptyExtraArgs(), at)
        : this.registryInstructionChoice(inst, instruction, t, 'Expire', at);
    return {
      effectiveAt: at,
      description: 'instruction-expire',
      roots: [
        {
          kind: 'exercise',
          target: instruction,
          choice: p.t === 'AmuletTransferInstruction' ? 'AmuletTransferInstruction_Expire' : 'TransferOffer_Expire',
          choiceArgument: {},
          actingParties: [inst.admin],
          consuming: true,
          result: built.result,
          children: built.children,
        },
      ],
    };
  }

  private lockedHoldingOf(inst: Instrument, instruction: Contract, t: TransferData): Contract {
    const p = instruction.payload;
    if (p.t === 'AmuletTransferInstruction') return this.requireActive(p.lockedAmulet);
    // Registry offers name their locked holding as the transfer's only input (as recorded).
    const cid = t.inputHoldingCids[0];
    const locked = cid === undefined ? undefined : this.ledger.active(cid);
    if (!locked || holdingInfo(locked.payload)?.admin !== inst.admin) throw contractNotFound(cid ?? '(none)');
    return locked;
  }

  private amuletInstructionChoice(
    inst: Instrument,
    instruction: Contract,
    t: TransferData,
    choice: InstructionChoice | 'Expire',
    extraArgs: Json,
    at: string,
  ): { children: NodeDraft[]; result: Json } {
    const locked = this.lockedHoldingOf(inst, instruction, t);
    if (locked.payload.t !== 'LockedAmulet') throw interpretationError('locked amulet expected');
    const lockedAmount = locked.payload.amount;
    const round = this.requireActive(this.roundCid(inst, choice === 'Expire' ? undefined : extraArgs));
    const rules = this.requireActive(contextCid(extraArgs, ContextKeys.amuletRules) ?? inst.rulesCid ?? '');
    const unlocked = this.contract({ t: 'Amulet', dso: inst.admin, owner: t.sender, amount: lockedAmount, round: inst.round }, at);
    const unlockChoice = choice === 'Expire' ? 'LockedAmulet_ExpireLock' : 'LockedAmulet_Unlock';
    const unlockMeta =
      choice === 'Expire'
        ? { [MetaKeys.reason]: 'lock expired', [MetaKeys.txKind]: 'unlock' }
        : { [MetaKeys.reason]: 'holders released lock', [MetaKeys.txKind]: 'unlock' };
    const unlock: NodeDraft = {
      kind: 'exercise',
      target: locked,
      choice: unlockChoice,
      choiceArgument: { openRoundCid: round.contractId },
      actingParties: [inst.admin, t.sender],
      consuming: true,
      result: {
        amuletSum: { amulet: unlocked.contractId, amuletPrice: '0.0050000000', round: { number: inst.round } },
        meta: metaJson(unlockMeta),
      },
      children: [
        { kind: 'fetch', target: round, actingParties: [inst.admin] },
        { kind: 'create', contract: unlocked },
      ],
    };
    if (choice !== 'Accept') {
      return {
        children: [{ kind: 'fetch', target: rules, actingParties: [inst.admin] }, unlock],
        result: this.instructionResult(
          { failed: true },
          [unlocked.contractId],
          metaJson(choice === 'Expire' ? { [MetaKeys.reason]: 'transfer instruction expired' } : {}),
        ),
      };
    }
    const sFee = senderFee(inst, t.amount);
    const rFee = receiverFee(inst, t.amount);
    const x = this.amuletRulesTransfer(
      inst,
      rules,
      round,
      t.sender,
      [t.sender, t.receiver],
      [unlocked],
      lockedAmount,
      [{ receiver: t.receiver, amount: subAmounts(t.amount, rFee) }],
      sFee,
      rFee,
      at,
    );
    const burned = addAmounts(sFee, rFee);
    return {
      children: [{ kind: 'fetch', target: rules, actingParties: [t.receiver] }, unlock, x.node],
      result: this.instructionResult(
        { completed: x.outputs },
        x.change,
        metaJson(isZeroAmount(burned) ? {} : { [MetaKeys.burned]: showDecimal(burned) }),
      ),
    };
  }

  private registryInstructionChoice(
    inst: Instrument,
    instruction: Contract,
    t: TransferData,
    choice: InstructionChoice | 'Expire',
    at: string,
  ): { children: NodeDraft[]; result: Json } {
    const locked = this.lockedHoldingOf(inst, instruction, t);
    const lockedAmount = holdingInfo(locked.payload)?.amount ?? '0';
    const config = this.requireActive(inst.instrumentConfigCid ?? '');
    const archiveLocked: NodeDraft = {
      kind: 'exercise',
      target: locked,
      choice: 'Archive',
      choiceArgument: {},
      actingParties: [inst.admin, t.sender],
      consuming: true,
      result: {},
      children: [],
    };
    if (choice !== 'Accept') {
      const back = this.contract(this.registryHolding(inst, t.sender, lockedAmount), at);
      return {
        children: [
          { kind: 'fetch', target: config, actingParties: [inst.admin] },
          { kind: 'fetch', target: locked, actingParties: [inst.admin] },
          archiveLocked,
          { kind: 'create', contract: back },
        ],
        result: this.instructionResult({ failed: true }, [back.contractId], metaJson({})),
      };
    }
    const rule = this.requireActive(inst.transferRuleCid ?? '');
    const sFee = senderFee(inst, t.amount);
    const rFee = receiverFee(inst, t.amount);
    const received = subAmounts(t.amount, rFee);
    const changeAmount = subAmounts(subAmounts(lockedAmount, t.amount), sFee);
    const receiverHolding = this.contract(this.registryHolding(inst, t.receiver, received), at);
    const change =
      compareAmounts(changeAmount, '0') > 0 ? this.contract(this.registryHolding(inst, t.sender, changeAmount), at) : undefined;
    const ruleChildren: NodeDraft[] = [
      { kind: 'fetch', target: config, actingParties: [t.receiver, t.sender] },
      { kind: 'fetch', target: rule, actingParties: [t.receiver, t.sender] },
      { kind: 'fetch', target: instruction, actingParties: [t.receiver, t.sender] },
      { kind: 'fetch', target: locked, actingParties: [t.receiver, t.sender] },
      archiveLocked,
      { kind: 'create', contract: receiverHolding },
      ...(change ? [{ kind: 'create' as const, contract: change }] : []),
    ];
    const executed = this.contract(
      {
        t: 'ExecutedTransfer',
        operator: inst.operator,
        provider: inst.provider,
        registrar: inst.admin,
        sender: t.sender,
        receiver: t.receiver,
        instrumentId: inst.config.id,
        amount: received,
        reference: t.meta[MetaKeys.reason] ?? '',
      },
      at,
    );
    const burned = addAmounts(sFee, rFee);
    return {
      children: [
        { kind: 'fetch', target: config, actingParties: [t.receiver] },
        {
          kind: 'exercise',
          target: rule,
          choice: 'TransferRule_Transfer',
          choiceArgument: {
            transfer: transferJson(t),
            instrumentConfigurationCid: config.contractId,
            senderCredentialCids: [],
            receiverCredentialCids: [],
          },
          actingParties: [t.receiver, t.sender],
          consuming: false,
          result: { receiverHoldingCid: receiverHolding.contractId },
          children: ruleChildren,
        },
        { kind: 'create', contract: executed },
      ],
      result: this.instructionResult(
        { completed: [receiverHolding.contractId] },
        change ? [change.contractId] : [],
        metaJson(isZeroAmount(burned) ? {} : { [MetaKeys.burned]: showDecimal(burned) }),
      ),
    };
  }
}

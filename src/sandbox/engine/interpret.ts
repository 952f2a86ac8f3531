import { parseIdentifier, type Command, type DisclosedContract } from '../wire/decode/index.js';
import type { Json } from '../util/json.js';
import { isoToMicros, type Micros } from '../util/time.js';
import { decodeBlob } from './blob.js';
import { factoryTransferArgument, instructionChoiceExtraArgs } from './daml/choice-arguments.js';
import { instructionChoiceArgument, TransferFactory_Transfer } from './daml/token-standard.js';
import { decodeTranscodeJson } from './daml/transcode-json.js';
import type { DamlValue } from './daml/types.js';
import type { SandboxEngine } from './engine.js';
import { contractNotFound, interpretationError, LedgerError } from './errors.js';
import type { Instrument } from './instruments.js';
import { implementedInterfaces, instructionTransfer, Interfaces, stakeholders, templateOf } from './templates.js';
import type { TxPlan } from './tx.js';
import { idString, type Contract, type QualifiedName, type TransferData } from './types.js';
import { contextCid, ContextKeys, type InstructionChoice } from './workflows.js';

export interface InterpretInput {
  readonly command: Command;
  readonly actAs: readonly string[];
  readonly readAs: readonly string[];
  readonly disclosed: readonly DisclosedContract[];
}

/** An interpreted command, plus what its commit must re-check. */
export interface Interpretation {
  readonly plan: TxPlan;
  /** The transaction is only valid while record time is before this (executeBefore). */
  readonly validBefore?: Micros;
  readonly minLedgerTime?: Micros;
}

function sameName(a: QualifiedName, id: string): boolean {
  try {
    const p = parseIdentifier(id);
    if (p.moduleName !== a.moduleName || p.entityName !== a.entityName) return false;
    return p.packageId !== undefined ? p.packageId === a.packageId : p.packageName === a.packageName;
  } catch {
    return false;
  }
}

/**
 * Interprets one command against the current ledger, as a participant does at prepare /
 * submit: resolves the contracts it touches (visible to actAs/readAs, or disclosed), checks
 * authorization and the choice's preconditions, and builds the transaction tree. Only the
 * token-standard choices a wallet or exchange submits are known to the double.
 */
export function interpretCommand(engine: SandboxEngine, input: InterpretInput): Interpretation {
  const ledger = engine.ledger;
  const cmd = input.command;
  if (!('ExerciseCommand' in cmd)) {
    const templateId = Object.values(cmd)[0]?.templateId ?? '';
    throw LedgerError.of(
      'TEMPLATES_OR_INTERFACES_NOT_FOUND',
      `Templates do not exist: ${templateId} (the ledger double only interprets token-standard exercises)`,
      {
        definiteAnswer: false,
      },
    );
  }
  const ex = cmd.ExerciseCommand;
  // Canton transcodes the JSON choice argument before it interprets anything
  // (SchemaProcessorsImpl.choiceArgsFromJsonToProto), so its complaints come first.
  const argument = decodeChoiceArgument(ex.choice, ex.templateId, ex.choiceArgument);
  const readers = new Set([...input.actAs, ...input.readAs]);

  const disclosed = new Map<string, Contract>();
  for (const d of input.disclosed) {
    const c = decodeBlob(d.createdEventBlob);
    if (!c || (d.contractId !== undefined && d.contractId !== c.contractId)) {
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        `The submitted request has invalid arguments: Unable to decode disclosed contract event payload${d.contractId ? ` of ${d.contractId}` : ''}`,
      );
    }
    disclosed.set(c.contractId, c);
  }

  /** A contract the submitters can use: an active one they are stakeholders of, or a disclosed one. */
  const resolve = (cid: string): Contract => {
    const active = ledger.active(cid);
    if (!active) throw contractNotFound(cid);
    const stake = stakeholders(active.payload);
    if ([...readers].some((p) => stake.has(p)) || disclosed.has(cid)) return active;
    throw contractNotFound(cid);
  };
  const requireContext = (extraArgs: Json, keys: readonly string[]) => {
    for (const k of keys) {
      const cid = contextCid(extraArgs, k);
      if (cid === undefined) throw interpretationError(`Missing context entry for: ${k}`);
      resolve(cid);
    }
  };

  const target = resolve(ex.contractId);
  const templateMatches = sameName(templateOf(target.payload), ex.templateId);
  const viaInterface = (iface: QualifiedName) =>
    sameName(iface, ex.templateId) && implementedInterfaces(target.payload).some((i) => i.entityName === iface.entityName);
  const requireActor = (party: string) => {
    if (!input.actAs.includes(party)) {
      throw LedgerError.of(
        'DAML_AUTHORIZATION_ERROR',
        `Interpretation error: Error: node NodeId(0) (${ex.templateId}) requires authorizers ${party}, but only ${input.actAs.join(', ')} were given`,
        { definiteAnswer: false },
      );
    }
  };

  if (ex.choice === 'TransferFactory_Transfer') {
    if (!viaInterface(Interfaces.TransferFactory) && !templateMatches) {
      throw doesNotImplement(ex.contractId, target, ex.templateId);
    }
    const arg = factoryTransferArgument(argument);
    const inst = engine.instrumentOfContract(target);
    if (!inst) throw interpretationError(`${ex.contractId} is not a transfer factory`);
    requireActor(arg.transfer.sender);
    const extraArgs = arg.extraArgs;
    requireContext(
      extraArgs,
      inst.config.family === 'amulet'
        ? [ContextKeys.amuletRules, ContextKeys.openRound]
        : [ContextKeys.instrumentConfiguration, ContextKeys.transferRule],
    );
    const pre = contextCid(extraArgs, ContextKeys.transferPreapproval);
    if (pre !== undefined) resolve(pre);
    for (const cid of arg.transfer.inputHoldingCids) resolve(cid);
    const transfer: TransferData = arg.transfer;
    const plan = engine.workflows.factoryTransfer({
      instrument: inst,
      factory: target,
      expectedAdmin: arg.expectedAdmin,
      transfer,
      extraArgs,
    });
    return { plan, validBefore: isoToMicros(transfer.executeBefore), minLedgerTime: isoToMicros(transfer.requestedAt) };
  }

  const instructionChoice = /^TransferInstruction_(Accept|Reject|Withdraw)$/.exec(ex.choice)?.[1] as InstructionChoice | undefined;
  if (instructionChoice) {
    const t = instructionTransfer(target);
    if (!t || (!viaInterface(Interfaces.TransferInstruction) && !templateMatches)) {
      throw doesNotImplement(ex.contractId, target, ex.templateId);
    }
    const extraArgs = instructionChoiceExtraArgs(argument);
    const actor = instructionChoice === 'Withdraw' ? t.sender : t.receiver;
    requireActor(actor);
    const inst: Instrument | undefined = engine.instrument(t.instrumentId.admin, t.instrumentId.id);
    if (!inst) throw interpretationError('unknown instrument');
    requireContext(
      extraArgs,
      inst.config.family === 'amulet'
        ? [ContextKeys.amuletRules, ContextKeys.openRound]
        : [ContextKeys.instrumentConfiguration, ContextKeys.transferRule],
    );
    if (target.payload.t === 'AmuletTransferInstruction') resolve(target.payload.lockedAmulet);
    const plan = engine.workflows.instructionChoice({ instrument: inst, instruction: target, choice: instructionChoice, actor, extraArgs });
    return { plan, ...(instructionChoice === 'Accept' ? { validBefore: isoToMicros(t.executeBefore) } : {}) };
  }

  throw interpretationError(`the ledger double does not implement choice ${ex.choice} on ${ex.templateId}`);
}

/**
 * The choice argument decoded as Canton's JSON API decodes it (transcode-json.ts), so a malformed
 * one gets Canton's error. A choice the double's packages do not have is refused like Canton
 * refuses a choice missing from the package (SchemaProcessorsImpl.invalidChoiceException).
 */
function decodeChoiceArgument(choice: string, templateId: string, json: unknown): DamlValue {
  if (choice === 'TransferFactory_Transfer') return decodeTranscodeJson(TransferFactory_Transfer, json);
  const instructionChoice = /^TransferInstruction_(Accept|Reject|Withdraw)$/.exec(choice)?.[1] as InstructionChoice | undefined;
  if (instructionChoice !== undefined) return decodeTranscodeJson(instructionChoiceArgument(instructionChoice), json);
  throw LedgerError.of(
    'INVALID_ARGUMENT',
    `The submitted request has invalid arguments: Invalid template:${templateId} or choice:${choice}`,
    { definiteAnswer: false },
  );
}

/** CommandExecutionErrors.Interpreter.ContractDoesNotImplementInterface. */
function doesNotImplement(contractId: string, target: Contract, interfaceId: string): LedgerError {
  return LedgerError.of(
    'CONTRACT_DOES_NOT_IMPLEMENT_INTERFACE',
    `Interpretation error: Error: contract ${contractId} (${idString(templateOf(target.payload))}) does not implement interface ${interfaceId}`,
    { resources: [['CONTRACT_ID', contractId]], definiteAnswer: false },
  );
}

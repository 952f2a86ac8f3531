import {
  MetadataKey,
  TRANSFER_FACTORY_INTERFACE_ID,
  TRANSFER_INSTRUCTION_INTERFACE_ID,
  type CommandInput,
} from '../../ledger/schema/index.js';
import type { JsonObject } from '../submission.js';
import type { TransferIntent } from '../withdrawal.actors.js';

/**
 * The token-standard commands, as Daml-LF JSON. The same builder makes the registry request and
 * the prepared command, so what the registry chose a factory for is what we exercise.
 */

const EMPTY_META = { values: {} };

/**
 * The ChoiceContext to send when asking the registry for the real one. ChoiceContext is the Daml
 * record `{values : TextMap AnyValue}`: Splice's registry reads `choiceArguments` with the Java
 * codegen, where `values` is required, so `{}` is refused with 400 (HttpTokenStandardTransfer-
 * InstructionHandler.getTransferFactory).
 */
export const EMPTY_CHOICE_CONTEXT: JsonObject = { values: {} };

/** TransferFactory_Transfer's argument; `context` is the registry's choiceContextData (EMPTY_CHOICE_CONTEXT when asking for it). */
export function transferChoiceArgument(intent: TransferIntent, context: JsonObject): JsonObject {
  return {
    expectedAdmin: intent.instrument.admin,
    transfer: {
      sender: intent.sender,
      receiver: intent.receiver,
      amount: intent.amount,
      instrumentId: { admin: intent.instrument.admin, id: intent.instrument.id },
      requestedAt: intent.requestedAt,
      executeBefore: intent.executeBefore,
      inputHoldingCids: [...intent.inputHoldingCids],
      // The memo is the withdrawal id: how ingestion finds this transfer again, even after a restore.
      meta: { values: { [MetadataKey.reason]: intent.memo } },
    },
    extraArgs: { context, meta: EMPTY_META },
  };
}

export function transferCommand(factoryId: string, argument: JsonObject): CommandInput {
  return {
    ExerciseCommand: {
      templateId: TRANSFER_FACTORY_INTERFACE_ID,
      contractId: factoryId,
      choice: 'TransferFactory_Transfer',
      choiceArgument: argument,
    },
  };
}

export function acceptCommand(transferInstructionCid: string, context: JsonObject): CommandInput {
  return instructionCommand('TransferInstruction_Accept', transferInstructionCid, context);
}

/** The sender takes its own offer back: the instruction is archived and its locked funds return. */
export function withdrawCommand(transferInstructionCid: string, context: JsonObject): CommandInput {
  return instructionCommand('TransferInstruction_Withdraw', transferInstructionCid, context);
}

function instructionCommand(
  choice: 'TransferInstruction_Accept' | 'TransferInstruction_Withdraw',
  transferInstructionCid: string,
  context: JsonObject,
): CommandInput {
  return {
    ExerciseCommand: {
      templateId: TRANSFER_INSTRUCTION_INTERFACE_ID,
      contractId: transferInstructionCid,
      choice,
      choiceArgument: { extraArgs: { context, meta: EMPTY_META } },
    },
  };
}

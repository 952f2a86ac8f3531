import { toLedgerDisclosedContract } from '../../ledger/schema/index.js';
import { ActorError } from '../failure.js';
import { JsonObject, type PreparedSubmission } from '../submission.js';
import type { FetchTransferFactoryInput, PrepareTransferInput, TransferFactoryOutput, WithdrawalLedgerActors } from '../withdrawal.actors.js';
import { EMPTY_CHOICE_CONTEXT, transferChoiceArgument, transferCommand } from './commands.js';
import { createLedgerEffects, type LedgerEffects, type LedgerEffectsDeps } from './context.js';
import { toActorError } from './errors.js';
import { executeSubmission, prepareRequest, verifyAndSign } from './submit.js';

/**
 * The withdrawal machine's ledger effects (WithdrawalLedgerActors): registry transfer factory,
 * prepare with the reserved inputs, verify + sign, execute. Each is idempotent for its input —
 * re-run after a crash it asks the registry and the ledger again; the inputs and the deadline
 * make a second commit of the attempt impossible whatever happens here.
 */
export function createWithdrawalLedgerActors(deps: LedgerEffectsDeps | { effects: LedgerEffects }): WithdrawalLedgerActors {
  const fx = 'effects' in deps ? deps.effects : createLedgerEffects(deps);
  const log = fx.logger;

  const requireTreasury = (sender: string, withdrawalId: string) => {
    if (sender !== fx.treasuryParty) {
      throw new ActorError({ code: 'NOT_OUR_PARTY', message: `withdrawal ${withdrawalId} is sent by ${sender}, but this service signs only for ${fx.treasuryParty}`, retryable: false });
    }
  };

  return {
    async fetchTransferFactory(input: FetchTransferFactoryInput, signal: AbortSignal): Promise<TransferFactoryOutput> {
      requireTreasury(input.sender, input.withdrawalId);
      const row = await fx.registries.instrument(input.instrument);
      if (!row.enabled) throw new ActorError({ code: 'INSTRUMENT_DISABLED', message: `instrument ${row.admin}/${row.id} is disabled`, retryable: false });
      try {
        const r = await fx.registries.client(row).transferFactory(transferChoiceArgument(input, EMPTY_CHOICE_CONTEXT), signal);
        log.debug({ withdrawalId: input.withdrawalId, attempt: input.attempt, transferKind: r.transferKind, factoryId: r.factoryId }, 'registry transfer factory');
        return {
          factoryId: r.factoryId,
          transferKind: r.transferKind,
          // Persisted in the machine's snapshot: only the ledger's fields, never the registry's debug data.
          choiceContextData: JsonObject.parse(r.choiceContext.choiceContextData),
          disclosedContracts: r.choiceContext.disclosedContracts.map(toLedgerDisclosedContract),
        };
      } catch (e) {
        throw toActorError(e, `registry transfer-factory for ${row.admin}/${row.id} at ${row.registryUrl}`);
      }
    },

    async prepareTransfer(input: PrepareTransferInput, signal: AbortSignal): Promise<PreparedSubmission> {
      requireTreasury(input.sender, input.withdrawalId);
      const argument = transferChoiceArgument(input, input.factory.choiceContextData);
      try {
        const r = await fx.submissions.prepare(
          prepareRequest(fx, {
            commandId: input.commandId,
            command: transferCommand(input.factory.factoryId, argument),
            disclosedContracts: input.factory.disclosedContracts,
            maxRecordTime: input.maxRecordTime,
          }),
          { signal },
        );
        return { commandId: input.commandId, preparedTransaction: r.preparedTransaction, preparedTransactionHash: r.preparedTransactionHash, hashingSchemeVersion: r.hashingSchemeVersion };
      } catch (e) {
        throw toActorError(e, `prepare ${input.commandId}`, { inputs: input.inputHoldingCids });
      }
    },

    verifyAndSign: (input) => verifyAndSign(fx, input),
    executeSubmission: (input, signal) => executeSubmission(fx, input, signal),
  };
}

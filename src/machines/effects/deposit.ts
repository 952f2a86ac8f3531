import { LedgerApiError } from '../../ledger/http.js';
import { toLedgerDisclosedContract } from '../../ledger/schema/index.js';
import type { DepositActors, FetchAcceptContextInput, PrepareAcceptInput } from '../deposit.actors.js';
import { ActorError } from '../failure.js';
import { Failure } from '../../failures.js';
import { JsonObject, type ChoiceContext, type PreparedSubmission } from '../submission.js';
import { acceptCommand } from './commands.js';
import { createLedgerEffects, instructionGone, type LedgerEffects, type LedgerEffectsDeps } from './context.js';
import { toActorError } from './errors.js';
import { executeSubmission, prepareRequest, preparedSubmission, verifyAndSign } from './submit.js';

/**
 * The deposit machine's effects (DepositActors): accept a 2-step offer — a fresh accept context
 * from the instrument's registry, prepare TransferInstruction_Accept with its disclosed contracts,
 * verify + sign, execute. An accept can never credit twice: it archives the instruction, so a
 * repeat fails (INSTRUCTION_NOT_FOUND / DUPLICATE_COMMAND) and ingestion credits once.
 */
export function createDepositLedgerActors(deps: LedgerEffectsDeps | { effects: LedgerEffects }): DepositActors {
  const fx = 'effects' in deps ? deps.effects : createLedgerEffects(deps);
  const log = fx.logger;

  return {
    async fetchAcceptContext(input: FetchAcceptContextInput, signal: AbortSignal): Promise<ChoiceContext> {
      const row = await fx.registries.instrument(input.instrument);
      const where = `registry accept context for ${input.transferInstructionCid} at ${row.registryUrl}`;
      try {
        const r = await fx.registries.client(row).choiceContext(input.transferInstructionCid, 'accept', {}, signal);
        return {
          choiceContextData: JsonObject.parse(r.choiceContextData),
          disclosedContracts: r.disclosedContracts.map(toLedgerDisclosedContract),
        };
      } catch (e) {
        if (e instanceof LedgerApiError && e.status === 404) {
          let gone: boolean;
          try {
            gone = await instructionGone(fx, input.transferInstructionCid, signal);
          } catch (lookup) {
            throw toActorError(lookup, `${where}: registry answered 404; looking the instruction up on the ledger`);
          }
          if (gone)
            throw new ActorError({
              code: Failure.INSTRUCTION_NOT_FOUND,
              message: `${where}: the instruction is no longer active on the ledger`,
              retryable: false,
              status: 404,
            });
          log.warn(
            { depositId: input.depositId, cid: input.transferInstructionCid },
            'the registry does not know an active transfer instruction yet; retrying later',
          );
          throw new ActorError({
            code: Failure.REGISTRY_INSTRUCTION_UNKNOWN,
            message: `${where}: the registry does not know this active instruction (yet): ${e.message}`,
            retryable: true,
            status: 404,
          });
        }
        throw toActorError(e, where, { instructionCid: input.transferInstructionCid });
      }
    },

    async prepareAccept(input: PrepareAcceptInput, signal: AbortSignal): Promise<PreparedSubmission> {
      if (input.actAs !== fx.treasuryParty) {
        throw new ActorError({
          code: Failure.NOT_OUR_PARTY,
          message: `deposit ${input.depositId} would be accepted by ${input.actAs}, but this service signs only for ${fx.treasuryParty}`,
          retryable: false,
        });
      }
      try {
        const r = await fx.submissions.prepare(
          prepareRequest(fx, {
            commandId: input.commandId,
            command: acceptCommand(input.transferInstructionCid, input.context.choiceContextData),
            disclosedContracts: input.context.disclosedContracts,
            maxRecordTime: input.maxRecordTime,
          }),
          { signal },
        );
        return preparedSubmission(input.commandId, r);
      } catch (e) {
        throw toActorError(e, `prepare accept of ${input.transferInstructionCid}`, { instructionCid: input.transferInstructionCid });
      }
    },

    verifyAndSign: (input) => verifyAndSign(fx, input),
    executeSubmission: (input, signal) => executeSubmission(fx, input, signal),
  };
}

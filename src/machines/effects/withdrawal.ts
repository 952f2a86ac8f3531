import { randomUUID } from 'node:crypto';
import { LedgerApiError } from '../../ledger/http.js';
import { toLedgerDisclosedContract } from '../../ledger/schema/index.js';
import type { Queryable } from '../../store/db.js';
import { lockedHoldingsOfInstruction } from '../../store/transfer-instructions.js';
import { ActorError } from '../failure.js';
import { Failure } from '../../failures.js';
import { JsonObject, type PreparedSubmission } from '../submission.js';
import type {
  FetchTransferFactoryInput,
  PrepareTransferInput,
  TransferFactoryOutput,
  WithdrawalLedgerActors,
  WithdrawOfferInput,
  WithdrawOfferOutput,
} from '../withdrawal.actors.js';
import { EMPTY_CHOICE_CONTEXT, transferChoiceArgument, transferCommand, withdrawCommand } from './commands.js';
import { createLedgerEffects, instructionGone, type LedgerEffects, type LedgerEffectsDeps } from './context.js';
import { toActorError } from './errors.js';
import { executeSubmission, prepareRequest, preparedSubmission, verifyAndSign } from './submit.js';

/**
 * The withdrawal machine's ledger effects (WithdrawalLedgerActors): registry transfer factory,
 * prepare with the reserved inputs, verify + sign, execute; and the withdraw of our own expired or
 * failed 2-step offer. Each is idempotent for its input — re-run after a crash it asks the registry
 * and the ledger again; the inputs and the deadline make a second commit of the attempt impossible
 * whatever happens here, and a withdraw can only ever archive the offer and return our funds.
 * `db`: where ingestion recorded which holdings an offer locked (the withdraw signs their unlock and
 * nothing else); the daemon's database. Without it no offer is withdrawn (CLI conformance).
 */
export function createWithdrawalLedgerActors(
  deps: (LedgerEffectsDeps | { effects: LedgerEffects }) & { db?: Queryable },
): WithdrawalLedgerActors {
  const fx = 'effects' in deps ? deps.effects : createLedgerEffects(deps);
  const db = 'sql' in deps ? deps.sql : deps.db;
  const log = fx.logger;

  const requireTreasury = (sender: string, withdrawalId: string) => {
    if (sender !== fx.treasuryParty) {
      throw new ActorError({
        code: Failure.NOT_OUR_PARTY,
        message: `withdrawal ${withdrawalId} is sent by ${sender}, but this service signs only for ${fx.treasuryParty}`,
        retryable: false,
      });
    }
  };

  return {
    async fetchTransferFactory(input: FetchTransferFactoryInput, signal: AbortSignal): Promise<TransferFactoryOutput> {
      requireTreasury(input.sender, input.withdrawalId);
      const row = await fx.registries.instrument(input.instrument);
      if (!row.enabled)
        throw new ActorError({
          code: Failure.INSTRUMENT_DISABLED,
          message: `instrument ${row.admin}/${row.id} is disabled`,
          retryable: false,
        });
      try {
        const r = await fx.registries.client(row).transferFactory(transferChoiceArgument(input, EMPTY_CHOICE_CONTEXT), signal);
        log.debug(
          { withdrawalId: input.withdrawalId, attempt: input.attempt, transferKind: r.transferKind, factoryId: r.factoryId },
          'registry transfer factory',
        );
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
        return preparedSubmission(input.commandId, r);
      } catch (e) {
        throw toActorError(e, `prepare ${input.commandId}`, { inputs: input.inputHoldingCids, receiver: input.receiver });
      }
    },

    verifyAndSign: (input) => verifyAndSign(fx, input),
    executeSubmission: (input, signal) => executeSubmission(fx, input, signal),

    async withdrawOffer(input: WithdrawOfferInput, signal: AbortSignal): Promise<WithdrawOfferOutput> {
      const cid = input.transferInstructionCid;
      if (!db)
        throw new ActorError({
          code: Failure.NO_DATABASE,
          message: `withdraw of offer ${cid}: these effects were built without the database`,
          retryable: false,
        });
      const locked = await lockedHoldingsOfInstruction(db, cid);
      if (locked === undefined)
        throw new ActorError({
          code: Failure.INSTRUCTION_UNKNOWN,
          message: `withdraw of offer ${cid}: ingestion has not recorded this instruction (yet)`,
          retryable: true,
        });
      const prepared = await prepareWithdraw(fx, input, signal);
      const signed = await verifyAndSign(fx, {
        prepared,
        expected: {
          kind: 'withdraw',
          commandId: input.commandId,
          actAs: fx.treasuryParty,
          transferInstructionCid: cid,
          lockedHoldingCids: locked,
          instrument: input.instrument,
        },
      });
      const out = await executeSubmission(fx, { submissionId: randomUUID(), signed }, signal);
      log.info(
        { withdrawalId: input.withdrawalId, instructionCid: cid, duplicate: out.duplicate === true },
        'withdrew our offer: its locked funds return to the treasury',
      );
      return out.duplicate ? { duplicate: true } : {};
    },
  };
}

/**
 * Prepares TransferInstruction_Withdraw of our own offer with the registry's withdraw context.
 * Its own step so that what the treasury is asked to sign can be checked apart from submitting it.
 */
export async function prepareWithdraw(
  fx: LedgerEffects,
  input: Pick<WithdrawOfferInput, 'transferInstructionCid' | 'instrument' | 'commandId'>,
  signal: AbortSignal,
): Promise<PreparedSubmission> {
  const cid = input.transferInstructionCid;
  const row = await fx.registries.instrument(input.instrument);
  const where = `registry withdraw context for ${cid} at ${row.registryUrl}`;
  let context;
  try {
    context = await fx.registries.client(row).choiceContext(cid, 'withdraw', {}, signal);
  } catch (e) {
    if (e instanceof LedgerApiError && e.status === 404) {
      let archived: boolean;
      try {
        archived = await instructionGone(fx, cid, signal);
      } catch (lookup) {
        throw toActorError(lookup, `${where}: registry answered 404; looking the instruction up on the ledger`);
      }
      if (archived)
        throw new ActorError({
          code: Failure.INSTRUCTION_NOT_FOUND,
          message: `withdraw of offer ${cid}: the instruction is no longer active on the ledger`,
          retryable: false,
          status: 404,
        });
      throw new ActorError({
        code: Failure.REGISTRY_INSTRUCTION_UNKNOWN,
        message: `${where}: the registry does not know this active instruction (yet): ${e.message}`,
        retryable: true,
        status: 404,
      });
    }
    throw toActorError(e, where, { instructionCid: cid });
  }
  try {
    const r = await fx.submissions.prepare(
      prepareRequest(fx, {
        commandId: input.commandId,
        command: withdrawCommand(cid, JsonObject.parse(context.choiceContextData)),
        disclosedContracts: context.disclosedContracts.map(toLedgerDisclosedContract),
      }),
      { signal },
    );
    return preparedSubmission(input.commandId, r);
  } catch (e) {
    throw toActorError(e, `prepare withdraw of ${cid}`, { instructionCid: cid });
  }
}

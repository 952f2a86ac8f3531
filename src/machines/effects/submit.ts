import { LedgerApiError } from '../../ledger/http.js';
import { SignerUnavailableError } from '../../ledger/signing.js';
import {
  decodePreparedTransaction,
  summarizePreparedTransaction,
  verifyPreparedTransactionHash,
  type HashCheck,
} from '../../ledger/prepared-transaction/index.js';
import { TransferFactoryTransferArg } from '../../ledger/schema/index.js';
import type {
  CommandInput,
  DisclosedContract,
  JsExecuteSubmissionRequestInput,
  JsPrepareSubmissionRequestInput,
  JsPrepareSubmissionResponse,
} from '../../ledger/schema/index.js';
import { ActorError } from '../failure.js';
import { Failure } from '../../failures.js';
import type {
  ExecuteSubmissionInput,
  ExecuteSubmissionOutput,
  PreparedSubmission,
  SignedSubmission,
  VerifyAndSignInput,
} from '../submission.js';
import type { LedgerEffects, SignatureRecord } from './context.js';
import { isContractGone, toActorError, type FailureScope } from './errors.js';
import { checkPreparedTransaction } from './verify.js';

/** prepare's body, verifyAndSign and executeSubmission: the same for a withdrawal's transfer and a deposit's accept. */

export interface PrepareFields {
  readonly commandId: string;
  readonly command: CommandInput;
  readonly disclosedContracts: readonly DisclosedContract[];
  /** Absent: no deadline (a withdraw of our own offer can only ever return our funds). */
  readonly maxRecordTime?: string;
}

/**
 * The prepare request for one of our commands. `synchronizerId` ("" = the participant chooses) and
 * `packageIdSelectionPreference` are sent even when empty: Canton 3.4 refuses a prepare without them.
 */
export function prepareRequest(fx: LedgerEffects, p: PrepareFields): JsPrepareSubmissionRequestInput {
  return {
    userId: fx.userId,
    commandId: p.commandId,
    commands: [p.command],
    actAs: [fx.treasuryParty],
    readAs: [],
    disclosedContracts: [...p.disclosedContracts],
    synchronizerId: fx.options.synchronizerId ?? '',
    packageIdSelectionPreference: [],
    // The hash's pre-image is not wanted: we recompute the hash ourselves (verifyAndSign).
    verboseHashing: false,
    // The cost estimate (on by default) made for the one key that will sign: kept per withdrawal.
    estimateTrafficCost: { expectedSignatures: [fx.signer.signingAlgorithmSpec] },
    ...(p.maxRecordTime === undefined ? {} : { maxRecordTime: p.maxRecordTime }),
  };
}

/** What the machines keep of a prepare's answer: the transaction, its hash, and its traffic cost estimate when the node gave one. */
export function preparedSubmission(commandId: string, r: JsPrepareSubmissionResponse): PreparedSubmission {
  return {
    commandId,
    preparedTransaction: r.preparedTransaction,
    preparedTransactionHash: r.preparedTransactionHash,
    hashingSchemeVersion: r.hashingSchemeVersion,
    ...(r.costEstimation ? { trafficCost: r.costEstimation.totalTrafficCostEstimation } : {}),
  };
}

/** Execute's deduplication period: the configured duration, else `Empty` (the participant's maximum). */
export function deduplicationPeriod(fx: LedgerEffects): JsExecuteSubmissionRequestInput['deduplicationPeriod'] {
  const seconds = fx.options.deduplicationSeconds;
  return seconds !== undefined ? { DeduplicationDuration: { value: { seconds, nanos: 0 } } } : { Empty: {} };
}

function describe(input: VerifyAndSignInput): string {
  const e = input.expected;
  return e.kind === 'transfer' ? `withdrawal command ${e.commandId}` : `${e.kind} of ${e.transferInstructionCid}`;
}

/**
 * The withdrawal or deposit a signature is for, read back from its command id: the machines name
 * their commands `withdrawal-<id>-<attempt>` and `deposit-accept-<id>` (withdrawal.machine.ts,
 * deposit.machine.ts commandIdOf), and the id is not otherwise part of the signing input.
 */
export function signatureSubject(expected: VerifyAndSignInput['expected']): Pick<SignatureRecord, 'withdrawalId' | 'depositId'> {
  if (expected.kind === 'transfer') {
    const m = /^withdrawal-(.+)-\d+$/.exec(expected.commandId);
    return m ? { withdrawalId: m[1]! } : {};
  }
  const m = /^deposit-accept-(.+)$/.exec(expected.commandId);
  return m ? { depositId: m[1]! } : {};
}

/**
 * Recomputes the hash from the decoded transaction, checks the transaction is exactly what we
 * asked for (verify.ts), then signs OUR hash — never the bytes the node claims. Any doubt is
 * PREPARED_TX_MISMATCH, which the machines never retry.
 */
export async function verifyAndSign(fx: LedgerEffects, input: VerifyAndSignInput): Promise<SignedSubmission> {
  const what = describe(input);
  let check: HashCheck;
  try {
    check = verifyPreparedTransactionHash(input.prepared);
  } catch (e) {
    throw mismatch(fx, what, [`cannot decode or hash it: ${(e as Error).message}`]);
  }
  if (!check.matches)
    throw mismatch(fx, what, [
      `its hash does not verify: the node sent ${input.prepared.preparedTransactionHash}, the transaction hashes to ${check.hashBase64}`,
    ]);
  const problems = checkPreparedTransaction(check.transaction, input.expected);
  const preparedFor = check.transaction.metadata.synchronizerId;
  const pinned = fx.options.synchronizerId;
  if (pinned !== undefined && pinned !== '' && preparedFor !== pinned)
    problems.push(`prepared for synchronizer ${preparedFor}, expected ${pinned}`);
  // Deadlines are decided against the record time of the synchronizer ingestion follows only.
  const followed = await fx.followedSynchronizer();
  if (followed !== null && preparedFor !== followed)
    problems.push(`prepared for synchronizer ${preparedFor}, but ingestion follows ${followed}: its deadline could not be decided`);
  if (problems.length > 0) throw mismatch(fx, what, problems);
  // Only now, with every check passed, is the signer (an HSM, maybe) asked.
  const started = performance.now();
  let signature: string;
  try {
    signature = await fx.signer.sign(check.hash);
  } catch (e) {
    if (e instanceof SignerUnavailableError) {
      fx.logger.warn(
        { ...signatureSubject(input.expected), commandId: input.expected.commandId, keyId: fx.signer.keyId, reason: e.message },
        'the treasury signer cannot sign now; the machine retries',
      );
      throw new ActorError({ code: Failure.SIGNER_UNAVAILABLE, message: `signing ${what}: ${e.message}`, retryable: true });
    }
    throw e;
  }
  const record: SignatureRecord = {
    ...signatureSubject(input.expected),
    commandId: input.expected.commandId,
    hash: check.hashBase64,
    keyId: fx.signer.keyId,
    signedBy: fx.signer.fingerprint,
    signer: fx.signer.kind,
    ms: Math.round((performance.now() - started) * 1000) / 1000,
  };
  fx.logger.info(record, 'treasury signature');
  fx.options.onSigned?.(record);
  return { ...input.prepared, preparedTransactionHash: check.hashBase64, signature, signedBy: fx.signer.fingerprint };
}

function mismatch(fx: LedgerEffects, what: string, problems: string[]): ActorError {
  const message = `refusing to sign ${what}: ${problems.join('; ')}`;
  fx.logger.error({ problems }, message);
  return new ActorError({ code: Failure.PREPARED_TX_MISMATCH, message, retryable: false });
}

/**
 * Executes a signed transaction (again, after a crash or an ambiguous answer: it spends the same
 * inputs, so at most one execution commits). DUPLICATE_COMMAND means an earlier execution of this
 * command committed: reported as `{duplicate: true}`, never as a failure.
 */
export async function executeSubmission(
  fx: LedgerEffects,
  input: ExecuteSubmissionInput,
  signal: AbortSignal,
): Promise<ExecuteSubmissionOutput> {
  const s = input.signed;
  const body: JsExecuteSubmissionRequestInput = {
    preparedTransaction: s.preparedTransaction,
    hashingSchemeVersion: s.hashingSchemeVersion as JsExecuteSubmissionRequestInput['hashingSchemeVersion'],
    submissionId: input.submissionId,
    userId: fx.userId,
    partySignatures: {
      signatures: [
        {
          party: fx.treasuryParty,
          signatures: [
            {
              format: fx.signer.signatureFormat,
              signature: s.signature,
              signedBy: s.signedBy,
              signingAlgorithmSpec: fx.signer.signingAlgorithmSpec,
            },
          ],
        },
      ],
    },
    deduplicationPeriod: deduplicationPeriod(fx),
  };
  const observe = fx.options.onSubmission;
  try {
    if (fx.options.execute === 'async') await fx.submissions.execute(body, { signal });
    else await fx.submissions.executeAndWait(body, { signal });
    observe?.('accepted');
    return {};
  } catch (e) {
    if (e instanceof LedgerApiError && e.code === Failure.DUPLICATE_COMMAND) {
      fx.logger.info({ commandId: s.commandId, submissionId: input.submissionId }, 'execute: the ledger already has this command');
      observe?.('inconclusive');
      return { duplicate: true };
    }
    const error = toActorError(e, `execute ${s.commandId}`, isContractGone(e) ? scopeOf(s) : {});
    if (error.failure.code === Failure.TRAFFIC_EXHAUSTED) {
      // Info: the traffic gate warns once per hold, not once per refused submission.
      fx.logger.info(
        { commandId: s.commandId, submissionId: input.submissionId, reason: error.failure.message },
        'execute refused: the validator is out of traffic',
      );
      observe?.('exhausted', error.failure.message);
    } else {
      // Only a committed submission proves traffic is there; a refusal of another kind tells nothing about it.
      observe?.('inconclusive');
    }
    throw error;
  }
}

/** Which contracts a signed transaction is about, read back from it (only needed on a contract error). */
export function scopeOf(s: SignedSubmission): FailureScope {
  try {
    const root = summarizePreparedTransaction(decodePreparedTransaction(s.preparedTransaction)).roots[0];
    if (root?.kind !== 'exercise') return {};
    if (root.choice === 'TransferFactory_Transfer') {
      const arg = TransferFactoryTransferArg.safeParse(root.choiceArgument);
      return arg.success ? { inputs: arg.data.transfer.inputHoldingCids } : {};
    }
    if (root.choice === 'TransferInstruction_Accept' || root.choice === 'TransferInstruction_Withdraw')
      return { instructionCid: root.contractId };
  } catch {
    /* classified without scope below */
  }
  return {};
}

import { compareAmounts, normalizeAmount } from '../../lib/decimal.js';
import {
  damlValueToJson,
  isoToMicros,
  microsToIso,
  type DamlJson,
  type ExerciseNode,
  type PreparedTransaction,
} from '../../ledger/prepared-transaction/index.js';
import { MetadataKey, TransferFactoryTransferArg, TransferInstructionChoiceArg } from '../../ledger/schema/index.js';
import type { ExpectedAction } from '../submission.js';
import { effectsOf, treasuryAuthorityProblems } from './treasury-authority.js';

/**
 * Is this prepared transaction exactly the request we sent? Run on the decoded transaction whose
 * hash we recomputed, before signing it. Returns every problem found (empty = sign).
 *
 * The root must be the expected choice on the expected contract (the factory the registry named
 * for a transfer, the instruction for an accept), signed by the instrument's admin. Besides the
 * request fields, structural rules guard the money:
 * - every input holding of a transfer is consumed by the transaction: the at-most-once guarantee
 *   rests on the inputs being archived, so a factory that does not spend them must not be signed;
 * - no other contract the treasury signed is consumed (a transfer spends only its inputs, an
 *   accept only the instruction);
 * - the tree binds the treasury to nothing else: no create it signs and no exercise it acts in
 *   beyond what the transfer or accept needs (treasury-authority.ts).
 * `max_record_time` is compared although the V2 hash does not cover it: the node that prepared the
 * transaction could alter it unsigned, and it is the deadline our safety rule relies on.
 */

const TRANSFER_INSTRUCTION_MODULE = 'Splice.Api.Token.TransferInstructionV1';
const TRANSFER_FIELDS = ['sender', 'receiver', 'amount', 'instrumentId', 'requestedAt', 'executeBefore', 'inputHoldingCids', 'meta'];

export function checkPreparedTransaction(tx: PreparedTransaction, expected: ExpectedAction): string[] {
  const problems: string[] = [];
  const { actAs: actAsList, commandId } = tx.metadata.submitterInfo;
  const actAs = expected.kind === 'transfer' ? expected.sender : expected.actAs;

  if (actAsList.length !== 1 || actAsList[0] !== actAs) problems.push(`actAs is [${actAsList.join(', ')}], expected [${actAs}]`);
  if (commandId !== expected.commandId) problems.push(`commandId is "${commandId}", expected "${expected.commandId}"`);

  // Only the root's argument is read as Daml-LF JSON: converting the whole tree costs more than the rest of the check.
  const rootNode =
    tx.transaction.roots.length === 1 ? tx.transaction.nodes.find((n) => n.nodeId === tx.transaction.roots[0])?.node : undefined;
  if (rootNode?.kind !== 'exercise') {
    problems.push(
      `expected exactly one root exercise, found ${tx.transaction.roots.length} root(s)${rootNode ? ` (${rootNode.kind})` : ''}`,
    );
    return problems;
  }
  const root = rootNode;
  const choiceArgument = damlValueToJson(root.chosenValue);
  const effects = effectsOf(tx, actAs);
  const admin = expected.instrument.admin;
  if (!root.signatories.includes(admin)) {
    problems.push(
      `the root's contract ${root.packageName}:${root.templateId.moduleName}:${root.templateId.entityName} is signed by [${root.signatories.join(', ')}], not by the instrument admin ${admin}`,
    );
  }

  if (expected.kind === 'transfer') {
    checkMaxRecordTime(tx, expected.maxRecordTime, problems);
    checkExercise(
      root,
      { choice: 'TransferFactory_Transfer', entity: 'TransferFactory', consuming: false, actor: expected.sender },
      problems,
    );
    if (root.contractId !== expected.factoryId)
      problems.push(`exercises ${root.contractId}, expected the registry's transfer factory ${expected.factoryId}`);
    checkTransferArgument(choiceArgument, expected, problems);
    const missing = expected.inputHoldingCids.filter((c) => !effects.consumed.has(c));
    if (missing.length > 0) problems.push(`input holdings not consumed by the transaction: ${missing.join(', ')}`);
    const inputs = new Set(expected.inputHoldingCids);
    const foreign = [...effects.treasuryConsumed].filter((c) => !inputs.has(c));
    if (foreign.length > 0) problems.push(`consumes treasury contracts that are not its inputs: ${foreign.join(', ')}`);
    const transfer = root.chosenValue.kind === 'record' ? root.chosenValue.fields.find((f) => f.label === 'transfer')?.value : undefined;
    if (transfer) {
      const scope = {
        kind: 'transfer' as const,
        treasury: actAs,
        admin,
        receiver: expected.receiver,
        inputs: expected.inputHoldingCids,
        transfer,
      };
      problems.push(...treasuryAuthorityProblems(tx, root, effects, scope));
    }
  } else {
    // Accept (a deposit) or withdraw (our own offer): the same choice shape on the instruction.
    const choice = expected.kind === 'accept' ? 'TransferInstruction_Accept' : 'TransferInstruction_Withdraw';
    if (expected.kind === 'accept' && tx.metadata.maxRecordTime === undefined)
      problems.push('no max_record_time: the accept would have no deadline');
    checkExercise(root, { choice, entity: 'TransferInstruction', consuming: true, actor: expected.actAs }, problems);
    if (root.contractId !== expected.transferInstructionCid)
      problems.push(`exercises ${root.contractId}, expected instruction ${expected.transferInstructionCid}`);
    const arg = TransferInstructionChoiceArg.safeParse(choiceArgument);
    if (!arg.success) problems.push(`choice argument is not a ${choice} argument: ${arg.error.issues[0]?.message ?? ''}`);
    else if (Object.keys(arg.data.extraArgs.meta.values).length > 0) problems.push('extraArgs.meta is not empty');
    const allowed = new Set([expected.transferInstructionCid, ...(expected.kind === 'withdraw' ? expected.lockedHoldingCids : [])]);
    const foreign = [...effects.treasuryConsumed].filter((c) => !allowed.has(c));
    if (foreign.length > 0)
      problems.push(
        `consumes treasury contracts other than the instruction${expected.kind === 'withdraw' ? ' and its locked holdings' : ''}: ${foreign.join(', ')}`,
      );
    const scope =
      expected.kind === 'withdraw'
        ? {
            kind: 'withdraw' as const,
            treasury: actAs,
            admin,
            instructionCid: expected.transferInstructionCid,
            lockedHoldingCids: expected.lockedHoldingCids,
          }
        : { kind: 'accept' as const, treasury: actAs, admin, instructionCid: expected.transferInstructionCid };
    problems.push(...treasuryAuthorityProblems(tx, root, effects, scope));
  }
  return problems;
}

function checkExercise(
  root: ExerciseNode,
  want: { choice: string; entity: string; consuming: boolean; actor: string },
  problems: string[],
): void {
  if (root.choiceId !== want.choice) problems.push(`root choice is ${root.choiceId}, expected ${want.choice}`);
  const i = root.interfaceId;
  if (!i || i.moduleName !== TRANSFER_INSTRUCTION_MODULE || i.entityName !== want.entity) {
    problems.push(
      `root is not exercised through the ${TRANSFER_INSTRUCTION_MODULE}:${want.entity} interface (${i ? `${i.moduleName}:${i.entityName}` : 'no interface'})`,
    );
  }
  if (root.consuming !== want.consuming) problems.push(`root exercise is ${root.consuming ? '' : 'non-'}consuming`);
  if (root.actingParties.length !== 1 || root.actingParties[0] !== want.actor)
    problems.push(`root acting parties are [${root.actingParties.join(', ')}], expected [${want.actor}]`);
}

function checkMaxRecordTime(tx: PreparedTransaction, wanted: string, problems: string[]): void {
  const actual = tx.metadata.maxRecordTime;
  if (actual === undefined) {
    problems.push(`no max_record_time, expected ${wanted}`);
    return;
  }
  const want = micros(wanted);
  if (want === undefined || actual !== want) problems.push(`max_record_time is ${microsToIso(actual)}, expected ${wanted}`);
}

function checkTransferArgument(raw: DamlJson, e: Extract<ExpectedAction, { kind: 'transfer' }>, problems: string[]): void {
  const keysOf = (v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v).sort() : []);
  const arg = TransferFactoryTransferArg.safeParse(raw);
  if (!arg.success) {
    problems.push(
      `choice argument is not a TransferFactory_Transfer argument: ${arg.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
    return;
  }
  // A record with extra fields is another type than the one we asked to exercise.
  const rawTransfer = (raw as Record<string, unknown>)['transfer'];
  if (keysOf(raw).join() !== 'expectedAdmin,extraArgs,transfer') problems.push(`choice argument fields are [${keysOf(raw).join(', ')}]`);
  if (keysOf(rawTransfer).join() !== [...TRANSFER_FIELDS].sort().join())
    problems.push(`transfer fields are [${keysOf(rawTransfer).join(', ')}]`);

  const { expectedAdmin, transfer: t, extraArgs } = arg.data;
  if (expectedAdmin !== e.instrument.admin) problems.push(`expectedAdmin is ${expectedAdmin}, expected ${e.instrument.admin}`);
  if (t.sender !== e.sender) problems.push(`sender is ${t.sender}, expected ${e.sender}`);
  if (t.receiver !== e.receiver) problems.push(`receiver is ${t.receiver}, expected ${e.receiver}`);
  if (compareAmounts(t.amount, normalizeAmount(e.amount)) !== 0) problems.push(`amount is ${t.amount}, expected ${e.amount}`);
  if (t.instrumentId.admin !== e.instrument.admin || t.instrumentId.id !== e.instrument.id) {
    problems.push(`instrument is ${t.instrumentId.admin}/${t.instrumentId.id}, expected ${e.instrument.admin}/${e.instrument.id}`);
  }
  const executeBefore = micros(t.executeBefore);
  if (executeBefore === undefined || executeBefore !== micros(e.executeBefore))
    problems.push(`executeBefore is ${t.executeBefore}, expected ${e.executeBefore}`);
  const requestedAt = micros(t.requestedAt);
  if (requestedAt === undefined || executeBefore === undefined || requestedAt >= executeBefore)
    problems.push(`requestedAt ${t.requestedAt} is not before executeBefore`);
  if (t.inputHoldingCids.length !== e.inputHoldingCids.length || t.inputHoldingCids.some((c, i) => c !== e.inputHoldingCids[i])) {
    problems.push(`inputHoldingCids are [${t.inputHoldingCids.join(', ')}], expected [${e.inputHoldingCids.join(', ')}]`);
  }
  const meta = Object.entries(t.meta.values);
  if (meta.length !== 1 || t.meta.values[MetadataKey.reason] !== e.memo)
    problems.push(`transfer meta is ${JSON.stringify(t.meta.values)}, expected only the memo "${e.memo}"`);
  if (Object.keys(extraArgs.meta.values).length > 0) problems.push('extraArgs.meta is not empty');
}

function micros(iso: string): bigint | undefined {
  try {
    return isoToMicros(iso);
  } catch {
    return undefined;
  }
}

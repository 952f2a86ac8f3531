import { randomBytes } from 'node:crypto';
import type { HoldingRecord } from '../admin/reconciliation/compare.js';
import { createRegistryMetadataCheck } from '../admin/registry-check.js';
import { addAmounts, compareAmounts, isZeroAmount } from '../lib/decimal.js';
import { treasuryEventFormat, treasuryUpdateFormat } from '../ledger/read-client.js';
import type { JsTransaction } from '../ledger/schema/index.js';
import { isoAfter } from '../machines/backoff.js';
import type { ExpectedAction } from '../machines/submission.js';
import type { PrepareTransferInput, TransferIntent, WithdrawalLedgerActors } from '../machines/withdrawal.actors.js';
import { DEFAULT_WITHDRAWAL_POLICY } from '../machines/withdrawal.context.js';
import { staticLedgerState } from '../ingestion/ledger-state.js';
import { parseTransaction } from '../ingestion/parser.js';
import type { ConformanceClients } from './clients.js';
import { smallestUnlocked } from './ledger-checks.js';
import { CheckFailed, type CheckRunner } from './runner.js';
import type { ConformanceInstrument } from './settings.js';

/**
 * Per instrument: the registry's metadata as token onboarding checks it, then a withdrawal of the
 * treasury's smallest unlocked holding to the treasury itself, through the withdrawal machine's own
 * ledger effects (registry transfer factory → prepare → verify + sign → execute), and the ledger's
 * account of it read back and parsed by ingestion's parser: the input archived, the same amount
 * created for the treasury, a net change of zero. The funds never leave the treasury.
 */

export interface SelfTransferDeps {
  runner: CheckRunner;
  clients: ConformanceClients;
  treasuryParty: string;
  instrument: ConformanceInstrument;
  holdings: readonly HoldingRecord[] | undefined;
  /** How long to wait for the committed transfer to show on the ledger. */
  confirmTimeoutMs: number;
}

const shortId = (id: string) => (id.length > 16 ? `${id.slice(0, 12)}…` : id);

/** What a withdrawal's attempt fixes at reservation time (withdrawal.machine.ts), for a self-transfer of one holding. */
function selfTransferOf(
  party: string,
  instrument: ConformanceInstrument,
  holding: HoldingRecord,
): { intent: TransferIntent; commandId: string; maxRecordTime: string } {
  const now = Date.now();
  // The memo doubles as the withdrawal id: a daemon ingesting this treasury records the transfer as a recovered self-transfer under it.
  const withdrawalId = `conformance-${new Date(now).toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
  return {
    intent: {
      withdrawalId,
      attempt: 1,
      sender: party,
      receiver: party,
      amount: holding.amount,
      instrument: { admin: instrument.admin, id: instrument.id },
      inputHoldingCids: [holding.contractId],
      requestedAt: new Date(now).toISOString(),
      executeBefore: isoAfter(DEFAULT_WITHDRAWAL_POLICY.offerTtlMs, now),
      memo: withdrawalId,
    },
    commandId: `${withdrawalId}-1`,
    maxRecordTime: isoAfter(DEFAULT_WITHDRAWAL_POLICY.attemptTtlMs, now),
  };
}

export async function runSelfTransferChecks(d: SelfTransferDeps): Promise<void> {
  const { runner: r, clients: c, treasuryParty: party, instrument: i } = d;
  const label = i.id;
  const signal = () => AbortSignal.timeout(120_000);

  await r.check(`registry metadata ${label}`, async () => {
    const info = await createRegistryMetadataCheck({ policy: c.registryPolicy }).check(i);
    return { value: info, detail: `${info.name} (${info.symbol}), ${info.decimals} decimals, admin ${shortId(info.adminId)}` };
  });

  const holding = await r.checkWith(`treasury holding ${label}`, [['active contracts', d.holdings]], async (holdings) => {
    const h = smallestUnlocked(holdings, i);
    if (h === undefined) throw new CheckFailed(`the treasury has no unlocked holding of ${i.admin}/${i.id} to self-transfer`);
    return { value: h, detail: `smallest unlocked: ${h.amount} (${shortId(h.contractId)})` };
  });
  const plan = holding && selfTransferOf(party, i, holding);

  const w: [string, WithdrawalLedgerActors | undefined] = ['treasury key', c.withdrawal];
  const factory = await r.checkWith(`transfer factory ${label}`, [w, [`treasury holding ${label}`, plan]], async (effects, p) => {
    const f = await effects.fetchTransferFactory(p.intent, signal());
    if (f.transferKind !== 'self')
      throw new CheckFailed(
        `the registry chose transfer kind "${f.transferKind}" for a transfer from the treasury to itself; expected "self"`,
      );
    return { value: f, detail: `factory ${shortId(f.factoryId)}, kind self, ${f.disclosedContracts.length} disclosed contract(s)` };
  });

  const prepareInput: PrepareTransferInput | undefined = plan &&
    factory && { ...plan.intent, factory, commandId: plan.commandId, maxRecordTime: plan.maxRecordTime };
  const prepared = await r.checkWith(`prepare ${label}`, [w, [`transfer factory ${label}`, prepareInput]], async (effects, input) => {
    const p = await effects.prepareTransfer(input, signal());
    return { value: p, detail: `hashing scheme ${p.hashingSchemeVersion}` };
  });

  const expected: ExpectedAction | undefined = plan &&
    factory && {
      kind: 'transfer',
      commandId: plan.commandId,
      factoryId: factory.factoryId,
      sender: plan.intent.sender,
      receiver: plan.intent.receiver,
      amount: plan.intent.amount,
      instrument: plan.intent.instrument,
      inputHoldingCids: plan.intent.inputHoldingCids,
      memo: plan.intent.memo,
      executeBefore: plan.intent.executeBefore,
      maxRecordTime: plan.maxRecordTime,
    };
  const signed = await r.checkWith(
    `verify and sign ${label}`,
    [w, [`prepare ${label}`, prepared], [`treasury holding ${label}`, expected]],
    async (effects, p, e) => {
      const s = await effects.verifyAndSign({ prepared: p, expected: e }, signal());
      return { value: s, detail: `hash ${s.preparedTransactionHash} signed by ${shortId(s.signedBy)}` };
    },
  );

  const executed = await r.checkWith(
    `execute ${label}`,
    [w, [`verify and sign ${label}`, signed], [`treasury holding ${label}`, plan]],
    async (effects, s, p) => {
      const out = await effects.executeSubmission({ submissionId: `${p.commandId}-0`, signed: s }, signal());
      if (out.duplicate) throw new CheckFailed(`the ledger answered DUPLICATE_COMMAND for the fresh command ${p.commandId}`);
      return { value: true, detail: `command ${p.commandId}` };
    },
  );

  await r.checkWith(
    `self-transfer on the ledger ${label}`,
    [
      [`execute ${label}`, executed],
      [`treasury holding ${label}`, holding],
      [`treasury holding ${label}`, plan],
    ],
    async (_done, h, p) => {
      const tx = await committedTransfer(c, party, h.contractId, d.confirmTimeoutMs);
      return { value: tx, detail: confirmSelfTransfer(tx, party, h, p.intent.memo) };
    },
  );
}

/**
 * The transaction that archived the input: its offset from the input's events, its update id from
 * the update stream at that offset (HTTP, bounded), then the update by id as the ledger serves it.
 */
async function committedTransfer(c: ConformanceClients, party: string, inputCid: string, timeoutMs: number): Promise<JsTransaction> {
  const until = Date.now() + timeoutMs;
  let archivedAt: number | undefined;
  for (;;) {
    const events = await c.reads.eventsByContractId(inputCid, treasuryEventFormat(party));
    archivedAt = events?.archived?.archivedEvent.offset;
    if (archivedAt !== undefined) break;
    if (Date.now() >= until)
      throw new CheckFailed(`the input holding ${inputCid} is not archived ${timeoutMs} ms after the execute was accepted`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const page = await c.reads.updates({
    beginExclusive: archivedAt - 1,
    endInclusive: archivedAt,
    updateFormat: treasuryUpdateFormat(party),
  });
  const found = page.map((e) => e.update).find((u) => 'Transaction' in u && u.Transaction.value.offset === archivedAt);
  if (found === undefined || !('Transaction' in found))
    throw new CheckFailed(
      `the input was archived at offset ${archivedAt}, but /v2/updates has no transaction at that offset for the treasury`,
    );
  const byId = await c.reads.updateById(found.Transaction.value.updateId, treasuryUpdateFormat(party));
  if (!('Transaction' in byId.update))
    throw new CheckFailed(
      `update-by-id ${found.Transaction.value.updateId} answered a ${Object.keys(byId.update).join(', ')}, not a transaction`,
    );
  return byId.update.Transaction.value;
}

/** Ingestion's reading of the transaction: one self-transfer with our memo, spending the input, changing nothing in total. */
function confirmSelfTransfer(tx: JsTransaction, party: string, input: HoldingRecord, memo: string): string {
  const facts = parseTransaction(tx, party, staticLedgerState([input]), { unknownOwnedHolding: 'fail' });
  const out = facts.activities.find((a) => a.kind === 'transfer_out' && a.memo === memo);
  if (out?.kind !== 'transfer_out')
    throw new CheckFailed(
      `update ${tx.updateId} holds no transfer with memo ${memo} (activities: ${facts.activities.map((a) => a.kind).join(', ') || 'none'})`,
    );
  const problems: string[] = [];
  if (!out.self) problems.push(`it is not a self-transfer (receiver ${out.receiver ?? 'unknown'})`);
  if (out.outcome !== 'completed') problems.push(`its outcome is ${out.outcome}`);
  if (out.inputHoldingCids.join() !== input.contractId) problems.push(`its inputs are [${out.inputHoldingCids.join(', ')}]`);
  if (out.holdingsDelta === null || !isZeroAmount(out.holdingsDelta))
    problems.push(`the treasury's holdings changed by ${out.holdingsDelta ?? 'an unknown amount'}`);
  if (!facts.holdingsArchived.some((a) => a.contractId === input.contractId)) problems.push('the input holding is not archived by it');
  const created = facts.holdingsCreated.filter(
    (h) => h.instrument.admin === input.instrument.admin && h.instrument.id === input.instrument.id,
  );
  const total = created.length === 0 ? '0' : addAmounts(...created.map((h) => h.amount));
  if (compareAmounts(total, input.amount) !== 0) problems.push(`it creates ${total} for the treasury, the input held ${input.amount}`);
  if (problems.length > 0) throw new CheckFailed(`update ${tx.updateId}: ${problems.join('; ')}`);
  return `update ${shortId(tx.updateId)} at offset ${tx.offset}: ${created.length} holding(s) totalling ${total}, net change 0`;
}

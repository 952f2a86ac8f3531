/**
 * What the daemon's withdrawal and deposit automation does, done through the wire only: ask the
 * instrument's registry for the factory / choice context, prepare, decode the prepared
 * transaction and recompute its hash, sign with the treasury key, execute.
 */
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import {
  summarizePreparedTransaction,
  verifyPreparedTransactionHash,
  type PreparedTransactionSummary,
} from '../../../src/ledger/prepared-transaction/index.js';
import { TRANSFER_FACTORY_INTERFACE_ID, TRANSFER_INSTRUCTION_INTERFACE_ID } from '../../../src/ledger/schema/index.js';
import type { Sandbox, SandboxInstrumentInfo } from '../../../src/sandbox/start.js';
import type { WireClient, WireResponse } from './wire-client.js';

export interface RegistryDisclosed {
  templateId: string;
  contractId: string;
  createdEventBlob: string;
  synchronizerId: string;
}

export interface ChoiceContext {
  choiceContextData: { values: Record<string, unknown> };
  disclosedContracts: RegistryDisclosed[];
}

export interface Prepared {
  preparedTransaction: string;
  preparedTransactionHash: string;
  hashingSchemeVersion: string;
  commandId: string;
  summary: PreparedTransactionSummary;
}

export class TreasuryWallet {
  readonly key: KeyObject;
  readonly party: string;
  readonly fingerprint: string;

  constructor(
    private readonly sb: Sandbox,
    readonly client: WireClient,
    keyPem?: string,
  ) {
    if (!sb.treasury) throw new Error('no treasury');
    this.key = createPrivateKey(keyPem ?? sb.treasury.privateKeyPem);
    this.party = sb.treasury.party;
    this.fingerprint = sb.treasury.fingerprint;
  }

  instrument(id: string): SandboxInstrumentInfo {
    const i = this.sb.instruments.find((x) => x.id === id);
    if (!i) throw new Error(`no instrument ${id}`);
    return i;
  }

  /** The treasury's unlocked holdings of an instrument, from the books. */
  holdings(instrumentId: string): { contractId: string; amount: string }[] {
    const inst = this.instrument(instrumentId);
    return this.sb.control.books
      .holdings(this.party)
      .filter((h) => !h.locked && h.admin === inst.admin && h.instrumentId === inst.id)
      .map((h) => ({ contractId: h.contractId, amount: h.amount }));
  }

  async transferFactory(inst: SandboxInstrumentInfo, transfer: Record<string, unknown>) {
    const res = await this.client.request<{ factoryId: string; transferKind: string; choiceContext: ChoiceContext }>(
      'POST',
      `${new URL(inst.registryUrl).pathname}/registry/transfer-instruction/v1/transfer-factory`,
      { choiceArguments: { expectedAdmin: inst.admin, transfer, extraArgs: { context: { values: {} }, meta: { values: {} } } } },
    );
    if (res.status !== 200) throw new Error(`transfer-factory: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async choiceContext(
    inst: SandboxInstrumentInfo,
    cid: string,
    choice: 'accept' | 'reject' | 'withdraw',
  ): Promise<WireResponse<ChoiceContext>> {
    return this.client.request<ChoiceContext>(
      'POST',
      `${new URL(inst.registryUrl).pathname}/registry/transfer-instruction/v1/${cid}/choice-contexts/${choice}`,
      {},
    );
  }

  async prepare(body: Record<string, unknown>): Promise<WireResponse<Prepared>> {
    const commandId = (body['commandId'] as string | undefined) ?? `cmd-${randomUUID()}`;
    // synchronizerId and packageIdSelectionPreference: required by Canton 3.4 (empty = none).
    const res = await this.client.request<Prepared>('POST', '/v2/interactive-submission/prepare', {
      synchronizerId: '',
      packageIdSelectionPreference: [],
      ...body,
      commandId,
      actAs: [this.party],
      userId: this.sb.treasury?.userId,
    });
    if (res.status === 200) {
      const check = verifyPreparedTransactionHash(res.body as never);
      if (!check.matches) throw new Error('the prepared transaction does not hash to preparedTransactionHash');
      res.body.commandId = commandId;
      res.body.summary = summarizePreparedTransaction(check.transaction);
    }
    return res;
  }

  /** Prepares a TransferFactory_Transfer of our holdings (a withdrawal, or a merge when receiver = treasury). */
  async prepareTransfer(args: {
    receiver: string;
    instrumentId: string;
    amount: string;
    memo?: string;
    inputs: string[];
    executeBefore?: string;
    maxRecordTime?: string;
    commandId?: string;
    /** More fields of the prepare request (e.g. estimateTrafficCost). */
    prepareFields?: Record<string, unknown>;
  }): Promise<{ kind: string; prepared: WireResponse<Prepared> }> {
    const inst = this.instrument(args.instrumentId);
    const now = new Date(Date.parse(this.sb.control.clockNow().time));
    const transfer = {
      sender: this.party,
      receiver: args.receiver,
      amount: args.amount,
      instrumentId: { admin: inst.admin, id: inst.id },
      requestedAt: new Date(now.getTime() - 1000).toISOString(),
      executeBefore: args.executeBefore ?? new Date(now.getTime() + 24 * 3600_000).toISOString(),
      inputHoldingCids: args.inputs,
      meta: { values: args.memo === undefined ? {} : { 'splice.lfdecentralizedtrust.org/reason': args.memo } },
    };
    const factory = await this.transferFactory(inst, transfer);
    const prepared = await this.prepare({
      ...(args.commandId ? { commandId: args.commandId } : {}),
      commands: [
        {
          ExerciseCommand: {
            templateId: TRANSFER_FACTORY_INTERFACE_ID,
            contractId: factory.factoryId,
            choice: 'TransferFactory_Transfer',
            choiceArgument: {
              expectedAdmin: inst.admin,
              transfer,
              extraArgs: { context: factory.choiceContext.choiceContextData, meta: { values: {} } },
            },
          },
        },
      ],
      disclosedContracts: factory.choiceContext.disclosedContracts.map(({ templateId, contractId, createdEventBlob, synchronizerId }) => ({
        templateId,
        contractId,
        createdEventBlob,
        synchronizerId,
      })),
      ...(args.maxRecordTime ? { maxRecordTime: args.maxRecordTime } : {}),
      ...args.prepareFields,
    });
    return { kind: factory.transferKind, prepared };
  }

  async prepareInstructionChoice(
    instrumentId: string,
    cid: string,
    choice: 'accept' | 'reject' | 'withdraw',
    maxRecordTime?: string,
  ): Promise<WireResponse<Prepared>> {
    const inst = this.instrument(instrumentId);
    const ctx = await this.choiceContext(inst, cid, choice);
    if (ctx.status !== 200) throw new Error(`choice context: ${ctx.status} ${JSON.stringify(ctx.body)}`);
    return this.prepare({
      commands: [
        {
          ExerciseCommand: {
            templateId: TRANSFER_INSTRUCTION_INTERFACE_ID,
            contractId: cid,
            choice: `TransferInstruction_${choice.charAt(0).toUpperCase()}${choice.slice(1)}`,
            choiceArgument: { extraArgs: { context: ctx.body.choiceContextData, meta: { values: {} } } },
          },
        },
      ],
      disclosedContracts: ctx.body.disclosedContracts.map(({ templateId, contractId, createdEventBlob, synchronizerId }) => ({
        templateId,
        contractId,
        createdEventBlob,
        synchronizerId,
      })),
      ...(maxRecordTime ? { maxRecordTime } : {}),
    });
  }

  signature(hashB64: string, key: KeyObject = this.key, signedBy = this.fingerprint) {
    return {
      signatures: [
        {
          party: this.party,
          signatures: [
            {
              format: 'SIGNATURE_FORMAT_CONCAT',
              signature: sign(null, Buffer.from(hashB64, 'base64'), key).toString('base64'),
              signedBy,
              signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519',
            },
          ],
        },
      ],
    };
  }

  async execute(
    p: Prepared,
    opts: { submissionId?: string; path?: string; partySignatures?: unknown; deduplicationPeriod?: unknown } = {},
  ): Promise<WireResponse<Record<string, unknown>> & { submissionId: string }> {
    const submissionId = opts.submissionId ?? randomUUID();
    const res = await this.client.request<Record<string, unknown>>('POST', opts.path ?? '/v2/interactive-submission/execute', {
      preparedTransaction: p.preparedTransaction,
      hashingSchemeVersion: p.hashingSchemeVersion,
      submissionId,
      userId: this.sb.treasury?.userId,
      partySignatures: opts.partySignatures ?? this.signature(p.preparedTransactionHash),
      // Required by Canton 3.4; Empty = the participant's maximum.
      deduplicationPeriod: opts.deduplicationPeriod ?? { Empty: {} },
    });
    return { ...res, submissionId };
  }

  async completions(beginExclusive = 0): Promise<Record<string, unknown>[]> {
    const els = await this.client.ok<{ completionResponse: Record<string, { value: Record<string, unknown> }> }[]>(
      'POST',
      '/v2/commands/completions?stream_idle_timeout_ms=50',
      { userId: this.sb.treasury?.userId, parties: [this.party], beginExclusive },
    );
    return els.flatMap((e) => (e.completionResponse['Completion'] ? [e.completionResponse['Completion'].value] : []));
  }

  /** Polls completions until the one of this submission arrives. */
  async completion(submissionId: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = (await this.completions()).find((x) => x['submissionId'] === submissionId);
      if (c) return c;
      if (Date.now() > deadline) throw new Error(`no completion for ${submissionId}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

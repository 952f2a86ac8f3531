import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DecodedPreparedTransaction,
  findInterfaceView,
  HOLDING_INTERFACE_ID,
  HoldingView,
  identifierMatches,
  JsGetActiveContractsResponse,
  JsGetUpdateResponse,
  JsGetUpdatesResponse,
  MetadataKey,
  parseActiveContract,
  parseUpdate,
  TRANSFER_FACTORY_INTERFACE_ID,
  TRANSFER_INSTRUCTION_INTERFACE_ID,
  TransferFactoryTransferArg,
  TransferInstructionChoiceArg,
  TransferInstructionResult,
  TransferInstructionView,
  type CreatedEvent,
  type ExercisedEvent,
  type JsTransaction,
} from '../../src/ledger/schema/index.js';
import { ledgerApiSpec, specErrors } from '../support/spec-validator.js';

const RECORDED = fileURLToPath(new URL('../../../shared/fixtures/recorded/', import.meta.url));

function load(file: string): unknown {
  return JSON.parse(readFileSync(path.join(RECORDED, file), 'utf8'));
}

/** What each recorded file is; a new file must be classified here before it counts as covered. */
const CLASSIFICATION: Record<string, 'update' | 'update-list' | 'acs-list' | 'decoded-prepared-tx' | 'sdk-output'> = {
  '1-step-transfer.json': 'update',
  'transfer-instruction-create.json': 'update',
  'transfer-instruction-accept.json': 'update',
  'utility-token-transfer.json': 'update-list',
  'active-contracts-holdings.json': 'acs-list',
  'active-contracts-transfer-instructions.json': 'acs-list',
  'prepare-response-example.json': 'decoded-prepared-tx',
  'utility-token-transfer.expected-sdk-parse.json': 'sdk-output',
};

/** The recordings predate 3.4.12: these two spec-required fields are missing, and unset optionals are null. */
const PRE_3_4_12 = { relaxRequired: ['acsDelta', 'representativePackageId'], nullForOptional: true } as const;

function transactionsOf(file: string): JsTransaction[] {
  const raw = load(file);
  const elements = Array.isArray(raw) ? raw : [raw];
  return elements.map((e) => {
    const u = parseUpdate(e).update;
    if (!('Transaction' in u)) throw new Error(`${file}: expected a Transaction update`);
    return u.Transaction.value;
  });
}

function exercisedEvents(tx: JsTransaction): ExercisedEvent[] {
  return tx.events.flatMap((e) => ('ExercisedEvent' in e ? [e.ExercisedEvent] : []));
}

function createdEvents(tx: JsTransaction): CreatedEvent[] {
  return tx.events.flatMap((e) => ('CreatedEvent' in e ? [e.CreatedEvent] : []));
}

describe('recorded ledger JSON', () => {
  it('every recorded file is classified', () => {
    const files = readdirSync(RECORDED).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(Object.keys(CLASSIFICATION).sort());
  });

  describe.each(Object.entries(CLASSIFICATION).filter(([, kind]) => kind === 'update'))('%s', (file) => {
    it('parses as an update-by-id response and a stream element', () => {
      const raw = load(file);
      expect(JsGetUpdateResponse.safeParse(raw).success).toBe(true);
      const parsed = parseUpdate(raw);
      expect(Object.keys(parsed.update)).toEqual(['Transaction']);
    });

    it('is spec-valid apart from the pre-3.4.12 omissions', () => {
      expect(specErrors(ledgerApiSpec, 'JsGetUpdateResponse', load(file), PRE_3_4_12)).toEqual([]);
      // And strictly it is not, exactly because of those omissions (the fixtures README's claim).
      const strict = specErrors(ledgerApiSpec, 'JsGetUpdateResponse', load(file), { nullForOptional: true });
      const missing = strict.filter((e) => e.includes('is required but missing'));
      expect(missing.length).toBeGreaterThan(0);
      for (const e of missing) expect(e).toMatch(/\/(acsDelta|representativePackageId): is required but missing/);
    });
  });

  it('utility-token-transfer.json parses as a list of /v2/updates elements', () => {
    const raw = load('utility-token-transfer.json');
    const list = z.array(JsGetUpdatesResponse).parse(raw);
    expect(list).toHaveLength(7);
    for (const el of raw as unknown[]) {
      expect(specErrors(ledgerApiSpec, 'JsGetUpdatesResponse', el, PRE_3_4_12)).toEqual([]);
    }
  });

  describe.each(['active-contracts-holdings.json', 'active-contracts-transfer-instructions.json'])('%s', (file) => {
    it('parses as a list of active-contracts elements and is spec-valid (pre-3.4.12)', () => {
      const raw = load(file) as unknown[];
      expect(z.array(JsGetActiveContractsResponse).parse(raw).length).toBeGreaterThan(0);
      for (const el of raw) {
        const parsed = parseActiveContract(el);
        expect(Object.keys(parsed.contractEntry)).toEqual(['JsActiveContract']);
        // "workflowId": "" is proto's unset.
        expect(parsed.workflowId).toBeUndefined();
        expect(specErrors(ledgerApiSpec, 'JsGetActiveContractsResponse', el, PRE_3_4_12)).toEqual([]);
      }
    });
  });

  it('prepare-response-example.json is a decoded PreparedTransaction, not a JsPrepareSubmissionResponse', () => {
    const raw = load('prepare-response-example.json');
    const decoded = DecodedPreparedTransaction.parse(raw);
    expect(decoded.metadata.submitter_info.command_id).toBe('f2ec4d8f-ccc1-402b-b278-7556fdd2b412');
    expect(decoded.metadata.preparation_time).toBe('1754534109899822');
    expect(decoded.transaction.nodes[0]?.v1?.create?.template_id.entity_name).toBe('Ping');
    // Loose: nothing is dropped, the parsed value equals the input.
    expect(decoded).toEqual(raw);
    expect(specErrors(ledgerApiSpec, 'JsPrepareSubmissionResponse', raw).length).toBeGreaterThan(0);
  });

  it('utility-token-transfer.expected-sdk-parse.json refers to the same updates, and its choice argument parses', () => {
    const sdk = z
      .object({
        transactions: z.array(
          z.looseObject({
            updateId: z.string(),
            offset: z.number(),
            events: z.array(z.looseObject({ label: z.looseObject({ tokenStandardChoice: z.unknown().optional() }) })),
          }),
        ),
      })
      .parse(load('utility-token-transfer.expected-sdk-parse.json'));
    const ours = new Map(transactionsOf('utility-token-transfer.json').map((t) => [t.updateId, t.offset]));
    for (const t of sdk.transactions) expect(ours.get(t.updateId)).toBe(t.offset);

    const choices = sdk.transactions
      .flatMap((t) => t.events.map((e) => e.label.tokenStandardChoice))
      .flatMap((c) => {
        const r = z.object({ name: z.string(), choiceArgument: z.unknown() }).safeParse(c);
        return r.success ? [r.data] : [];
      });
    const factoryCalls = choices.filter((c) => c.name === 'TransferFactory_Transfer');
    expect(factoryCalls.length).toBeGreaterThan(0);
    for (const c of factoryCalls) TransferFactoryTransferArg.parse(c.choiceArgument);
  });
});

describe('token-standard values inside the recordings', () => {
  it('1-step deposit: holding views of the created Amulets, memo in the result meta', () => {
    const [tx] = transactionsOf('1-step-transfer.json');
    if (!tx) throw new Error('no transaction');
    expect(tx.commandId).toBe('582f81e4-86e4-48fa-ad95-607e9ebe8c9b');
    // "workflowId": "" and "tracestate": null are both "unset".
    expect(tx.workflowId).toBeUndefined();
    expect(tx.traceContext?.tracestate).toBeUndefined();
    expect(tx.traceContext?.traceparent).toMatch(/^00-/);

    const holdings = createdEvents(tx).flatMap((c) => {
      const view = findInterfaceView(c.interfaceViews, HOLDING_INTERFACE_ID);
      return view ? [HoldingView.parse(view.viewValue)] : [];
    });
    expect(holdings.map((h) => [h.owner.split('::')[0], h.amount])).toEqual([
      ['treasury-party', '200.0000000000'],
      ['sender', '199663.3600000000'],
    ]);

    const send = exercisedEvents(tx).find((e) => e.choice === 'TransferPreapproval_Send');
    const result = z.object({ meta: z.object({ values: z.record(z.string(), z.string()) }) }).parse(send?.exerciseResult);
    expect(result.meta.values[MetadataKey.reason]).toBe('deposit-account-id');
    expect(result.meta.values[MetadataKey.txKind]).toBe('transfer');
    expect(result.meta.values[MetadataKey.burned]).toBe('14.0');
    expect(result.meta.values[MetadataKey.sender]).toMatch(/^sender::/);
  });

  it('2-step offer: TransferInstruction view with status TransferPendingReceiverAcceptance', () => {
    const [tx] = transactionsOf('transfer-instruction-create.json');
    const created = tx ? createdEvents(tx)[0] : undefined;
    const view = findInterfaceView(created?.interfaceViews, TRANSFER_INSTRUCTION_INTERFACE_ID);
    expect(view?.viewStatus.code).toBe(0);
    expect(tx?.commandId).toBeUndefined();
    const ti = TransferInstructionView.parse(view?.viewValue);
    expect(ti.status.tag).toBe('TransferPendingReceiverAcceptance');
    expect(ti.originalInstructionCid).toBeUndefined();
    expect(ti.transfer.amount).toBe('1000.0000000000');
    expect(ti.transfer.meta.values[MetadataKey.reason]).toBe('deposit-account-id');
    expect(ti.transfer.executeBefore).toBe('1970-01-01T00:02:00Z');
  });

  it('accept: TransferInstruction_Accept argument and Completed result', () => {
    const [tx] = transactionsOf('transfer-instruction-accept.json');
    const accept = tx ? exercisedEvents(tx).find((e) => e.choice === 'TransferInstruction_Accept') : undefined;
    if (!accept) throw new Error('no accept');
    expect(accept.interfaceId && identifierMatches(accept.interfaceId, TRANSFER_INSTRUCTION_INTERFACE_ID)).toBe(true);
    const arg = TransferInstructionChoiceArg.parse(accept.choiceArgument);
    expect(Object.keys(arg.extraArgs.context.values)).toContain('amulet-rules');
    const result = TransferInstructionResult.parse(accept.exerciseResult);
    expect(result.output.tag).toBe('TransferInstructionResult_Completed');
    if (result.output.tag === 'TransferInstructionResult_Completed') {
      expect(result.output.value.receiverHoldingCids).toHaveLength(1);
    }
    expect(result.meta.values[MetadataKey.burned]).toBe('22.0');
  });

  it('utility token: TransferFactory_Transfer argument, Pending result, locked holding', () => {
    const txs = transactionsOf('utility-token-transfer.json');
    const factory = txs.flatMap(exercisedEvents).find((e) => e.choice === 'TransferFactory_Transfer');
    if (!factory) throw new Error('no factory call');
    expect(factory.interfaceId && identifierMatches(factory.interfaceId, TRANSFER_FACTORY_INTERFACE_ID)).toBe(true);
    const arg = TransferFactoryTransferArg.parse(factory.choiceArgument);
    expect(arg.transfer.amount).toBe('500.0000000000');
    expect(arg.transfer.inputHoldingCids).toHaveLength(5);
    expect(arg.transfer.meta.values[MetadataKey.reason]).toBe('test-transfer-phillip');
    // The registry's context values pass through untouched.
    expect(arg.extraArgs.context.values['instrument-configuration']).toEqual({
      tag: 'AV_ContractId',
      value: expect.any(String),
    });
    const result = TransferInstructionResult.parse(factory.exerciseResult);
    expect(result.output.tag).toBe('TransferInstructionResult_Pending');

    const locked = txs
      .flatMap(createdEvents)
      .flatMap((c) => {
        const v = findInterfaceView(c.interfaceViews, HOLDING_INTERFACE_ID);
        return v ? [HoldingView.parse(v.viewValue)] : [];
      })
      .filter((h) => h.lock !== undefined);
    expect(locked.length).toBeGreaterThan(0);
    expect(locked[0]?.lock).toEqual({
      holders: [expect.stringMatching(/^test-registrar::/)],
      expiresAt: undefined,
      expiresAfter: undefined,
      context: 'test-transfer-phillip',
    });
  });

  it('ACS holdings: both metadata encodings normalise to a record', () => {
    const els = (load('active-contracts-holdings.json') as unknown[]).map(parseActiveContract);
    const views = els.map((el) => {
      if (!('JsActiveContract' in el.contractEntry)) throw new Error('not active');
      const v = findInterfaceView(el.contractEntry.JsActiveContract.createdEvent.interfaceViews, HOLDING_INTERFACE_ID);
      return HoldingView.parse(v?.viewValue);
    });
    expect(views.map((v) => v.amount)).toEqual(['87.0000000000', '20000.0000000000', '30.0000000000', '40.0000000000']);
    expect(views[0]?.meta.values).toEqual({
      'splice.lfdecentralizedtrust.org/created-in-round': '1',
      'splice.lfdecentralizedtrust.org/rate-per-round': '0.00380518',
    });
    expect(views[3]?.meta.values).toEqual({ test: 'test' });
  });

  it('ACS transfer instructions: views parse (interface ids use a placeholder package name)', () => {
    const els = (load('active-contracts-transfer-instructions.json') as unknown[]).map(parseActiveContract);
    for (const el of els) {
      if (!('JsActiveContract' in el.contractEntry)) throw new Error('not active');
      const ev = el.contractEntry.JsActiveContract.createdEvent;
      expect(ev.acsDelta).toBe(true);
      expect(ev.representativePackageId).toMatch(/^[0-9a-f]{64}$/);
      const v = findInterfaceView(ev.interfaceViews, TRANSFER_INSTRUCTION_INTERFACE_ID);
      const ti = TransferInstructionView.parse(v?.viewValue);
      expect(ti.status).toEqual({ tag: 'TransferPendingReceiverAcceptance', value: {} });
      expect(ti.transfer.executeBefore).toBe('2025-06-18T00:00:00.000000Z');
    }
  });
});

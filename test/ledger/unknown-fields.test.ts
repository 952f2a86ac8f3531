import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ChoiceContext,
  CreatedEvent,
  DecodedPreparedTransaction,
  ExercisedEvent,
  HoldingView,
  JsCantonError,
  JsCommands,
  JsGetActiveContractsResponse,
  JsGetUpdatesResponse,
  RegistryChoiceContext,
  TransferFactoryWithChoiceContext,
  TransferInstructionResult,
} from '../../src/ledger/schema/index.js';

const RECORDED = fileURLToPath(new URL('../../../shared/fixtures/recorded/', import.meta.url));
type Json = Record<string, unknown>;

function recorded(file: string): Json {
  return JSON.parse(readFileSync(RECORDED + file, 'utf8')) as Json;
}

/** Adds `futureField` to every object below `v` that is not inside a Daml value. */
function sprinkle(v: unknown, depth = 0): void {
  if (Array.isArray(v)) return v.forEach((x) => sprinkle(x, depth + 1));
  if (typeof v !== 'object' || v === null) return;
  const o = v as Json;
  for (const [k, x] of Object.entries(o)) {
    if (['createArgument', 'choiceArgument', 'exerciseResult', 'viewValue', 'contractKey'].includes(k)) continue;
    sprinkle(x, depth + 1);
  }
  o['futureField'] = { depth };
}

describe('unknown extra fields', () => {
  it('are tolerated everywhere in an update (a newer node may add fields)', () => {
    const u = recorded('1-step-transfer.json');
    sprinkle(u);
    const r = JsGetUpdatesResponse.safeParse(u);
    expect(r.error?.issues ?? []).toEqual([]);
    // …and stripped from ledger-API records, so nothing downstream depends on them.
    expect(JSON.stringify(r.data)).not.toContain('futureField');
  });

  it('are tolerated in ACS elements and errors', () => {
    const [el] = recorded('active-contracts-holdings.json') as unknown as Json[];
    sprinkle(el);
    expect(JsGetActiveContractsResponse.safeParse(el).success).toBe(true);
    expect(JsCantonError.safeParse({ code: 'X', cause: 'y', context: {}, errorCategory: 1, newThing: [1] }).success).toBe(true);
  });

  it('inside Daml values are kept: values pass through by reference', () => {
    const u = recorded('1-step-transfer.json');
    const ev = ((((u['update'] as Json)['Transaction'] as Json)['value'] as Json)['events'] as Json[])[0] as Json;
    const exercised = ev['ExercisedEvent'] as Json;
    (exercised['choiceArgument'] as Json)['futureField'] = 1;
    const parsed = ExercisedEvent.parse(exercised);
    expect(parsed.choiceArgument).toBe(exercised['choiceArgument']);
    expect(parsed.exerciseResult).toBe(exercised['exerciseResult']);
  });

  it('in a created event keep createArgument and view values intact', () => {
    const u = recorded('transfer-instruction-create.json');
    const ev = ((((u['update'] as Json)['Transaction'] as Json)['value'] as Json)['events'] as Json[])[0] as Json;
    const created = ev['CreatedEvent'] as Json;
    const parsed = CreatedEvent.parse(created);
    expect(parsed.createArgument).toEqual(created['createArgument']);
    expect(parsed.interfaceViews?.[0]?.viewValue).toEqual((created['interfaceViews'] as Json[])[0]?.['viewValue']);
  });

  it('registry disclosed contracts and choice context data are forwarded without loss', () => {
    const body = {
      factoryId: '00ff',
      transferKind: 'offer',
      choiceContext: {
        choiceContextData: { values: { 'amulet-rules': { tag: 'AV_ContractId', value: '00aa' } }, extra: true },
        disclosedContracts: [
          {
            templateId: 'a1'.repeat(32) + ':Splice.AmuletRules:AmuletRules',
            contractId: '00aa',
            createdEventBlob: 'CgMy',
            synchronizerId: 'sync::1220',
            debugPayload: { dso: 'DSO::1220' },
            debugCreatedAt: '2026-01-01T00:00:00Z',
            someFutureField: 'kept',
          },
        ],
      },
      unknownTopLevel: 'dropped',
    };
    const parsed = TransferFactoryWithChoiceContext.parse(body);
    expect(parsed.choiceContext).toEqual(body.choiceContext);
    expect(parsed).not.toHaveProperty('unknownTopLevel');
    expect(RegistryChoiceContext.parse(body.choiceContext)).toEqual(body.choiceContext);
  });

  it('the Daml ChoiceContext keeps everything (its values are registry-defined)', () => {
    const ctx = { values: { a: { tag: 'AV_Bool', value: true } }, future: 1 };
    expect(ChoiceContext.parse(ctx)).toEqual(ctx);
  });

  it('the decoded prepared transaction keeps unknown proto fields', () => {
    const raw = recorded('prepare-response-example.json');
    (raw['metadata'] as Json)['max_record_time'] = '1754534109899822';
    (raw['metadata'] as Json)['some_new_field'] = { x: 1 };
    expect(DecodedPreparedTransaction.parse(raw)).toEqual(raw);
  });

  it('token-standard records tolerate fields of newer interface versions', () => {
    const view = {
      owner: 'a::1',
      instrumentId: { admin: 'dso::1', id: 'Amulet', extra: 1 },
      amount: '1.0',
      lock: null,
      meta: { values: {} },
      newField: 'x',
    };
    expect(HoldingView.parse(view).amount).toBe('1.0000000000');
    const result = {
      output: { tag: 'TransferInstructionResult_Failed', value: {} },
      senderChangeCids: [],
      meta: { values: {} },
      futureField: null,
    };
    expect(TransferInstructionResult.parse(result).output.tag).toBe('TransferInstructionResult_Failed');
  });

  it('requests with unknown fields parse (rejecting them is a policy for the double, not the schema)', () => {
    const r = JsCommands.safeParse({
      commands: [{ CreateCommand: { templateId: '#p:M:T', createArguments: {} } }],
      commandId: 'c',
      actAs: ['a::1'],
      someClientExtension: true,
    });
    expect(r.success).toBe(true);
  });
});

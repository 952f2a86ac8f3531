import { describe, expect, it } from 'vitest';
import {
  expectSpecValid,
  ledgerApiSpec,
  ledgerAsyncApiSpec,
  loadSpec,
  specErrors,
  tokenMetadataSpec,
  transferInstructionSpec,
} from '../support/spec-validator.js';

describe('spec validator', () => {
  it('loads every spec the project uses, once', () => {
    expect(ledgerApiSpec()).toBe(ledgerApiSpec());
    expect(ledgerApiSpec().schemaNames).toContain('JsGetUpdatesResponse');
    expect(ledgerAsyncApiSpec().schemaNames).toContain('Either_JsCantonError_JsGetUpdatesResponse');
    expect(ledgerApiSpec('3.5.1').schemaNames).toContain('JsTransaction');
    expect(transferInstructionSpec().schemaNames).toContain('TransferFactoryWithChoiceContext');
    expect(tokenMetadataSpec().schemaNames).toContain('Instrument');
  });

  it('throws on an unknown component name instead of passing everything', () => {
    expect(() => ledgerApiSpec().validator('NoSuchThing')).toThrow(/no component schema "NoSuchThing"/);
  });

  it('lists each failing JSON path, including missing required properties', () => {
    const errors = specErrors(ledgerApiSpec, 'JsGetUpdatesResponse', {
      update: { Transaction: { value: { updateId: 'x', offset: 'one', events: [] } } },
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/update\/Transaction\/value\/offset: must be integer/),
        expect.stringMatching(/^\/update\/Transaction\/value\/effectiveAt: is required but missing/),
        expect.stringMatching(/^\/update\/Transaction\/value\/recordTime: is required but missing/),
      ]),
    );
    // The branches of the Update oneOf that were never meant to match are not reported.
    expect(errors.join('\n')).not.toMatch(/\/update\/(Reassignment|OffsetCheckpoint|TopologyTransaction)/);
  });

  it('expectSpecValid throws one readable error', () => {
    expect(() => expectSpecValid(ledgerApiSpec, 'SubmitAndWaitResponse', { updateId: 1 })).toThrow(
      /^not a valid SubmitAndWaitResponse per ledger-api-3.4.12\/openapi.yaml:\n {2}- \/completionOffset: is required but missing .*\n {2}- \/updateId: must be string/,
    );
    expect(() => expectSpecValid(ledgerApiSpec(), 'SubmitAndWaitResponse', { updateId: 'u', completionOffset: 3 })).not.toThrow();
  });

  it('checks enums and int formats', () => {
    expect(specErrors(ledgerApiSpec, 'TransactionFormat', { eventFormat: {}, transactionShape: 'X' })[0]).toMatch(
      /\/transactionShape: must be one of/,
    );
    expect(specErrors(ledgerApiSpec, 'JsStatus', { code: 2 ** 40, message: '' })[0]).toMatch(/\/code: must match format "int32"/);
    expect(specErrors(tokenMetadataSpec, 'Instrument', { id: 'a', name: 'b', symbol: 'c', decimals: 300, supportedApis: {} })[0]).toMatch(
      /\/decimals: must match format "int8"/,
    );
  });

  it('handles OpenAPI 3.0 `nullable`', () => {
    const spec = loadSpec('validator-internal.yaml');
    expect(specErrors(spec, 'RegistrationRequest', null)).toEqual([]);
    expect(specErrors(spec, 'RegistrationRequest', {})).toEqual([]);
    expect(specErrors(spec, 'RegistrationRequest', 'x')).not.toEqual([]);
  });

  it('rewrites the AsyncAPI `prefixItems` tuples', () => {
    const error = { code: 'X', cause: 'y', context: {}, errorCategory: 1, resources: [['PARTY', 'a::1']] };
    expect(specErrors(ledgerAsyncApiSpec, 'JsCantonError', error)).toEqual([]);
    expect(specErrors(ledgerAsyncApiSpec, 'JsCantonError', { ...error, resources: [[1, 'a::1']] })).not.toEqual([]);
  });

  it('is strict about nulls unless asked, and can relax named required fields', () => {
    const tc = { traceparent: 'x', tracestate: null };
    expect(specErrors(ledgerApiSpec, 'TraceContext', tc)).not.toEqual([]);
    expect(specErrors(ledgerApiSpec, 'TraceContext', tc, { nullForOptional: true })).toEqual([]);
    const view = { interfaceId: 'a:b:c' };
    expect(specErrors(ledgerApiSpec, 'JsInterfaceView', view)).toEqual([expect.stringMatching(/^\/viewStatus: is required but missing/)]);
    expect(specErrors(ledgerApiSpec, 'JsInterfaceView', view, { relaxRequired: ['viewStatus'] })).toEqual([]);
  });

  it('registry specs: required fields of the transfer factory response', () => {
    expect(specErrors(transferInstructionSpec, 'TransferFactoryWithChoiceContext', { factoryId: 'f', transferKind: 'direct' })).toEqual([
      expect.stringMatching(/^\/choiceContext: is required but missing/),
    ]);
    expect(
      specErrors(transferInstructionSpec, 'TransferFactoryWithChoiceContext', {
        factoryId: 'f',
        transferKind: 'sideways',
        choiceContext: { choiceContextData: {}, disclosedContracts: [] },
      })[0],
    ).toMatch(/\/transferKind: must be one of \["self","direct","offer"\]/);
  });
});

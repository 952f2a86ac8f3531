import { describe, expect, it } from 'vitest';
import { decodeCodegenJson, JsonLfDecodeError } from '../../src/sandbox/engine/daml/codegen-json.js';
import { ExtraArgs, TransferFactory_Transfer } from '../../src/sandbox/engine/daml/token-standard.js';
import { decodeTranscodeJson } from '../../src/sandbox/engine/daml/transcode-json.js';
import { t, type DamlType } from '../../src/sandbox/engine/daml/types.js';
import { LedgerError } from '../../src/sandbox/engine/errors.js';

/**
 * The double's two Daml-LF JSON readers, kind by kind: the Java codegen's fromJson (Canton's
 * bindings-java JsonLfDecoders / JsonLfReader) and Canton's JSON API transcoder (JsonCodec +
 * ValueValidator + Endpoints.handleError).
 */

const Rec = t.record('M:Rec', () => [
  ['a', t.text],
  ['b', t.optional(t.int64)],
]);
const Var = t.variant('M:Var', () => [
  ['Nothing', t.unit],
  ['Num', t.numeric(10)],
  ['Pair', Rec],
]);

/** The codegen reader's error text, or undefined when it decodes. */
function codegenError(ty: DamlType, json: unknown): string | undefined {
  try {
    decodeCodegenJson(ty, json);
    return undefined;
  } catch (e) {
    if (e instanceof JsonLfDecodeError) return e.message;
    throw e;
  }
}

/** The transcoder's LedgerError as the JSON API would render its essentials. */
function transcodeError(ty: DamlType, json: unknown): { code: string; cause: string; status: number; category: number } | undefined {
  try {
    decodeTranscodeJson(ty, json);
    return undefined;
  } catch (e) {
    if (e instanceof LedgerError) return { code: e.code, cause: e.causeText, status: e.httpStatus, category: e.category };
    throw e;
  }
}

describe('Java codegen fromJson (what a Splice registry applies to choiceArguments)', () => {
  it('reads records as objects in any order or as positional arrays; a missing Optional is None', () => {
    expect(decodeCodegenJson(Rec, { b: '7', a: 'x' })).toEqual({ a: 'x', b: '7' });
    expect(decodeCodegenJson(Rec, ['x', 7])).toEqual({ a: 'x', b: '7' });
    expect(decodeCodegenJson(Rec, { a: 'x' })).toEqual({ a: 'x', b: null });
    expect(decodeCodegenJson(Rec, { a: 'x', b: null })).toEqual({ a: 'x', b: null });
  });

  it('refuses a missing non-Optional field where the record ends, with Jackson line and column', () => {
    // {"b":"7"} ends at offset 9: the location is "nothing" past the end, column 10.
    expect(codegenError(Rec, { b: '7' })).toBe('Missing field a at line: 1, column: 10');
    // {"context":{},"meta":{"values":{}}}: ChoiceContext ends before "meta" (offset 14).
    expect(codegenError(ExtraArgs, { context: {}, meta: { values: {} } })).toBe('Missing field values at line: 1, column: 15');
    expect(codegenError(ExtraArgs, { context: { values: {} }, meta: {} })).toBe('Missing field values at line: 1, column: 35');
  });

  it('refuses an unknown field at its name unless its value is null', () => {
    expect(codegenError(Rec, { a: 'x', zz: 1 })).toBe('Unknown field zz (known fields are [a, b]) at line: 1, column: 10');
    expect(decodeCodegenJson(Rec, { a: 'x', zz: null })).toEqual({ a: 'x', b: null });
  });

  it('reads variants with tag and value in either order, and nothing else', () => {
    expect(decodeCodegenJson(Var, { tag: 'Num', value: 1.5 })).toEqual({ tag: 'Num', value: '1.5000000000' });
    expect(decodeCodegenJson(Var, { value: { a: 'x' }, tag: 'Pair' })).toEqual({ tag: 'Pair', value: { a: 'x', b: null } });
    expect(decodeCodegenJson(Var, { tag: 'Nothing', value: {} })).toEqual({ tag: 'Nothing', value: {} });
    expect(codegenError(Var, { tag: 'Nope', value: {} })).toBe('Expected one of [Nothing, Num, Pair] but was Nope at line: 1, column: 8');
    expect(codegenError(Var, { tag: 'Nothing' })).toBe('Expected field but was } at line: 1, column: 17');
    expect(codegenError(Var, { tag: 'Nothing', value: {}, extra: 1 })).toBe('Expected } but was extra at line: 1, column: 29');
    // Unit is exactly {}; an error inside a value read before its tag keeps its place in the text.
    expect(codegenError(Var, { value: { a: 1 }, tag: 'Nothing' })).toBe('Expected } but was a at line: 1, column: 11');
  });

  it('reads Int64 from integers and strings only, within 64 bits', () => {
    expect(decodeCodegenJson(t.int64, 42)).toBe('42');
    expect(decodeCodegenJson(t.int64, '-9223372036854775808')).toBe('-9223372036854775808');
    expect(codegenError(t.int64, 1.5)).toBe('Expected int64 but was 1.5 at line: 1, column: 1');
    expect(codegenError(t.int64, '9223372036854775808')).toBe('Expected int64 but was 9223372036854775808 at line: 1, column: 1');
  });

  it('reads Numeric from numbers and BigDecimal strings, rounding half-even to the scale', () => {
    expect(decodeCodegenJson(t.numeric(10), '200')).toBe('200.0000000000');
    expect(decodeCodegenJson(t.numeric(10), '1e3')).toBe('1000.0000000000');
    expect(decodeCodegenJson(t.numeric(10), '0.00000000005')).toBe('0.0000000000');
    expect(decodeCodegenJson(t.numeric(10), '0.00000000015')).toBe('0.0000000002');
    expect(codegenError(t.numeric(10), '1,5')).toBe('Expected numeric but was 1,5 at line: 1, column: 1');
    expect(codegenError(t.numeric(10), '1e28')).toBe('Expected numeric in range (-10^28, 10^28) but was 1e28 at line: 1, column: 1');
  });

  it('reads Time as Instant.parse does, Text, Party and ContractId as strings, Bool, Unit, maps and lists', () => {
    expect(decodeCodegenJson(t.time, '2025-10-14T11:29:57.439Z')).toBe('2025-10-14T11:29:57.439Z');
    expect(codegenError(t.time, '2025-10-14T11:29:57')).toBe(
      'Expected valid ISO 8601 date and time in UTC but was 2025-10-14T11:29:57 at line: 1, column: 1',
    );
    expect(codegenError(t.time, '2025-02-30T00:00:00Z')).toMatch(/^Expected valid ISO 8601 date and time in UTC/);
    expect(decodeCodegenJson(t.date, '2025-10-14')).toBe('2025-10-14');
    expect(codegenError(t.party, 5)).toBe('Expected text but was 5 at line: 1, column: 1');
    expect(decodeCodegenJson(t.contractId, 'not-checked')).toBe('not-checked');
    expect(decodeCodegenJson(t.bool, false)).toBe(false);
    expect(codegenError(t.unit, { a: 1 })).toBe('Expected } but was a at line: 1, column: 2');
    expect(decodeCodegenJson(t.textMap(t.text), { k: 'v' })).toEqual({ k: 'v' });
    expect(codegenError(t.textMap(t.text), [['k', 'v']])).toBe('Expected { but was [ at line: 1, column: 1');
    expect(decodeCodegenJson(t.genMap(t.party, t.text), [['p::1', 'v']])).toEqual([['p::1', 'v']]);
    expect(decodeCodegenJson(t.list(t.optional(t.optional(t.text))), [null, [], ['x']])).toEqual([null, [], ['x']]);
  });

  it('decodes a real recorded TransferFactory_Transfer argument', () => {
    const arg = {
      expectedAdmin: 'test-registrar::122002e9',
      transfer: {
        sender: 'test-sender::122073',
        receiver: 'test-receiver::122054',
        amount: '500.0000000000',
        instrumentId: { admin: 'test-registrar::122002e9', id: 'LOAD' },
        requestedAt: '2025-10-14T11:29:57.439Z',
        executeBefore: '2025-10-17T11:29:57.439Z',
        inputHoldingCids: ['00f8b370'],
        meta: { values: { 'splice.lfdecentralizedtrust.org/reason': 'r' } },
      },
      extraArgs: {
        context: { values: { 'sender-credentials': { tag: 'AV_List', value: [{ tag: 'AV_ContractId', value: '0078' }] } } },
        meta: { values: {} },
      },
    };
    expect(decodeCodegenJson(TransferFactory_Transfer, arg)).toEqual(arg);
  });
});

describe('Canton JSON API transcoder (what a participant applies to a command choiceArgument)', () => {
  it('refuses a missing non-Optional field with COMMAND_PREPROCESSING_FAILED, before unexpected fields', () => {
    expect(transcodeError(Rec, { zz: 1 })).toEqual({
      code: 'COMMAND_PREPROCESSING_FAILED',
      cause: 'Missing non-optional field: a',
      status: 400,
      category: 8,
    });
    expect(transcodeError(ExtraArgs, { context: {}, meta: { values: {} } })).toMatchObject({
      code: 'COMMAND_PREPROCESSING_FAILED',
      cause: 'Missing non-optional field: values',
    });
    expect(decodeTranscodeJson(Rec, { a: 'x' })).toEqual({ a: 'x', b: null });
  });

  it('refuses unexpected non-null fields with INVALID_ARGUMENT, their names run together', () => {
    expect(transcodeError(Rec, { a: 'x', zz: 1, yy: 2 })).toEqual({
      code: 'INVALID_ARGUMENT',
      cause: 'The submitted request has invalid arguments: Unexpected fields: zzyy',
      status: 400,
      category: 8,
    });
    expect(decodeTranscodeJson(Rec, { a: 'x', zz: null })).toEqual({ a: 'x', b: null });
  });

  it('answers 500 LEDGER_API_INTERNAL_ERROR for wrong JSON shapes, as Canton does', () => {
    expect(transcodeError(Rec, ['x', '1'])).toEqual({
      code: 'LEDGER_API_INTERNAL_ERROR',
      cause: 'Expected ujson.Obj (data: ["x","1"])',
      status: 500,
      category: 4,
    });
    expect(transcodeError(Var, { tag: 'Nope', value: {} })).toMatchObject({
      code: 'LEDGER_API_INTERNAL_ERROR',
      cause: 'key not found: Nope',
    });
    expect(transcodeError(Var, { tag: 'Nothing' })).toMatchObject({ code: 'LEDGER_API_INTERNAL_ERROR', cause: 'key not found: value' });
    expect(transcodeError(t.text, 5)).toMatchObject({ code: 'LEDGER_API_INTERNAL_ERROR', cause: 'Expected ujson.Str (data: 5)' });
    expect(transcodeError(t.time, '2025-10-14T11:29:57')).toMatchObject({ code: 'LEDGER_API_INTERNAL_ERROR', status: 500 });
  });

  it('reads variants with extra keys and Unit from anything', () => {
    expect(decodeTranscodeJson(Var, { tag: 'Nothing', value: { a: 1 }, extra: true })).toEqual({ tag: 'Nothing', value: {} });
  });

  it('reads Int64 and Numeric from strings or numbers, validating as the Ledger API does', () => {
    expect(decodeTranscodeJson(t.int64, 1.7)).toBe('1');
    expect(transcodeError(t.int64, 'abc')).toMatchObject({
      code: 'INVALID_ARGUMENT',
      cause: 'The submitted request has invalid arguments: For input string: "abc"',
    });
    expect(transcodeError(t.int64, true)).toMatchObject({
      code: 'INVALID_ARGUMENT',
      cause: 'The submitted request has invalid arguments: true is not a valid Int64 value',
    });
    expect(decodeTranscodeJson(t.numeric(10), 1.5)).toBe('1.5000000000');
    expect(decodeTranscodeJson(t.numeric(10), '200')).toBe('200.0000000000');
    // Double.toString switches to E notation from 10^7: Numeric strings have none.
    expect(transcodeError(t.numeric(10), 12345678)).toMatchObject({
      code: 'INVALID_ARGUMENT',
      cause: 'The submitted request has invalid arguments: Could not read Numeric string "1.2345678E7"',
    });
    expect(transcodeError(t.numeric(10), '0.00000000001')).toMatchObject({ code: 'COMMAND_PREPROCESSING_FAILED', status: 400 });
  });

  it('validates parties and contract ids as the Ledger API does', () => {
    expect(decodeTranscodeJson(t.party, 'alice::1220ab')).toBe('alice::1220ab');
    expect(transcodeError(t.party, 'al/ice')).toMatchObject({
      code: 'INVALID_ARGUMENT',
      cause: expect.stringContaining('non expected character 0x2f'),
    });
    expect(transcodeError(t.contractId, 'xyz')).toMatchObject({
      code: 'INVALID_ARGUMENT',
      cause: 'The submitted request has invalid arguments: cannot parse ContractId "xyz"',
    });
  });

  it('reads a null choice argument as {}', () => {
    expect(transcodeError(Rec, null)).toMatchObject({ code: 'COMMAND_PREPROCESSING_FAILED', cause: 'Missing non-optional field: a' });
  });
});

import { describe, expect, it } from 'vitest';
import {
  damlValueToJson,
  daysToIsoDate,
  isoDateToDays,
  isoToMicros,
  jsonToDamlValue,
  microsToIso,
  t,
  v,
  type DamlType,
  type Value,
} from '../../src/ledger/prepared-transaction/index.js';
import { TRANSFER_ARG_JSON, TRANSFER_FACTORY_TRANSFER_ARG } from '../fixtures/prepared-transaction/sample-transfer.js';

describe('damlValueToJson: every Value kind in the JSON Ledger API encoding', () => {
  const id = { packageId: 'p', moduleName: 'M', entityName: 'T' };
  it.each<[string, Value, unknown]>([
    ['unit', v.unit(), {}],
    ['bool', v.bool(true), true],
    ['int64 (as a string, beyond 2^53)', v.int64(9007199254740993n), '9007199254740993'],
    ['negative int64', v.int64('-9223372036854775808'), '-9223372036854775808'],
    ['numeric (as written)', v.numeric('15.0000000000'), '15.0000000000'],
    ['text', v.text('héllo'), 'héllo'],
    ['party', v.party('alice::1220ab'), 'alice::1220ab'],
    ['contract id', v.contractId('00abcd'), '00abcd'],
    ['timestamp with microseconds', v.timestamp(1754534109899822n), '2025-08-07T02:35:09.899822Z'],
    ['timestamp before the epoch', v.timestamp(-1n), '1969-12-31T23:59:59.999999Z'],
    ['date', v.date('2026-05-01'), '2026-05-01'],
    ['optional none', v.none(), null],
    ['optional some', v.some(v.int64(1)), '1'],
    ['optional some none', v.some(v.none()), []],
    ['optional some some', v.some(v.some(v.int64(1))), ['1']],
    ['optional some some none', v.some(v.some(v.none())), [[]]],
    ['list', v.list([v.text('a'), v.text('b')]), ['a', 'b']],
    ['text map', v.textMap({ k: v.bool(false), __proto__x: v.unit() }), { k: false, __proto__x: {} }],
    ['gen map', v.genMap([[v.int64(1), v.text('one')]]), [['1', 'one']]],
    ['record', v.record({ a: v.int64(1), b: v.none() }, id), { a: '1', b: null }],
    ['variant', v.variant('Some', v.text('x'), id), { tag: 'Some', value: 'x' }],
    ['enum', v.enum('Red', id), 'Red'],
  ])('%s', (_name, value, json) => {
    expect(damlValueToJson(value)).toEqual(json);
  });

  it('keeps "__proto__" as a plain key of a text map', () => {
    const out = damlValueToJson({ kind: 'textMap', entries: [{ key: '__proto__', value: v.text('x') }] }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
  });

  it('refuses unlabelled record fields and duplicate keys', () => {
    expect(() => damlValueToJson({ kind: 'record', fields: [{ label: '', value: v.unit() }] })).toThrow(/without a label/);
    expect(() =>
      damlValueToJson({
        kind: 'textMap',
        entries: [
          { key: 'a', value: v.unit() },
          { key: 'a', value: v.unit() },
        ],
      }),
    ).toThrow(/duplicate/);
  });
});

describe('jsonToDamlValue: typed conversion from Daml-LF JSON', () => {
  it('builds the TransferFactory_Transfer argument and converts back to the same JSON', () => {
    const value = jsonToDamlValue(TRANSFER_FACTORY_TRANSFER_ARG, TRANSFER_ARG_JSON);
    expect(damlValueToJson(value)).toEqual(TRANSFER_ARG_JSON);
    // The type decides: "100.0000000000" is a Numeric here, the reason memo a Text.
    const transfer = value.kind === 'record' ? value.fields.find((f) => f.label === 'transfer')?.value : undefined;
    expect(transfer?.kind === 'record' && transfer.fields.find((f) => f.label === 'amount')?.value).toEqual(v.numeric('100.0000000000'));
    expect(transfer?.kind === 'record' && transfer.recordId?.entityName).toBe('Transfer');
  });

  it('treats a missing optional field as None and nested optionals by the [] / [x] rule', () => {
    const type = t.record({ a: t.optional(t.int64), b: t.optional(t.optional(t.text)) });
    expect(jsonToDamlValue(type, {})).toEqual(v.record({ a: v.none(), b: v.none() }));
    expect(jsonToDamlValue(type, { a: '5', b: [] })).toEqual(v.record({ a: v.some(v.int64(5)), b: v.some(v.none()) }));
    expect(jsonToDamlValue(type, { b: ['x'] })).toEqual(v.record({ a: v.none(), b: v.some(v.some(v.text('x'))) }));
  });

  it('handles every scalar type, maps and enums', () => {
    const type = t.record({
      u: t.unit,
      b: t.bool,
      i: t.int64,
      d: t.date,
      ts: t.timestamp,
      p: t.party,
      c: t.contractId,
      m: t.textMap(t.int64),
      g: t.genMap(t.text, t.bool),
      e: t.enum(['Red', 'Blue']),
    });
    const json = {
      u: {},
      b: true,
      i: '-3',
      d: '2026-05-01',
      ts: '2026-05-01T10:00:00.123456Z',
      p: 'alice::1220',
      c: '00ff',
      m: { x: '1' },
      g: [['k', false]],
      e: 'Blue',
    };
    expect(damlValueToJson(jsonToDamlValue(type, json))).toEqual(json);
  });

  it.each<[string, DamlType, unknown, RegExp]>([
    ['a number for a Numeric', t.numeric, 1.5, /expected a Numeric string/],
    ['a malformed Numeric', t.numeric, '1e5', /not a Daml Numeric/],
    ['an Int64 out of range', t.int64, '9223372036854775808', /does not fit Int64/],
    ['a contract id that is not hex', t.contractId, 'xyz', /not a hex contract id/],
    ['an unknown record field', t.record({ a: t.text }), { a: 'x', b: 'y' }, /unknown record field "b"/],
    ['a missing required field', t.record({ a: t.text }), {}, /missing record field "a"/],
    ['an unknown variant constructor', t.variant({ A: t.unit }), { tag: 'B', value: {} }, /unknown variant constructor/],
    ['an unknown enum constructor', t.enum(['Red']), 'Green', /expected one of Red/],
    ['a timestamp with nanoseconds', t.timestamp, '2026-05-01T10:00:00.123456789Z', /sub-microsecond/],
    ['an impossible date', t.date, '2026-02-30', /not a valid calendar time/],
  ])('refuses %s', (_name, type, json, message) => {
    expect(() => jsonToDamlValue(type, json)).toThrow(message);
  });
});

describe('time helpers', () => {
  it('converts micros and ISO both ways without losing microseconds', () => {
    for (const iso of [
      '1970-01-01T00:00:00.000000Z',
      '0001-01-01T00:00:00.000000Z',
      '9999-12-31T23:59:59.999999Z',
      '2026-05-01T10:10:00.000001Z',
    ]) {
      expect(microsToIso(isoToMicros(iso))).toBe(iso);
    }
    expect(isoToMicros('2026-05-01T12:10:00+02:00')).toBe(isoToMicros('2026-05-01T10:10:00Z'));
    expect(isoToMicros('2026-05-01T10:10:00.5Z')).toBe(isoToMicros('2026-05-01T10:10:00Z') + 500000n);
    expect(() => microsToIso(253402300800000000n)).toThrow(/outside/);
  });
  it('converts dates', () => {
    expect(daysToIsoDate(0)).toBe('1970-01-01');
    expect(isoDateToDays('1969-12-31')).toBe(-1);
    expect(isoDateToDays('0001-01-01')).toBe(-719162);
  });
});

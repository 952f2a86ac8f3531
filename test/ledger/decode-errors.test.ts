import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CreatedEvent,
  decode,
  DeduplicationPeriod,
  GetUpdatesRequest,
  JsGetUpdatesResponse,
  LedgerDecodeError,
  parseActiveContract,
  parseUpdate,
} from '../../src/ledger/schema/index.js';

const RECORDED = fileURLToPath(new URL('../../../shared/fixtures/recorded/', import.meta.url));

/** A fresh, mutable copy of a recorded file for each test. */
function recorded(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(RECORDED + file, 'utf8')) as Record<string, unknown>;
}

type Json = Record<string, unknown>;

function txValue(update: Json): Json {
  return ((update['update'] as Json)['Transaction'] as Json)['value'] as Json;
}

function eventAt(update: Json, i: number): Json {
  return (txValue(update)['events'] as Json[])[i] as Json;
}

function paths(r: { error?: { issues: { path: PropertyKey[] }[] } }): string[] {
  return (r.error?.issues ?? []).map((i) => i.path.map(String).join('.'));
}

describe('missing required fields are reported at their full path', () => {
  it.each([
    ['updateId', ['update', 'Transaction', 'value', 'updateId']],
    ['offset', ['update', 'Transaction', 'value', 'offset']],
    ['recordTime', ['update', 'Transaction', 'value', 'recordTime']],
    ['synchronizerId', ['update', 'Transaction', 'value', 'synchronizerId']],
    ['events', ['update', 'Transaction', 'value', 'events']],
  ])('JsTransaction.%s', (field, path) => {
    const u = recorded('1-step-transfer.json');
    delete txValue(u)[field];
    expect(paths(JsGetUpdatesResponse.safeParse(u))).toEqual([path.join('.')]);
  });

  it.each(['contractId', 'createArgument', 'witnessParties', 'signatories', 'createdAt', 'packageName', 'templateId'])(
    'CreatedEvent.%s',
    (field) => {
      const u = recorded('transfer-instruction-create.json');
      delete (eventAt(u, 0)['CreatedEvent'] as Json)[field];
      expect(paths(JsGetUpdatesResponse.safeParse(u))).toEqual([`update.Transaction.value.events.0.CreatedEvent.${field}`]);
    },
  );

  it.each(['choice', 'choiceArgument', 'consuming', 'lastDescendantNodeId', 'actingParties'])('ExercisedEvent.%s', (field) => {
    const u = recorded('1-step-transfer.json');
    delete (eventAt(u, 0)['ExercisedEvent'] as Json)[field];
    expect(paths(JsGetUpdatesResponse.safeParse(u))).toEqual([`update.Transaction.value.events.0.ExercisedEvent.${field}`]);
  });

  it('the two fields older nodes omit are optional, and so is an absent observer list', () => {
    const u = recorded('transfer-instruction-create.json');
    const ev = eventAt(u, 0)['CreatedEvent'] as Json;
    expect(ev['acsDelta']).toBeUndefined();
    expect(ev['representativePackageId']).toBeUndefined();
    delete ev['observers'];
    expect(JsGetUpdatesResponse.safeParse(u).success).toBe(true);
  });

  it('a null createArgument is a value (required key present), a missing one is not', () => {
    const base = {
      offset: 1,
      nodeId: 0,
      contractId: '00ab',
      templateId: '#p:M:E',
      witnessParties: [],
      signatories: [],
      createdAt: '2026-01-01T00:00:00Z',
      packageName: 'p',
    };
    expect(CreatedEvent.safeParse({ ...base, createArgument: null }).success).toBe(true);
    expect(paths(CreatedEvent.safeParse(base))).toEqual(['createArgument']);
  });
});

describe('oneOf decoding', () => {
  it('names an unknown case and the keys it saw', () => {
    const r = JsGetUpdatesResponse.safeParse({ update: { FutureThing: { value: {} } } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['update']);
    expect(r.error?.issues[0]?.message).toContain(
      'expected exactly one of [Transaction, Reassignment, OffsetCheckpoint, TopologyTransaction]',
    );
    expect(r.error?.issues[0]?.message).toContain('FutureThing');
  });

  it('rejects two cases at once', () => {
    const r = DeduplicationPeriod.safeParse({ Empty: {}, DeduplicationOffset: { value: 3 } });
    expect(r.error?.issues[0]?.message).toContain('expected exactly one case, got [DeduplicationOffset, Empty]');
  });

  it('a value-wrapped case sent without its wrapper fails inside that case', () => {
    const r = DeduplicationPeriod.safeParse({ DeduplicationDuration: { seconds: 1, nanos: 0 } });
    expect(paths(r)).toEqual(['DeduplicationDuration.value']);
  });

  it('events[] items must NOT be wrapped', () => {
    const u = recorded('transfer-instruction-create.json');
    const events = txValue(u)['events'] as Json[];
    events[0] = { CreatedEvent: { value: events[0]?.['CreatedEvent'] } };
    expect(paths(JsGetUpdatesResponse.safeParse(u))).toContain('update.Transaction.value.events.0.CreatedEvent.offset');
  });

  it('the parsed value of a oneOf keeps only the case key', () => {
    const r = DeduplicationPeriod.parse({ DeduplicationOffset: { value: 3 }, somethingElse: 1 });
    expect(r).toEqual({ DeduplicationOffset: { value: 3 } });
  });
});

describe('numbers and timestamps', () => {
  it('rejects offsets beyond 2^53, negative and fractional offsets', () => {
    for (const bad of [2 ** 53, -1, 1.5, '107']) {
      const u = recorded('1-step-transfer.json');
      txValue(u)['offset'] = bad;
      expect(paths(JsGetUpdatesResponse.safeParse(u))).toEqual(['update.Transaction.value.offset']);
    }
  });

  it('rejects a record time without a zone and keeps a valid one byte for byte', () => {
    const u = recorded('1-step-transfer.json');
    const original = txValue(u)['recordTime'];
    expect(original).toBe('1970-01-01T00:01:00.000114Z');
    const ok = parseUpdate(u);
    if (!('Transaction' in ok.update)) throw new Error('not a transaction');
    expect(ok.update.Transaction.value.recordTime).toBe(original);

    txValue(u)['recordTime'] = '2026-05-01 10:00:00';
    expect(paths(JsGetUpdatesResponse.safeParse(u))).toEqual(['update.Transaction.value.recordTime']);
  });

  it('request offsets are checked too', () => {
    const r = GetUpdatesRequest.safeParse({ beginExclusive: -5, updateFormat: {} });
    expect(paths(r)).toEqual(['beginExclusive']);
  });
});

describe('LedgerDecodeError', () => {
  it('parseUpdate names the update id, offset and failing path', () => {
    const u = recorded('1-step-transfer.json');
    delete (eventAt(u, 3)['CreatedEvent'] as Json)['contractId'];
    let caught: unknown;
    try {
      parseUpdate(u);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LedgerDecodeError);
    const err = caught as LedgerDecodeError;
    expect(err.name).toBe('LedgerDecodeError');
    expect(err.updateId).toBe('122008a4699e61ce682917c9515ecb3b4426adf276441e41edede8b3862efa2de80e');
    expect(err.offset).toBe(107);
    expect(err.message).toContain('updateId=122008a4699e61ce682917c9515ecb3b4426adf276441e41edede8b3862efa2de80e');
    expect(err.message).toContain('offset=107');
    expect(err.message).toContain('update.Transaction.value.events[3].CreatedEvent.contractId');
    expect(err.issues).toEqual([
      {
        path: 'update.Transaction.value.events[3].CreatedEvent.contractId',
        message: expect.stringContaining('expected string'),
      },
    ]);
  });

  it('names the offset of a broken checkpoint, even without an update id', () => {
    const bad = { update: { OffsetCheckpoint: { value: { offset: 42, synchronizerTimes: [{ recordTime: 'x' }] } } } };
    expect(() => parseUpdate(bad)).toThrow(/OffsetCheckpoint offset=42: .*synchronizerTimes\[0\]\.synchronizerId/);
  });

  it('still throws a typed error when nothing identifying can be read', () => {
    expect(() => parseUpdate('garbage')).toThrow(LedgerDecodeError);
    expect(() => parseUpdate({ nope: 1 })).toThrow(/cannot decode update: update:/);
  });

  it('limits a long issue list in the message but keeps all issues', () => {
    const u = recorded('utility-token-transfer.json') as unknown as Json[];
    const first = u[0] as Json;
    for (const e of txValue(first)['events'] as Json[]) {
      const ev = (e['CreatedEvent'] ?? e['ExercisedEvent']) as Json;
      delete ev['contractId'];
      delete ev['offset'];
      delete ev['nodeId'];
    }
    try {
      parseUpdate(first);
      expect.unreachable();
    } catch (e) {
      const err = e as LedgerDecodeError;
      expect(err.issues.length).toBe(9);
      expect(err.message).toContain('… and 4 more');
    }
  });

  it('parseActiveContract names the contract', () => {
    const [el] = recorded('active-contracts-holdings.json') as unknown as Json[];
    const ce = ((el?.['contractEntry'] as Json)['JsActiveContract'] as Json)['createdEvent'] as Json;
    ce['offset'] = 'one';
    expect(() => parseActiveContract(el)).toThrow(/active contract 0: contractEntry\.JsActiveContract\.createdEvent\.offset/);
  });

  it('decode() is the generic form', () => {
    expect(() => decode(GetUpdatesRequest, {}, 'GetUpdatesRequest')).toThrow(
      'cannot decode GetUpdatesRequest: updateFormat: Invalid input: expected object, received undefined',
    );
    expect(decode(GetUpdatesRequest, { updateFormat: {} }, 'GetUpdatesRequest')).toEqual({ updateFormat: {} });
  });
});

describe('users', () => {
  it('accepts a user whose primaryParty is "" as Canton sends it, as having none', async () => {
    const { GetUserResponse } = await import('../../src/ledger/schema/index.js');
    const parsed = GetUserResponse.parse({ user: { id: 'svc', primaryParty: '', isDeactivated: false, identityProviderId: '' } });
    expect(parsed.user.primaryParty).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import {
  findInterfaceView,
  HOLDING_INTERFACE_ID,
  HoldingView,
  identifierMatches,
  Lock,
  Metadata,
  MetadataKey,
  parseIdentifier,
  sameQualifiedName,
  StringMap,
  TRANSFER_FACTORY_INTERFACE_ID,
  TRANSFER_INSTRUCTION_INTERFACE_ID,
  TransferChoice,
  TransferFactoryTransferArg,
  TransferInstructionResult,
  TransferInstructionView,
  type TransferFactoryTransferArgInput,
} from '../../src/ledger/schema/index.js';

const PKG = '718a0f77e505a8de22f188bd4c87fe74101274e9d4cb1bfac7d09aec7158d35b';
const OTHER_PKG = '55ba4deb0ad4662c4168b39859738a0e91388d252286480c7331b3f71a517281';

describe('Metadata', () => {
  it('accepts the object encoding', () => {
    expect(Metadata.parse({ values: { [MetadataKey.reason]: 'acct-1' } })).toEqual({
      values: { 'splice.lfdecentralizedtrust.org/reason': 'acct-1' },
    });
  });

  it('accepts the [key, value] list encoding and normalises it to the same record', () => {
    expect(
      Metadata.parse({
        values: [
          [MetadataKey.reason, 'acct-1'],
          ['x', ''],
        ],
      }),
    ).toEqual({
      values: { 'splice.lfdecentralizedtrust.org/reason': 'acct-1', x: '' },
    });
    expect(Metadata.parse({ values: [] })).toEqual({ values: {} });
  });

  it('rejects a key repeated in the list encoding: two memos are one too many', () => {
    const r = Metadata.safeParse({
      values: [
        [MetadataKey.reason, 'a'],
        [MetadataKey.reason, 'b'],
      ],
    });
    expect(r.error?.issues.map((i) => [i.path, i.message])).toEqual([[['values', 1], `duplicate map key "${MetadataKey.reason}"`]]);
  });

  it('rejects non-text values with the offending key in the path', () => {
    expect(Metadata.safeParse({ values: { a: 1 } }).error?.issues[0]?.path).toEqual(['values', 'a']);
    expect(Metadata.safeParse({ values: [['a']] }).error?.issues[0]?.path).toEqual(['values', 0]);
    expect(Metadata.safeParse({ values: 'a=b' }).success).toBe(false);
    expect(Metadata.safeParse({}).success).toBe(false);
  });

  it('treats "__proto__" as an ordinary key in both encodings', () => {
    for (const raw of ['{"values":{"__proto__":"x"}}', '{"values":[["__proto__","x"]]}']) {
      const m = Metadata.parse(JSON.parse(raw));
      expect(Object.getPrototypeOf(m.values)).toBe(Object.prototype);
      expect(Object.keys(m.values)).toEqual(['__proto__']);
      expect(Object.getOwnPropertyDescriptor(m.values, '__proto__')?.value).toBe('x');
    }
  });

  it('StringMap is reusable for other Daml text maps', () => {
    expect(StringMap.parse([['p::1', 'approve']])).toEqual({ 'p::1': 'approve' });
  });
});

describe('HoldingView and Lock', () => {
  const view = {
    owner: 'treasury::1220',
    instrumentId: { admin: 'DSO::1220', id: 'Amulet' },
    amount: '200.5',
    lock: {
      holders: ['DSO::1220'],
      expiresAt: '2026-05-01T10:00:00Z',
      expiresAfter: { microseconds: '3600000000' },
      context: 'transfer offer',
    },
    meta: { values: [['k', 'v']] },
  };

  it('normalises the amount to 10 fractional digits and keeps it a string', () => {
    const h = HoldingView.parse(view);
    expect(h.amount).toBe('200.5000000000');
    expect(typeof h.amount).toBe('string');
    expect(h.meta.values).toEqual({ k: 'v' });
    expect(h.lock?.expiresAfter).toEqual({ microseconds: '3600000000' });
  });

  it('fails instead of rounding an amount that does not fit Numeric 10', () => {
    expect(HoldingView.safeParse({ ...view, amount: '0.00000000001' }).error?.issues[0]?.path).toEqual(['amount']);
    expect(HoldingView.safeParse({ ...view, amount: 200 }).success).toBe(false);
    expect(HoldingView.safeParse({ ...view, amount: '1e3' }).success).toBe(false);
  });

  it('accepts an old-style lock with holders only, and a missing lock as null', () => {
    expect(Lock.parse({ holders: ['a::1'] })).toEqual({ holders: ['a::1'] });
    expect(HoldingView.parse({ ...view, lock: null }).lock).toBeUndefined();
    expect(Lock.parse({ holders: [], expiresAfter: { microseconds: 5 } }).expiresAfter).toEqual({ microseconds: '5' });
  });
});

describe('TransferInstructionView', () => {
  const transfer = {
    sender: 'alice::1220',
    receiver: 'treasury::1220',
    amount: '1000.0000000000',
    instrumentId: { admin: 'DSO::1220', id: 'Amulet' },
    requestedAt: '2026-05-01T10:00:00Z',
    executeBefore: '2026-05-02T10:00:00.123456Z',
    inputHoldingCids: ['00ab'],
    meta: { values: { [MetadataKey.reason]: 'acct-9' } },
  };

  it('parses both statuses; pending actions accept the GenMap encoding', () => {
    const pending = TransferInstructionView.parse({
      originalInstructionCid: '00cd',
      transfer,
      status: { tag: 'TransferPendingInternalWorkflow', value: { pendingActions: [['DSO::1220', 'screening']] } },
      meta: { values: {} },
    });
    expect(pending.status).toEqual({
      tag: 'TransferPendingInternalWorkflow',
      value: { pendingActions: { 'DSO::1220': 'screening' } },
    });
    expect(pending.originalInstructionCid).toBe('00cd');

    const offer = TransferInstructionView.parse({
      originalInstructionCid: null,
      transfer,
      status: { tag: 'TransferPendingReceiverAcceptance', value: {} },
      meta: { values: {} },
    });
    expect(offer.status.tag).toBe('TransferPendingReceiverAcceptance');
    expect(offer.transfer.executeBefore).toBe('2026-05-02T10:00:00.123456Z');
  });

  it('rejects an unknown status tag', () => {
    const r = TransferInstructionView.safeParse({
      originalInstructionCid: null,
      transfer,
      status: { tag: 'TransferSomethingNew', value: {} },
      meta: { values: {} },
    });
    expect(r.error?.issues[0]?.path).toEqual(['status', 'tag']);
  });

  it('TransferFactory_Transfer argument: what a client builds is what parses back', () => {
    const arg: TransferFactoryTransferArgInput = {
      expectedAdmin: 'DSO::1220',
      transfer,
      extraArgs: { context: { values: {} }, meta: { values: {} } },
    };
    expect(TransferFactoryTransferArg.parse(arg)).toEqual(arg);
  });
});

describe('TransferInstructionResult', () => {
  const base = { senderChangeCids: ['00ee'], meta: { values: { [MetadataKey.burned]: '1.5' } } };

  it.each([
    [{ tag: 'TransferInstructionResult_Pending', value: { transferInstructionCid: '00aa' } }],
    [{ tag: 'TransferInstructionResult_Completed', value: { receiverHoldingCids: ['00bb', '00cc'] } }],
    [{ tag: 'TransferInstructionResult_Failed', value: {} }],
  ])('%o', (output) => {
    expect(TransferInstructionResult.parse({ ...base, output })).toEqual({ ...base, output });
  });

  it('rejects the unprefixed tag names', () => {
    expect(TransferInstructionResult.safeParse({ ...base, output: { tag: 'Completed', value: {} } }).success).toBe(false);
  });
});

describe('identifiers', () => {
  it('parses both forms', () => {
    expect(parseIdentifier(`${PKG}:Splice.Api.Token.HoldingV1:Holding`)).toEqual({
      packageId: PKG,
      moduleName: 'Splice.Api.Token.HoldingV1',
      entityName: 'Holding',
    });
    expect(parseIdentifier(HOLDING_INTERFACE_ID)).toEqual({
      packageName: 'splice-api-token-holding-v1',
      moduleName: 'Splice.Api.Token.HoldingV1',
      entityName: 'Holding',
    });
    expect(() => parseIdentifier('Splice.Amulet:Amulet')).toThrow(/malformed/);
    expect(() => parseIdentifier('abc:M:E')).toThrow(/64 hex/);
    expect(() => parseIdentifier('#:M:E')).toThrow(/empty package name/);
  });

  it('matches an emitted package-id form against a wanted package-name form by module and entity', () => {
    const emitted = `${PKG}:Splice.Api.Token.HoldingV1:Holding`;
    expect(identifierMatches(emitted, HOLDING_INTERFACE_ID)).toBe(true);
    expect(identifierMatches(emitted, TRANSFER_INSTRUCTION_INTERFACE_ID)).toBe(false);
    expect(identifierMatches(`${OTHER_PKG}:Splice.Api.Token.TransferInstructionV1:TransferFactory`, TRANSFER_FACTORY_INTERFACE_ID)).toBe(
      true,
    );
  });

  it('compares package names when the event supplies one', () => {
    const tmpl = `${PKG}:Splice.Amulet:Amulet`;
    expect(identifierMatches(tmpl, '#splice-amulet:Splice.Amulet:Amulet', 'splice-amulet')).toBe(true);
    expect(identifierMatches(tmpl, '#evil-amulet:Splice.Amulet:Amulet', 'splice-amulet')).toBe(false);
    expect(identifierMatches('#splice-amulet:Splice.Amulet:Amulet', '#splice-amulet:Splice.Amulet:Amulet')).toBe(true);
  });

  it('two package-id forms must agree on the package', () => {
    expect(identifierMatches(`${PKG}:M:E`, `${PKG}:M:E`)).toBe(true);
    expect(identifierMatches(`${PKG}:M:E`, `${OTHER_PKG}:M:E`)).toBe(false);
  });

  it('never matches malformed input', () => {
    expect(identifierMatches('garbage', HOLDING_INTERFACE_ID)).toBe(false);
    expect(sameQualifiedName('garbage', HOLDING_INTERFACE_ID)).toBe(false);
  });

  it('findInterfaceView finds a view whatever package name or id it carries', () => {
    const views = [
      { interfaceId: `${OTHER_PKG}:Splice.Api.Token.TransferInstructionV1:TransferInstruction`, viewStatus: { code: 0, message: '' } },
      { interfaceId: `#package-name:Splice.Api.Token.HoldingV1:Holding`, viewStatus: { code: 0, message: '' } },
    ];
    expect(findInterfaceView(views, HOLDING_INTERFACE_ID)).toBe(views[1]);
    expect(findInterfaceView(views, TRANSFER_INSTRUCTION_INTERFACE_ID)).toBe(views[0]);
    expect(findInterfaceView(undefined, HOLDING_INTERFACE_ID)).toBeUndefined();
  });

  it('exports the choice names and metadata keys the parser needs', () => {
    expect(TransferChoice).toEqual({
      FactoryTransfer: 'TransferFactory_Transfer',
      Accept: 'TransferInstruction_Accept',
      Reject: 'TransferInstruction_Reject',
      Withdraw: 'TransferInstruction_Withdraw',
    });
    expect(Object.values(MetadataKey)).toEqual([
      'splice.lfdecentralizedtrust.org/reason',
      'splice.lfdecentralizedtrust.org/tx-kind',
      'splice.lfdecentralizedtrust.org/sender',
      'splice.lfdecentralizedtrust.org/burned',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { signatureSubject } from '../../src/machines/effects/submit.js';

/** Every treasury signature is logged with the withdrawal or deposit it is for, read from the machines' command ids. */
describe('the subject of a treasury signature', () => {
  const instrument = { admin: `DSO::1220${'d'.repeat(64)}`, id: 'Amulet' };
  const transfer = (commandId: string) =>
    signatureSubject({
      kind: 'transfer',
      commandId,
      factoryId: 'f',
      sender: 's',
      receiver: 'r',
      amount: '1',
      instrument,
      inputHoldingCids: [],
      memo: '',
      executeBefore: '',
      maxRecordTime: '',
    });

  it('a withdrawal: withdrawal-<id>-<attempt>, ids with dashes included', () => {
    expect(transfer('withdrawal-w1-1')).toEqual({ withdrawalId: 'w1' });
    expect(transfer('withdrawal-bench-12-3-10')).toEqual({ withdrawalId: 'bench-12-3' });
  });

  it('a deposit accept: deposit-accept-<id>', () => {
    expect(
      signatureSubject({ kind: 'accept', commandId: 'deposit-accept-00ab-cd', actAs: 't', transferInstructionCid: 'c', instrument }),
    ).toEqual({ depositId: '00ab-cd' });
  });

  it('another command names no subject (its command id is logged)', () => {
    expect(transfer('conformance-123-ab')).toEqual({});
  });
});

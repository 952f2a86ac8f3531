import { describe, expect, it } from 'vitest';
import { FailureCode } from './failure.js';
import { failureReasonCode, WithdrawalReasonCode } from './withdrawal.reason-code.js';

describe('withdrawal reason codes', () => {
  it('name every failure code the machine itself reacts to', () => {
    for (const code of Object.values(FailureCode)) expect(failureReasonCode({ code, message: 'x', retryable: false })).toBe(code);
  });

  it('name any other failure only as transient or permanent: ledger error ids never become codes', () => {
    expect(failureReasonCode({ code: 'UNAVAILABLE', message: 'x', retryable: true, status: 503 })).toBe('TRANSIENT_FAILURE');
    // The machine never retries these HTTP statuses, whatever the error says.
    expect(failureReasonCode({ code: 'UNAVAILABLE', message: 'x', retryable: true, status: 500 })).toBe('PERMANENT_FAILURE');
    expect(failureReasonCode({ code: 'SOME_NEW_CANTON_ERROR_ID_1234', message: 'x', retryable: false })).toBe('PERMANENT_FAILURE');
    expect(WithdrawalReasonCode.options).not.toContain('SOME_NEW_CANTON_ERROR_ID_1234');
  });
});

import { describe, expect, it } from 'vitest';
import { FAILURE_CODES, WithdrawalReasonCode } from '../failures.js';
import { failureReasonCode } from './withdrawal.reason-code.js';

describe('withdrawal reason codes', () => {
  it('name every failure code of the catalogue by itself', () => {
    for (const code of FAILURE_CODES) {
      expect(failureReasonCode({ code, message: 'x', retryable: false })).toBe(code);
      expect(WithdrawalReasonCode.options).toContain(code);
    }
  });

  it('name any other failure only as transient or permanent: ledger error ids never become codes', () => {
    expect(failureReasonCode({ code: 'UNAVAILABLE', message: 'x', retryable: true, status: 503 })).toBe('TRANSIENT_FAILURE');
    // The machine never retries these HTTP statuses, whatever the error says.
    expect(failureReasonCode({ code: 'UNAVAILABLE', message: 'x', retryable: true, status: 500 })).toBe('PERMANENT_FAILURE');
    expect(failureReasonCode({ code: 'SOME_NEW_CANTON_ERROR_ID_1234', message: 'x', retryable: false })).toBe('PERMANENT_FAILURE');
    // A family code carries the other side's number: named by retryability only.
    expect(failureReasonCode({ code: 'HTTP_502', message: 'x', retryable: true, status: 502 })).toBe('TRANSIENT_FAILURE');
    expect(WithdrawalReasonCode.options).not.toContain('SOME_NEW_CANTON_ERROR_ID_1234');
  });
});

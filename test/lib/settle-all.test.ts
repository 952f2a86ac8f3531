import { describe, expect, it } from 'vitest';
import { settleAll } from '../../src/lib/settle-all.js';

const later = <T>(ms: number, value: T, log: string[]) =>
  new Promise<T>((resolve) =>
    setTimeout(() => {
      log.push(String(value));
      resolve(value);
    }, ms),
  );

describe('settleAll', () => {
  it('resolves with every value, in argument order', async () => {
    const log: string[] = [];
    expect(await settleAll([later(20, 'a', log), 'b', later(5, 3, log)])).toEqual(['a', 'b', 3]);
  });

  it('rejects only once every branch has settled, with the first failure in argument order', async () => {
    const log: string[] = [];
    const failEarly = Promise.reject(new Error('first'));
    const failLate = later(10, 'x', log).then(() => Promise.reject(new Error('second')));
    const slow = later(30, 'slow', log);
    await expect(settleAll([slow, failEarly, failLate])).rejects.toThrow('first');
    // Promise.all would have rejected before the slow branch finished.
    expect(log).toEqual(['x', 'slow']);
  });
});

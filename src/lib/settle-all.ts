/**
 * Like Promise.all, but settles only when every promise has: inside a database transaction a
 * branch that fails must not let the callback end while sibling branches still send statements
 * on the transaction's connection (they would run after its rollback, outside any transaction).
 * Rejects with the first failure, in argument order.
 */
export async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: PromiseLike<T[K]> | T[K] }): Promise<{
  -readonly [K in keyof T]: Awaited<T[K]>;
}> {
  const results = await Promise.allSettled(promises as readonly unknown[]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

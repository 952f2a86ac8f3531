// Waiting that stops with its owner: an AbortSignal ends every wait here with its reason.

/** Like setTimeout, but rejects with the signal's reason when it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const done = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const t = setTimeout(done, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/**
 * Reads until a read succeeds or `signal` aborts: a wait that must not give up (effects held until
 * ingestion caught up) but must stop with its owner. Each failure is reported (the caller decides
 * how often it logs) and followed by `delayMs(failures)`.
 */
export async function readUntilAborted<T>(
  read: () => Promise<T>,
  o: { signal: AbortSignal; delayMs: (failures: number) => number; onFailure: (e: unknown, failures: number) => void },
): Promise<T> {
  for (let failures = 0; ; failures++) {
    o.signal.throwIfAborted();
    try {
      return await read();
    } catch (e) {
      o.signal.throwIfAborted();
      o.onFailure(e, failures);
      await sleep(o.delayMs(failures), o.signal);
    }
  }
}

import type { Logger } from '../logger.js';

/**
 * Failed authentications per client address. Past `limit` failures within `windowMs` an address
 * is answered 429 without its token being looked at, until the window ends: guessing tokens gets
 * slow, and one misconfigured client cannot flood the logs. Failures are logged as a summary
 * every `summaryMs`, not one line each.
 */
export interface AuthThrottleOptions {
  limit?: number;
  windowMs?: number;
  summaryMs?: number;
  /** At most this many addresses are tracked; the oldest window is forgotten first. */
  maxAddresses?: number;
  logger: Logger;
  now?: () => number;
}

export interface AuthThrottle {
  /** Seconds until the address may try again, or 0 when it may try now. */
  blockedFor(address: string): number;
  recordFailure(address: string): void;
  stop(): void;
}

export function createAuthThrottle(o: AuthThrottleOptions): AuthThrottle {
  const limit = o.limit ?? 20;
  const windowMs = o.windowMs ?? 10_000;
  const maxAddresses = o.maxAddresses ?? 10_000;
  const now = o.now ?? Date.now;
  const windows = new Map<string, { start: number; failures: number }>();
  const summary = new Map<string, number>();

  const current = (address: string) => {
    const w = windows.get(address);
    if (w && now() - w.start < windowMs) return w;
    if (w) windows.delete(address);
    return undefined;
  };

  const flush = () => {
    if (summary.size === 0) return;
    const total = [...summary.values()].reduce((a, b) => a + b, 0);
    const top = [...summary.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([address, failures]) => ({ address, failures }));
    o.logger.warn(
      { failures: total, addresses: summary.size, top },
      `${total} failed API authentication(s) from ${summary.size} address(es)`,
    );
    summary.clear();
  };
  const timer = setInterval(flush, o.summaryMs ?? 60_000);
  timer.unref();

  return {
    blockedFor(address) {
      const w = current(address);
      if (!w || w.failures < limit) return 0;
      return Math.max(1, Math.ceil((w.start + windowMs - now()) / 1000));
    },
    recordFailure(address) {
      summary.set(address, (summary.get(address) ?? 0) + 1);
      const w = current(address);
      if (w) {
        w.failures++;
        return;
      }
      if (windows.size >= maxAddresses) {
        const oldest = windows.keys().next().value;
        if (oldest !== undefined) windows.delete(oldest);
      }
      windows.set(address, { start: now(), failures: 1 });
    },
    stop() {
      clearInterval(timer);
      flush();
    },
  };
}

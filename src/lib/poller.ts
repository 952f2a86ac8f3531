/**
 * A step run every `everyMs` after the previous one ended, until stopped: the components that keep
 * a database view fresh (switches, a recovery run). A failed step is reported with how many failed
 * in a row and the loop goes on; stop() waits for a step in flight.
 */
export interface Poller {
  start(): void;
  stop(): Promise<void>;
}

export function createPoller(o: {
  everyMs: number;
  step: () => Promise<unknown>;
  onFailure: (e: unknown, failuresInARow: number) => void;
}): Poller {
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let inFlight: Promise<void> = Promise.resolve();
  let failures = 0;
  const schedule = () => {
    if (!running) return;
    timer = setTimeout(() => {
      inFlight = o.step().then(
        () => {
          failures = 0;
          schedule();
        },
        (e: unknown) => {
          o.onFailure(e, ++failures);
          schedule();
        },
      );
    }, o.everyMs);
    timer.unref();
  };
  return {
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      await inFlight;
    },
  };
}

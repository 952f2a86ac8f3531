import { Rng } from '../src/sandbox/util/rng.js';
import type { DoubleControl, FaultAction, FaultRuleInput } from './double.js';
import { HttpError } from './http.js';

/**
 * Ledger faults, injected through the double's control API at random moments: websocket drops,
 * 503/429 answers, slow calls, definite submission rejections and ambiguous ones (the commit
 * happens, the answer is lost). Every rule fires a bounded number of times.
 */

const READ_OPS = ['ledgerEnd', 'updates', 'updateById', 'eventsByContractId', 'activeContracts', 'version', 'latestPrunedOffsets'];
const SUBMIT_OPS = ['prepare', 'execute'];
const REGISTRY_OPS = ['registry.transferFactory', 'registry.acceptContext'];
const WS_OPS = ['updates.ws'];

export class FaultInjector {
  private readonly rng: Rng;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Rules added plus immediate websocket drops. */
  injected = 0;
  readonly byKind = new Map<string, number>();

  constructor(
    private readonly double: DoubleControl,
    seed: string,
  ) {
    this.rng = new Rng(`chaos-faults:${seed}`);
  }

  private pick<T>(xs: readonly T[]): T {
    const x = xs[this.rng.int(xs.length)];
    if (x === undefined) throw new Error('pick from an empty list');
    return x;
  }

  /** One random fault. */
  private draw(): FaultRuleInput | 'drop-now' {
    const r = this.rng.float();
    const times = 1 + this.rng.int(3);
    const action = (a: FaultAction, operation: string, n = times): FaultRuleInput => ({ match: { operation }, action: a, times: n });
    if (r < 0.12) return 'drop-now';
    if (r < 0.22) return action({ kind: 'dropWebsocket', afterFrames: this.rng.int(20) }, this.pick(WS_OPS), 1);
    if (r < 0.4) return action({ kind: 'http503' }, this.pick([...READ_OPS, ...SUBMIT_OPS, ...REGISTRY_OPS]));
    if (r < 0.44) return action({ kind: 'http429' }, this.pick([...READ_OPS, ...SUBMIT_OPS]));
    if (r < 0.48) return action({ kind: 'backpressure' }, this.pick([...READ_OPS, ...SUBMIT_OPS]));
    if (r < 0.66) return action({ kind: 'delay', ms: 200 + this.rng.int(3800) }, this.pick([...READ_OPS, ...SUBMIT_OPS, ...REGISTRY_OPS]));
    if (r < 0.84) return action({ kind: 'commitLoseResponse', mode: this.rng.float() < 0.5 ? 'reset' : 'timeout' }, 'execute', 1);
    const codes = ['LOCAL_VERDICT_LOCKED_CONTRACTS', 'PARTICIPANT_BACKPRESSURE', 'NOT_SEQUENCED_TIMEOUT'] as const;
    return action({ kind: 'rejectSubmission', code: this.pick(codes), sync: this.rng.float() < 0.5 }, 'execute', 1);
  }

  async injectOne(): Promise<void> {
    const f = this.draw();
    const kind = f === 'drop-now' ? 'websocketDropNow' : f.action.kind;
    try {
      if (f === 'drop-now') await this.double.dropWebsockets();
      else await this.double.addFault(f);
      this.injected += 1;
      this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
    }
  }

  /** Injects one fault every `minMs`–`maxMs`. */
  start(minMs: number, maxMs: number): void {
    const next = () => {
      this.timer = setTimeout(
        () => {
          if (this.busy) return next();
          this.busy = true;
          this.injectOne().finally(() => {
            this.busy = false;
            if (this.timer !== undefined) next();
          });
        },
        minMs + this.rng.int(maxMs - minMs),
      );
    };
    next();
  }

  /** Stops injecting and removes every rule still armed. Returns how often rules fired. */
  async stop(): Promise<number> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    const fired = (await this.double.faults()).reduce((n, f) => n + f.fired, 0);
    await this.double.clearFaults();
    return fired;
  }
}

import { z } from 'zod';
import { Rng } from '../util/rng.js';

/**
 * Fault injection. A rule matches requests by method, path (exact, or a prefix ending in "*")
 * and/or operation name (see README), and fires once, `times` times, or forever; with `rate` it
 * fires with that probability per matching request, drawn from a seedable generator.
 */
export const FaultAction = z.discriminatedUnion('kind', [
  /** Answer 503 (UNAVAILABLE, retryable) before doing anything. */
  z.object({ kind: z.literal('http503') }),
  /** Answer as Canton does when overloaded: 409 PARTICIPANT_BACKPRESSURE (category 2, retryable). */
  z.object({ kind: z.literal('backpressure') }),
  /** Answer 429 Too Many Requests as a proxy or load balancer in front of the node would (text/plain). */
  z.object({ kind: z.literal('http429') }),
  /** Hold the request this long, then serve it normally. */
  z.object({ kind: z.literal('delay'), ms: z.int().min(0).max(600_000) }),
  /** Websocket streams: cut the connection (no close frame) after this many frames. */
  z.object({ kind: z.literal('dropWebsocket'), afterFrames: z.int().min(0).default(0) }),
  /** Submissions: reject with a definite answer (nothing commits); `sync` answers the HTTP call with the error. */
  z.object({
    kind: z.literal('rejectSubmission'),
    code: z
      .enum(['LOCAL_VERDICT_LOCKED_CONTRACTS', 'PARTICIPANT_BACKPRESSURE', 'NOT_SEQUENCED_TIMEOUT', 'OUTDATED_TRAFFIC_COST'])
      .default('LOCAL_VERDICT_LOCKED_CONTRACTS'),
    sync: z.boolean().default(false),
  }),
  /** Submissions: commit, then lose the response (`reset`: drop the connection; `timeout`: 504 REQUEST_TIME_OUT). */
  z.object({ kind: z.literal('commitLoseResponse'), mode: z.enum(['reset', 'timeout']).default('reset') }),
]);
export type FaultAction = z.infer<typeof FaultAction>;
export type FaultKind = FaultAction['kind'];

export const FaultRule = z.object({
  match: z
    .object({
      method: z.string().optional(),
      path: z.string().optional(),
      operation: z.string().optional(),
    })
    .default({}),
  action: FaultAction,
  /** Fire at most this many times (absent: unlimited). `once` is times = 1. */
  times: z.int().min(1).optional(),
  once: z.boolean().optional(),
  /** Probability per matching request (default 1). */
  rate: z.number().min(0).max(1).optional(),
});
export type FaultRule = z.infer<typeof FaultRule>;
export type FaultRuleInput = z.input<typeof FaultRule>;

export interface RequestInfo {
  readonly method: string;
  readonly path: string;
  readonly operation: string;
}

interface ActiveRule {
  readonly id: string;
  readonly rule: FaultRule;
  remaining: number;
  fired: number;
}

export interface FaultRuleStatus {
  readonly id: string;
  readonly rule: FaultRule;
  readonly remaining: number | null;
  readonly fired: number;
}

/** Exhausted rules stay listed (remaining 0) so a test can check that a fault really fired. */
export class FaultInjector {
  private readonly rules: ActiveRule[] = [];
  private next = 1;
  private readonly rng: Rng;

  constructor(seed?: string) {
    this.rng = new Rng(seed === undefined ? undefined : `faults:${seed}`);
  }

  add(input: FaultRuleInput): string {
    const rule = FaultRule.parse(input);
    const id = `fault-${this.next++}`;
    const times = rule.once ? 1 : rule.times;
    this.rules.push({ id, rule, remaining: times ?? Number.POSITIVE_INFINITY, fired: 0 });
    return id;
  }

  remove(id: string): boolean {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i >= 0) this.rules.splice(i, 1);
    return i >= 0;
  }

  clear(): void {
    this.rules.splice(0);
  }

  list(): FaultRuleStatus[] {
    return this.rules.map((r) => ({
      id: r.id,
      rule: r.rule,
      remaining: Number.isFinite(r.remaining) ? r.remaining : null,
      fired: r.fired,
    }));
  }

  /**
   * The actions of the given kinds that fire for this request (each consumes one of its rule's
   * `times`). Rules of other kinds are not consulted, so a phase never uses up another's rule.
   */
  fire<K extends FaultKind>(req: RequestInfo, kinds: readonly K[]): Extract<FaultAction, { kind: K }>[] {
    const out: Extract<FaultAction, { kind: K }>[] = [];
    for (const r of this.rules) {
      if (r.remaining <= 0 || !(kinds as readonly string[]).includes(r.rule.action.kind)) continue;
      if (!matches(r.rule, req)) continue;
      if (r.rule.rate !== undefined && this.rng.float() >= r.rule.rate) continue;
      r.remaining -= 1;
      r.fired += 1;
      out.push(r.rule.action as Extract<FaultAction, { kind: K }>);
    }
    return out;
  }
}

function matches(rule: FaultRule, req: RequestInfo): boolean {
  const m = rule.match;
  if (m.method !== undefined && m.method.toUpperCase() !== req.method.toUpperCase()) return false;
  if (m.operation !== undefined && m.operation !== req.operation) return false;
  if (m.path !== undefined) {
    if (m.path.endsWith('*')) {
      if (!req.path.startsWith(m.path.slice(0, -1))) return false;
    } else if (m.path !== req.path) return false;
  }
  return true;
}

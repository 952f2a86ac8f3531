import { LedgerApiError } from '../ledger/http.js';
import { ActorError } from '../machines/failure.js';
import { RetriesExhaustedError } from '../streams/backoff.js';

/**
 * Runs checks one after the other and prints one line per check as it ends:
 *   ok  <check> (<ms> ms)[: <detail>]
 *   FAIL <check>: <the server's answer, on one line>
 *   skip <check>: needs <the check it depends on>
 * A check is a function; what it returns is handed to the checks that need it, so a check whose
 * input is missing is skipped rather than run against nothing.
 */

export type CheckStatus = 'ok' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  ms: number;
  /** ok: the detail (may be empty); fail: the answer; skip: why. */
  text: string;
}

/** A check's value plus a short fact for its ok line. */
export interface Passed<T> {
  value: T;
  detail?: string;
}

/** Fails a check with a message of our own (the server answered, but not what the daemon needs). */
export class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
}

const MAX_ANSWER = 600;

/** The error as one line: the server's answer as the daemon's client reports it. */
export function answerOf(e: unknown): string {
  let inner = e;
  if (inner instanceof RetriesExhaustedError) inner = inner.lastError;
  let text: string;
  if (inner instanceof ActorError)
    text = `${inner.failure.code}${inner.failure.status !== undefined ? ` (HTTP ${inner.failure.status})` : ''}: ${inner.failure.message}`;
  // The client's errors already name the call and quote the answer; others keep their kind.
  else if (inner instanceof CheckFailed || inner instanceof LedgerApiError) text = inner.message;
  else if (inner instanceof Error) text = `${inner.name}: ${inner.message}`;
  else text = String(inner);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_ANSWER ? `${line.slice(0, MAX_ANSWER)}…` : line;
}

export class CheckRunner {
  readonly results: CheckResult[] = [];

  constructor(private readonly print: (line: string) => void) {}

  /** Runs `fn`; its value, or undefined when it failed. */
  async check<T>(name: string, fn: () => Promise<Passed<T>>): Promise<T | undefined> {
    const started = performance.now();
    try {
      const passed = await fn();
      this.record({ name, status: 'ok', ms: Math.round(performance.now() - started), text: passed.detail ?? '' });
      return passed.value;
    } catch (e) {
      this.record({ name, status: 'fail', ms: Math.round(performance.now() - started), text: answerOf(e) });
      return undefined;
    }
  }

  /** Runs `fn` with the inputs it needs, or skips it naming the first check that did not deliver. */
  async checkWith<I extends readonly unknown[], T>(
    name: string,
    inputs: { [K in keyof I]: [from: string, value: I[K] | undefined] },
    fn: (...args: I) => Promise<Passed<T>>,
  ): Promise<T | undefined> {
    const missing = inputs.find(([, value]) => value === undefined);
    if (missing) {
      this.record({ name, status: 'skip', ms: 0, text: `needs ${missing[0]}` });
      return undefined;
    }
    return this.check(name, () => fn(...(inputs.map(([, value]) => value) as unknown as I)));
  }

  private record(r: CheckResult): void {
    this.results.push(r);
    if (r.status === 'ok') this.print(`ok  ${r.name} (${r.ms} ms)${r.text ? `: ${r.text}` : ''}`);
    else if (r.status === 'fail') this.print(`FAIL ${r.name}: ${r.text}`);
    else this.print(`skip ${r.name}: ${r.text}`);
  }

  get failed(): boolean {
    return this.results.some((r) => r.status !== 'ok');
  }

  summary(target: string): string {
    const count = (s: CheckStatus) => this.results.filter((r) => r.status === s).length;
    const verdict = this.failed ? 'FAILED' : 'passed';
    return `conformance ${verdict}: ${count('ok')} ok, ${count('fail')} failed, ${count('skip')} skipped against ${target}`;
  }
}

/**
 * Test support: effects whose results the test decides, one call at a time. Each call of a scripted
 * actor is recorded with its input and stays pending until the test resolves or rejects it, so a
 * test can stop a machine in any state and choose every outcome. Used by the machine tests beside
 * the machines and by the runtime tests; not used in production code.
 */
export interface ScriptedCall {
  readonly name: string;
  readonly input: unknown;
  readonly signal: AbortSignal;
  settled: boolean;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

export class Script {
  readonly calls: ScriptedCall[] = [];
  /** Called on every new call: lets a test answer automatically (return undefined to leave it pending). */
  autoAnswer: ((call: ScriptedCall) => { output: unknown } | { error: unknown } | undefined) | undefined;

  /** The promise a scripted actor returns. */
  call<T>(name: string, input: unknown, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const c: ScriptedCall = {
        name,
        input,
        signal,
        settled: false,
        resolve: (o) => {
          if (c.settled) throw new Error(`${name} already settled`);
          c.settled = true;
          resolve(o as T);
        },
        reject: (e) => {
          if (c.settled) throw new Error(`${name} already settled`);
          c.settled = true;
          reject(e);
        },
      };
      this.calls.push(c);
      const auto = this.autoAnswer?.(c);
      if (auto && 'output' in auto) c.resolve(auto.output);
      else if (auto && 'error' in auto) c.reject(auto.error);
    });
  }

  /** Calls of one actor, oldest first. */
  callsOf(name: string): ScriptedCall[] {
    return this.calls.filter((c) => c.name === name);
  }

  /** The pending (unsettled, not aborted) calls. */
  pending(): ScriptedCall[] {
    return this.calls.filter((c) => !c.settled && !c.signal.aborted);
  }

  /** The single pending call; fails the test when there is none or several. */
  only(name?: string): ScriptedCall {
    const p = this.pending().filter((c) => name === undefined || c.name === name);
    if (p.length !== 1)
      throw new Error(
        `expected one pending call${name ? ` of ${name}` : ''}, found [${this.pending()
          .map((c) => c.name)
          .join(', ')}]`,
      );
    return p[0]!;
  }
}

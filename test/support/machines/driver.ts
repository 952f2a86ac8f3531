import { fromPromise } from 'xstate';
import type { Script } from './script.js';

/**
 * Test support beside Script: a scripted effect actor, and the handle machine tests drive an actor
 * with (send an event, answer or fail the one pending call of an effect, then let XState settle).
 */
export function scripted<TOutput, TInput>(script: Script, name: string) {
  return fromPromise<TOutput, TInput>(({ input, signal }) => script.call<TOutput>(name, input, signal));
}

type SnapshotOf<A> = A extends { getSnapshot(): infer S } ? S : never;
type EventOf<A> = A extends { send(event: infer E): void } ? E : never;
interface Drivable {
  send(event: never): void;
  getSnapshot(): { value: unknown; context: unknown };
}

/** `flush` lets timers and promises settle (e.g. vitest's `vi.advanceTimersByTimeAsync(0)`). */
export function driver<TActor extends Drivable>(actor: TActor, script: Script, flush: () => Promise<unknown>) {
  const snap = () => actor.getSnapshot() as SnapshotOf<TActor>;
  return {
    script,
    actor,
    snap,
    value: (): SnapshotOf<TActor>['value'] => snap().value,
    ctx: (): SnapshotOf<TActor>['context'] => snap().context,
    send: async (e: EventOf<TActor>) => {
      (actor.send as (event: EventOf<TActor>) => void)(e);
      await flush();
    },
    answer: async (name: string, output: unknown) => {
      script.only(name).resolve(output);
      await flush();
    },
    fail: async (name: string, error: unknown) => {
      script.only(name).reject(error);
      await flush();
    },
  };
}

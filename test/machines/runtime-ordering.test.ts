import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup } from 'xstate';
import type { OutboxEvent } from '../../src/store/outbox.js';
import { createMachineRuntimeOn, type MachineRuntime } from '../../src/machines/runtime/runtime.js';
import type { EffectHold, MachineDefinition, Route } from '../../src/machines/runtime/types.js';
import { testLogger } from '../support/silent-logger.js';
import { gate, MemoryDatabase } from './support/memory-store.js';

/**
 * The runtime's ordering rules without Postgres: the runtime runs on an in-memory RuntimeStore
 * (support/memory-store.ts) and a toy machine whose one effect records what the database held
 * when it started. The same rules are tested against Postgres with the real machines in
 * withdrawal-runtime.test.ts; here each is isolated and its order observed commit by commit.
 */

interface ToyContext {
  id: string;
  notes: number;
  result: string | null;
}

const TOPICS = ['toy.created', 'toy.go', 'toy.note'] as const;

const toyMachine = setup({
  types: { context: {} as ToyContext, input: {} as { id: string }, events: {} as { type: 'GO' } | { type: 'NOTE' } },
  actors: { work: fromPromise<string, { id: string }>(() => Promise.reject(new Error('provided by the test'))) },
}).createMachine({
  id: 'toy',
  initial: 'idle',
  context: ({ input }) => ({ id: input.id, notes: 0, result: null }),
  states: {
    idle: { on: { GO: 'working', NOTE: { actions: assign({ notes: ({ context }) => context.notes + 1 }) } } },
    working: {
      invoke: {
        src: 'work',
        input: ({ context }) => ({ id: context.id }),
        onDone: { target: 'done', actions: assign({ result: ({ event }) => event.output }) },
      },
    },
    done: { type: 'final' },
  },
});

function routeToy(e: OutboxEvent): Route {
  const id = String(e.payload.id);
  if (e.topic === 'toy.created') return { kind: 'deliver', machineId: id, event: null, create: true };
  if (e.topic === 'toy.go') return { kind: 'deliver', machineId: id, event: { type: 'GO' }, create: false };
  return { kind: 'deliver', machineId: id, event: { type: 'NOTE' }, create: false };
}

/** What the database held for a machine when its effect started. */
interface EffectStart {
  id: string;
  storedState: unknown;
  storedSeq: number | undefined;
}

function toy(db: MemoryDatabase<ToyContext>, hold?: EffectHold) {
  const started: EffectStart[] = [];
  const def: MachineDefinition<ToyContext> = {
    type: 'toy',
    version: 1,
    consumer: 'toy-runtime',
    topics: TOPICS,
    lockKey: 99,
    build: (wrap) =>
      toyMachine.provide({
        actors: {
          work: wrap(async ({ id }: { id: string }) => {
            const row = db.snapshots.get(id);
            started.push({ id, storedState: row?.stateValue, storedSeq: row?.seq });
            return `worked ${id}`;
          }, hold),
        },
      }),
    route: routeToy,
    loadInput: () => Promise.reject(new Error('the memory store answers loadInput')),
    parseContext: (c) => c as ToyContext,
    project: () => Promise.resolve(),
    parseCommand: () => ({ ok: false, reason: 'no commands' }),
    explainRefusal: () => 'no commands',
  };
  return { def, started };
}

const runtimes: MachineRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.abort();
});

async function startToy(db: MemoryDatabase<ToyContext>, def: MachineDefinition<ToyContext>): Promise<MachineRuntime> {
  const rt = createMachineRuntimeOn(def, db.store(), {
    logger: testLogger(),
    pollIntervalMs: 5,
    reloadDelayMs: 20,
    leaderCheckMs: 50,
    leaderRetryMs: 20,
    stopTimeoutMs: 1_000,
  });
  runtimes.push(rt);
  await rt.start();
  return rt;
}

function newDatabase(...ids: string[]): MemoryDatabase<ToyContext> {
  const db = new MemoryDatabase<ToyContext>('toy', TOPICS);
  for (const id of ids) db.rows.set(id, { id });
  return db;
}

async function until(what: string, ok: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** m1 created and sent GO, the commit of its transition to `state` held (under way) until `held` opens. */
async function goWithCommitHeldAt(state: 'working' | 'done') {
  const db = newDatabase('m1');
  const { def, started } = toy(db);
  db.append('toy.created', { id: 'm1' });
  db.append('toy.go', { id: 'm1' });
  const held = gate();
  db.beforeCommit = async (group) => {
    if (group.records.some((r) => r.to === state)) await held.wait;
  };
  await startToy(db, def);
  await until(`the commit of ${state} is under way`, () => db.attempts.some((a) => a.group.records.some((r) => r.to === state)));
  return { db, started, held };
}

const machinesOf = (g: { records: readonly { machineId: string }[] }) => new Set(g.records.map((r) => r.machineId));

describe('runtime ordering (in-memory store): the effect gate', () => {
  it('an effect starts only once the transition that started it is committed', async () => {
    const { db, started, held } = await goWithCommitHeldAt('working');
    // The machine is in working in memory, its effect invoked: it waits for the commit.
    await new Promise((r) => setTimeout(r, 50));
    expect(started).toEqual([]);
    held.open();
    await until('the effect started', () => started.length === 1);
    expect(started[0]).toEqual({ id: 'm1', storedState: 'working', storedSeq: 2 });
    await until('the machine is done', () => db.snapshots.get('m1')?.isFinal === true);
    expect(db.transitions.map((t) => t.to)).toEqual(['idle', 'working', 'done']);
  });

  it('an effect whose transition failed to commit never starts from it: the machine is reloaded, the event replayed, and the effect runs once, after the commit', async () => {
    const db = newDatabase('m1');
    const { def, started } = toy(db);
    db.append('toy.created', { id: 'm1' });
    const go = db.append('toy.go', { id: 'm1' });
    let failures = 0;
    db.beforeCommit = (group) => {
      if (failures === 0 && group.records.some((r) => r.to === 'working')) {
        failures++;
        throw new Error('injected: the commit of working fails');
      }
    };
    await startToy(db, def);
    await until('the machine is done', () => db.snapshots.get('m1')?.isFinal === true);
    expect(failures).toBe(1);
    expect(started).toEqual([{ id: 'm1', storedState: 'working', storedSeq: 2 }]);
    // GO applied once: the failed attempt left nothing behind.
    expect(db.transitions.filter((t) => t.outboxEventId === go)).toHaveLength(1);
    expect(db.transitions.map((t) => t.seq)).toEqual([1, 2, 3]);
  });
});

describe('runtime ordering (in-memory store): group commit', () => {
  it("several machines' transitions commit in one transaction, each machine's in order", async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const db = newDatabase(...ids);
    const { def, started } = toy(db);
    for (const id of ids) db.append('toy.created', { id });
    for (const id of ids) db.append('toy.go', { id });
    await startToy(db, def);
    await until('every machine is done', () => ids.every((id) => db.snapshots.get(id)?.isFinal === true));
    expect(started.map((s) => s.id).sort()).toEqual(ids);
    // The batch's ten events were applied without waiting for each commit: one group holds them all.
    const first = db.commits[0]!;
    expect(machinesOf(first)).toEqual(new Set(ids));
    expect(first.records.map((r) => r.to)).toEqual([...ids.map(() => 'idle'), ...ids.map(() => 'working')]);
    expect(db.commits.length).toBeLessThan(db.transitions.length);
    for (const id of ids) {
      expect(db.transitions.filter((t) => t.machineId === id).map((t) => [t.seq, t.to])).toEqual([
        [1, 'idle'],
        [2, 'working'],
        [3, 'done'],
      ]);
    }
  });

  it('a failed group is retried machine by machine: one machine that cannot be committed fails alone', async () => {
    const db = newDatabase('good1', 'bad', 'good2');
    const { def } = toy(db);
    for (const id of ['good1', 'bad', 'good2']) db.append('toy.created', { id });
    db.beforeCommit = (group) => {
      if (machinesOf(group).has('bad')) throw new Error('injected: bad cannot be persisted');
    };
    const rt = await startToy(db, def);
    await until('both good machines are committed', () => db.snapshots.has('good1') && db.snapshots.has('good2'));
    const [mixed, ...fallback] = db.attempts;
    expect(machinesOf(mixed!.group)).toEqual(new Set(['good1', 'bad', 'good2']));
    expect(mixed!.ok).toBe(false);
    expect(fallback.slice(0, 3).map((a) => [[...machinesOf(a.group)], a.ok])).toEqual([
      [['good1'], true],
      [['bad'], false],
      [['good2'], true],
    ]);
    expect(db.snapshots.has('bad')).toBe(false);
    // The batch did not commit as a whole: the cursor stays where it was, the batch is replayed.
    expect(db.cursor).toBe(0);
    expect(rt.status().state).not.toBe('stopped');
  });
});

describe('runtime ordering (in-memory store): the outbox cursor', () => {
  it('moves past a batch only once every transition of the batch is committed, in a commit after theirs', async () => {
    const db = newDatabase('m1', 'm2', 'm3');
    const { def } = toy(db);
    for (const id of ['m1', 'm2', 'm3']) db.append('toy.created', { id });
    const last = db.append('toy.note', { id: 'm2' });
    const held = gate();
    db.beforeCommit = async (group) => {
      if (group.records.length > 0) await held.wait;
    };
    await startToy(db, def);
    await until('the batch commit is under way', () => db.attempts.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    // Nothing else is tried while the batch's transitions are not committed: no cursor yet.
    expect(db.attempts).toHaveLength(1);
    expect(db.cursor).toBe(0);
    held.open();
    await until('the cursor moved', () => db.cursor === last);
    const cursorAt = db.commits.findIndex((g) => g.cursor !== undefined);
    const lastRecordAt = db.commits.findLastIndex((g) => g.records.some((r) => r.outboxEventId !== null));
    expect(cursorAt).toBeGreaterThan(lastRecordAt);
    expect(db.commits[cursorAt]).toMatchObject({ records: [], acks: [], cursor: last });
  });

  it('a replayed batch is skipped by each machine at or below its last_event_id (a crash after the batch committed, before the cursor)', async () => {
    const db = newDatabase('m1');
    const first = toy(db);
    db.append('toy.created', { id: 'm1' });
    db.append('toy.note', { id: 'm1' });
    db.append('toy.note', { id: 'm1' });
    const rt = await startToy(db, first.def);
    await until('the batch is committed', () => db.cursor === 3);
    await rt.abort();
    expect(db.snapshots.get('m1')).toMatchObject({ seq: 3, lastEventId: 3 });
    // As if the cursor's commit had been lost in a crash: the whole batch comes again.
    db.cursor = 0;
    const fourth = db.append('toy.note', { id: 'm1' });
    const again = toy(db);
    await startToy(db, again.def);
    await until('the new event is applied', () => db.cursor === fourth);
    const row = db.snapshots.get('m1')!;
    expect(row).toMatchObject({ seq: 4, lastEventId: fourth });
    expect((row.snapshot as { context: ToyContext }).context.notes).toBe(3);
    // Each event applied exactly once.
    expect(db.transitions.map((t) => t.outboxEventId)).toEqual([1, 2, 3, 4]);
  });

  it('an event that changes nothing in a live machine still moves its last_event_id, in the commit before the cursor', async () => {
    const db = newDatabase('m1');
    // GO puts m1 in working, whose effect is held: the NOTE after it changes nothing there.
    const held = gate();
    const { def, started } = toy(db, () => held.wait);
    db.append('toy.created', { id: 'm1' });
    db.append('toy.go', { id: 'm1' });
    const note = db.append('toy.note', { id: 'm1' });
    await startToy(db, def);
    await until('the cursor passed the NOTE', () => db.cursor === note);
    // Recorded as a transition of its own (working → working), committed before the cursor moves.
    expect(db.commits.map((g) => [g.records.map((r) => [r.eventType, r.to, r.outboxEventId]), g.cursor])).toEqual([
      [
        [
          ['xstate.init', 'idle', 1],
          ['GO', 'working', 2],
          ['NOTE', 'working', note],
        ],
        undefined,
      ],
      [[], note],
    ]);
    expect(db.snapshots.get('m1')).toMatchObject({ stateValue: 'working', lastEventId: note });
    expect(started).toEqual([]);
    held.open();
    await until('the effect ran', () => started.length === 1);
  });

  it('an event its machine ignores after reaching its final state, before that state committed, is no failure: the batch goes on, nothing is replayed', async () => {
    const { db, started, held } = await goWithCommitHeldAt('done');
    expect(started).toHaveLength(1);
    // Sent to the machine in memory, already done: it changes nothing, its acknowledgement waits behind the held commit.
    const note = db.append('toy.note', { id: 'm1' });
    await until('the NOTE was read', () => db.timesRead.get(note) === 1);
    held.open();
    await until('the cursor passed the NOTE', () => db.cursor === note);
    expect(db.snapshots.get('m1')).toMatchObject({ stateValue: 'done', isFinal: true, seq: 3 });
    expect(db.timesRead.get(note)).toBe(1);
    expect([...db.timesRead.values()].every((n) => n === 1)).toBe(true);
  });
});

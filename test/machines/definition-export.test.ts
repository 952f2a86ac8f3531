import { readFileSync } from 'node:fs';
import { createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { exportMachine, exportStateMachine, MACHINE_TYPES, renderMachineDocs, toMermaid } from '../../src/machines/definition-export.js';
import { WITHDRAWAL_MACHINE_VERSION, withdrawalMachine } from '../../src/machines/withdrawal.machine.js';

const README = new URL('../../src/machines/README.md', import.meta.url);

describe('machine definitions exported from the machines', () => {
  it('src/machines/README.md holds the diagrams the machines define (run `npm run docs:machines` after changing a machine)', () => {
    const readme = readFileSync(README, 'utf8');
    for (const type of MACHINE_TYPES) expect(readme).toContain(`<!-- machine-diagram ${type} -->\n<!-- Generated from ${type}.machine.ts`);
    expect(renderMachineDocs(readme), 'src/machines/README.md is out of date: run `npm run docs:machines`').toBe(readme);
  });

  it('the JSON is an XState config: createMachine(config) has the same states and transitions', () => {
    for (const type of MACHINE_TYPES) {
      const e = exportMachine(type);
      const again = exportStateMachine(type, createMachine(JSON.parse(JSON.stringify(e.config)) as never), e.version);
      expect(again.graph).toEqual(e.graph);
      expect(again.config).toEqual(e.config);
    }
  });

  it('the graph has every state of the machine and its transitions as the machine defines them', () => {
    const { graph, config, version, id } = exportMachine('withdrawal');
    expect({ id, version }).toEqual({ id: 'withdrawal', version: WITHDRAWAL_MACHINE_VERSION });
    const paths: string[] = [];
    const walk = (node: { path: string[]; states: Record<string, unknown> }) => {
      if (node.path.length > 0) paths.push(node.path.join('.'));
      for (const c of Object.values(node.states)) walk(c as typeof node);
    };
    walk(withdrawalMachine.root as never);
    expect(graph.states.map((s) => s.id).sort()).toEqual(paths.sort());
    expect(config.initial).toBe('requested');

    const from = (source: string | null) => graph.transitions.filter((t) => t.source === source);
    // An operator command, an effect's result with a named guard, a timer, the routing of a failure.
    expect(from('stalled')).toContainEqual(
      expect.objectContaining({ event: 'RETRY', target: 'releasing', kind: 'event', operator: true, guard: null }),
    );
    expect(from('releasing')).toContainEqual(
      expect.objectContaining({
        kind: 'done',
        trigger: 'releaseReservation done',
        guard: 'cancelRequested',
        target: 'cancelled',
        operator: false,
      }),
    );
    expect(from('waitingForFunds')).toContainEqual(
      expect.objectContaining({ kind: 'after', trigger: 'after untilRetryAt', target: 'reserving' }),
    );
    expect(from('stepFailed')).toContainEqual(expect.objectContaining({ kind: 'always', guard: 'decide_stallRelease', target: 'stalled' }));
    // Ledger facts apply in any state: the machine's own transitions, with combined guards spelled out.
    expect(from(null)).toContainEqual(
      expect.objectContaining({ event: 'TRANSFERRED', guard: 'pendingOutcome && notTransferredYet', target: 'pendingAcceptance' }),
    );
    // A request recorded for later: no target.
    expect(from('reserving')).toContainEqual(expect.objectContaining({ event: 'CANCEL', target: null, guard: 'noStopRequested' }));
    expect(graph.states.find((s) => s.id === 'preparing')).toMatchObject({
      type: 'compound',
      initial: 'preparing.fetchingFactory',
      parent: null,
    });
    expect(graph.states.find((s) => s.id === 'awaitingLedger.resubmitting')).toMatchObject({
      parent: 'awaitingLedger',
      invokes: ['executeSubmission'],
    });
    expect(graph.states.filter((s) => s.transient).map((s) => s.id)).toEqual(
      expect.arrayContaining(['requested', 'kindRefused', 'stepFailed']),
    );
    expect(graph.states.find((s) => s.id === 'stalled')?.transient).toBe(false);
    expect(graph.states.filter((s) => s.type === 'final').map((s) => s.id)).toEqual(
      expect.arrayContaining(['completed', 'failed', 'cancelled']),
    );

    const deposit = exportMachine('deposit').graph;
    expect(deposit.transitions).toContainEqual(
      expect.objectContaining({ source: null, event: 'OFFER_CLOSED', guard: 'closedAs(rejected)', target: 'rejected' }),
    );
    expect(deposit.transitions).toContainEqual(
      expect.objectContaining({ source: 'acceptFailed', event: 'RETRY_ACCEPT', operator: true, target: 'accepting' }),
    );
  });

  it('Mermaid: nested states by their whole path, the any-state pseudo-state, self and targetless transitions as labelled loops', () => {
    const text = toMermaid(exportMachine('withdrawal'));
    const lines = text.split('\n');
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines).toContain('  [*] --> requested');
    expect(lines).toContain('  state preparing {');
    expect(lines).toContain('    state "fetchingFactory" as preparing_fetchingFactory');
    expect(lines).toContain('  stalled --> releasing : RETRY');
    expect(lines).toContain('  anyState --> releasing : ATTEMPT_EXPIRED [expiresCurrentAttempt]');
    expect(lines).toContain('  reserveBackoff --> reserveBackoff : RESUME (re-entered)');
    expect(lines).toContain('  reserving --> reserving : CANCEL [noStopRequested] (no state change)');
    // A description line (`state : text`) would replace the state's name in the rendered box.
    expect(lines.filter((l) => / : /.test(l) && !l.includes('-->'))).toEqual([]);
    expect(lines).toContain('  completed --> [*]');
    // Every arrow joins declared states (or the start/end markers).
    const declared = new Set(
      exportMachine('withdrawal')
        .graph.states.map((s) => s.id.replace(/\./g, '_'))
        .concat('anyState', '[*]'),
    );
    for (const l of lines.filter((x) => x.includes('-->'))) {
      const [a, rest] = l.trim().split(' --> ');
      expect(declared.has(a!), l).toBe(true);
      expect(declared.has(rest!.split(' : ')[0]!), l).toBe(true);
    }
  });
});

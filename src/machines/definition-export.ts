import type { AnyStateMachine } from 'xstate';
import { DEPOSIT_MACHINE_VERSION, DepositOperatorCommand, depositMachine } from './deposit.machine.js';
import { isMachineType, type MachineTypeName } from './machine-types.js';
import { WITHDRAWAL_MACHINE_VERSION, WithdrawalOperatorCommand, withdrawalMachine } from './withdrawal.machine.js';

/**
 * The machine definitions as data, read from the XState machines themselves (never a hand-drawn
 * copy): an XState config in JSON that Stately Studio and `createMachine` accept, a flat graph the
 * console draws, and a Mermaid state diagram for documentation (src/machines/README.md is
 * generated from it: `npm run docs:machines`). Read-only: nothing here changes a machine.
 *
 * Implementations are not data: a named guard or action keeps its name, an inline one is called
 * "inline" (an inline assign "xstate.assign"), a combined guard is written `a && b`.
 */

export { MACHINE_TYPES, isMachineType, type MachineTypeName } from './machine-types.js';

/** The operator commands each machine takes (the routes of src/http/routes/operator.ts send them). */
export const OPERATOR_EVENTS: Record<MachineTypeName, readonly string[]> = {
  withdrawal: commandTypes(WithdrawalOperatorCommand),
  deposit: commandTypes(DepositOperatorCommand),
};

function commandTypes(union: { options: readonly { shape: { type: { value: string } } }[] }): string[] {
  return union.options.map((o) => o.shape.type.value);
}

const MACHINES: Record<MachineTypeName, { machine: AnyStateMachine; version: number }> = {
  withdrawal: { machine: withdrawalMachine, version: WITHDRAWAL_MACHINE_VERSION },
  deposit: { machine: depositMachine, version: DEPOSIT_MACHINE_VERSION },
};

/** The XState machine of a type (its effects not provided: for reading, never for running). */
export const machineOf = (type: MachineTypeName): AnyStateMachine => MACHINES[type].machine;

export type Guard = string | { type: string; params?: unknown };

/** One transition of the XState config: targets are absolute state ids (`#withdrawal.reserving`). */
export interface ConfigTransition {
  target?: string[];
  guard?: Guard;
  actions?: string[];
  reenter?: true;
}

/** The XState machine config (JSON): `createMachine(config)` gives the same states and transitions. */
export interface StateConfig {
  id?: string;
  type?: 'final' | 'parallel' | 'history';
  initial?: string;
  entry?: string[];
  invoke?: { id: string; src: string; onDone?: ConfigTransition[]; onError?: ConfigTransition[] }[];
  on?: Record<string, ConfigTransition[]>;
  after?: Record<string, ConfigTransition[]>;
  always?: ConfigTransition[];
  states?: Record<string, StateConfig>;
}

export interface GraphState {
  /** The state's path below the machine, dotted: `preparing.fetchingFactory` (as state values name it). */
  id: string;
  key: string;
  /** The enclosing state's id; null at the top level. */
  parent: string | null;
  type: 'atomic' | 'compound' | 'final' | 'parallel' | 'history';
  /** A compound state's initial child (its id). */
  initial: string | null;
  /** Only routes on at once (always transitions): never persisted as a machine's state. */
  transient: boolean;
  /** The effects (invoked actors) running while in this state. */
  invokes: string[];
}

export interface GraphTransition {
  /** The state it leaves; null for the machine's own transitions, taken from any state. */
  source: string | null;
  /** null: a transition without a target (its actions only, or a request recorded for later). */
  target: string | null;
  kind: 'event' | 'done' | 'error' | 'after' | 'always';
  /** The XState event type ('' for always). */
  event: string;
  /** How a person names the trigger: `RETRY`, `reserveHoldings done`, `after untilRetryAt`, `always`. */
  trigger: string;
  guard: string | null;
  reenter: boolean;
  /** An operator command (RETRY, CANCEL…). */
  operator: boolean;
}

export interface MachineExport {
  type: MachineTypeName;
  /** The machine version persisted snapshots carry (the runtime refuses others). */
  version: number;
  /** The XState machine id: state ids in the config are `#<id>.<path>`. */
  id: string;
  config: StateConfig;
  graph: { states: GraphState[]; transitions: GraphTransition[] };
}

// ---------------------------------------------------------------- reading XState's state nodes

/** The parts of an XState v5 StateNode this module reads (they are public, but typed loosely). */
interface NodeLike {
  key: string;
  id: string;
  path: string[];
  type: GraphState['type'];
  states: Record<string, NodeLike>;
  on: Record<string, TransitionLike[]>;
  always?: TransitionLike[];
  initial?: { target: { id: string }[] };
  invoke: { id: string; src: unknown }[];
  entry: unknown[];
}

interface TransitionLike {
  target?: { id: string }[];
  guard?: unknown;
  actions: unknown[];
  reenter: boolean;
  eventType: string;
  delay?: unknown;
}

const DONE = 'xstate.done.actor.';
const ERROR = 'xstate.error.actor.';
const AFTER = 'xstate.after.';
/** What XState adds for its own bookkeeping (delayed events): not part of the definition. */
const INTERNAL_ACTIONS = new Set(['xstate.raise', 'xstate.cancel']);

function guardOf(g: unknown): Guard | undefined {
  if (g === undefined || g === null) return undefined;
  if (typeof g === 'string') return g;
  if (typeof g === 'function') {
    const combined = (g as { guards?: unknown[] }).guards;
    if (Array.isArray(combined)) {
      const parts = combined.map((x) => guardText(guardOf(x) ?? 'inline'));
      if (g.name === 'not') return `!${parts[0] ?? ''}`;
      return parts.join(g.name === 'or' ? ' || ' : ' && ');
    }
    return 'inline';
  }
  if (typeof g === 'object' && typeof (g as { type?: unknown }).type === 'string') {
    const { type, params } = g as { type: string; params?: unknown };
    return params === undefined || typeof params === 'function' ? { type } : { type, params };
  }
  return 'inline';
}

export function guardText(g: Guard): string {
  if (typeof g === 'string') return g;
  return g.params === undefined ? g.type : `${g.type}(${typeof g.params === 'string' ? g.params : JSON.stringify(g.params)})`;
}

function actionName(a: unknown): string | undefined {
  if (typeof a === 'string') return a;
  const type = (a as { type?: unknown } | null)?.type;
  if (typeof type === 'string') return INTERNAL_ACTIONS.has(type) ? undefined : type;
  return 'inline';
}

const actionsOf = (list: readonly unknown[]) => list.map(actionName).filter((a): a is string => a !== undefined);

/** `withdrawal.preparing.fetchingFactory` → `preparing.fetchingFactory` */
const pathOf = (node: NodeLike) => node.path.join('.');

function configTransition(t: TransitionLike): ConfigTransition {
  const out: ConfigTransition = {};
  if (t.target && t.target.length > 0) out.target = t.target.map((n) => `#${n.id}`);
  const guard = guardOf(t.guard);
  if (guard !== undefined) out.guard = guard;
  const actions = actionsOf(t.actions);
  if (actions.length > 0) out.actions = actions;
  if (t.reenter) out.reenter = true;
  return out;
}

function srcName(src: unknown): string {
  if (typeof src === 'string') return src;
  const id = (src as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : 'inline';
}

function stateConfig(node: NodeLike, root: boolean): StateConfig {
  const config: StateConfig = {};
  if (root) config.id = node.id;
  if (node.type === 'final' || node.type === 'parallel' || node.type === 'history') config.type = node.type;
  const initial = node.initial?.target[0];
  if (node.type === 'compound' && initial) config.initial = initial.id.split('.').at(-1)!;
  const entry = actionsOf(node.entry);
  if (entry.length > 0) config.entry = entry;
  if (node.invoke.length > 0) {
    config.invoke = node.invoke.map((inv) => {
      const onDone = node.on[`${DONE}${inv.id}`];
      const onError = node.on[`${ERROR}${inv.id}`];
      return {
        id: inv.id,
        src: srcName(inv.src),
        ...(onDone ? { onDone: onDone.map(configTransition) } : {}),
        ...(onError ? { onError: onError.map(configTransition) } : {}),
      };
    });
  }
  const on: Record<string, ConfigTransition[]> = {};
  const after: Record<string, ConfigTransition[]> = {};
  for (const [event, ts] of Object.entries(node.on)) {
    if (event.startsWith(DONE) || event.startsWith(ERROR)) continue;
    if (event.startsWith(AFTER)) {
      for (const t of ts) (after[String(t.delay)] ??= []).push(configTransition(t));
      continue;
    }
    on[event] = ts.map(configTransition);
  }
  if (Object.keys(on).length > 0) config.on = on;
  if (Object.keys(after).length > 0) config.after = after;
  if (node.always && node.always.length > 0) config.always = node.always.map(configTransition);
  const children = Object.values(node.states);
  if (children.length > 0) config.states = Object.fromEntries(children.map((c) => [c.key, stateConfig(c, false)]));
  return config;
}

function graphOf(type: MachineTypeName, root: NodeLike): MachineExport['graph'] {
  const operatorEvents = new Set(OPERATOR_EVENTS[type]);
  const states: GraphState[] = [];
  const transitions: GraphTransition[] = [];
  const idOf = (nodeId: string) => nodeId.split('.').slice(1).join('.');

  const edge = (source: string | null, t: TransitionLike, kind: GraphTransition['kind'], trigger: string) => {
    const guard = guardOf(t.guard);
    const targets = t.target && t.target.length > 0 ? t.target.map((n) => idOf(n.id)) : [null];
    for (const target of targets) {
      transitions.push({
        source,
        target,
        kind,
        event: t.eventType,
        trigger,
        guard: guard === undefined ? null : guardText(guard),
        reenter: t.reenter,
        operator: operatorEvents.has(t.eventType),
      });
    }
  };
  const transitionsOf = (node: NodeLike, source: string | null) => {
    const invokeSrc = new Map(node.invoke.map((i) => [i.id, i.id]));
    for (const [event, ts] of Object.entries(node.on)) {
      for (const t of ts) {
        if (event.startsWith(DONE)) edge(source, t, 'done', `${invokeSrc.get(event.slice(DONE.length)) ?? event.slice(DONE.length)} done`);
        else if (event.startsWith(ERROR))
          edge(source, t, 'error', `${invokeSrc.get(event.slice(ERROR.length)) ?? event.slice(ERROR.length)} error`);
        else if (event.startsWith(AFTER)) edge(source, t, 'after', `after ${String(t.delay)}`);
        else edge(source, t, 'event', event);
      }
    }
    for (const t of node.always ?? []) edge(source, t, 'always', 'always');
  };

  const visit = (node: NodeLike, parent: string | null) => {
    const id = pathOf(node);
    const always = node.always ?? [];
    const initial = node.initial?.target[0];
    states.push({
      id,
      key: node.key,
      parent,
      type: node.type,
      initial: node.type === 'compound' && initial ? idOf(initial.id) : null,
      transient: always.length > 0 && Object.keys(node.on).length === 0 && node.invoke.length === 0,
      invokes: node.invoke.map((i) => srcName(i.src)),
    });
    transitionsOf(node, id);
    for (const child of Object.values(node.states)) visit(child, id);
  };
  transitionsOf(root, null);
  for (const child of Object.values(root.states)) visit(child, null);
  return { states, transitions };
}

/** The definition of one machine type, read from the machine. */
export function exportMachine(type: MachineTypeName): MachineExport {
  const { machine, version } = MACHINES[type];
  return exportStateMachine(type, machine, version);
}

/** Any machine read the same way (tests re-read a machine created from an exported config). */
export function exportStateMachine(type: MachineTypeName, machine: AnyStateMachine, version: number): MachineExport {
  const root = machine.root as unknown as NodeLike;
  return { type, version, id: root.id, config: stateConfig(root, true), graph: graphOf(type, root) };
}

// ---------------------------------------------------------------- Mermaid

/** Mermaid ids must be unique across the diagram: nested states are named by their whole path. */
const mermaidId = (stateId: string) => stateId.replace(/\./g, '_');
/** The pseudo-state the machine's own transitions (taken from any state) start from. */
const ANY_STATE = 'anyState';

function mermaidLabel(t: GraphTransition): string {
  const text = t.guard ? `${t.trigger} [${t.guard}]` : t.trigger;
  // Mermaid reads `;` and `#` specially in labels; neither occurs in state or guard names.
  return text.replace(/[;#]/g, ' ');
}

/**
 * A Mermaid `stateDiagram-v2`: compound states nest, the machine's own transitions start from an
 * "any state" pseudo-state, and transitions without a target or back to their own state (a request
 * recorded for later, RESUME re-entering a timer state) are loops labelled as such. (A state's
 * description line would replace its name in the rendered box.)
 */
export function toMermaid(e: MachineExport): string {
  const { states, transitions } = e.graph;
  const lines: string[] = ['stateDiagram-v2'];
  const childrenOf = (parent: string | null) => states.filter((s) => s.parent === parent);
  const rootInitial = (e.config.initial ?? '').length > 0 ? e.config.initial! : null;

  const declare = (s: GraphState, indent: string) => {
    const id = mermaidId(s.id);
    const children = childrenOf(s.id);
    if (s.id.includes('.')) lines.push(`${indent}state "${s.key}" as ${id}`);
    if (children.length > 0) {
      lines.push(`${indent}state ${id} {`);
      if (s.initial) lines.push(`${indent}  [*] --> ${mermaidId(s.initial)}`);
      for (const c of children) declare(c, `${indent}  `);
      lines.push(`${indent}}`);
    }
    if (s.type === 'final') lines.push(`${indent}${id} --> [*]`);
  };
  if (rootInitial) lines.push(`  [*] --> ${mermaidId(rootInitial)}`);
  for (const s of childrenOf(null)) declare(s, '  ');
  if (transitions.some((t) => t.source === null)) lines.push(`  state "any state" as ${ANY_STATE}`);
  for (const t of transitions) {
    if (t.source === null && t.target === null) continue;
    const from = t.source === null ? ANY_STATE : mermaidId(t.source);
    // A transition without a target stays in its state (its actions only): drawn as a loop, said so.
    const note = t.target === null ? ' (no state change)' : t.target === t.source ? ' (re-entered)' : '';
    lines.push(`  ${from} --> ${mermaidId(t.target ?? t.source!)} : ${mermaidLabel(t)}${note}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- src/machines/README.md

const DOCS_BLOCK = /<!-- machine-diagram (\w+) -->\n[\s\S]*?<!-- \/machine-diagram -->/g;

/**
 * The README with each `<!-- machine-diagram <type> -->` … `<!-- /machine-diagram -->` block
 * holding the Mermaid diagram of that type as the code defines it (`npm run docs:machines` writes
 * it; a test fails while the README differs).
 */
export function renderMachineDocs(readme: string): string {
  return readme.replace(DOCS_BLOCK, (_block, type: string) => {
    if (!isMachineType(type)) throw new Error(`README names an unknown machine type "${type}"`);
    const e = exportMachine(type);
    return [
      `<!-- machine-diagram ${type} -->`,
      `<!-- Generated from ${type}.machine.ts (version ${e.version}) by \`npm run docs:machines\`: edit the machine, not this block. -->`,
      '```mermaid',
      toMermaid(e).trimEnd(),
      '```',
      '<!-- /machine-diagram -->',
    ].join('\n');
  });
}

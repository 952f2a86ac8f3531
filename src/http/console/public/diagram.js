// A machine's state diagram drawn from its definition (GET /v1/machines/{type}/definition):
// ELK lays the states out (compound states nest), this draws the SVG, and a withdrawal's or
// deposit's transition history marks the path it took, how long it spent in each state and where
// it is now.

import { s } from './dom.js';
import { duration, stateName } from './format.js';

/** The pseudo-state the machine's own transitions (taken in any state) start from. */
const ANY = '__any';
const CHAR_W = 7;
const LINE_H = 12;

/**
 * @typedef {{
 *   id: string; key: string; parent: string | null; type: string; initial: string | null; transient: boolean; invokes: string[]
 * }} GraphState
 * @typedef {{
 *   source: string | null; target: string | null; kind: string; event: string; trigger: string; guard: string | null;
 *   reenter: boolean; operator: boolean
 * }} GraphTransition
 * @typedef {{
 *   type: string; version: number; id: string; config: { initial?: string };
 *   graph: { states: GraphState[]; transitions: GraphTransition[] }
 * }} Definition
 * @typedef {{ seq: number; eventType: string; from: unknown; to: unknown; at: string }} HistoryEntry
 */

/** Drawn edges: the transitions between one pair of states, merged. @param {Definition} def */
function edgesOf(def) {
  /** @type {Map<string, { source: string; target: string; lines: string[]; triggers: string[]; operator: boolean }>} */
  const edges = new Map();
  for (const t of def.graph.transitions) {
    if (t.target === null || t.target === t.source) continue;
    const source = t.source ?? ANY;
    const key = `${source}→${t.target}`;
    const e = edges.get(key) ?? { source, target: t.target, lines: [], triggers: [], operator: false };
    // Drawn: the triggers; the guards, which decide between edges of one trigger, are in the tooltip.
    const line = t.guard ? `${t.trigger} [${t.guard}]` : t.trigger;
    if (!e.lines.includes(line)) e.lines.push(line);
    if (!e.triggers.includes(t.trigger)) e.triggers.push(t.trigger);
    e.operator ||= t.operator;
    edges.set(key, e);
  }
  return edges;
}

/** @type {Map<string, Promise<any>>} layouts by machine type and version: the definition is code */
const layouts = new Map();

/** @param {Definition} def */
function layout(def) {
  const cacheKey = `${def.type}@${def.version}`;
  const cached = layouts.get(cacheKey);
  if (cached) return cached;
  /** @type {Map<string, any>} */
  const nodes = new Map();
  const root = {
    id: '__root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '3',
      'elk.spacing.edgeNode': '14',
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      'elk.json.edgeCoords': 'ROOT',
      'elk.json.shapeCoords': 'ROOT',
    },
    children: /** @type {any[]} */ ([]),
    edges: /** @type {any[]} */ ([]),
  };
  const hasChildren = new Set(def.graph.states.map((st) => st.parent).filter(Boolean));
  for (const st of def.graph.states) {
    const n = hasChildren.has(st.id)
      ? { id: st.id, children: [], layoutOptions: { 'elk.padding': '[top=30,left=14,bottom=14,right=14]' } }
      : { id: st.id, width: Math.max(84, st.key.length * CHAR_W + 28), height: st.transient ? 28 : 40 };
    nodes.set(st.id, n);
  }
  for (const st of def.graph.states) (st.parent ? nodes.get(st.parent).children : root.children).push(nodes.get(st.id));
  if (def.graph.transitions.some((t) => t.source === null)) root.children.unshift({ id: ANY, width: 96, height: 28 });
  let i = 0;
  for (const e of edgesOf(def).values()) {
    const width = Math.max(...e.triggers.map((l) => l.length)) * 5.4 + 4;
    root.edges.push({
      id: `e${i++}`,
      sources: [e.source],
      targets: [e.target],
      labels: [{ text: e.triggers.join('\n'), width, height: e.triggers.length * LINE_H }],
    });
  }
  // The ELK global comes from elk.js (elkjs' bundle, served beside this file): layout on this thread.
  const elk = new /** @type {any} */ (globalThis).ELK();
  const done = elk.layout(root);
  layouts.set(cacheKey, done);
  return done;
}

/**
 * Where a history went through the machine: states entered (transient routing states included),
 * edges taken, and the time spent in each state entered.
 * @param {Definition} def
 * @param {HistoryEntry[]} history oldest first
 * @param {number} now
 */
export function pathThrough(def, history, now) {
  const byId = new Map(def.graph.states.map((st) => [st.id, st]));
  /** @param {string} state @param {string} ancestor */
  const within = (state, ancestor) => {
    for (let at = /** @type {string | null | undefined} */ (state); at; at = byId.get(at)?.parent) if (at === ancestor) return true;
    return false;
  };
  const visited = new Set();
  const taken = new Set();
  /** @param {string} id */
  const enter = (id) => {
    for (let at = /** @type {string | null | undefined} */ (id); at; at = byId.get(at)?.parent) visited.add(at);
  };
  /** @param {GraphTransition} t */
  const take = (t) => taken.add(`${t.source ?? ANY}→${t.target}`);
  /**
   * Candidates that lead into `to`, directly or through a transient routing state.
   * @param {GraphTransition[]} candidates @param {string} to
   */
  const follow = (candidates, to) => {
    for (const t of candidates) {
      if (t.target === null) continue;
      if (within(to, t.target)) {
        take(t);
        continue;
      }
      if (!byId.get(t.target)?.transient) continue;
      const onward = def.graph.transitions.filter(
        (x) => x.kind === 'always' && x.source === t.target && x.target !== null && within(to, x.target),
      );
      if (onward.length === 0) continue;
      take(t);
      enter(t.target);
      onward.forEach(take);
    }
  };
  /** @type {{ state: string; event: string; at: string; ms: number; current: boolean }[]} */
  const stays = [];
  history.forEach((h, i) => {
    const from = stateName(h.from);
    const to = stateName(h.to);
    if (!from) {
      // Creation: the machine starts in its initial state, which may route on at once.
      const initial = def.config.initial;
      if (initial) {
        enter(initial);
        if (initial !== to)
          follow(
            def.graph.transitions.filter((t) => t.source === initial && t.kind === 'always'),
            to,
          );
      }
    } else if (from !== to || h.eventType !== '') {
      follow(
        def.graph.transitions.filter((t) => t.event === h.eventType && (t.source === null || within(from, t.source))),
        to,
      );
    }
    enter(to);
    const next = history[i + 1];
    const left = next ? Date.parse(next.at) : null;
    stays.push({ state: to, event: h.eventType, at: h.at, ms: (left ?? now) - Date.parse(h.at), current: next === undefined });
  });
  /** @type {Map<string, number>} */
  const timeIn = new Map();
  for (const st of stays) timeIn.set(st.state, (timeIn.get(st.state) ?? 0) + st.ms);
  return { visited, taken, stays, timeIn };
}

/**
 * The diagram as SVG; `current` (a state path) and `path` (pathThrough) mark a machine in it.
 * @param {Definition} def
 * @param {{ current?: string | null; path?: ReturnType<typeof pathThrough> }} [mark]
 * @returns {Promise<SVGElement>}
 */
export async function drawMachine(def, mark = {}) {
  const g = await layout(def);
  const byId = new Map(def.graph.states.map((st) => [st.id, st]));
  const edges = [...edgesOf(def).values()];
  /** @type {any[]} */
  const placed = [];
  /** @param {any} n @param {number} depth */
  const collect = (n, depth) => {
    for (const c of n.children ?? []) {
      placed.push({ ...c, depth });
      collect(c, depth + 1);
    }
  };
  collect(g, 0);
  const arrow = `arrow-${def.type}`;
  const arrowTaken = `arrow-taken-${def.type}`;
  const current = mark.current ?? null;
  const path = mark.path;

  const stateGroup = (/** @type {any} */ n) => {
    if (n.id === ANY) {
      return s(
        'g',
        { class: 'state any', 'data-state': 'any state' },
        s('rect', { x: n.x, y: n.y, width: n.width, height: n.height, rx: 14 }),
        s('text', { x: n.x + n.width / 2, y: n.y + n.height / 2 + 4, 'text-anchor': 'middle' }, 'any state'),
      );
    }
    const st = byId.get(n.id);
    if (!st) return null;
    const compound = (n.children ?? []).length > 0;
    const classes = ['state', compound ? 'compound' : 'atomic', st.type === 'final' ? 'final' : '', st.transient ? 'transient' : ''];
    if (path?.visited.has(st.id)) classes.push('visited');
    if (current && (current === st.id || current.startsWith(`${st.id}.`))) classes.push(current === st.id ? 'current' : 'current-parent');
    const time = path?.timeIn.get(st.id);
    const title = [
      st.id,
      st.invokes.length > 0 ? `runs ${st.invokes.join(', ')}` : '',
      st.transient ? 'routes on at once (never a stored state)' : '',
      time !== undefined ? `time in state: ${duration(time)}` : '',
    ]
      .filter(Boolean)
      .join('\n');
    const label = compound
      ? s('text', { x: n.x + 10, y: n.y + 18, class: 'label' }, st.key)
      : s('text', { x: n.x + n.width / 2, y: n.y + (st.transient ? 18 : 17), 'text-anchor': 'middle', class: 'label' }, st.key);
    return s(
      'g',
      { class: classes.filter(Boolean).join(' '), 'data-state': st.id },
      s('title', {}, title),
      s('rect', { x: n.x, y: n.y, width: n.width, height: n.height, rx: st.transient ? 14 : 6 }),
      st.type === 'final' ? s('rect', { class: 'inner', x: n.x + 3, y: n.y + 3, width: n.width - 6, height: n.height - 6, rx: 4 }) : null,
      label,
      !compound && time !== undefined && !st.transient
        ? s('text', { x: n.x + n.width / 2, y: n.y + 31, 'text-anchor': 'middle', class: 'time' }, duration(time))
        : null,
    );
  };

  const edgeGroup = (/** @type {any} */ e, /** @type {number} */ i) => {
    const drawn = edges[i];
    const key = `${drawn.source}→${drawn.target}`;
    const isTaken = path?.taken.has(key) ?? false;
    const paths = (e.sections ?? []).map((/** @type {any} */ sec) => {
      const pts = [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint];
      return s('path', {
        d: pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' '),
        'marker-end': `url(#${isTaken ? arrowTaken : arrow})`,
      });
    });
    const labels = (e.labels ?? []).map((/** @type {any} */ l) =>
      s(
        'text',
        { x: l.x, y: l.y + 9, class: 'edge-label' },
        ...String(l.text)
          .split('\n')
          .map((line, j) => s('tspan', { x: l.x, dy: j === 0 ? 0 : LINE_H }, line)),
      ),
    );
    const title = s('title', {}, `${drawn.source === ANY ? 'any state' : drawn.source} → ${drawn.target}\n${drawn.lines.join('\n')}`);
    return s(
      'g',
      { class: ['edge', isTaken ? 'taken' : '', drawn.operator ? 'operator' : ''].filter(Boolean).join(' '), 'data-edge': key },
      title,
      ...paths,
      ...labels,
    );
  };

  const width = Math.ceil(g.width ?? 800);
  const height = Math.ceil(g.height ?? 600);
  const marker = (/** @type {string} */ id, /** @type {string} */ cls) =>
    s(
      'marker',
      { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse', class: cls },
      s('path', { d: 'M0,0 L10,5 L0,10 z' }),
    );
  return s(
    'svg',
    { class: 'machine', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `${def.type} machine` },
    s('defs', {}, marker(arrow, 'arrowhead'), marker(arrowTaken, 'arrowhead taken')),
    ...placed
      .filter((n) => (n.children ?? []).length > 0)
      .sort((a, b) => a.depth - b.depth)
      .map(stateGroup),
    ...(g.edges ?? []).map(edgeGroup),
    ...placed.filter((n) => (n.children ?? []).length === 0).map(stateGroup),
  );
}

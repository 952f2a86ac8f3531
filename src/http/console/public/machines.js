// The machine definitions themselves: both diagrams, and their Mermaid text for documentation.

import { h, put } from './dom.js';
import { drawMachine } from './diagram.js';
import { definitionOf } from './machine-panel.js';
import { failure, panel } from './ui.js';

/** @param {HTMLElement} main */
export function machinesView(main) {
  const sections = ['withdrawal', 'deposit'].map((type) => {
    const figure = h('div', { class: 'diagram', 'data-testid': `diagram-${type}` });
    const mermaid = h('pre', { class: 'mermaid-text' });
    void definitionOf(type).then(
      async (def) => {
        put(figure, await drawMachine(def));
        put(mermaid, def.mermaid);
      },
      (e) => put(figure, failure(e)),
    );
    return panel(`The ${type} machine`, figure, h('details', {}, h('summary', {}, 'Mermaid (for documentation)'), mermaid));
  });
  put(
    main,
    h('h1', {}, 'Machines'),
    h(
      'p',
      { class: 'muted' },
      'Drawn from the definitions the daemon runs (GET /v1/machines/{type}/definition; `cxi machines export` prints them as XState JSON for Stately Studio, or Mermaid).',
    ),
    ...sections,
  );
  return { refresh: async () => {}, relevant: () => false };
}

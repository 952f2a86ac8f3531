// What a withdrawal's and a deposit's page share: the machine's diagram with the path taken, time
// per state, the transition history, and the operator commands the machine accepts now as buttons.

import { api, ApiError } from './api.js';
import { drawMachine, pathThrough } from './diagram.js';
import { h, put } from './dom.js';
import { duration, stateName, time } from './format.js';
import { failure, panel, table } from './ui.js';

/** @type {Map<string, Promise<any>>} */
const definitions = new Map();

/** The machine definition of a type, read once per page load. @param {string} type */
export function definitionOf(type) {
  let d = definitions.get(type);
  if (!d) {
    d = api('GET', `/v1/machines/${type}/definition`);
    d.catch(() => definitions.delete(type));
    definitions.set(type, d);
  }
  return d;
}

/**
 * The operator commands, as buttons: the machine says which it accepts now; pressing one sends it
 * to the operator route (admin scope) and shows the answer, accepted or refused, as it came.
 * @param {string} commandsPath GET …/commands
 * @param {() => void} changed called after a command was accepted
 */
export function commandsPanel(commandsPath, changed) {
  const buttons = h('div', { class: 'commands' });
  const answer = h('div', { class: 'answer', 'data-testid': 'command-answer', 'aria-live': 'polite' });
  const form = h('div', { class: 'command-form' });
  let shown = '';

  /** @param {any} c @param {string} [input] */
  const send = async (c, input) => {
    put(answer, h('p', { class: 'muted' }, `sending ${c.command}…`));
    const body = c.body === 'reason' ? { reason: input } : c.body === 'account' ? { account: input } : {};
    try {
      const r = await api('POST', c.path, body);
      put(answer, h('p', { class: 'accepted' }, `${c.command} accepted: the machine is now in ${r.machineState} (by ${r.by}).`));
      put(form);
      changed();
    } catch (e) {
      put(
        answer,
        e instanceof ApiError ? h('p', { class: 'refused' }, `${c.command} refused (${e.status} ${e.code}): ${e.message}`) : failure(e),
      );
    }
  };

  /** @param {any} c */
  const ask = (c) => {
    if (c.body === 'none') return void send(c);
    const what = c.body === 'reason' ? 'Reason (kept in the history and the outcome event)' : 'Deposit account id';
    const input = h('input', {
      type: 'text',
      name: c.body,
      required: true,
      maxlength: c.body === 'reason' ? 500 : 128,
      'aria-label': what,
      placeholder: what,
    });
    put(
      form,
      h(
        'form',
        {
          onsubmit: (/** @type {Event} */ ev) => {
            ev.preventDefault();
            void send(c, /** @type {HTMLInputElement} */ (input).value.trim());
          },
        },
        h('label', {}, `${c.command}: `, input),
        h('button', { type: 'submit' }, `Send ${c.command}`),
        h('button', { type: 'button', onclick: () => put(form) }, 'Close'),
      ),
    );
    /** @type {HTMLInputElement} */ (input).focus();
  };

  const refresh = async () => {
    let view;
    try {
      view = await api('GET', commandsPath);
    } catch (e) {
      put(buttons, failure(e));
      shown = '';
      return;
    }
    const key = JSON.stringify(view);
    if (key === shown) return;
    shown = key;
    put(
      buttons,
      view.commands.map((/** @type {any} */ c) =>
        h(
          'div',
          { class: 'command' },
          h(
            'button',
            {
              type: 'button',
              disabled: !c.allowed,
              'data-command': c.command,
              title: c.reason ?? `${c.method} ${c.path}`,
              onclick: () => ask(c),
            },
            c.command,
          ),
          c.allowed
            ? h('span', { class: 'muted' }, c.body === 'none' ? 'accepted in this state' : `accepted in this state; needs a ${c.body}`)
            : h('span', { class: 'muted' }, c.reason),
        ),
      ),
    );
  };
  return { el: panel('Operator commands (admin scope)', buttons, form, answer), refresh };
}

/**
 * The diagram with the machine's path, and the time it spent in each state.
 * @param {string} type
 */
export function machinePanel(type) {
  const figure = h('div', { class: 'diagram', 'data-testid': 'diagram' });
  const stays = h('div');
  const transitions = h('div');
  let drawnFor = '';

  /** @param {any[]} history @param {string | null} current @param {boolean} final */
  const refresh = async (history, current, final) => {
    const def = await definitionOf(type);
    const now = Date.now();
    const path = pathThrough(def, history, now);
    const key = JSON.stringify([history.length, current, final, Math.floor(now / 1000)]);
    if (key !== drawnFor) {
      drawnFor = key;
      put(figure, await drawMachine(def, { current, path }));
    }
    put(
      stays,
      table(
        [
          { header: 'state', cell: (/** @type {any} */ r) => h('code', {}, r.state) },
          { header: 'entered', cell: (r) => time(r.at) },
          { header: 'time in state', cell: (r) => (r.current && !final ? `${duration(r.ms)} so far` : duration(r.ms)) },
          { header: 'by', cell: (r) => h('code', {}, r.event) },
        ],
        path.stays,
        'no transitions yet',
      ),
    );
    put(
      transitions,
      table(
        [
          { header: '#', cell: (/** @type {any} */ t) => t.seq },
          { header: 'event', cell: (t) => h('code', {}, t.eventType) },
          { header: 'from', cell: (t) => stateName(t.from) || '(created)' },
          { header: 'to', cell: (t) => stateName(t.to) },
          { header: 'at', cell: (t) => time(t.at) },
        ],
        history,
      ),
    );
  };
  return {
    el: [
      panel(
        `The ${type} machine`,
        h(
          'p',
          { class: 'muted legend' },
          'Blue: the state it is in. Green: states and transitions it went through. Dashed: operator commands; rounded dashed: routing states (never stored).',
        ),
        figure,
      ),
      panel('Time per state', stays),
      panel('Transition history', transitions),
    ],
    refresh,
  };
}

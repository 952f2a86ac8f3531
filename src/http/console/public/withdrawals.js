/* eslint-disable no-undef -- browser globals: tsc checks every name against the DOM (tsconfig.console.json) */
// Withdrawals: the list (the API's filters, those needing an operator first) and a page per
// withdrawal; requesting one (write scope) for a sandbox or an operator paying by hand.

import { api, query } from './api.js';
import { h, put } from './dom.js';
import { amount, short, stateName, time } from './format.js';
import { commandsPanel, machinePanel } from './machine-panel.js';
import { badge, facts, failure, link, panel, table } from './ui.js';

const STATUSES = [
  'requested',
  'reserving',
  'waiting_for_funds',
  'preparing',
  'signing',
  'executing',
  'awaiting_ledger',
  'retrying',
  'failing',
  'stalling',
  'cancelling',
  'stalled',
  'pending_acceptance',
  'completed',
  'failed',
  'cancelled',
  'recovered',
];
const ATTENTION = ['stalled', 'waiting_for_funds'];

const columns = [
  { header: 'withdrawal', cell: (/** @type {any} */ w) => link('withdrawals', w.withdrawalId) },
  { header: 'status', cell: (w) => badge(w.status) },
  { header: 'reason', cell: (w) => w.statusReason, class: 'reason' },
  { header: 'amount', cell: (w) => amount(w.amount), class: 'num' },
  { header: 'instrument', cell: (w) => h('span', { title: `${w.instrument.admin}/${w.instrument.id}` }, w.instrument.id) },
  { header: 'account', cell: (w) => w.account },
  { header: 'receiver', cell: (w) => h('span', { title: w.receiver }, short(w.receiver)) },
  { header: 'attempt', cell: (w) => w.attempt, class: 'num' },
  { header: 'requested', cell: (w) => time(w.requestedAt) },
];

/** @param {HTMLElement} main @param {URLSearchParams} params */
export function withdrawalList(main, params) {
  const filters = {
    status: params.get('status') ?? '',
    account: params.get('account') ?? '',
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
  };
  const attention = h('div', { 'data-testid': 'needs-operator' });
  const results = h('div', { 'data-testid': 'withdrawal-list' });
  let extra = /** @type {any[]} */ ([]);
  let cursor = /** @type {string | null} */ (null);

  const field = (/** @type {string} */ name, /** @type {string} */ label, /** @type {Record<string, unknown>} */ attrs = {}) =>
    h('label', {}, label, h('input', { name, value: /** @type {any} */ (filters)[name], ...attrs }));
  const filterForm = h(
    'form',
    {
      class: 'filters',
      onsubmit: (/** @type {Event} */ ev) => {
        ev.preventDefault();
        const data = new FormData(/** @type {HTMLFormElement} */ (ev.target));
        location.hash = `#/withdrawals${query(Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()])))}`;
      },
    },
    h('label', {}, 'status', h('input', { name: 'status', value: filters.status, list: 'withdrawal-statuses' })),
    h(
      'datalist',
      { id: 'withdrawal-statuses' },
      STATUSES.map((st) => h('option', { value: st })),
    ),
    field('account', 'account'),
    field('from', 'requested from', { placeholder: '2025-01-01T00:00:00Z' }),
    field('to', 'before', { placeholder: '2025-02-01T00:00:00Z' }),
    h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: '#/withdrawals', class: 'button' }, 'Clear'),
  );

  const refresh = async () => {
    try {
      const groups = await Promise.all(ATTENTION.map((status) => api('GET', `/v1/withdrawals${query({ status, limit: 50 })}`)));
      const rows = groups.flatMap((g) => g.items);
      put(attention, rows.length === 0 ? h('p', { class: 'muted empty' }, 'Nothing needs an operator.') : table(columns, rows));
      const page = await api('GET', `/v1/withdrawals${query({ ...filters, limit: 50 })}`);
      cursor = page.nextCursor;
      put(results, table(columns, [...page.items, ...extra]), cursor ? h('button', { type: 'button', onclick: more }, 'More') : null);
    } catch (e) {
      put(results, failure(e));
    }
  };
  const more = async () => {
    if (!cursor) return;
    const page = await api('GET', `/v1/withdrawals${query({ ...filters, limit: 50, cursor })}`);
    extra = [...extra, ...page.items];
    await refresh();
  };

  put(
    main,
    h('h1', {}, 'Withdrawals'),
    panel('Needs an operator (stalled, waiting for funds)', attention),
    panel('All withdrawals', filterForm, results),
    requestForm(),
  );
  return { refresh, relevant: (/** @type {any} */ e) => e.aggregateType === 'withdrawal' };
}

function requestForm() {
  const answer = h('div', { 'data-testid': 'request-answer' });
  const instruments = h('select', { name: 'instrument', required: true });
  void api('GET', '/v1/instruments?enabled=true').then(
    (r) =>
      put(
        instruments,
        r.items.map((/** @type {any} */ i) => h('option', { value: `${i.admin}/${i.id}` }, i.id)),
      ),
    () => put(instruments, h('option', { value: '' }, '(instruments unavailable)')),
  );
  const input = (/** @type {string} */ name, /** @type {string} */ label, /** @type {Record<string, unknown>} */ attrs = {}) =>
    h('label', {}, label, h('input', { name, required: true, ...attrs }));
  const form = h(
    'form',
    {
      class: 'request',
      onsubmit: async (/** @type {Event} */ ev) => {
        ev.preventDefault();
        const data = Object.fromEntries(
          [...new FormData(/** @type {HTMLFormElement} */ (ev.target)).entries()].map(([k, v]) => [k, String(v).trim()]),
        );
        const at = data.instrument.lastIndexOf('/');
        try {
          const w = await api('POST', '/v1/withdrawals', {
            withdrawalId: data.withdrawalId,
            account: data.account,
            instrument: { admin: data.instrument.slice(0, at), id: data.instrument.slice(at + 1) },
            amount: data.amount,
            receiver: data.receiver,
          });
          location.hash = `#/withdrawals/${encodeURIComponent(w.withdrawalId)}`;
        } catch (e) {
          put(answer, failure(e));
        }
      },
    },
    input('withdrawalId', 'withdrawal id', { value: `console-${Date.now()}`, maxlength: 128 }),
    input('account', 'customer account', { maxlength: 128 }),
    h('label', {}, 'instrument', instruments),
    input('amount', 'amount', { inputmode: 'decimal' }),
    input('receiver', 'receiver party', { class: 'wide' }),
    h('button', { type: 'submit' }, 'Request'),
  );
  return h('details', { class: 'panel' }, h('summary', {}, 'Request a withdrawal (write scope)'), form, answer);
}

/** @param {HTMLElement} main @param {string} id */
export function withdrawalPage(main, id) {
  const summary = h('div');
  const holdings = h('div');
  const ledger = h('div');
  const machine = machinePanel('withdrawal');
  const path = `/v1/withdrawals/${encodeURIComponent(id)}`;
  let refreshAll = async () => {};
  const commands = commandsPanel(`${path}/commands`, () => void refreshAll());

  refreshAll = async () => {
    let w;
    try {
      w = await api('GET', path);
    } catch (e) {
      put(summary, failure(e));
      return;
    }
    put(
      summary,
      h(
        'div',
        { class: 'status-line' },
        badge(w.status),
        w.statusReason ? h('span', { class: 'reason', 'data-testid': 'status-reason' }, w.statusReason) : null,
      ),
      facts([
        ['purpose', w.purpose],
        ['account', w.account],
        ['amount', `${amount(w.amount)} ${w.instrument.id}`],
        ['instrument', `${w.instrument.admin}/${w.instrument.id}`],
        ['receiver', w.receiver],
        ['attempt', w.attempt],
        ['deadline', time(w.deadline)],
        ['requested', time(w.requestedAt)],
        ['updated', time(w.updatedAt)],
        ['recovered', w.recovered ? 'yes: seen on the ledger without a request here' : undefined],
      ]),
    );
    put(
      holdings,
      table(
        [
          { header: 'holding', cell: (/** @type {any} */ r) => h('code', { title: r.contractId }, short(r.contractId, 24)) },
          { header: 'attempt', cell: (r) => r.attempt, class: 'num' },
          { header: 'amount', cell: (r) => amount(r.amount), class: 'num' },
          { header: 'reserved', cell: (r) => time(r.reservedAt) },
          { header: 'released', cell: (r) => (r.releasedAt ? time(r.releasedAt) : h('strong', {}, 'held')) },
        ],
        w.holdings,
        'no holdings reserved',
      ),
    );
    put(
      ledger,
      facts([
        ['transfer update', w.transfer ? h('code', {}, w.transfer.updateId) : 'none yet'],
        ['offset', w.transfer?.offset ?? undefined],
        ['record time', w.transfer?.recordTime ? time(w.transfer.recordTime) : undefined],
        ['transfer offer', w.transfer?.transferInstructionCid ? h('code', {}, w.transfer.transferInstructionCid) : undefined],
        ['outcome update', w.outcomeUpdateId ? h('code', {}, w.outcomeUpdateId) : undefined],
      ]),
    );
    const last = w.history.at(-1);
    const final = ['completed', 'failed', 'cancelled'].includes(w.status);
    await Promise.all([commands.refresh(), machine.refresh(w.history, last ? stateName(last.to) : null, final)]);
  };

  put(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/withdrawals' }, 'Withdrawals'), ' / '),
    h('h1', {}, 'Withdrawal ', h('code', { 'data-testid': 'entity-id' }, id)),
    panel('Status', summary),
    commands.el,
    machine.el,
    panel('Reserved holdings', holdings),
    panel('Ledger updates', ledger),
  );
  return { refresh: refreshAll, relevant: (/** @type {any} */ e) => e.aggregateId === id };
}

/* eslint-disable no-undef -- browser globals: tsc checks every name against the DOM (tsconfig.console.json) */
// Deposits: the list (the API's filters; accept failures, unattributed and ignored ones first) and
// a page per deposit.

import { api, query } from './api.js';
import { h, put } from './dom.js';
import { amount, short, stateName, time } from './format.js';
import { commandsPanel, machinePanel } from './machine-panel.js';
import { badge, facts, failure, link, panel, table } from './ui.js';

const STATUSES = [
  'offered',
  'accepting',
  'accept_failed',
  'unattributed',
  'credited',
  'ignored',
  'rejected',
  'withdrawn',
  'expired',
  'failed',
];
const ATTENTION = ['accept_failed', 'unattributed', 'ignored'];

const columns = [
  { header: 'deposit', cell: (/** @type {any} */ d) => link('deposits', d.depositId, short(d.depositId, 24)) },
  { header: 'status', cell: (d) => badge(d.status) },
  { header: 'reason', cell: (d) => d.statusReason, class: 'reason' },
  { header: 'kind', cell: (d) => (d.kind === 'two_step' ? '2-step' : '1-step') },
  { header: 'amount', cell: (d) => amount(d.transferAmount), class: 'num' },
  { header: 'instrument', cell: (d) => h('span', { title: `${d.instrument.admin}/${d.instrument.id}` }, d.instrument.id) },
  { header: 'memo', cell: (d) => d.memo },
  { header: 'account', cell: (d) => d.accountId },
  { header: 'sender', cell: (d) => h('span', { title: d.sender ?? '' }, short(d.sender)) },
  { header: 'created', cell: (d) => time(d.createdAt) },
];

/** @param {HTMLElement} main @param {URLSearchParams} params */
export function depositList(main, params) {
  const names = ['status', 'account', 'memo', 'kind', 'from', 'to'];
  const filters = Object.fromEntries(names.map((n) => [n, params.get(n) ?? '']));
  const attention = h('div', { 'data-testid': 'needs-operator' });
  const results = h('div', { 'data-testid': 'deposit-list' });
  let extra = /** @type {any[]} */ ([]);
  let cursor = /** @type {string | null} */ (null);

  const filterForm = h(
    'form',
    {
      class: 'filters',
      onsubmit: (/** @type {Event} */ ev) => {
        ev.preventDefault();
        const data = new FormData(/** @type {HTMLFormElement} */ (ev.target));
        location.hash = `#/deposits${query(Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()])))}`;
      },
    },
    h('label', {}, 'status', h('input', { name: 'status', value: filters.status, list: 'deposit-statuses' })),
    h(
      'datalist',
      { id: 'deposit-statuses' },
      STATUSES.map((st) => h('option', { value: st })),
    ),
    h('label', {}, 'account', h('input', { name: 'account', value: filters.account })),
    h('label', {}, 'memo', h('input', { name: 'memo', value: filters.memo })),
    h(
      'label',
      {},
      'kind',
      h(
        'select',
        { name: 'kind' },
        [
          ['', 'any'],
          ['one_step', '1-step'],
          ['two_step', '2-step'],
        ].map(([v, t]) => h('option', { value: v, selected: filters.kind === v }, t)),
      ),
    ),
    h('label', {}, 'created from', h('input', { name: 'from', value: filters.from, placeholder: '2025-01-01T00:00:00Z' })),
    h('label', {}, 'before', h('input', { name: 'to', value: filters.to, placeholder: '2025-02-01T00:00:00Z' })),
    h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: '#/deposits', class: 'button' }, 'Clear'),
  );

  const refresh = async () => {
    try {
      const groups = await Promise.all(ATTENTION.map((status) => api('GET', `/v1/deposits${query({ status, limit: 50 })}`)));
      const rows = groups.flatMap((g) => g.items);
      put(attention, rows.length === 0 ? h('p', { class: 'muted empty' }, 'Nothing needs an operator.') : table(columns, rows));
      const page = await api('GET', `/v1/deposits${query({ ...filters, limit: 50 })}`);
      cursor = page.nextCursor;
      put(results, table(columns, [...page.items, ...extra]), cursor ? h('button', { type: 'button', onclick: more }, 'More') : null);
    } catch (e) {
      put(results, failure(e));
    }
  };
  const more = async () => {
    if (!cursor) return;
    const page = await api('GET', `/v1/deposits${query({ ...filters, limit: 50, cursor })}`);
    extra = [...extra, ...page.items];
    await refresh();
  };

  put(
    main,
    h('h1', {}, 'Deposits'),
    panel('Needs an operator (accept failed, unattributed) or does not count (ignored)', attention),
    panel('All deposits', filterForm, results),
  );
  return { refresh, relevant: (/** @type {any} */ e) => e.aggregateType === 'deposit' };
}

/** @param {HTMLElement} main @param {string} id */
export function depositPage(main, id) {
  const summary = h('div');
  const ledger = h('div');
  const machine = machinePanel('deposit');
  const path = `/v1/deposits/${encodeURIComponent(id)}`;
  let refreshAll = async () => {};
  const commands = commandsPanel(`${path}/commands`, () => void refreshAll());

  refreshAll = async () => {
    let d;
    try {
      d = await api('GET', path);
    } catch (e) {
      put(summary, failure(e));
      return;
    }
    put(
      summary,
      h(
        'div',
        { class: 'status-line' },
        badge(d.status),
        d.statusReason ? h('span', { class: 'reason', 'data-testid': 'status-reason' }, d.statusReason) : null,
      ),
      facts([
        ['kind', d.kind === 'two_step' ? '2-step (an offer the treasury accepts)' : '1-step'],
        ['amount sent', `${amount(d.transferAmount)} ${d.instrument.id}`],
        ['credited', d.creditedAmount === null ? 'not yet' : `${amount(d.creditedAmount)} ${d.instrument.id}`],
        ['fee', d.fee === null ? undefined : amount(d.fee)],
        ['instrument', `${d.instrument.admin}/${d.instrument.id}`],
        ['memo', d.memo],
        ['account', d.accountId],
        ['sender', d.sender],
        ['accept before', d.executeBefore ? time(d.executeBefore) : undefined],
        ['created', time(d.createdAt)],
        ['updated', time(d.updatedAt)],
      ]),
    );
    put(
      ledger,
      facts([
        ['offer update', d.offerUpdateId ? h('code', {}, d.offerUpdateId) : undefined],
        ['transfer offer', d.transferInstructionCid ? h('code', {}, d.transferInstructionCid) : undefined],
        ['credit update', d.creditUpdateId ? h('code', {}, d.creditUpdateId) : 'none yet'],
        ['credit record time', d.creditRecordTime ? time(d.creditRecordTime) : undefined],
        ['closed in update', d.closedUpdateId ? h('code', {}, d.closedUpdateId) : undefined],
      ]),
    );
    const last = d.history.at(-1);
    const final = ['credited', 'ignored', 'rejected', 'withdrawn', 'expired', 'failed'].includes(d.status);
    await Promise.all([commands.refresh(), machine.refresh(d.history, last ? stateName(last.to) : null, final)]);
  };

  put(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/deposits' }, 'Deposits'), ' / '),
    h('h1', {}, 'Deposit ', h('code', { 'data-testid': 'entity-id' }, id)),
    panel('Status', summary),
    commands.el,
    machine.el,
    panel('Ledger updates', ledger),
  );
  return { refresh: refreshAll, relevant: (/** @type {any} */ e) => e.aggregateId === id };
}

// Pieces every view uses: tables, status badges, panels, error notes.

import { ApiError } from './api.js';
import { h } from './dom.js';

/** Statuses an operator must act on (or look at): shown first, marked. */
export const NEEDS_OPERATOR = new Set(['stalled', 'waiting_for_funds', 'accept_failed', 'unattributed', 'ignored']);

/** @param {string} status */
export function badge(status) {
  return h('span', { class: `badge s-${status.replace(/[^a-z_]/g, '')}${NEEDS_OPERATOR.has(status) ? ' attention' : ''}` }, status);
}

/**
 * @template T
 * @param {{ header: string; cell: (row: T) => unknown; class?: string }[]} columns
 * @param {T[]} rows
 * @param {string} [empty]
 */
export function table(columns, rows, empty = 'none') {
  if (rows.length === 0) return h('p', { class: 'muted empty' }, empty);
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', { class: c.class }, c.header)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          columns.map((c) => h('td', { class: c.class }, /** @type {any} */ (c.cell(r)) ?? '')),
        ),
      ),
    ),
  );
}

/** "key: value" rows. @param {[string, unknown][]} pairs */
export function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.filter(([, v]) => v !== undefined).map(([k, v]) => [h('dt', {}, k), h('dd', {}, /** @type {any} */ (v) ?? '—')]),
  );
}

/** @param {string} title @param {...unknown} children */
export function panel(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
}

/** What went wrong, as the API said it. @param {unknown} e */
export function failure(e) {
  if (e instanceof ApiError) return h('p', { class: 'error' }, `${e.status} ${e.code}: ${e.message}`);
  return h('p', { class: 'error' }, e instanceof Error ? e.message : String(e));
}

/**
 * A link to an entity page; the id goes into the fragment (never sent to the server).
 * @param {string} kind @param {string} id @param {string} [text]
 */
export function link(kind, id, text = id) {
  return h('a', { href: `#/${kind}/${encodeURIComponent(id)}`, title: id }, text);
}

// The treasury: holdings per instrument, ingestion's lag, the validator's traffic, the pause switches, reconciliation.

import { api } from './api.js';
import { h, put } from './dom.js';
import { amount, short, time } from './format.js';
import { badge, facts, failure, panel, table } from './ui.js';

/** @param {HTMLElement} main */
export function treasuryView(main) {
  const holdings = h('div', { 'data-testid': 'holdings' });
  const ingestion = h('div', { 'data-testid': 'ingestion' });
  const switches = h('div', { 'data-testid': 'switches' });
  const traffic = h('div', { 'data-testid': 'traffic' });
  const reconciliation = h('div', { 'data-testid': 'reconciliation' });
  const switchAnswer = h('div', { class: 'answer' });

  const bucket = (/** @type {{ count: number; amount: string }} */ b) => `${amount(b.amount)} (${b.count})`;

  const refresh = async () => {
    await Promise.all([
      api('GET', '/v1/holdings').then(
        (r) =>
          put(
            holdings,
            r.checkpoint
              ? h(
                  'p',
                  { class: 'muted' },
                  `As of ledger offset ${r.checkpoint.offset}${r.checkpoint.recordTime ? ` (${time(r.checkpoint.recordTime)})` : ''}.`,
                )
              : null,
            table(
              [
                {
                  header: 'instrument',
                  cell: (/** @type {any} */ i) => h('span', { title: `${i.instrument.admin}/${i.instrument.id}` }, i.instrument.id),
                },
                { header: 'onboarded', cell: (i) => (i.config ? (i.config.enabled ? 'enabled' : 'disabled') : 'no') },
                { header: 'total (holdings)', cell: (i) => `${amount(i.total)} (${i.count})`, class: 'num' },
                { header: 'free', cell: (i) => bucket(i.free), class: 'num' },
                { header: 'reserved', cell: (i) => bucket(i.reserved), class: 'num' },
                { header: 'locked', cell: (i) => bucket(i.locked), class: 'num' },
                { header: 'planned', cell: (i) => bucket(i.plannedForSelfTransfer), class: 'num' },
                { header: 'self-transfers', cell: (i) => i.selfTransfersInFlight, class: 'num' },
              ],
              r.items,
              'no holdings',
            ),
          ),
        (e) => put(holdings, failure(e)),
      ),
      api('GET', '/v1/ingestion').then(
        (r) =>
          put(
            ingestion,
            facts([
              ['state', badge(r.state)],
              ['detail', r.detail ?? undefined],
              ['checkpoint offset', r.checkpointOffset],
              ['ledger end', r.ledgerEnd],
              [
                'lag (offsets)',
                r.lag === null ? 'unknown: the ledger could not be asked' : h('strong', { 'data-testid': 'lag' }, String(r.lag)),
              ],
              ['record time', time(r.recordTime)],
              ['transport', r.transport],
            ]),
          ),
        (e) => put(ingestion, failure(e)),
      ),
      api('GET', '/v1/admin/traffic').then(
        (r) =>
          put(
            traffic,
            r.held
              ? h(
                  'p',
                  { class: 'refused', 'data-testid': 'traffic-held' },
                  `Submissions HELD: the validator is out of synchronizer traffic since ${time(r.since)}. Buy traffic for the validator; held withdrawals and accepts go on by themselves.`,
                )
              : h('p', { class: 'accepted' }, 'Submissions flow: the validator has traffic.'),
            facts([
              ['state', badge(r.held ? 'held' : 'running')],
              ['reason', r.reason ?? undefined],
              ['next probe', r.held ? (r.probe ? `under way (${r.probe})` : time(r.nextProbeAt)) : undefined],
              ['effects waiting', r.waiting],
              ['refusals since start', r.refusals],
              ['submissions per second', r.maxSubmissionsPerSecond ?? 'no cap'],
            ]),
          ),
        (e) => put(traffic, failure(e)),
      ),
      api('GET', '/v1/admin/switches').then(
        (r) =>
          put(
            switches,
            table(
              [
                { header: 'switch', cell: (/** @type {any} */ sw) => sw.name },
                { header: 'state', cell: (sw) => (sw.paused ? badge('paused') : badge('running')) },
                { header: 'reason', cell: (sw) => sw.reason },
                { header: 'by', cell: (sw) => sw.changedBy },
                { header: 'since', cell: (sw) => time(sw.changedAt) },
                { header: '', cell: (sw) => switchButton(sw) },
              ],
              r.items,
            ),
          ),
        (e) => put(switches, failure(e)),
      ),
    ]);
  };

  /** @param {any} sw */
  const switchButton = (sw) => {
    if (sw.paused) return h('button', { type: 'button', 'data-switch': sw.name, onclick: () => change(sw.name, 'resume', {}) }, 'Resume');
    const reason = h('input', {
      type: 'text',
      placeholder: 'reason',
      required: true,
      maxlength: 500,
      'aria-label': `reason to pause ${sw.name}`,
    });
    return h(
      'form',
      {
        class: 'inline',
        onsubmit: (/** @type {Event} */ ev) => {
          ev.preventDefault();
          void change(sw.name, 'pause', { reason: /** @type {HTMLInputElement} */ (reason).value.trim() });
        },
      },
      reason,
      h('button', { type: 'submit', 'data-switch': sw.name }, 'Pause'),
    );
  };

  /** @param {string} name @param {'pause' | 'resume'} action @param {unknown} body */
  const change = async (name, action, body) => {
    try {
      const r = await api('POST', `/v1/admin/switches/${name}/${action}`, body);
      put(switchAnswer, h('p', { class: 'accepted' }, `${name}: ${r.paused ? 'paused' : 'running'} (by ${r.changedBy ?? '?'})`));
    } catch (e) {
      put(switchAnswer, failure(e));
    }
    await refresh();
  };

  const reconcile = async () => {
    put(reconciliation, h('p', { class: 'muted' }, 'Reading the ledger…'));
    try {
      const r = await api('GET', '/v1/reconciliation');
      put(
        reconciliation,
        h(
          'p',
          { class: r.clean ? 'accepted' : 'refused', 'data-testid': 'reconciliation-verdict' },
          r.clean
            ? `Clean at offset ${r.offset}: the database and the ledger agree.`
            : `${r.differencesTotal} differences at offset ${r.offset}.`,
        ),
        table(
          [
            { header: 'instrument', cell: (/** @type {any} */ i) => i.instrument.id },
            { header: 'database', cell: (i) => `${amount(i.db.total)} (${i.db.count})`, class: 'num' },
            { header: 'ledger', cell: (i) => `${amount(i.ledger.total)} (${i.ledger.count})`, class: 'num' },
            { header: 'ingested net', cell: (i) => amount(i.movements.net), class: 'num' },
            { header: 'differences', cell: (i) => i.differences, class: 'num' },
          ],
          r.instruments,
        ),
        r.differences.length > 0
          ? table(
              [
                { header: 'kind', cell: (/** @type {any} */ d) => d.kind },
                { header: 'contract', cell: (d) => (d.contractId ? h('code', { title: d.contractId }, short(d.contractId, 24)) : '') },
                { header: 'instrument', cell: (d) => d.instrument.id },
                { header: 'database', cell: (d) => amount(d.dbAmount ?? d.dbTotal ?? ''), class: 'num' },
                { header: 'ledger', cell: (d) => amount(d.ledgerAmount ?? d.movementsTotal ?? ''), class: 'num' },
              ],
              r.differences,
            )
          : null,
        h(
          'p',
          { class: 'muted' },
          `Checked ${time(r.checkedAt)}; ${r.ignoredLedgerHoldings} ledger holdings that are not the treasury's funds were not compared.`,
        ),
      );
    } catch (e) {
      put(reconciliation, failure(e));
    }
  };

  put(
    main,
    h('h1', {}, 'Treasury'),
    panel('Holdings per instrument', holdings),
    panel('Ingestion', ingestion),
    panel('Validator traffic', traffic),
    panel('Pause switches (admin scope to change)', switches, switchAnswer),
    panel(
      'Reconciliation',
      h(
        'p',
        { class: 'muted' },
        "Compares the database's holdings with the ledger's active contracts at the ingestion checkpoint (a full read on the validator: run it on demand).",
      ),
      h('button', { type: 'button', 'data-testid': 'reconcile', onclick: reconcile }, 'Reconcile now'),
      reconciliation,
    ),
  );
  return { refresh, relevant: () => true };
}

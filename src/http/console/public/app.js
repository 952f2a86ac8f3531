/* eslint-disable no-undef -- browser globals: tsc checks every name against the DOM (tsconfig.console.json) */
// The console: sign-in, navigation (in the URL's fragment, which never reaches the server), the
// live feed, and the view on screen refreshed when an event concerns it (and every few seconds,
// for the state changes that emit no event, e.g. a withdrawal moving from preparing to signing).

import { ApiError, checkToken, session, whenUnauthenticated } from './api.js';
import { depositList, depositPage } from './deposits.js';
import { h, put } from './dom.js';
import { startFeed } from './feed.js';
import { machinesView } from './machines.js';
import { treasuryView } from './treasury.js';
import { withdrawalList, withdrawalPage } from './withdrawals.js';

const REFRESH_MS = 4000;
const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const live = /** @type {HTMLElement} */ (document.getElementById('live'));
const signout = /** @type {HTMLButtonElement} */ (document.getElementById('signout'));

/** @typedef {{ refresh: () => Promise<void>; relevant: (e: any) => boolean }} View */
/** @type {View | null} */
let view = null;
/** @type {(() => void) | null} */
let stopFeed = null;
let refreshing = false;
let again = false;

const SECTIONS = [
  ['withdrawals', 'Withdrawals'],
  ['deposits', 'Deposits'],
  ['treasury', 'Treasury'],
  ['machines', 'Machines'],
];

async function refresh() {
  if (!view) return;
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  try {
    await view.refresh();
  } finally {
    refreshing = false;
    if (again) {
      again = false;
      void refresh();
    }
  }
}

function route() {
  if (!session.token()) return showSignIn();
  const [path, q = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [section = 'withdrawals', id] = (path ?? '').split('/');
  const params = new URLSearchParams(q);
  put(
    nav,
    SECTIONS.map(([key, label]) => h('a', { href: `#/${key}`, class: key === section ? 'active' : '' }, label)),
  );
  signout.hidden = false;
  const key = decodeURIComponent(id ?? '');
  if (section === 'withdrawals') view = key ? withdrawalPage(main, key) : withdrawalList(main, params);
  else if (section === 'deposits') view = key ? depositPage(main, key) : depositList(main, params);
  else if (section === 'treasury') view = treasuryView(main);
  else if (section === 'machines') view = machinesView(main);
  else {
    location.hash = '#/withdrawals';
    return;
  }
  if (!stopFeed) {
    stopFeed = startFeed({
      onEvent: (e) => {
        if (view?.relevant(e)) void refresh();
      },
      onMode: (mode, detail) => {
        live.className = `live ${mode}`;
        live.textContent = mode === 'live' ? 'live' : mode === 'polling' ? 'live (polling)' : 'offline';
        live.title = detail ?? 'The event feed';
      },
    });
  }
  void refresh();
}

function showSignIn(/** @type {string} */ note = '') {
  stopFeed?.();
  stopFeed = null;
  view = null;
  signout.hidden = true;
  put(nav);
  const token = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    required: true,
    'aria-label': 'API token',
    placeholder: 'API token',
  });
  const answer = h('div', { class: 'answer', 'data-testid': 'signin-answer' }, note ? h('p', { class: 'error' }, note) : null);
  put(
    main,
    h(
      'section',
      { class: 'panel signin' },
      h('h1', {}, 'Sign in'),
      h(
        'p',
        {},
        'An API token of this daemon (API_TOKENS; in sandbox mode DATA_DIR/sandbox/api-token). The console needs the read scope; operator commands and pause switches need admin, requesting withdrawals write.',
      ),
      h(
        'p',
        { class: 'muted' },
        'The token stays in this tab (sessionStorage) and is sent only as an Authorization header to this daemon.',
      ),
      h(
        'form',
        {
          onsubmit: async (/** @type {Event} */ ev) => {
            ev.preventDefault();
            const presented = /** @type {HTMLInputElement} */ (token).value.trim();
            try {
              await checkToken(presented);
              session.signIn(presented);
              if (!location.hash || location.hash === '#/' || location.hash.startsWith('#/signin')) location.hash = '#/withdrawals';
              route();
            } catch (e) {
              const why =
                e instanceof ApiError && e.status === 403
                  ? 'This token lacks the read scope the console needs.'
                  : e instanceof ApiError && e.status === 401
                    ? 'Unknown token.'
                    : e instanceof Error
                      ? e.message
                      : String(e);
              put(answer, h('p', { class: 'error' }, why));
            }
          },
        },
        token,
        h('button', { type: 'submit' }, 'Sign in'),
      ),
      answer,
    ),
  );
  /** @type {HTMLInputElement} */ (token).focus();
}

whenUnauthenticated(() => {
  session.signOut();
  showSignIn('The daemon no longer accepts this token: sign in again.');
});
signout.addEventListener('click', () => {
  session.signOut();
  showSignIn();
});
addEventListener('hashchange', route);
setInterval(() => {
  if (document.visibilityState === 'visible') void refresh();
}, REFRESH_MS);
route();

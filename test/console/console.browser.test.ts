import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { ActorError } from '../../src/machines/failure.js';
import type { WithdrawalActors } from '../../src/machines/withdrawal.actors.js';
import { embeddedSandboxLedger } from '../../src/sandbox/embedded-default.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { testLogger } from '../support/silent-logger.js';

/**
 * The console in a real browser (Debian's Chromium, headless, driven by playwright-core) against a
 * real daemon: the embedded ledger double, a real Postgres. An operator signs in, requests a
 * withdrawal and watches it complete, then finds a stalled one among those needing an operator and
 * sends RETRY from its page. Every request the page makes must stay on this machine (the console
 * works with the network unplugged). Screenshots go to test-artifacts/screenshots/ for CI to keep.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  // CI installs it (.ci/run): there a missing browser is a failure, not a skip.
  if (process.env.CI) throw new Error(`the console's browser tests need Chromium at ${CHROMIUM} (.ci/run installs it)`);
  console.error(`SKIPPED console browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
}

const SHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const ADMIN = { name: 'ops', token: 'console-ops-token-0123456789abcdefXYZ', scopes: ['read', 'write', 'admin'] };
const READER = { name: 'monitor', token: 'console-monitor-token-0123456789abcdef', scopes: ['read'] };
const STALLED = 'ui-stalled';

/** The first prepare of STALLED is refused as a validator refuses a user without rights (403): the withdrawal stalls. */
const stallOnce = new Set([STALLED]);
const stallFirstPrepare = (a: WithdrawalActors): WithdrawalActors => ({
  ...a,
  async prepareTransfer(input, signal) {
    if (stallOnce.delete(input.withdrawalId))
      throw new ActorError({ code: 'PERMISSION_DENIED', message: 'the user may not act as the treasury', retryable: false, status: 403 });
    return a.prepareTransfer(input, signal);
  },
});

let db: TestDatabase;
let dataDir: string;
let daemon: Daemon;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Requests the page tried to send anywhere but this daemon. */
const offHost: string[] = [];
const pageErrors: string[] = [];

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(daemon.url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as Record<string, unknown>;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const stateBox = (state: string) => page.locator(`[data-testid=diagram] g.state[data-state="${state}"]`);

describe.skipIf(!HAVE_CHROMIUM)('the console in Chromium against a daemon on the ledger double', () => {
  let receiver = '';
  let amulet: { admin: string; id: string };

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'cxi-console-'));
    const config = loadConfig({
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      API_TOKENS: JSON.stringify([ADMIN, READER]),
    });
    // Errors only: the sandbox's warnings and the refused sign-in are what this test does on purpose.
    daemon = await startDaemon({
      config,
      logger: testLogger(),
      embeddedLedger: embeddedSandboxLedger,
      service: { intercept: { withdrawal: stallFirstPrepare } },
    });

    // A customer of the double to pay, created over its control API as an operator of the sandbox would.
    const details = JSON.parse(await readFile(join(dataDir, 'sandbox', 'sandbox.json'), 'utf8')) as { controlToken: string };
    const created = await fetch(`${daemon.ledger!.apiUrl}/sandbox/control/customers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${details.controlToken}` },
      body: JSON.stringify({ hint: 'console-receiver', preapproval: true }),
    });
    receiver = ((await created.json()) as { party: string }).party;
    type Holdings = { items: { instrument: { admin: string; id: string }; free: { count: number } }[] };
    const holdings = await until(
      'the funded treasury to be ingested',
      async () => (await api('GET', '/v1/holdings')) as unknown as Holdings,
      (h) => h.items.some((i) => i.instrument.id === 'Amulet' && i.free.count >= 2),
    );
    amulet = holdings.items.find((i) => i.instrument.id === 'Amulet')!.instrument;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const own = new URL(daemon.url).host;
    // The network unplugged, as far as the page can tell: only the daemon answers.
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.host === own) return route.continue();
      offHost.push(url.href);
      return route.abort('internetdisconnected');
    });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('signs in with a token kept in the tab, never in a URL; refuses an unknown one', async () => {
    await page.goto(`${daemon.url}/ui`);
    await page.fill('input[name=token]', 'not-a-token-of-this-daemon-0123456789');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('[data-testid=signin-answer]')).toContain('Unknown token.');
    await page.fill('input[name=token]', ADMIN.token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=withdrawal-list]');
    expect(page.url()).not.toContain(ADMIN.token);
    expect(await page.evaluate("sessionStorage.getItem('cxi.console.token')")).toBe(ADMIN.token);
    // The event feed is open.
    await expect.poll(() => page.textContent('#live')).toBe('live');
  });

  it('requests a withdrawal and follows it live to completed: path, time per state, holdings, ledger update', async () => {
    await page.click('text=Request a withdrawal (write scope)');
    const form = page.locator('form.request');
    await form.locator('input[name=withdrawalId]').fill('ui-paid');
    await form.locator('input[name=account]').fill('acct-ui');
    await form.locator('select[name=instrument]').selectOption({ label: 'Amulet' });
    await form.locator('input[name=amount]').fill('12.5');
    await form.locator('input[name=receiver]').fill(receiver);
    await page.click('form.request button[type=submit]');
    await page.waitForURL(/#\/withdrawals\/ui-paid$/);
    await expect.poll(() => page.textContent('.status-line .badge'), { timeout: 30_000 }).toBe('completed');
    await stateBox('completed').and(page.locator('.current')).waitFor({ timeout: 15_000 });

    const w = await api('GET', '/v1/withdrawals/ui-paid');
    expect(w['status']).toBe('completed');
    // The path it took, drawn from its transition history.
    for (const s of [
      'requested',
      'reserving',
      'preparing',
      'preparing.fetchingFactory',
      'preparing.preparingTransaction',
      'signing',
      'executing',
      'awaitingLedger',
      'completed',
    ]) {
      await expect(stateBox(s).getAttribute('class'), s).resolves.toContain('visited');
    }
    await expect(stateBox('stalled').getAttribute('class')).resolves.not.toContain('visited');
    for (const edge of ['signing→executing', 'executing→awaitingLedger', '__any→completed']) {
      await expect(page.locator(`[data-testid=diagram] g.edge[data-edge="${edge}"]`).getAttribute('class'), edge).resolves.toContain(
        'taken',
      );
    }
    // Time per state: a row per state entered, as many as transitions.
    const history = w['history'] as unknown[];
    expect(await page.locator('section:has(h2:text("Time per state")) tbody tr').count()).toBe(history.length);
    // Its holdings (released once paid) and the ledger update that paid it.
    expect(await page.locator('section:has(h2:text("Reserved holdings")) tbody tr').count()).toBeGreaterThan(0);
    const transfer = w['transfer'] as { updateId: string };
    expect(await page.textContent('section:has(h2:text("Ledger updates"))')).toContain(transfer.updateId);
    // Final: the machine accepts no command, and says why.
    for (const c of ['RETRY', 'CANCEL', 'FAIL']) expect(await page.isDisabled(`button[data-command=${c}]`)).toBe(true);
    expect(await page.textContent('.commands')).toContain('withdrawal ui-paid is completed: it is final');
    await shot('withdrawal-completed');
  }, 90_000);

  it('lists a stalled withdrawal first, and an operator RETRY from its page pays it', async () => {
    const requested = await api('POST', '/v1/withdrawals', {
      withdrawalId: STALLED,
      account: 'acct-ui',
      instrument: amulet,
      amount: '7',
      receiver,
    });
    expect(requested['withdrawalId']).toBe(STALLED);
    await until(
      'the withdrawal to stall',
      () => api('GET', `/v1/withdrawals/${STALLED}`),
      (w) => w['status'] === 'stalled',
    );

    await page.goto(`${daemon.url}/ui/#/withdrawals`);
    const attention = page.locator('[data-testid=needs-operator]');
    await attention.locator(`a:text("${STALLED}")`).waitFor({ timeout: 15_000 });
    expect(await attention.textContent()).toContain('stalled');
    await shot('withdrawals-needing-an-operator');

    await attention.locator(`a:text("${STALLED}")`).click();
    await stateBox('stalled').and(page.locator('.current')).waitFor({ timeout: 15_000 });
    expect(await page.textContent('[data-testid=status-reason]')).toContain('403');
    // The machine accepts RETRY, CANCEL and FAIL when stalled.
    for (const c of ['RETRY', 'CANCEL', 'FAIL']) await page.waitForSelector(`button[data-command=${c}]:not([disabled])`);
    await shot('withdrawal-stalled');

    await page.click('button[data-command=RETRY]');
    await expect
      .poll(() => page.textContent('[data-testid=command-answer]'))
      .toMatch(/RETRY accepted: the machine is now in \S+ \(by ops\)/);
    await expect.poll(() => page.textContent('.status-line .badge'), { timeout: 30_000 }).toBe('completed');
    await stateBox('completed').and(page.locator('.current')).waitFor({ timeout: 15_000 });
    await expect(stateBox('stalled').getAttribute('class')).resolves.toContain('visited');
    await expect(page.locator('[data-testid=diagram] g.edge[data-edge="stalled→releasing"]').getAttribute('class')).resolves.toContain(
      'taken',
    );
    const w = await api('GET', `/v1/withdrawals/${STALLED}`);
    expect(w).toMatchObject({ status: 'completed', attempt: 2 });
    await shot('withdrawal-retried-completed');

    // Pressed again on a final machine, the command is refused with the machine's words.
    await page.evaluate("const b = document.querySelector('button[data-command=RETRY]'); b.disabled = false; b.click();");
    await expect
      .poll(() => page.textContent('[data-testid=command-answer]'))
      .toContain(`RETRY refused (409 STATE_CONFLICT): withdrawal ${STALLED} is completed: it is final`);
  }, 90_000);

  it('shows the treasury (holdings, ingestion lag, switches), the deposits and both machines', async () => {
    await page.goto(`${daemon.url}/ui/#/treasury`);
    await expect.poll(() => page.textContent('[data-testid=holdings]')).toMatch(/Amulet\s*enabled/);
    await expect.poll(() => page.textContent('[data-testid=lag]')).toMatch(/^\d+$/);
    expect(await page.textContent('[data-testid=switches]')).toContain('withdrawals');
    await page.click('[data-testid=reconcile]');
    await expect
      .poll(() => page.textContent('[data-testid=reconciliation]'), { timeout: 30_000 })
      .toMatch(/Clean at offset \d+|differences at offset/);
    await shot('treasury');

    await page.goto(`${daemon.url}/ui/#/deposits`);
    await page.locator('[data-testid=deposit-list]').waitFor();
    await shot('deposits');

    await page.goto(`${daemon.url}/ui/#/machines`);
    await page.locator('[data-testid=diagram-withdrawal] svg').waitFor({ timeout: 20_000 });
    await page.locator('[data-testid=diagram-deposit] svg').waitFor({ timeout: 20_000 });
    expect(await page.locator('[data-testid=diagram-withdrawal] g.state').count()).toBeGreaterThan(20);
    await shot('machines');
  }, 90_000);

  it('reads the feed by polling when its token already holds the 8 event streams it may open', async () => {
    const held = new AbortController();
    const streams = await Promise.all(
      Array.from({ length: 8 }, () =>
        fetch(`${daemon.url}/v1/events/stream`, { headers: { authorization: `Bearer ${READER.token}` }, signal: held.signal }),
      ),
    );
    try {
      expect(streams.map((r) => r.status)).toEqual(Array(8).fill(200));
      const tab = await context.newPage();
      tab.on('pageerror', (e) => pageErrors.push(e.message));
      await tab.goto(`${daemon.url}/ui/#/deposits`);
      await tab.fill('input[name=token]', READER.token);
      await tab.click('button[type=submit]');
      await tab.locator('[data-testid=deposit-list]').waitFor();
      await expect.poll(() => tab.textContent('#live')).toBe('live (polling)');
      await tab.close();
    } finally {
      held.abort();
    }
  });

  it('sent nothing off this machine and threw no error', () => {
    expect(offHost).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

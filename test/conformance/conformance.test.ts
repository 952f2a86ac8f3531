/**
 * `npm run conformance`: every check passes against the ledger double started in-process; a
 * server that answers one operation wrongly fails exactly that check, with the server's answer,
 * and exit code 1; bad settings exit 2 before anything is contacted.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConformance } from '../../src/conformance/conformance.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

const run = promisify(execFile);

async function conformance(argv: string[], env: Record<string, string | undefined>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runConformance({
    argv,
    env,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    streamTimeoutMs: 10_000,
    confirmTimeoutMs: 10_000,
  });
  return { code, out, err };
}

/** The per-instrument checks, in order. */
const instrumentChecks = (id: string) => [
  `registry metadata ${id}`,
  `treasury holding ${id}`,
  `transfer factory ${id}`,
  `prepare ${id}`,
  `verify and sign ${id}`,
  `execute ${id}`,
  `self-transfer on the ledger ${id}`,
];
const LEDGER_CHECKS = [
  'treasury key',
  'treasury onboarding (dry run)',
  'version',
  'ledger end',
  'latest pruned offsets',
  'active contracts',
  'events by contract id',
  'updates over websocket',
  'updates over http',
];

/** "ok  <check> (<ms> ms)…" / "FAIL <check>: …" / "skip <check>: …" → [status, check]. */
function parseLine(line: string): [string, string] {
  const m = /^(ok {2}|FAIL |skip )(.+?)(?: \(\d+ ms\))?(?::|$)/.exec(line);
  if (!m) throw new Error(`not a check line: ${line}`);
  return [m[1]!.trim(), m[2]!];
}

describe('npm run conformance', () => {
  it('passes every check against the ledger double started in-process', async () => {
    const { code, out, err } = await conformance([], {});
    expect(err).toEqual([]);
    const lines = out.slice(0, -1).map(parseLine);
    expect(lines.map(([, check]) => check)).toEqual([...LEDGER_CHECKS, ...instrumentChecks('Amulet'), ...instrumentChecks('UTK')]);
    expect(lines.filter(([status]) => status !== 'ok')).toEqual([]);
    expect(out.at(-1)).toMatch(
      /^conformance passed: 23 ok, 0 failed, 0 skipped against http:\/\/127\.0\.0\.1:\d+ \(the ledger double, in-process\)$/,
    );
    expect(out.find((l) => l.startsWith('ok  self-transfer on the ledger Amulet'))).toMatch(
      /1 holding\(s\) totalling 250\.0000000000, net change 0$/,
    );
    // The dry run of `cxi treasury onboard`: the double's treasury is complete, preapproval included.
    expect(out.find((l) => l.startsWith('ok  treasury onboarding (dry run)'))).toMatch(
      /: nothing to do \(party exists, user exists, rights exists, preapproval exists\)$/,
    );
    expect(code).toBe(0);
  });

  describe('against a ledger given by URL, as a validator is', () => {
    let sb: Sandbox;
    let dir: string;
    let env: Record<string, string>;
    let instrumentFlags: string[];

    beforeAll(async () => {
      sb = await startSandbox({
        treasury: {
          fund: [
            { instrument: 'Amulet', amount: '1000' },
            { instrument: 'Amulet', amount: '40' },
            { instrument: 'UTK', amount: '500' },
          ],
        },
      });
      const treasury = sb.treasury!;
      dir = await mkdtemp(path.join(tmpdir(), 'conformance-test-'));
      const keyFile = path.join(dir, 'treasury.key');
      await writeFile(keyFile, treasury.privateKeyPem, { mode: 0o600 });
      env = {
        LEDGER_USER_ID: treasury.userId,
        LEDGER_TOKEN: await sb.tokenFor(treasury.userId),
        TREASURY_PARTY: treasury.party,
        TREASURY_KEY_FILE: keyFile,
        // The double's registries are http on loopback: a daemon needs the same two settings for them.
        REGISTRY_ALLOW_HTTP: 'true',
        REGISTRY_ALLOW_HOSTS: '["127.0.0.1"]',
      };
      instrumentFlags = sb.instruments.flatMap((i) => ['--registry-url', i.registryUrl, '--instrument', `${i.admin}/${i.id}`]);
    });
    afterAll(async () => {
      await sb.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('fails the check whose operation the server answers with an error, quoting the answer, and exits 1', async () => {
      sb.control.clearFaults();
      sb.control.addFault({ match: { operation: 'prepare' }, action: { kind: 'http503' }, once: true });
      const { code, out } = await conformance(['--ledger-url', sb.jsonApiUrl, ...instrumentFlags], env);
      const lines = out.slice(0, -1).map(parseLine);
      const status = Object.fromEntries(lines.map(([s, check]) => [check, s]));

      const failed = out.filter((l) => l.startsWith('FAIL '));
      expect(failed).toHaveLength(1);
      // The daemon's client's report of Canton's answer: the call, the HTTP status, the error id and its category.
      expect(failed[0]).toMatch(
        /^FAIL prepare Amulet: SERVICE_NOT_RUNNING \(HTTP 503\): prepare conformance-\S+: POST \/v2\/interactive-submission\/prepare: HTTP 503 SERVICE_NOT_RUNNING \(category 1\): /,
      );
      // What needs the prepared transaction is skipped, naming what it needed; everything else ran and passed.
      for (const check of ['verify and sign Amulet', 'execute Amulet', 'self-transfer on the ledger Amulet'])
        expect(status[check]).toBe('skip');
      expect(out).toContain('skip verify and sign Amulet: needs prepare Amulet');
      for (const check of [...LEDGER_CHECKS, ...instrumentChecks('Amulet').slice(0, 3), ...instrumentChecks('UTK')])
        expect(status[check]).toBe('ok');
      expect(out.at(-1)).toBe(`conformance FAILED: 19 ok, 1 failed, 3 skipped against ${sb.jsonApiUrl}`);
      expect(code).toBe(1);
      expect(sb.control.faults().map((f) => f.fired)).toEqual([1]);
    });

    it('fails the stream check when the websocket is cut, and the others still pass', async () => {
      sb.control.clearFaults();
      sb.control.addFault({ match: { operation: 'updates.ws' }, action: { kind: 'dropWebsocket', afterFrames: 0 } });
      const { code, out } = await conformance(['--ledger-url', sb.jsonApiUrl, ...instrumentFlags], env);
      sb.control.clearFaults();
      expect(out.filter((l) => l.startsWith('FAIL '))).toEqual([
        expect.stringMatching(/^FAIL updates over websocket: websocket \/v2\/updates: connection closed \(1006\)$/),
      ]);
      expect(out.filter((l) => l.startsWith('skip '))).toEqual([]);
      expect(code).toBe(1);
    });

    it("with the daemon's settings and no faults, passes against it too (funds stay with the treasury)", async () => {
      sb.control.clearFaults();
      const before = sb.control.books.balances(sb.treasury!.party);
      const { code, out } = await conformance(['--ledger-url', sb.jsonApiUrl, ...instrumentFlags], env);
      expect(out.filter((l) => !l.startsWith('ok  ')).slice(0, -1)).toEqual([]);
      expect(code).toBe(0);
      expect(sb.control.books.balances(sb.treasury!.party)).toEqual(before);
    });

    it('the onboarding dry run fails naming what `cxi treasury onboard` would grant, and changes nothing', async () => {
      sb.control.clearFaults();
      const { party, userId } = sb.treasury!;
      const admin = await sb.tokenFor('participant_admin');
      const rights = (method: 'POST' | 'PATCH') =>
        fetch(`${sb.jsonApiUrl}/v2/users/${userId}/rights`, {
          method,
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ userId, rights: [{ kind: { CanExecuteAs: { value: { party } } } }], identityProviderId: '' }),
        });
      expect((await rights('PATCH')).status).toBe(200);
      try {
        const { code, out } = await conformance(['--ledger-url', sb.jsonApiUrl, ...instrumentFlags], env);
        expect(out).toContain(
          `FAIL treasury onboarding (dry run): cxi treasury onboard would: grant ${userId} CanExecuteAs on the treasury (party exists, user exists, rights would do, preapproval exists)`,
        );
        expect(code).toBe(1);
        // Nothing was granted by the dry run.
        const held = (await (
          await fetch(`${sb.jsonApiUrl}/v2/users/${userId}/rights`, { headers: { authorization: `Bearer ${admin}` } })
        ).json()) as { rights: unknown[] };
        expect(JSON.stringify(held.rights)).not.toContain('CanExecuteAs');
      } finally {
        expect((await rights('POST')).status).toBe(200);
      }
    });
  });

  describe('bad settings: exit 2, naming the problem', () => {
    it.each([
      [['--ledger-url', 'not a url'], 'LEDGER_API_URL: must be an absolute URL'],
      [['--ledger-url', 'http://127.0.0.1:9'], 'TREASURY_PARTY: required when LEDGER_API_URL is set'],
      [['--bogus'], "Unknown option '--bogus'"],
      [['--registry-url', 'http://r.example', '--instrument', 'DSO::1220ab/Amulet'], 'need a ledger URL'],
      [['--registry-auth', 'token'], '--registry-auth must be none or ledger'],
      [['--registry-credential', 'scan-proxy'], '--registry-credential scan-proxy: REGISTRY_CREDENTIALS defines no credentials'],
      [['--registry-auth', 'ledger', '--registry-credential', 'x'], 'give --registry-auth or --registry-credential, not both'],
    ])('%j', async (argv, message) => {
      const { code, out, err } = await conformance(argv, {});
      expect(out).toEqual([]);
      expect(err.join('\n')).toContain(message);
      expect(code).toBe(2);
    });

    it('a ledger URL needs an instrument and its registry', async () => {
      const env = { LEDGER_USER_ID: 'u', LEDGER_TOKEN: 't', TREASURY_PARTY: `t::1220${'a'.repeat(64)}`, TREASURY_KEY_FILE: '/nonexistent' };
      const missing = await conformance(['--ledger-url', 'http://127.0.0.1:9'], env);
      expect(missing.err.join('\n')).toContain('name at least one instrument');
      const badRef = await conformance(
        ['--ledger-url', 'http://127.0.0.1:9', '--registry-url', 'http://r.example', '--instrument', 'Amulet'],
        env,
      );
      expect(badRef.err.join('\n')).toContain('--instrument must be "<admin party>/<instrument id>"');
      expect([missing.code, badRef.code]).toEqual([2, 2]);
    });

    it('the command exits with the code (2 for bad settings)', async () => {
      const failed = await run(process.execPath, ['--import', 'tsx', 'src/conformance/cli.ts', '--ledger-url', 'not a url'], {
        env: { PATH: process.env.PATH },
      }).then(
        () => undefined,
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stdout).toBe('');
      expect(failed?.stderr).toContain('LEDGER_API_URL: must be an absolute URL');
    });
  });
});

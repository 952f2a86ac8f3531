import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerConfig, Pkcs11SignerConfig } from '../../src/config.js';
import { openTreasurySigner, generatePkcs11Key, type GeneratedKey } from '../../src/ledger/signers/index.js';
import type { TreasurySigner } from '../../src/ledger/signing.js';
import { openPkcs11Module, pkcs11js } from '../../src/ledger/signers/pkcs11-module.js';
import { createLedgerEffects, createWithdrawalLedgerActors, type SignatureRecord } from '../../src/machines/effects/index.js';
import { ActorError } from '../../src/machines/failure.js';
import { Failure } from '../../src/failures.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { connect, type Sql } from '../../src/store/db.js';
import { upsertInstrument } from '../../src/store/instruments.js';
import { migrate } from '../../src/store/migrate.js';
import { findWithdrawal } from '../../src/store/withdrawals.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';
import { testLogger } from '../support/silent-logger.js';
import { skipWithoutSoftHsm, startSoftHsm, type SoftHsm } from '../support/softhsm.js';
import { STACK_API_TOKEN, startDaemonParts, type DaemonParts } from '../support/stack.js';

/**
 * Issue 24, "done means": on a fresh ledger double (treasury.onboarding 'none'), the treasury key
 * is generated in an HSM (SoftHSM2), `cxi treasury onboard` creates the treasury with it (the
 * topology's multi-hash signed in the HSM), and a withdrawal signed in the HSM completes — again
 * after the daemon restarts. A transaction the signing policy refuses never reaches the HSM.
 */

const run = promisify(execFile);
const PIN = '481516';
const logger = testLogger();

describe.skipIf(skipWithoutSoftHsm('HSM treasury end-to-end tests'))('the treasury key in an HSM, end to end', () => {
  let hsm: SoftHsm;
  let hsmConfig: Pkcs11SignerConfig & { pinFile: string };
  let key: GeneratedKey;
  let sb: Sandbox;
  let db: TestDatabase;
  let sql: Sql;
  let party: string;
  let env: NodeJS.ProcessEnv;

  const cxi = (...args: string[]) => run(process.execPath, ['bin/cxi.js', ...args], { env, timeout: 60_000 });

  beforeAll(async () => {
    hsm = await startSoftHsm();
    hsm.initToken('exchange-hsm', PIN);
    hsmConfig = await hsm.signerConfig({ token: 'exchange-hsm', keyLabel: 'treasury', pin: PIN });
    key = generatePkcs11Key(hsmConfig);
    party = `treasury::${key.fingerprint}`;
    sb = await startSandbox(
      { clock: { mode: 'real' }, commitDelayMs: 2, checkpointIntervalMs: 50, treasury: { onboarding: 'none' } },
      logger,
    );
    db = await createTestDatabase();
    sql = connect({ url: db.url, max: 10 });
    await migrate(sql);
    env = {
      ...process.env,
      LOG_LEVEL: 'silent',
      LEDGER_API_URL: sb.jsonApiUrl,
      LEDGER_USER_ID: 'exchange',
      LEDGER_TOKEN: await sb.tokenFor('exchange', { expiresInSeconds: 3600 }),
      LEDGER_ADMIN_TOKEN: await sb.tokenFor('participant_admin', { expiresInSeconds: 3600 }),
      TREASURY_PARTY: party,
      TREASURY_SIGNER: 'pkcs11',
      TREASURY_PKCS11_MODULE: hsm.module,
      TREASURY_PKCS11_TOKEN_LABEL: 'exchange-hsm',
      TREASURY_PKCS11_KEY_LABEL: 'treasury',
      TREASURY_PKCS11_PIN_FILE: hsmConfig.pinFile,
    };
  });
  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    await db?.drop();
    await sb?.stop();
    await hsm?.close();
  });

  it('cxi treasury onboard: a dry run changes nothing; then the party, the user and its rights are created, and a re-run finds them', async () => {
    const dry = JSON.parse((await cxi('--json', 'treasury', 'onboard', '--dry-run')).stdout) as {
      party: string;
      steps: { step: string; status: string }[];
    };
    expect(dry.party).toBe(party);
    expect(dry.steps.map((s) => [s.step, s.status])).toEqual([
      ['party', 'would do'],
      ['user', 'would do'],
      ['rights', 'would do'],
      ['preapproval', 'missing'],
    ]);
    expect(sb.control.books.holdings(party)).toEqual([]);
    expect(JSON.parse((await cxi('--json', 'treasury', 'show')).stdout)).toMatchObject({
      party,
      allocated: false,
      user: 'exchange (does not exist)',
    });

    const first = await cxi('treasury', 'onboard');
    expect(first.stdout).toContain(`treasury party: ${party}`);
    expect(first.stdout).toContain(`allocated ${party} on synchronizer `);
    expect(first.stdout).toContain('created user exchange with primary party');
    expect(first.stdout).toContain('granted exchange CanExecuteAs, CanReadAs on the treasury');
    const done = JSON.parse((await cxi('--json', 'treasury', 'onboard')).stdout) as {
      steps: { step: string; status: string; detail: string }[];
    };
    expect(done.steps.map((s) => [s.step, s.status])).toEqual([
      ['party', 'exists'],
      ['user', 'exists'],
      ['rights', 'exists'],
      ['preapproval', 'missing'],
    ]);

    // Asked to, it would propose a Canton Coin preapproval to the validator operator party.
    const dso = sb.instruments.find((i) => i.id === 'Amulet')!.admin;
    const provider = sb.control.createCustomer({}).party;
    const plan = JSON.parse(
      (await cxi('--json', 'treasury', 'onboard', '--dry-run', '--preapproval-provider', provider, '--dso', dso)).stdout,
    ) as { steps: { step: string; status: string; detail: string }[] };
    expect(plan.steps.at(-1)).toEqual({
      step: 'preapproval',
      status: 'would do',
      detail: `propose a Canton Coin TransferPreapproval to provider ${provider} (DSO ${dso}), signed by the treasury key`,
    });
    // The double models no TransferPreapprovalProposal (it refuses every create): the step fails with its answer, the command exits 1.
    const proposed = await cxi(
      '--json',
      'treasury',
      'onboard',
      '--preapproval-provider',
      provider,
      '--dso',
      dso,
      '--preapproval-wait',
      '0',
    ).then(
      () => undefined,
      (e: { code: number; stdout: string }) => e,
    );
    expect(proposed?.code).toBe(1);
    const failed = (JSON.parse(proposed!.stdout) as { steps: { step: string; status: string; detail: string }[] }).steps.at(-1)!;
    expect(failed).toMatchObject({
      step: 'preapproval',
      status: 'failed',
      detail: expect.stringContaining('TEMPLATES_OR_INTERFACES_NOT_FOUND'),
    });

    sb.control.createPreapproval(party);
    const shown = JSON.parse((await cxi('--json', 'treasury', 'show')).stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({
      party,
      allocated: true,
      user: { id: 'exchange', primaryParty: party, isDeactivated: false },
      rights: ['CanExecuteAs', 'CanReadAs'],
      missingRights: [],
      preapproval: { contractId: expect.stringMatching(/^00/), provider: expect.any(String) },
      key: { signer: 'pkcs11', token: { label: 'exchange-hsm' }, key: { label: 'treasury' }, pin: `from ${hsmConfig.pinFile}` },
    });
    expect(JSON.stringify(shown)).not.toContain(PIN);
  });

  it('a withdrawal signed in the HSM completes, and again after a daemon restart (a new process: a new HSM session)', async () => {
    for (let i = 0; i < 3; i++) sb.control.mint(party, 'Amulet', '1000');
    for (const i of sb.instruments) {
      await upsertInstrument(sql, {
        admin: i.admin,
        id: i.id,
        registryUrl: i.registryUrl,
        displayDecimals: 10,
        transferPolicy: i.supportsPreapproval ? 'direct-or-offer' : 'offer-only',
        feeReserve: i.senderFee,
        enabled: true,
      });
    }
    const cc = sb.instruments.find((i) => i.id === 'Amulet')!;
    const bob = sb.control.createCustomer({ preapproval: true }).party;
    const ledger: LedgerConfig = {
      apiUrl: sb.jsonApiUrl,
      userId: 'exchange',
      auth: { kind: 'static', token: env.LEDGER_TOKEN! },
      treasuryParty: party,
      treasuryPkcs11: hsmConfig,
    };
    const signatures: SignatureRecord[] = [];
    const launch = () =>
      startDaemonParts({ sql, ledger, logger, registryPolicy: TEST_REGISTRY_POLICY, effects: { onSigned: (s) => signatures.push(s) } });

    const withdraw = async (daemon: DaemonParts, id: string) => {
      const res = await fetch(`${daemon.apiUrl}/v1/withdrawals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${STACK_API_TOKEN.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          withdrawalId: id,
          account: 'acct-1',
          instrument: { admin: cc.admin, id: cc.id },
          amount: '12.5',
          receiver: bob,
        }),
      });
      expect(res.status).toBe(201);
      const until = Date.now() + 30_000;
      for (;;) {
        const w = await findWithdrawal(sql, id);
        if (w?.status === 'completed') return w;
        if (w && ['failed', 'stalled', 'cancelled'].includes(w.status))
          throw new Error(`withdrawal ${id} ${w.status}: ${w.statusReason ?? ''}`);
        if (Date.now() > until) throw new Error(`withdrawal ${id} not completed: ${w?.status ?? 'missing'}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    let daemon = await launch();
    try {
      await withdraw(daemon, 'hsm-w1');
    } finally {
      await daemon.stop();
    }
    daemon = await launch();
    try {
      await withdraw(daemon, 'hsm-w2');
    } finally {
      await daemon.stop();
    }
    expect(sb.control.books.transfers('hsm-w1')).toHaveLength(1);
    expect(sb.control.books.transfers('hsm-w2')).toHaveLength(1);
    // Each withdrawal's signature came from the HSM key, logged with its id and the key's URI.
    for (const id of ['hsm-w1', 'hsm-w2']) {
      expect(signatures.filter((s) => s.withdrawalId === id)).toEqual([
        expect.objectContaining({
          signer: 'pkcs11',
          keyId: 'pkcs11:token=exchange-hsm;object=treasury;type=private',
          signedBy: key.fingerprint,
          commandId: `withdrawal-${id}-1`,
          hash: expect.any(String),
        }),
      ]);
    }
  });

  it('an HSM that refuses the PIN fails the signing step retryably (SIGNER_UNAVAILABLE); with the PIN file corrected the same withdrawal completes, no restart', async () => {
    const cc = sb.instruments.find((i) => i.id === 'Amulet')!;
    const bob = sb.control.createCustomer({ preapproval: true }).party;
    const ledger: LedgerConfig = {
      apiUrl: sb.jsonApiUrl,
      userId: 'exchange',
      auth: { kind: 'static', token: env.LEDGER_TOKEN! },
      treasuryParty: party,
      treasuryPkcs11: hsmConfig,
    };
    // Quiet: the daemon warns of each refusal by design.
    const quiet = testLogger();
    const daemon = await startDaemonParts({
      sql,
      ledger,
      logger: quiet,
      registryPolicy: TEST_REGISTRY_POLICY,
      withdrawalPolicy: { backoff: { initialMs: 300, maxMs: 300, factor: 1 } },
    });
    const p = pkcs11js();
    const lib = openPkcs11Module(hsm.module);
    try {
      // The custodian rotates the PIN and the HSM drops the daemon's sessions; the PIN file is old.
      const slot = lib.lib.C_GetSlotList(true).find((x) => lib.lib.C_GetTokenInfo(x).label.trimEnd() === 'exchange-hsm')!;
      const admin = lib.lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
      lib.lib.C_SetPIN(admin, PIN, '112358');
      lib.lib.C_CloseAllSessions(slot);

      const res = await fetch(`${daemon.apiUrl}/v1/withdrawals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${STACK_API_TOKEN.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          withdrawalId: 'hsm-pin',
          account: 'acct-1',
          instrument: { admin: cc.admin, id: cc.id },
          amount: '3',
          receiver: bob,
        }),
      });
      expect(res.status).toBe(201);
      const refusals = async () =>
        sql<{ message: string; retryable: boolean }[]>`
          select event #>> '{error,failure,message}' as message, (event #>> '{error,failure,retryable}')::boolean as retryable
          from machine_transitions where machine_type = 'withdrawal' and machine_id = 'hsm-pin'
            and event_type = 'xstate.error.actor.verifyAndSign' and event #>> '{error,failure,code}' = 'SIGNER_UNAVAILABLE'`;
      for (const until = Date.now() + 20_000; (await refusals()).length === 0;) {
        if (Date.now() > until) throw new Error('no SIGNER_UNAVAILABLE failure recorded');
        await new Promise((r) => setTimeout(r, 20));
      }
      const [first] = await refusals();
      expect(first).toEqual({
        retryable: true,
        message: expect.stringMatching(
          /^signing withdrawal command withdrawal-hsm-pin-1: the HSM refused the PIN \(CKR_PIN_INCORRECT\) for token "exchange-hsm"/,
        ),
      });
      expect((await findWithdrawal(sql, 'hsm-pin'))?.status).not.toMatch(/failed|stalled/);

      await writeFile(hsmConfig.pinFile, '112358\n');
      for (const until = Date.now() + 20_000; ;) {
        const w = await findWithdrawal(sql, 'hsm-pin');
        if (w?.status === 'completed') break;
        if (w && ['failed', 'stalled', 'cancelled'].includes(w.status)) throw new Error(`withdrawal ${w.status}: ${w.statusReason ?? ''}`);
        if (Date.now() > until) throw new Error(`withdrawal not completed: ${w?.status ?? 'missing'}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(sb.control.books.transfers('hsm-pin')).toHaveLength(1);
    } finally {
      await daemon.stop();
      lib.release();
    }
  });

  it("the daemon refuses to start with an HSM key that is not the treasury party's: one clear line, exit 1", async () => {
    const other = `treasury::1220${'c'.repeat(64)}`;
    const started = await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...env,
        TREASURY_PARTY: other,
        LEDGER_ADMIN_TOKEN: '',
        DATABASE_URL: db.url,
        DATA_DIR: `${hsm.dir}/data`,
        HTTP_PORT: '0',
        LOG_LEVEL: 'info',
      },
      timeout: 60_000,
    }).then(
      () => undefined,
      (e: { code: number; stdout: string }) => e,
    );
    expect(started?.code).toBe(1);
    const fatal = started!.stdout
      .split('\n')
      .filter((l) => l.includes('"start-up failed"'))
      .map((l) => JSON.parse(l) as { reason?: string; err?: unknown });
    expect(fatal).toEqual([
      expect.objectContaining({
        reason: `the HSM key pkcs11:token=exchange-hsm;object=treasury;type=private has fingerprint ${key.fingerprint}, but treasury party ${other} belongs to namespace 1220${'c'.repeat(64)}: wrong key or token (or set the option for a party whose namespace key differs from its signing key)`,
      }),
    ]);
    expect(started!.stdout).not.toContain('112358');
  });

  it('a transaction the signing policy refuses never reaches the HSM', async () => {
    const signer = openTreasurySigner({ treasuryPkcs11: hsmConfig }, { party });
    let asked = 0;
    const counting: TreasurySigner = { ...signer, sign: (data) => ((asked += 1), signer.sign(data)) };
    try {
      const ledger: LedgerConfig = {
        apiUrl: sb.jsonApiUrl,
        userId: 'exchange',
        auth: { kind: 'static', token: env.LEDGER_TOKEN! },
        treasuryParty: party,
        treasuryPkcs11: hsmConfig,
      };
      // The refusal is logged as an error by design: provoked here on purpose.
      const quiet = testLogger();
      const wd = createWithdrawalLedgerActors({
        effects: createLedgerEffects({ sql, ledger, logger: quiet, signer: counting, registryPolicy: TEST_REGISTRY_POLICY }),
      });
      const cc = sb.instruments.find((i) => i.id === 'Amulet')!;
      const holding = sb.control.books.holdings(party).find((h) => h.instrumentId === 'Amulet' && !h.locked)!;
      const now = Date.now();
      const intent = {
        withdrawalId: 'refused',
        attempt: 1,
        sender: party,
        receiver: sb.control.createCustomer({ preapproval: true }).party,
        amount: '10.0000000000',
        instrument: { admin: cc.admin, id: cc.id },
        inputHoldingCids: [holding.contractId],
        requestedAt: new Date(now - 1000).toISOString(),
        executeBefore: new Date(now + 3_600_000).toISOString(),
        memo: 'refused',
      };
      const signal = new AbortController().signal;
      const factory = await wd.fetchTransferFactory(intent, signal);
      const commandId = 'withdrawal-refused-1';
      const maxRecordTime = new Date(now + 600_000).toISOString();
      const prepared = await wd.prepareTransfer({ ...intent, factory, commandId, maxRecordTime }, signal);
      const { withdrawalId: _w, attempt: _a, requestedAt: _r, ...rest } = intent;
      const expected = { kind: 'transfer' as const, commandId, factoryId: factory.factoryId, ...rest, maxRecordTime };

      // The node's transaction pays 10; we asked for 1000: refused before the HSM is asked.
      const refusal = await wd
        .verifyAndSign({ prepared, expected: { ...expected, amount: '1000.0000000000' } }, signal)
        .catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(ActorError);
      expect((refusal as ActorError).failure).toMatchObject({ code: Failure.PREPARED_TX_MISMATCH, retryable: false });
      expect(asked).toBe(0);
      // The exact request is signed, by the HSM.
      const signed = await wd.verifyAndSign({ prepared, expected }, signal);
      expect(asked).toBe(1);
      expect(signed.signedBy).toBe(key.fingerprint);
      expect(signer.verify(Buffer.from(signed.preparedTransactionHash, 'base64'), signed.signature)).toBe(true);
    } finally {
      await signer.close();
    }
  });
});

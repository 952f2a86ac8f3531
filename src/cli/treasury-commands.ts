import type { Command } from 'commander';
import { describeTreasuryKey, loadConfig, loadPkcs11Config, type Config, type LedgerConfig } from '../config.js';
import { LedgerAdminClient } from '../ledger/admin-client.js';
import { tokenProviderFor } from '../ledger/auth.js';
import { LedgerHttp } from '../ledger/http.js';
import { LedgerReadClient, listOptionsOf } from '../ledger/read-client.js';
import { LedgerSubmissionClient } from '../ledger/submission-client.js';
import { generatePkcs11Key, openTreasurySigner } from '../ledger/signers/index.js';
import { inspectTreasury, onboardTreasury, planOnboarding, type OnboardingStep, type OnboardingTarget } from '../treasury/onboarding.js';
import { printRecord, printRows } from './output.js';

/**
 * `cxi treasury …`: setting up the treasury before the daemon runs. These commands talk to the
 * JSON Ledger API directly with the daemon's own settings (LEDGER_API_URL, LEDGER_USER_ID, the
 * token settings, TREASURY_PARTY, and the key: TREASURY_KEY_FILE or TREASURY_PKCS11_*), plus
 * LEDGER_ADMIN_TOKEN (or LEDGER_ADMIN_OAUTH_CLIENT_ID/_SECRET) for what needs ParticipantAdmin.
 */

interface LedgerContext {
  config: Config;
  ledger: LedgerConfig;
  target: OnboardingTarget;
  admin: LedgerAdminClient;
  reads: LedgerReadClient;
  submissions: LedgerSubmissionClient;
}

interface TargetOptions {
  synchronizer?: string;
  grantActAs?: boolean;
  preapprovalProvider?: string;
  dso?: string;
  preapprovalWait?: string;
}

function preapprovalOf(o: TargetOptions): OnboardingTarget['preapproval'] {
  if (o.preapprovalProvider === undefined) {
    if (o.dso !== undefined) throw new Error('--dso goes with --preapproval-provider');
    return undefined;
  }
  if (o.dso === undefined)
    throw new Error('--preapproval-provider needs --dso (the DSO party: the Canton Coin instrument admin, DSO::1220…)');
  const seconds = Number(o.preapprovalWait ?? '60');
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error('--preapproval-wait must be a number of seconds');
  return { provider: o.preapprovalProvider, dso: o.dso, waitMs: seconds * 1000 };
}

function ledgerContext(o: TargetOptions): LedgerContext {
  const config = loadConfig();
  const ledger = config.ledger;
  if (ledger === undefined)
    throw new Error(
      "cxi treasury needs LEDGER_API_URL and the daemon's ledger settings (LEDGER_USER_ID, a token, TREASURY_PARTY, the treasury key)",
    );
  const adminHttp = new LedgerHttp({ baseUrl: ledger.apiUrl, auth: tokenProviderFor(config.ledgerAdminAuth ?? ledger.auth) });
  // The treasury's contracts are read, and the preapproval proposed, as the daemon will: with its own user's token.
  const daemonHttp = new LedgerHttp({ baseUrl: ledger.apiUrl, auth: tokenProviderFor(ledger.auth) });
  const reads = new LedgerReadClient(daemonHttp, listOptionsOf(ledger));
  const synchronizerId = o.synchronizer ?? config.submission.synchronizerId;
  const preapproval = preapprovalOf(o);
  return {
    config,
    ledger,
    target: {
      treasuryParty: ledger.treasuryParty,
      userId: ledger.userId,
      ...(synchronizerId !== undefined ? { synchronizerId } : {}),
      ...(o.grantActAs ? { grantActAs: true } : {}),
      ...(preapproval ? { preapproval } : {}),
    },
    admin: new LedgerAdminClient(adminHttp),
    reads,
    submissions: new LedgerSubmissionClient(daemonHttp),
  };
}

function printSteps(party: string, steps: OnboardingStep[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ party, steps }, null, 2));
    return;
  }
  console.log(`treasury party: ${party}`);
  printRows(
    steps,
    [
      { header: 'step', value: (s) => s.step },
      { header: 'status', value: (s) => s.status },
      { header: 'detail', value: (s) => s.detail },
    ],
    false,
  );
}

export function registerTreasuryCommands(program: Command): void {
  const json = () => program.opts<{ json: boolean }>().json;
  const treasury = program
    .command('treasury')
    .description(
      "set up and inspect the external treasury party on the validator: talks to the JSON Ledger API with the daemon's settings, not to the daemon",
    );

  treasury
    .command('keygen')
    .description(
      "generate the treasury's Ed25519 key in the HSM (TREASURY_SIGNER=pkcs11): sensitive, never extractable; prints its fingerprint and the TREASURY_PARTY it makes",
    )
    .option('--hint <hint>', 'the party hint of the TREASURY_PARTY to suggest', 'treasury')
    .action((o: { hint: string }) => {
      const key = generatePkcs11Key(loadPkcs11Config());
      printRecord(
        { keyId: key.keyId, publicKey: key.publicKey, fingerprint: key.fingerprint, TREASURY_PARTY: `${o.hint}::${key.fingerprint}` },
        json(),
      );
    });

  treasury
    .command('onboard')
    .description(
      'allocate TREASURY_PARTY as an external party signed by the treasury key, create LEDGER_USER_ID and grant it CanReadAs and CanExecuteAs on it; idempotent',
    )
    .option(
      '--synchronizer <id>',
      'the synchronizer to allocate the party on (default LEDGER_SYNCHRONIZER_ID, else the only one connected)',
    )
    .option('--grant-act-as', 'also grant CanActAs (not needed by the daemon)', false)
    .option(
      '--preapproval-provider <party>',
      'propose a Canton Coin TransferPreapproval to this provider: the validator operator party (GET <validator>/api/validator/v0/validator-user), whose validator accepts it and pays its fee',
    )
    .option('--dso <party>', 'the DSO party the preapproval names (the Canton Coin instrument admin, DSO::1220…)')
    .option('--preapproval-wait <seconds>', "how long to wait for the provider's validator to accept the proposal", '60')
    .option('--dry-run', 'only read, and print what would be done', false)
    .action(async (o: TargetOptions & { dryRun: boolean }) => {
      const ctx = ledgerContext(o);
      if (o.dryRun) {
        printSteps(ctx.target.treasuryParty, planOnboarding(await inspectTreasury(ctx), ctx.target), json());
        return;
      }
      // The same signer the daemon opens, with the same start-up checks (key file or HSM).
      const signer = openTreasurySigner(ctx.ledger, { party: ctx.ledger.treasuryParty });
      try {
        const steps = await onboardTreasury({ ...ctx, signer });
        printSteps(ctx.target.treasuryParty, steps, json());
        if (steps.some((s) => s.status === 'failed')) process.exitCode = 1;
      } finally {
        await signer.close();
      }
    });

  treasury
    .command('show')
    .description("the treasury party, the daemon user's rights on it, its Canton Coin preapproval, and where its key is")
    .action(async () => {
      const ctx = ledgerContext({});
      const s = await inspectTreasury(ctx);
      const record = {
        party: ctx.target.treasuryParty,
        allocated: s.party !== undefined,
        ...(s.party ? { partyDetails: s.party } : {}),
        user: s.user
          ? { id: s.user.id, primaryParty: s.user.primaryParty ?? null, isDeactivated: s.user.isDeactivated ?? false }
          : `${ctx.target.userId} (does not exist)`,
        rights: s.rights ?? [],
        missingRights: s.missingRights,
        preapproval: s.preapproval ?? null,
        pendingPreapprovalProposals: s.pendingProposals,
        key: describeTreasuryKey(ctx.ledger),
      };
      printRecord(record, json());
    });
}

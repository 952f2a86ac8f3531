import type { Command } from 'commander';
import { describeTreasuryKey, loadConfig, loadPkcs11Config, type Config, type LedgerConfig } from '../config.js';
import { LedgerAdminClient } from '../ledger/admin-client.js';
import { tokenProviderFor } from '../ledger/auth.js';
import { LedgerHttp } from '../ledger/http.js';
import { LedgerReadClient, listOptionsOf } from '../ledger/read-client.js';
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
}

function ledgerContext(o: { synchronizer?: string; grantActAs?: boolean }): LedgerContext {
  const config = loadConfig();
  const ledger = config.ledger;
  if (ledger === undefined) throw new Error('cxi treasury needs LEDGER_API_URL and the daemon\'s ledger settings (LEDGER_USER_ID, a token, TREASURY_PARTY, the treasury key)');
  const adminHttp = new LedgerHttp({ baseUrl: ledger.apiUrl, auth: tokenProviderFor(config.ledgerAdminAuth ?? ledger.auth) });
  // The treasury's contracts are read as the daemon will read them: with its own user's token.
  const reads = new LedgerReadClient(new LedgerHttp({ baseUrl: ledger.apiUrl, auth: tokenProviderFor(ledger.auth) }), listOptionsOf(ledger));
  const synchronizerId = o.synchronizer ?? config.submission.synchronizerId;
  return {
    config,
    ledger,
    target: { treasuryParty: ledger.treasuryParty, userId: ledger.userId, ...(synchronizerId !== undefined ? { synchronizerId } : {}), ...(o.grantActAs ? { grantActAs: true } : {}) },
    admin: new LedgerAdminClient(adminHttp),
    reads,
  };
}

function printSteps(party: string, steps: OnboardingStep[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ party, steps }, null, 2));
    return;
  }
  console.log(`treasury party: ${party}`);
  printRows(steps, [
    { header: 'step', value: (s) => s.step },
    { header: 'status', value: (s) => s.status },
    { header: 'detail', value: (s) => s.detail },
  ], false);
}

export function registerTreasuryCommands(program: Command): void {
  const json = () => program.opts<{ json: boolean }>().json;
  const treasury = program
    .command('treasury')
    .description("set up and inspect the external treasury party on the validator: talks to the JSON Ledger API with the daemon's settings, not to the daemon");

  treasury
    .command('keygen')
    .description('generate the treasury\'s Ed25519 key in the HSM (TREASURY_SIGNER=pkcs11): sensitive, never extractable; prints its fingerprint and the TREASURY_PARTY it makes')
    .option('--hint <hint>', 'the party hint of the TREASURY_PARTY to suggest', 'treasury')
    .action((o: { hint: string }) => {
      const key = generatePkcs11Key(loadPkcs11Config());
      printRecord({ keyId: key.keyId, publicKey: key.publicKey, fingerprint: key.fingerprint, TREASURY_PARTY: `${o.hint}::${key.fingerprint}` }, json());
    });

  treasury
    .command('onboard')
    .description('allocate TREASURY_PARTY as an external party signed by the treasury key, create LEDGER_USER_ID and grant it CanReadAs and CanExecuteAs on it; idempotent')
    .option('--synchronizer <id>', 'the synchronizer to allocate the party on (default LEDGER_SYNCHRONIZER_ID, else the only one connected)')
    .option('--grant-act-as', 'also grant CanActAs (not needed by the daemon)', false)
    .option('--dry-run', 'only read, and print what would be done', false)
    .action(async (o: { synchronizer?: string; grantActAs: boolean; dryRun: boolean }) => {
      const ctx = ledgerContext(o);
      if (o.dryRun) {
        printSteps(ctx.target.treasuryParty, planOnboarding(await inspectTreasury(ctx), ctx.target), json());
        return;
      }
      // The same signer the daemon opens, with the same start-up checks (key file or HSM).
      const signer = openTreasurySigner(ctx.ledger, { party: ctx.ledger.treasuryParty });
      try {
        printSteps(ctx.target.treasuryParty, await onboardTreasury({ ...ctx, signer }), json());
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
        user: s.user ? { id: s.user.id, primaryParty: s.user.primaryParty ?? null, isDeactivated: s.user.isDeactivated ?? false } : `${ctx.target.userId} (does not exist)`,
        rights: s.rights ?? [],
        missingRights: s.missingRights,
        preapproval: s.preapproval ?? null,
        pendingPreapprovalProposals: s.pendingProposals,
        key: describeTreasuryKey(ctx.ledger),
      };
      printRecord(record, json());
    });
}

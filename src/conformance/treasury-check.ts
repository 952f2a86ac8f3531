import type { BearerCredentialConfig, LedgerConfig } from '../config.js';
import { LedgerAdminClient } from '../ledger/admin-client.js';
import { tokenProviderFor } from '../ledger/auth.js';
import { LedgerHttp } from '../ledger/http.js';
import type { LedgerReadClient } from '../ledger/read-client.js';
import { inspectTreasury, planOnboarding } from '../treasury/onboarding.js';
import { CheckFailed, type CheckRunner } from './runner.js';

/**
 * `cxi treasury onboard --dry-run` as a conformance check: reads the treasury party, the daemon
 * user's rights on it and its Canton Coin preapproval, and says what onboarding would do, without
 * doing it. Fails when the daemon could not run (party not allocated, user or rights missing);
 * a missing preapproval is reported, not failed (deposits then arrive as offers).
 */
export async function runTreasuryOnboardingCheck(d: {
  runner: CheckRunner;
  ledger: LedgerConfig;
  /** LEDGER_ADMIN_* when configured, else the daemon's own credentials (a user may read itself). */
  adminAuth: BearerCredentialConfig | undefined;
  reads: LedgerReadClient;
  synchronizerId: string | undefined;
}): Promise<void> {
  await d.runner.check('treasury onboarding (dry run)', async () => {
    const target = { treasuryParty: d.ledger.treasuryParty, userId: d.ledger.userId, synchronizerId: d.synchronizerId };
    const admin = new LedgerAdminClient(new LedgerHttp({ baseUrl: d.ledger.apiUrl, auth: tokenProviderFor(d.adminAuth ?? d.ledger.auth) }));
    const steps = planOnboarding(await inspectTreasury({ admin, reads: d.reads, target }), target);
    const todo = steps.filter((s) => s.status === 'would do');
    const summary = steps.map((s) => `${s.step} ${s.status}`).join(', ');
    if (todo.length > 0) throw new CheckFailed(`cxi treasury onboard would: ${todo.map((s) => s.detail).join('; ')} (${summary})`);
    const preapproval = steps.find((s) => s.step === 'preapproval');
    return { value: steps, detail: `nothing to do (${summary})${preapproval?.status === 'missing' ? `; ${preapproval.detail}` : ''}` };
  });
}

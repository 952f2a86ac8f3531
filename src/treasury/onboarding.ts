import { z } from 'zod';
import type { LedgerAdminClient } from '../ledger/admin-client.js';
import { LedgerApiError } from '../ledger/http.js';
import type { LedgerReadClient } from '../ledger/read-client.js';
import { CRYPTO_KEY_FORMAT_RAW, SIGNING_KEY_SPEC_EC_CURVE25519, type PartyDetails, type Right, type User } from '../ledger/schema/index.js';
import { partyNamespace, type TreasurySigner } from '../ledger/signing.js';
import type { LedgerSubmissionClient } from '../ledger/submission-client.js';
import { PreapprovalRefused, proposePreapproval } from './preapproval.js';

/**
 * Setting up the exchange's external treasury party on its validator, over the JSON Ledger API,
 * before the daemon runs (`cxi treasury onboard`), and reading it back (`cxi treasury show`,
 * conformance's dry run):
 *
 * 1. party — `/v2/parties/external/generate-topology` for the treasury key's public key and the
 *    party hint of TREASURY_PARTY, the topology's multi-hash signed by the treasury signer (the HSM
 *    in PKCS#11 mode), `/v2/parties/external/allocate` with the transactions unchanged. Canton
 *    3.4: ApiPartyManagementService.scala (generateExternalPartyTopology, allocateExternalParty).
 * 2. user — the daemon's Ledger API user (LEDGER_USER_ID), created with the treasury as primary
 *    party when missing (`POST /v2/users`).
 * 3. rights — CanReadAs (prepare reads as the submitter, and ingestion reads the party) and
 *    CanExecuteAs (execute) on the treasury: what InteractiveSubmissionServiceAuthorization.scala
 *    requires of an external party's submissions; CanActAs only when asked (it also satisfies
 *    both, but is more than the daemon needs).
 * 4. preapproval — the treasury's Canton Coin TransferPreapproval (template
 *    Splice.AmuletRules:TransferPreapproval, receiver = the treasury), or a pending
 *    Splice.Wallet.TransferPreapproval:TransferPreapprovalProposal. When asked (a provider and the
 *    DSO given), the treasury proposes one and the provider's validator accepts it
 *    (preapproval.ts); otherwise it is only reported.
 *
 * Each step first reads what is there; what exists is reported, never created twice.
 */

export const TRANSFER_PREAPPROVAL_TEMPLATE = '#splice-amulet:Splice.AmuletRules:TransferPreapproval';
export const TRANSFER_PREAPPROVAL_PROPOSAL_TEMPLATE = '#splice-wallet:Splice.Wallet.TransferPreapproval:TransferPreapprovalProposal';

export type RightName = 'CanActAs' | 'CanReadAs' | 'CanExecuteAs';

export interface OnboardingTarget {
  /** TREASURY_PARTY: `<hint>::<fingerprint of the treasury key>`. */
  treasuryParty: string;
  /** LEDGER_USER_ID: the daemon's user. */
  userId: string;
  /** LEDGER_SYNCHRONIZER_ID, else the one synchronizer this node is connected to. */
  synchronizerId?: string | undefined;
  /** Also grant CanActAs (default: CanReadAs and CanExecuteAs only). */
  grantActAs?: boolean;
  /** Propose a Canton Coin preapproval to this provider (the validator operator party) for this DSO, and wait that long for it. */
  preapproval?: { provider: string; dso: string; waitMs: number };
}

export interface Preapproval {
  contractId: string;
  provider: string;
  expiresAt?: string | undefined;
}

export interface TreasuryState {
  party: PartyDetails | undefined;
  user: User | undefined;
  /** The user's rights on the treasury party (undefined: no such user). */
  rights: RightName[] | undefined;
  /** Rights the daemon needs that the user lacks. */
  missingRights: RightName[];
  /** undefined: none; 'unreadable' with the reason when the ACS could not be read. */
  preapproval: Preapproval | undefined | { unreadable: string };
  pendingProposals: { contractId: string; provider: string }[];
}

export type StepStatus = 'done' | 'exists' | 'would do' | 'missing' | 'failed';

export interface OnboardingStep {
  step: 'party' | 'user' | 'rights' | 'preapproval';
  status: StepStatus;
  detail: string;
}

export class OnboardingError extends Error {
  override readonly name = 'OnboardingError';
}

const PartyRef = z.object({ party: z.string() });

/** The treasury-party rights a user holds, by name. */
export function treasuryRights(rights: readonly Right[], party: string): RightName[] {
  const held = new Set<RightName>();
  for (const r of rights) {
    const k = r.kind as Record<string, { value?: unknown } | undefined> | undefined;
    if (!k) continue;
    for (const name of ['CanActAs', 'CanReadAs', 'CanExecuteAs'] as const) {
      const v = PartyRef.safeParse(k[name]?.value);
      if (v.success && v.data.party === party) held.add(name);
    }
    // Any-party rights cover the treasury too.
    if (k['CanReadAsAnyParty'] !== undefined) held.add('CanReadAs');
    if (k['CanExecuteAsAnyParty'] !== undefined) held.add('CanExecuteAs');
  }
  return [...held].sort();
}

export function wantedRights(t: OnboardingTarget): RightName[] {
  return t.grantActAs ? ['CanActAs', 'CanExecuteAs', 'CanReadAs'] : ['CanExecuteAs', 'CanReadAs'];
}

/** What the daemon's submissions need: read (prepare) and execute; CanActAs gives both. */
export function missingRights(held: readonly RightName[], t: OnboardingTarget): RightName[] {
  return wantedRights(t).filter((r) => !held.includes(r));
}

function hintOf(party: string): string {
  return party.slice(0, party.indexOf('::'));
}

export interface InspectDeps {
  admin: LedgerAdminClient;
  /** Reads the treasury's contracts (a token that can read as the treasury: the daemon's, once granted). */
  reads: LedgerReadClient;
  target: OnboardingTarget;
}

/** Everything `show` and the dry run report; reads only. */
export async function inspectTreasury(d: InspectDeps): Promise<TreasuryState> {
  const { treasuryParty: party, userId } = d.target;
  const details = await d.admin.party(party);
  const user = await d.admin.user(userId);
  const rights = user ? treasuryRights(await d.admin.rights(userId), party) : undefined;
  let preapproval: TreasuryState['preapproval'];
  let pendingProposals: TreasuryState['pendingProposals'] = [];
  if (details === undefined) {
    preapproval = undefined;
  } else {
    try {
      ({ preapproval, pendingProposals } = await readPreapproval(d.reads, party));
    } catch (e) {
      if (!(e instanceof LedgerApiError)) throw e;
      preapproval = { unreadable: `${e.code}: ${e.message}` };
    }
  }
  return { party: details, user, rights, missingRights: missingRights(rights ?? [], d.target), preapproval, pendingProposals };
}

const PreapprovalArgs = z.object({ receiver: z.string(), provider: z.string(), expiresAt: z.string().optional() });
const ProposalArgs = z.object({ receiver: z.string(), provider: z.string() });

async function readPreapproval(reads: LedgerReadClient, party: string): Promise<Pick<TreasuryState, 'preapproval' | 'pendingProposals'>> {
  const offset = await reads.ledgerEnd();
  const filter = (templateId: string) => ({
    identifierFilter: { TemplateFilter: { value: { templateId, includeCreatedEventBlob: false } } },
  });
  const contracts = await reads.activeContracts(offset, {
    filtersByParty: { [party]: { cumulative: [filter(TRANSFER_PREAPPROVAL_TEMPLATE), filter(TRANSFER_PREAPPROVAL_PROPOSAL_TEMPLATE)] } },
    verbose: false,
  });
  let preapproval: Preapproval | undefined;
  const pendingProposals: TreasuryState['pendingProposals'] = [];
  for (const c of contracts) {
    const entry = c.contractEntry;
    if (!('JsActiveContract' in entry) || entry.JsActiveContract === undefined) continue;
    const ev = entry.JsActiveContract.createdEvent;
    if (ev.templateId.endsWith(':Splice.AmuletRules:TransferPreapproval')) {
      const a = PreapprovalArgs.safeParse(ev.createArgument);
      if (a.success && a.data.receiver === party)
        preapproval = { contractId: ev.contractId, provider: a.data.provider, expiresAt: a.data.expiresAt };
    } else if (ev.templateId.endsWith(':Splice.Wallet.TransferPreapproval:TransferPreapprovalProposal')) {
      const a = ProposalArgs.safeParse(ev.createArgument);
      if (a.success && a.data.receiver === party) pendingProposals.push({ contractId: ev.contractId, provider: a.data.provider });
    }
  }
  return { preapproval, pendingProposals };
}

/** What `onboard` would do from this state (the dry run), without doing it. */
export function planOnboarding(s: TreasuryState, t: OnboardingTarget): OnboardingStep[] {
  const steps: OnboardingStep[] = [];
  steps.push(
    s.party
      ? { step: 'party', status: 'exists', detail: `${t.treasuryParty} is allocated on this participant` }
      : {
          step: 'party',
          status: 'would do',
          detail: `allocate ${t.treasuryParty} as an external party (generate-topology, sign the multi-hash with the treasury key, allocate)`,
        },
  );
  steps.push(
    s.user
      ? {
          step: 'user',
          status: 'exists',
          detail: `user ${t.userId} exists${s.user.primaryParty ? ` (primary party ${s.user.primaryParty})` : ''}`,
        }
      : { step: 'user', status: 'would do', detail: `create user ${t.userId} with primary party ${t.treasuryParty}` },
  );
  const missing = s.user ? s.missingRights : wantedRights(t);
  steps.push(
    missing.length === 0
      ? { step: 'rights', status: 'exists', detail: `${t.userId} has ${(s.rights ?? []).join(', ')} on the treasury` }
      : { step: 'rights', status: 'would do', detail: `grant ${t.userId} ${missing.join(', ')} on the treasury` },
  );
  const pre = preapprovalStep(s);
  const proposing =
    t.preapproval !== undefined &&
    pre.status === 'missing' &&
    s.pendingProposals.length === 0 &&
    !(s.preapproval !== undefined && 'unreadable' in s.preapproval);
  steps.push(
    proposing
      ? {
          step: 'preapproval',
          status: 'would do',
          detail: `propose a Canton Coin TransferPreapproval to provider ${t.preapproval!.provider} (DSO ${t.preapproval!.dso}), signed by the treasury key`,
        }
      : pre,
  );
  return steps;
}

function preapprovalStep(s: TreasuryState): OnboardingStep {
  const p = s.preapproval;
  if (p !== undefined && 'unreadable' in p)
    return { step: 'preapproval', status: 'missing', detail: `cannot read the treasury's contracts: ${p.unreadable}` };
  if (p !== undefined)
    return {
      step: 'preapproval',
      status: 'exists',
      detail: `Canton Coin TransferPreapproval ${p.contractId} (provider ${p.provider}${p.expiresAt ? `, expires ${p.expiresAt}` : ''})`,
    };
  const pending = s.pendingProposals.map((x) => `${x.contractId} (provider ${x.provider})`).join(', ');
  return {
    step: 'preapproval',
    status: 'missing',
    detail: pending
      ? `no TransferPreapproval yet; proposal(s) ${pending} wait for the provider's validator to accept them`
      : 'no Canton Coin TransferPreapproval: Canton Coin deposits arrive as offers the daemon accepts (2-step) until the validator creates one (README: Treasury onboarding)',
  };
}

export interface OnboardDeps extends InspectDeps {
  /** The treasury key: its public key for the topology, its signature on the multi-hash. */
  signer: TreasurySigner;
  /** Interactive submission as the daemon's user (the preapproval proposal). */
  submissions: LedgerSubmissionClient;
}

/** Does what the plan says, step by step; re-run, it finds everything there and does nothing. */
export async function onboardTreasury(d: OnboardDeps): Promise<OnboardingStep[]> {
  const t = d.target;
  const namespace = partyNamespace(t.treasuryParty);
  if (namespace === undefined)
    throw new OnboardingError(`TREASURY_PARTY "${t.treasuryParty}" is not a party id of the form <hint>::1220<64 hex>`);
  if (namespace !== d.signer.fingerprint) {
    throw new OnboardingError(
      `TREASURY_PARTY ${t.treasuryParty} names namespace ${namespace}, but the treasury key (${d.signer.keyId}) has fingerprint ${d.signer.fingerprint}: set TREASURY_PARTY=${hintOf(t.treasuryParty)}::${d.signer.fingerprint}`,
    );
  }
  const steps: OnboardingStep[] = [];

  if (await d.admin.party(t.treasuryParty)) {
    steps.push({ step: 'party', status: 'exists', detail: `${t.treasuryParty} is allocated on this participant` });
  } else {
    const synchronizer = await synchronizerOf(d.admin, t);
    steps.push({ step: 'party', status: 'done', detail: `allocated ${await allocate(d, synchronizer)} on synchronizer ${synchronizer}` });
  }

  const user = await d.admin.user(t.userId);
  if (user) {
    steps.push({
      step: 'user',
      status: 'exists',
      detail: `user ${t.userId} exists${user.primaryParty ? ` (primary party ${user.primaryParty})` : ''}`,
    });
    const missing = missingRights(treasuryRights(await d.admin.rights(t.userId), t.treasuryParty), t);
    if (missing.length === 0) {
      steps.push({ step: 'rights', status: 'exists', detail: `${t.userId} already has ${wantedRights(t).join(', ')} on the treasury` });
    } else {
      const granted = treasuryRights(await d.admin.grantRights(t.userId, rightsInput(missing, t.treasuryParty)), t.treasuryParty);
      steps.push({
        step: 'rights',
        status: 'done',
        detail: `granted ${t.userId} ${granted.join(', ') || missing.join(', ')} on the treasury`,
      });
    }
  } else {
    await d.admin.createUser({
      user: { id: t.userId, primaryParty: t.treasuryParty, isDeactivated: false, identityProviderId: '' },
      rights: rightsInput(wantedRights(t), t.treasuryParty),
    });
    steps.push({ step: 'user', status: 'done', detail: `created user ${t.userId} with primary party ${t.treasuryParty}` });
    steps.push({ step: 'rights', status: 'done', detail: `granted ${t.userId} ${wantedRights(t).join(', ')} on the treasury` });
  }

  steps.push(await preapprovalOf(d));
  return steps;
}

async function preapprovalOf(d: OnboardDeps): Promise<OnboardingStep> {
  const t = d.target;
  const state = await inspectTreasury(d);
  const found = preapprovalStep(state);
  const p = t.preapproval;
  if (p === undefined || found.status === 'exists' || (state.preapproval !== undefined && 'unreadable' in state.preapproval)) return found;
  const pending = state.pendingProposals.find((x) => x.provider === p.provider);
  if (pending)
    return {
      step: 'preapproval',
      status: 'exists',
      detail: `proposal ${pending.contractId} to ${p.provider} waits for that validator to accept it`,
    };
  let commandId: string;
  try {
    commandId = await proposePreapproval({
      submissions: d.submissions,
      signer: d.signer,
      userId: t.userId,
      treasury: t.treasuryParty,
      provider: p.provider,
      dso: p.dso,
      synchronizerId: t.synchronizerId ?? '',
    });
  } catch (e) {
    if (e instanceof LedgerApiError || e instanceof PreapprovalRefused) return { step: 'preapproval', status: 'failed', detail: e.message };
    throw e;
  }
  for (const until = Date.now() + p.waitMs; ;) {
    const now = await inspectTreasury(d);
    if (now.preapproval !== undefined && !('unreadable' in now.preapproval)) {
      return {
        step: 'preapproval',
        status: 'done',
        detail: `proposed (command ${commandId}); ${p.provider}'s validator accepted it: TransferPreapproval ${now.preapproval.contractId}`,
      };
    }
    if (Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return {
    step: 'preapproval',
    status: 'done',
    detail: `proposed to ${p.provider} (command ${commandId}); its validator accepts it and pays the fee (AcceptTransferPreapprovalProposalTrigger): see cxi treasury show`,
  };
}

function rightsInput(names: readonly RightName[], party: string) {
  return names.map((name) => ({ kind: { [name]: { value: { party } } } as Record<RightName, { value: { party: string } }> }));
}

/** The configured synchronizer, else the only one this node is connected to. */
async function synchronizerOf(admin: LedgerAdminClient, t: OnboardingTarget): Promise<string> {
  if (t.synchronizerId !== undefined && t.synchronizerId !== '') return t.synchronizerId;
  const connected = await admin.connectedSynchronizers();
  const ids = [...new Set(connected.map((c) => c.synchronizerId))];
  if (ids.length === 1) return ids[0]!;
  if (ids.length === 0) throw new OnboardingError('this participant is connected to no synchronizer: the party cannot be allocated');
  throw new OnboardingError(
    `this participant is connected to ${ids.length} synchronizers (${ids.join(', ')}): set LEDGER_SYNCHRONIZER_ID (or --synchronizer) to the one the treasury lives on`,
  );
}

async function allocate(d: OnboardDeps, synchronizer: string): Promise<string> {
  const t = d.target;
  const topology = await d.admin.generateTopology({
    synchronizer,
    partyHint: hintOf(t.treasuryParty),
    publicKey: { format: CRYPTO_KEY_FORMAT_RAW, keyData: d.signer.publicKey, keySpec: SIGNING_KEY_SPEC_EC_CURVE25519 },
    // Hosted (and confirmed) on this participant alone: the defaults, sent explicitly.
    localParticipantObservationOnly: false,
    otherConfirmingParticipantUids: [],
    confirmationThreshold: 0,
    observingParticipantUids: [],
  });
  // The node proposes; the key signs only what it asked for.
  if (topology.partyId !== t.treasuryParty)
    throw new OnboardingError(`the participant generated a topology for ${topology.partyId}, not for ${t.treasuryParty}: not signing it`);
  if (topology.publicKeyFingerprint !== d.signer.fingerprint) {
    throw new OnboardingError(
      `the participant's topology names key ${topology.publicKeyFingerprint}, not the treasury key ${d.signer.fingerprint}: not signing it`,
    );
  }
  const signature = await d.signer.sign(Buffer.from(topology.multiHash, 'base64'));
  return d.admin.allocateExternalParty({
    synchronizer,
    onboardingTransactions: topology.topologyTransactions.map((transaction) => ({ transaction, signatures: [] })),
    multiHashSignatures: [
      { format: d.signer.signatureFormat, signature, signedBy: d.signer.fingerprint, signingAlgorithmSpec: d.signer.signingAlgorithmSpec },
    ],
    identityProviderId: '',
  });
}

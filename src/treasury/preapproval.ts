import { randomBytes } from 'node:crypto';
import { damlValueToJson, verifyPreparedTransactionHash, type PreparedTransaction } from '../ledger/prepared-transaction/index.js';
import type { JsExecuteSubmissionRequestInput } from '../ledger/schema/index.js';
import type { TreasurySigner } from '../ledger/signing.js';
import type { LedgerSubmissionClient } from '../ledger/submission-client.js';

/**
 * The treasury's Canton Coin TransferPreapproval, the way Splice's wallet SDK creates one for an
 * external party over the JSON Ledger API (`createTransferPreapprovalCommand` +
 * prepare/sign/execute; its validator-API alternative, `/v0/admin/external-party/setup-proposal`,
 * is deprecated there): the treasury creates a `Splice.Wallet.TransferPreapproval:
 * TransferPreapprovalProposal` {receiver = treasury, provider = the validator operator party,
 * expectedDso = the DSO party} (hyperledger-labs/splice daml/splice-wallet/daml/Splice/Wallet/
 * TransferPreapproval.daml: signatory receiver, observer provider). The provider's validator app
 * accepts it (AcceptTransferPreapprovalProposalTrigger, apps/validator/…/automation/: it exercises
 * the proposal's accept and pays the preapproval fee from the validator's own wallet, then renews
 * it with RenewTransferPreapprovalTrigger). Nothing the JSON Ledger API offers can accept it for
 * the provider: the treasury proposes, the validator disposes.
 *
 * Before the treasury key signs, the prepared transaction must be exactly that one create, by the
 * treasury alone, and nothing else (checkPreapprovalProposal) — the same rule as for withdrawals:
 * the node's bytes are decoded, re-hashed and checked, then our hash is signed.
 */

const PROPOSAL_PACKAGE = 'splice-wallet';
const PROPOSAL_MODULE = 'Splice.Wallet.TransferPreapproval';
const PROPOSAL_ENTITY = 'TransferPreapprovalProposal';
export const PROPOSAL_TEMPLATE_ID = `#${PROPOSAL_PACKAGE}:${PROPOSAL_MODULE}:${PROPOSAL_ENTITY}`;

export interface ProposalRequest {
  treasury: string;
  provider: string;
  dso: string;
  commandId: string;
}

/** Every way the prepared transaction differs from the one create we asked for (empty = sign). */
export function checkPreapprovalProposal(tx: PreparedTransaction, r: ProposalRequest): string[] {
  const problems: string[] = [];
  const { actAs, commandId } = tx.metadata.submitterInfo;
  if (actAs.length !== 1 || actAs[0] !== r.treasury) problems.push(`actAs is [${actAs.join(', ')}], expected [${r.treasury}]`);
  if (commandId !== r.commandId) problems.push(`commandId is "${commandId}", expected "${r.commandId}"`);
  if (tx.metadata.inputContracts.length > 0)
    problems.push(`it uses ${tx.metadata.inputContracts.length} input contract(s); a proposal's create uses none`);
  const { roots, nodes } = tx.transaction;
  if (roots.length !== 1 || nodes.length !== 1) {
    problems.push(`expected exactly one node (the proposal's create), found ${roots.length} root(s) and ${nodes.length} node(s)`);
    return problems;
  }
  const node = nodes[0]!.node;
  if (node.kind !== 'create') {
    problems.push(`expected a create, found a ${node.kind}`);
    return problems;
  }
  const t = node.templateId;
  if (node.packageName !== PROPOSAL_PACKAGE || t.moduleName !== PROPOSAL_MODULE || t.entityName !== PROPOSAL_ENTITY) {
    problems.push(
      `creates ${node.packageName}:${t.moduleName}:${t.entityName}, expected ${PROPOSAL_PACKAGE}:${PROPOSAL_MODULE}:${PROPOSAL_ENTITY}`,
    );
  }
  if (node.signatories.length !== 1 || node.signatories[0] !== r.treasury)
    problems.push(`signed by [${node.signatories.join(', ')}], expected the treasury alone`);
  const strangers = node.stakeholders.filter((p) => p !== r.treasury && p !== r.provider);
  if (strangers.length > 0) problems.push(`stakeholders beyond the treasury and the provider: ${strangers.join(', ')}`);
  let args: unknown;
  try {
    args = damlValueToJson(node.argument);
  } catch (e) {
    problems.push(`its argument cannot be read: ${(e as Error).message}`);
    return problems;
  }
  const want = { receiver: r.treasury, provider: r.provider, expectedDso: r.dso };
  if (JSON.stringify(args) !== JSON.stringify(want))
    problems.push(`its argument is ${JSON.stringify(args)}, expected ${JSON.stringify(want)}`);
  return problems;
}

export class PreapprovalRefused extends Error {
  override readonly name = 'PreapprovalRefused';
}

export interface ProposeDeps {
  submissions: LedgerSubmissionClient;
  signer: TreasurySigner;
  userId: string;
  treasury: string;
  provider: string;
  dso: string;
  /** "" = the participant chooses. */
  synchronizerId: string;
}

/** Prepares, checks, signs and executes the proposal's create; returns the command id. */
export async function proposePreapproval(d: ProposeDeps): Promise<string> {
  const commandId = `treasury-preapproval-proposal-${randomBytes(8).toString('hex')}`;
  const prepared = await d.submissions.prepare({
    userId: d.userId,
    commandId,
    commands: [
      {
        CreateCommand: {
          templateId: PROPOSAL_TEMPLATE_ID,
          createArguments: { receiver: d.treasury, provider: d.provider, expectedDso: d.dso },
        },
      },
    ],
    actAs: [d.treasury],
    readAs: [],
    disclosedContracts: [],
    // Canton 3.4 refuses a prepare without these two (JsInteractiveSubmissionService.scala).
    synchronizerId: d.synchronizerId,
    packageIdSelectionPreference: [],
    verboseHashing: false,
  });
  const check = verifyPreparedTransactionHash({
    preparedTransaction: prepared.preparedTransaction,
    preparedTransactionHash: prepared.preparedTransactionHash,
    hashingSchemeVersion: prepared.hashingSchemeVersion,
  });
  if (!check.matches)
    throw new PreapprovalRefused(
      `refusing to sign the preapproval proposal: the node sent hash ${prepared.preparedTransactionHash}, the transaction hashes to ${check.hashBase64}`,
    );
  const problems = checkPreapprovalProposal(check.transaction, { treasury: d.treasury, provider: d.provider, dso: d.dso, commandId });
  if (problems.length > 0) throw new PreapprovalRefused(`refusing to sign the preapproval proposal: ${problems.join('; ')}`);
  const signature = await d.signer.sign(check.hash);
  const body: JsExecuteSubmissionRequestInput = {
    preparedTransaction: prepared.preparedTransaction,
    hashingSchemeVersion: prepared.hashingSchemeVersion as JsExecuteSubmissionRequestInput['hashingSchemeVersion'],
    submissionId: randomBytes(8).toString('hex'),
    userId: d.userId,
    partySignatures: {
      signatures: [
        {
          party: d.treasury,
          signatures: [
            {
              format: d.signer.signatureFormat,
              signature,
              signedBy: d.signer.fingerprint,
              signingAlgorithmSpec: d.signer.signingAlgorithmSpec,
            },
          ],
        },
      ],
    },
    deduplicationPeriod: { Empty: {} },
  };
  await d.submissions.executeAndWait(body);
  return commandId;
}

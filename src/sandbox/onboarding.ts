import type { z } from 'zod';
import {
  AllocateExternalPartyResponse,
  CreateUserResponse,
  GenerateExternalPartyTopologyResponse,
  type AllocateExternalPartyRequest,
  type CreateUserRequest,
  type GenerateExternalPartyTopologyRequest,
} from '../ledger/schema/index.js';
import { signEd25519, type Ed25519KeyPair } from './util/ed25519.js';

async function post<S extends z.ZodType>(url: string, token: string, body: unknown, schema: S): Promise<z.output<S>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${new URL(url).pathname} failed with ${res.status}: ${text}`);
  return schema.parse(JSON.parse(text));
}

/**
 * External party onboarding exactly as a wallet does it against a validator's JSON API:
 * generate-topology, sign the multi-hash with the party's Ed25519 key, allocate.
 */
export async function onboardExternalParty(
  jsonApiUrl: string,
  adminToken: string,
  synchronizerId: string,
  partyHint: string,
  key: Ed25519KeyPair,
): Promise<{ partyId: string; fingerprint: string }> {
  const genReq: z.input<typeof GenerateExternalPartyTopologyRequest> = {
    synchronizer: synchronizerId,
    partyHint,
    publicKey: { format: 'CRYPTO_KEY_FORMAT_RAW', keyData: key.rawPublicKey.toString('base64'), keySpec: 'SIGNING_KEY_SPEC_EC_CURVE25519' },
    // Hosted on this participant only, as Canton's external_party_onboarding.sh example asks.
    otherConfirmingParticipantUids: [],
  };
  const topology = await post(
    `${jsonApiUrl}/v2/parties/external/generate-topology`,
    adminToken,
    genReq,
    GenerateExternalPartyTopologyResponse,
  );
  const signature = signEd25519(key.privateKey, Buffer.from(topology.multiHash, 'base64')).toString('base64');
  const allocReq: z.input<typeof AllocateExternalPartyRequest> = {
    synchronizer: synchronizerId,
    onboardingTransactions: topology.topologyTransactions.map((transaction) => ({ transaction })),
    multiHashSignatures: [
      {
        format: 'SIGNATURE_FORMAT_CONCAT',
        signature,
        signedBy: topology.publicKeyFingerprint,
        signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519',
      },
    ],
  };
  const allocated = await post(`${jsonApiUrl}/v2/parties/external/allocate`, adminToken, allocReq, AllocateExternalPartyResponse);
  return { partyId: allocated.partyId, fingerprint: topology.publicKeyFingerprint };
}

/** A Ledger API user with read and execute rights on `party` (what the exchange's services need). */
export async function createPartyUser(jsonApiUrl: string, adminToken: string, userId: string, party: string): Promise<void> {
  const body: z.input<typeof CreateUserRequest> = {
    user: { id: userId, primaryParty: party, isDeactivated: false, identityProviderId: '' },
    rights: [{ kind: { CanReadAs: { value: { party } } } }, { kind: { CanExecuteAs: { value: { party } } } }],
  };
  await post(`${jsonApiUrl}/v2/users`, adminToken, body, CreateUserResponse);
}

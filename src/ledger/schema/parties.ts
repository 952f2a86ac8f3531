import { z } from 'zod';
import { Int32, opt, optNonEmpty, PartyId, SynchronizerId } from './common.js';
import { oneOf, valueWrapped } from './oneof.js';
import { Signature } from './signatures.js';

export const ObjectMeta = z.object({
  resourceVersion: opt(z.string()),
  annotations: opt(z.record(z.string(), z.string())),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

export const PartyDetails = z.object({
  party: PartyId,
  isLocal: opt(z.boolean()),
  localMetadata: opt(ObjectMeta),
  identityProviderId: opt(z.string()),
});
export type PartyDetails = z.infer<typeof PartyDetails>;

/** GET /v2/parties */
export const ListKnownPartiesResponse = z.object({
  partyDetails: z.array(PartyDetails),
  nextPageToken: opt(z.string()),
});
export type ListKnownPartiesResponse = z.infer<typeof ListKnownPartiesResponse>;

/** GET /v2/parties/{party} */
export const GetPartiesResponse = z.object({
  partyDetails: z.array(PartyDetails),
});
export type GetPartiesResponse = z.infer<typeof GetPartiesResponse>;

/** POST /v2/parties — allocates an internal (participant-hosted key) party. */
export const AllocatePartyRequest = z.object({
  partyIdHint: opt(z.string()),
  localMetadata: opt(ObjectMeta),
  identityProviderId: opt(z.string()),
  synchronizerId: opt(SynchronizerId),
  userId: opt(z.string()),
});
export type AllocatePartyRequest = z.infer<typeof AllocatePartyRequest>;

export const AllocatePartyResponse = z.object({
  partyDetails: PartyDetails,
});
export type AllocatePartyResponse = z.infer<typeof AllocatePartyResponse>;

/** GET /v2/parties/participant-id */
export const GetParticipantIdResponse = z.object({
  participantId: z.string(),
});
export type GetParticipantIdResponse = z.infer<typeof GetParticipantIdResponse>;

/** Known values of the free-form strings in SigningPublicKey (for Ed25519 external parties). */
export const CRYPTO_KEY_FORMAT_RAW = 'CRYPTO_KEY_FORMAT_RAW';
export const CRYPTO_KEY_FORMAT_DER_X509_SUBJECT_PUBLIC_KEY_INFO = 'CRYPTO_KEY_FORMAT_DER_X509_SUBJECT_PUBLIC_KEY_INFO';
export const SIGNING_KEY_SPEC_EC_CURVE25519 = 'SIGNING_KEY_SPEC_EC_CURVE25519';

/** `keyData` is base64 (for RAW Ed25519: the 32-byte public key). */
export const SigningPublicKey = z.object({
  format: z.string(),
  keyData: z.string(),
  keySpec: z.string(),
});
export type SigningPublicKey = z.infer<typeof SigningPublicKey>;

/** POST /v2/parties/external/generate-topology */
export const GenerateExternalPartyTopologyRequest = z.object({
  synchronizer: SynchronizerId,
  partyHint: z.string(),
  publicKey: SigningPublicKey,
  localParticipantObservationOnly: opt(z.boolean()),
  otherConfirmingParticipantUids: opt(z.array(z.string())),
  confirmationThreshold: opt(Int32),
  observingParticipantUids: opt(z.array(z.string())),
});
export type GenerateExternalPartyTopologyRequest = z.infer<typeof GenerateExternalPartyTopologyRequest>;

/** Sign `multiHash` (base64) with the party key, then allocate with the transactions unchanged. */
export const GenerateExternalPartyTopologyResponse = z.object({
  partyId: PartyId,
  publicKeyFingerprint: z.string(),
  topologyTransactions: z.array(z.string()),
  multiHash: z.string(),
});
export type GenerateExternalPartyTopologyResponse = z.infer<typeof GenerateExternalPartyTopologyResponse>;

export const SignedTransaction = z.object({
  transaction: z.string(),
  signatures: opt(z.array(Signature)),
});
export type SignedTransaction = z.infer<typeof SignedTransaction>;

/** POST /v2/parties/external/allocate */
export const AllocateExternalPartyRequest = z.object({
  synchronizer: SynchronizerId,
  onboardingTransactions: z.array(SignedTransaction),
  multiHashSignatures: opt(z.array(Signature)),
  identityProviderId: opt(z.string()),
});
export type AllocateExternalPartyRequest = z.infer<typeof AllocateExternalPartyRequest>;

export const AllocateExternalPartyResponse = z.object({
  partyId: PartyId,
});
export type AllocateExternalPartyResponse = z.infer<typeof AllocateExternalPartyResponse>;

export const User = z.object({
  id: z.string(),
  primaryParty: optNonEmpty(), // Canton sends "" for a user without a primary party
  isDeactivated: opt(z.boolean()),
  metadata: opt(ObjectMeta),
  identityProviderId: opt(z.string()),
});
export type User = z.infer<typeof User>;

const PartyRight = z.object({ party: PartyId });

/**
 * Every case is value-wrapped, including the field-less ones: `{"ParticipantAdmin": {"value": {}}}`.
 * Only `Empty` is bare. External-party flows need CanReadAs for prepare and CanExecuteAs (or
 * CanActAs) for execute.
 */
export const RightKind = oneOf('Right.kind', {
  CanActAs: valueWrapped(PartyRight),
  CanReadAs: valueWrapped(PartyRight),
  CanExecuteAs: valueWrapped(PartyRight),
  CanReadAsAnyParty: valueWrapped(z.object({})),
  CanExecuteAsAnyParty: valueWrapped(z.object({})),
  ParticipantAdmin: valueWrapped(z.object({})),
  IdentityProviderAdmin: valueWrapped(z.object({})),
  Empty: z.object({}),
});
export type RightKind = z.infer<typeof RightKind>;

export const Right = z.object({
  kind: opt(RightKind),
});
export type Right = z.infer<typeof Right>;

/** GET /v2/users */
export const ListUsersResponse = z.object({
  users: opt(z.array(User)),
  nextPageToken: opt(z.string()),
});
export type ListUsersResponse = z.infer<typeof ListUsersResponse>;

/** POST /v2/users */
export const CreateUserRequest = z.object({
  user: User,
  rights: opt(z.array(Right)),
});
export type CreateUserRequest = z.infer<typeof CreateUserRequest>;

export const CreateUserResponse = z.object({
  user: User,
});
export type CreateUserResponse = z.infer<typeof CreateUserResponse>;

/** GET /v2/users/{user-id} and GET /v2/authenticated-user ("who am I", a good startup check). */
export const GetUserResponse = z.object({
  user: User,
});
export type GetUserResponse = z.infer<typeof GetUserResponse>;

/** GET /v2/users/{user-id}/rights */
export const ListUserRightsResponse = z.object({
  rights: opt(z.array(Right)),
});
export type ListUserRightsResponse = z.infer<typeof ListUserRightsResponse>;

/** POST /v2/users/{user-id}/rights */
export const GrantUserRightsRequest = z.object({
  userId: z.string(),
  rights: opt(z.array(Right)),
  identityProviderId: opt(z.string()),
});
export type GrantUserRightsRequest = z.infer<typeof GrantUserRightsRequest>;

export const GrantUserRightsResponse = z.object({
  newlyGrantedRights: opt(z.array(Right)),
});
export type GrantUserRightsResponse = z.infer<typeof GrantUserRightsResponse>;

/** PATCH /v2/users/{user-id}/rights */
export const RevokeUserRightsRequest = z.object({
  userId: z.string(),
  rights: opt(z.array(Right)),
  identityProviderId: opt(z.string()),
});
export type RevokeUserRightsRequest = z.infer<typeof RevokeUserRightsRequest>;

export const RevokeUserRightsResponse = z.object({
  newlyRevokedRights: opt(z.array(Right)),
});
export type RevokeUserRightsResponse = z.infer<typeof RevokeUserRightsResponse>;

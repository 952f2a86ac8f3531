import { bool, bytes, enumOf, int, map, oneof, option, proto, relaxed, seq, str, valueCase, type Decoded } from './codec.js';
import { Signature } from './commands.js';

/**
 * Party and user management request bodies: ScalaPB messages decoded with `deriveRelaxedCodec`
 * (JsPartyManagementService.scala, JsUserManagementService.scala, JsSchema.scala for ObjectMeta
 * and SigningPublicKey); fields from admin/party_management_service.proto,
 * admin/user_management_service.proto, admin/object_meta.proto and crypto.proto.
 */

export const ObjectMeta = relaxed({ resourceVersion: proto(str), annotations: proto(map(str)) });

export const AllocatePartyRequest = relaxed({
  partyIdHint: proto(str),
  localMetadata: proto(option(ObjectMeta)),
  identityProviderId: proto(str),
  synchronizerId: proto(str),
  userId: proto(str),
});
export type AllocatePartyRequest = Decoded<typeof AllocatePartyRequest>;

export const CryptoKeyFormat = enumOf([
  'CRYPTO_KEY_FORMAT_UNSPECIFIED',
  'CRYPTO_KEY_FORMAT_DER',
  'CRYPTO_KEY_FORMAT_RAW',
  'CRYPTO_KEY_FORMAT_DER_X509_SUBJECT_PUBLIC_KEY_INFO',
]);
export const SigningKeySpec = enumOf([
  'SIGNING_KEY_SPEC_UNSPECIFIED',
  'SIGNING_KEY_SPEC_EC_CURVE25519',
  'SIGNING_KEY_SPEC_EC_P256',
  'SIGNING_KEY_SPEC_EC_P384',
  'SIGNING_KEY_SPEC_EC_SECP256K1',
]);

/** Relaxed: `format` and `keySpec` are enums, so required in practice. */
export const SigningPublicKey = relaxed({ format: proto(CryptoKeyFormat), keyData: proto(bytes), keySpec: proto(SigningKeySpec) });

export const GenerateExternalPartyTopologyRequest = relaxed({
  synchronizer: proto(str),
  partyHint: proto(str),
  publicKey: proto(option(SigningPublicKey)),
  localParticipantObservationOnly: proto(bool),
  otherConfirmingParticipantUids: proto(seq(str)),
  confirmationThreshold: proto(int),
  observingParticipantUids: proto(seq(str)),
});
export type GenerateExternalPartyTopologyRequest = Decoded<typeof GenerateExternalPartyTopologyRequest>;

export const SignedTransaction = relaxed({ transaction: proto(bytes), signatures: proto(seq(Signature)) });

export const AllocateExternalPartyRequest = relaxed({
  synchronizer: proto(str),
  onboardingTransactions: proto(seq(SignedTransaction)),
  multiHashSignatures: proto(seq(Signature)),
  identityProviderId: proto(str),
});
export type AllocateExternalPartyRequest = Decoded<typeof AllocateExternalPartyRequest>;

const partyRight = relaxed({ party: proto(str) });
const noFields = relaxed({});

/** Right.Kind: an ADT of relaxed wrappers whose `value` (a message) has no default. */
export const Right = relaxed({
  kind: proto(
    oneof('Right.Kind', {
      ParticipantAdmin: valueCase(noFields),
      CanActAs: valueCase(partyRight),
      CanReadAs: valueCase(partyRight),
      IdentityProviderAdmin: valueCase(noFields),
      CanReadAsAnyParty: valueCase(noFields),
      CanExecuteAs: valueCase(partyRight),
      CanExecuteAsAnyParty: valueCase(noFields),
    }),
  ),
});
export type Right = Decoded<typeof Right>;

export const User = relaxed({
  id: proto(str),
  primaryParty: proto(str),
  isDeactivated: proto(bool),
  metadata: proto(option(ObjectMeta)),
  identityProviderId: proto(str),
});

export const CreateUserRequest = relaxed({ user: proto(option(User)), rights: proto(seq(Right)) });
export type CreateUserRequest = Decoded<typeof CreateUserRequest>;

export const GrantUserRightsRequest = relaxed({ userId: proto(str), rights: proto(seq(Right)), identityProviderId: proto(str) });
export type GrantUserRightsRequest = Decoded<typeof GrantUserRightsRequest>;
export const RevokeUserRightsRequest = GrantUserRightsRequest;
export type RevokeUserRightsRequest = GrantUserRightsRequest;

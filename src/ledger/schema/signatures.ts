import { z } from 'zod';

/**
 * Enum strings of the Ledger API crypto.proto. The spec types these fields as plain strings; the
 * enums make a typo fail at our boundary instead of as an opaque INVALID_ARGUMENT from the node.
 * Ed25519 uses CONCAT (r‖s); RAW is the deprecated legacy format.
 */
export const SignatureFormat = z.enum([
  'SIGNATURE_FORMAT_UNSPECIFIED',
  'SIGNATURE_FORMAT_RAW',
  'SIGNATURE_FORMAT_DER',
  'SIGNATURE_FORMAT_CONCAT',
  'SIGNATURE_FORMAT_SYMBOLIC',
]);
export type SignatureFormat = z.infer<typeof SignatureFormat>;

export const SigningAlgorithmSpec = z.enum([
  'SIGNING_ALGORITHM_SPEC_UNSPECIFIED',
  'SIGNING_ALGORITHM_SPEC_ED25519',
  'SIGNING_ALGORITHM_SPEC_EC_DSA_SHA_256',
  'SIGNING_ALGORITHM_SPEC_EC_DSA_SHA_384',
]);
export type SigningAlgorithmSpec = z.infer<typeof SigningAlgorithmSpec>;

/**
 * `signature` is base64; `signedBy` is the fingerprint of the signing key ("1220…"), which for a
 * party whose namespace key signs is the part of the party id after "::".
 */
export const Signature = z.object({
  format: SignatureFormat,
  signature: z.string().min(1),
  signedBy: z.string().min(1),
  signingAlgorithmSpec: SigningAlgorithmSpec,
});
export type Signature = z.infer<typeof Signature>;

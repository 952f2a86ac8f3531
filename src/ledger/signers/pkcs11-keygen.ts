import type { Handle, Template } from 'pkcs11js';
import type { Pkcs11SignerConfig } from '../../config.js';
import { ed25519Fingerprint, SignerUnavailableError, SigningKeyError } from '../signing.js';
import {
  CKM_EC_EDWARDS_KEY_PAIR_GEN,
  ED25519_OID_DER,
  openPkcs11Module,
  pkcs11js,
  pkcs11Reason,
  type Pkcs11Module,
} from './pkcs11-module.js';
import { describeKey, describeToken, pkcs11KeyUri, Pkcs11Token } from './pkcs11-token.js';

export interface GeneratedKey {
  keyId: string;
  /** base64 of the raw 32-byte public key. */
  publicKey: string;
  fingerprint: string;
}

/**
 * Generates the treasury's Ed25519 key pair inside the HSM (CKM_EC_EDWARDS_KEY_PAIR_GEN): a token
 * object, private, sensitive and never extractable, with the configured label and id. Refuses when
 * a key with them exists already (a treasury key is never replaced by accident).
 */
export function generatePkcs11Key(c: Pick<Pkcs11SignerConfig, 'modulePath' | 'token' | 'key' | 'pin'>): GeneratedKey {
  if (c.key.label === undefined && c.key.id === undefined)
    throw new SigningKeyError('a new key needs TREASURY_PKCS11_KEY_LABEL or TREASURY_PKCS11_KEY_ID');
  let module: Pkcs11Module;
  try {
    module = openPkcs11Module(c.modulePath);
  } catch (e) {
    throw new SigningKeyError(`cannot load the PKCS#11 library ${c.modulePath}: ${pkcs11Reason(e)}`);
  }
  const p = pkcs11js();
  const token = new Pkcs11Token(module, c);
  const keyId = pkcs11KeyUri(c);
  try {
    let session: Handle;
    try {
      session = token.open(true);
    } catch (e) {
      throw new SigningKeyError(`HSM (${c.modulePath}, ${describeToken(c)}): opening a logged-in session: ${pkcs11Reason(e)}`);
    }
    try {
      if (token.findPrivateKey(session) !== undefined)
        throw new SigningKeyError(`${describeToken(c)} already has an Ed25519 key with ${describeKey(c)}: not generating another`);
      const named: Template = [
        ...(c.key.label !== undefined ? [{ type: p.CKA_LABEL, value: c.key.label }] : []),
        ...(c.key.id !== undefined ? [{ type: p.CKA_ID, value: Buffer.from(c.key.id, 'hex') }] : []),
      ];
      try {
        module.lib.C_GenerateKeyPair(
          session,
          { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
          [
            { type: p.CKA_TOKEN, value: true },
            { type: p.CKA_VERIFY, value: true },
            { type: p.CKA_EC_PARAMS, value: ED25519_OID_DER },
            ...named,
          ],
          [
            { type: p.CKA_TOKEN, value: true },
            { type: p.CKA_PRIVATE, value: true },
            { type: p.CKA_SENSITIVE, value: true },
            { type: p.CKA_EXTRACTABLE, value: false },
            { type: p.CKA_SIGN, value: true },
            ...named,
          ],
        );
      } catch (e) {
        throw new SigningKeyError(
          `HSM (${describeToken(c)}): generating an Ed25519 key pair (CKM_EC_EDWARDS_KEY_PAIR_GEN): ${pkcs11Reason(e)}`,
        );
      }
      const raw = token.readPublicKey(session);
      return { keyId, publicKey: raw.toString('base64'), fingerprint: ed25519Fingerprint(raw) };
    } finally {
      token.closeQuietly(session);
    }
  } catch (e) {
    if (e instanceof SignerUnavailableError) throw new SigningKeyError(e.message);
    throw e;
  } finally {
    module.release();
  }
}

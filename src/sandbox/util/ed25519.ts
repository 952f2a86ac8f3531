import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ed25519Fingerprint } from './ids.js';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Accepts RAW (32 bytes) or DER SubjectPublicKeyInfo, the two formats the Ledger API allows. */
export function publicKeyFromLedgerKey(keyData: Uint8Array, format: string): KeyObject {
  if (format === 'CRYPTO_KEY_FORMAT_DER_X509_SUBJECT_PUBLIC_KEY_INFO' || format === 'CRYPTO_KEY_FORMAT_DER') {
    return createPublicKey({ key: Buffer.from(keyData), format: 'der', type: 'spki' });
  }
  return publicKeyFromRaw(keyData);
}

export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

export function verifyEd25519(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

export interface Ed25519KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** 32 raw bytes, as sent in CRYPTO_KEY_FORMAT_RAW. */
  rawPublicKey: Buffer;
  fingerprint: string;
  privateKeyPem: string;
}

export function generateEd25519(): Ed25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return {
    publicKey,
    privateKey,
    rawPublicKey: raw,
    fingerprint: ed25519Fingerprint(raw),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export function signEd25519(privateKey: KeyObject, data: Uint8Array): Buffer {
  return sign(null, data, privateKey);
}

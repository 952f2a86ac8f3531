import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import type { Logger } from '../logger.js';

/**
 * The treasury's Ed25519 signer: what signs prepared-transaction hashes and topology multi-hashes.
 * Two kinds, chosen by TREASURY_SIGNER (src/ledger/signers/open.ts): the key file (this module:
 * loaded once at start-up, kept only inside a closure — no property, error message, log line or
 * JSON form ever holds key material) and an HSM through PKCS#11 (signers/pkcs11.ts: the private
 * key never enters this process). Start-up fails with a SigningKeyError that says what is wrong
 * with the key, never what is in it; a signer that cannot sign right now (an HSM unreachable, a
 * session lost, a PIN refused) throws SignerUnavailableError, which the machines retry.
 */

export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/** The signer cannot sign now, but may later (HSM unreachable, session lost, PIN refused, timeout): retryable. */
export class SignerUnavailableError extends Error {
  override readonly name = 'SignerUnavailableError';
}

export interface TreasurySigner {
  readonly kind: 'file' | 'pkcs11';
  /** Where the key is, for logs: `file:<path>`, or the PKCS#11 URI of the key object (RFC 7512). Never secret. */
  readonly keyId: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  readonly publicKey: string;
  /** Canton's fingerprint of the public key ("1220" + 64 hex): the `signedBy` of every signature. */
  readonly fingerprint: string;
  readonly signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519';
  /** Ed25519 is r‖s: Canton's CONCAT format. */
  readonly signatureFormat: 'SIGNATURE_FORMAT_CONCAT';
  /**
   * base64 of the 64-byte signature over `data` (the 32 hash bytes, never their base64). Every
   * signature is checked against `publicKey` before it is returned, whatever produced it.
   */
  sign(data: Uint8Array): Promise<string>;
  verify(data: Uint8Array, signatureBase64: string): boolean;
  /** Releases the HSM sessions (a no-op for the key file). */
  close(): Promise<void>;
}

export interface LoadSignerOptions {
  /**
   * The treasury party. Its namespace (the part after "::") is the fingerprint of its namespace
   * key; for a party allocated with one key (the usual external party) that is this key, and a
   * mismatch means the wrong key file.
   */
  party?: string;
  /** The party's namespace key is a different key than its signing key (multi-key set-ups): skip that check. */
  allowOtherNamespaceKey?: boolean;
  /** Development only: a key file readable by group or others is a warning instead of a refusal. */
  allowReadableKeyFile?: boolean;
  logger?: Logger;
}

/** PKCS#8 prefix of an Ed25519 private key (RFC 8410) before the 32-byte seed. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const PARTY_ID = /^[^:\s]+::(1220[0-9a-f]{64})$/;
/** Canton's hash purpose for public key fingerprints. */
const FINGERPRINT_PURPOSE = 12;

/** Canton's fingerprint of a raw Ed25519 public key: multihash (0x12 0x20) of SHA-256(purpose ‖ key). */
export function ed25519Fingerprint(rawPublicKey: Uint8Array): string {
  const purpose = Buffer.alloc(4);
  purpose.writeUInt32BE(FINGERPRINT_PURPOSE);
  return `1220${createHash('sha256').update(purpose).update(rawPublicKey).digest('hex')}`;
}

/** The fingerprint a party id names as its namespace, or undefined for a malformed id. */
export function partyNamespace(party: string): string | undefined {
  return PARTY_ID.exec(party)?.[1];
}

/** Reads the key file and builds the signer; throws SigningKeyError naming the file and the problem. */
export function loadTreasurySigner(file: string, opts: LoadSignerOptions = {}): TreasurySigner {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new SigningKeyError(`cannot read the treasury key file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // A treasury key others on the host can read is a key others may hold: refuse to run on it.
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    const problem = `the treasury key file ${file} has mode ${mode.toString(8)}: group or others can access it; run \`chmod 600 ${file}\``;
    if (!opts.allowReadableKeyFile) {
      bytes.fill(0);
      throw new SigningKeyError(`${problem} (or set TREASURY_KEY_FILE_ALLOW_READABLE=true for development)`);
    }
    opts.logger?.warn({ file, mode: mode.toString(8) }, `${problem}; accepted because TREASURY_KEY_FILE_ALLOW_READABLE is set`);
  }
  try {
    return signerFromKeyBytes(bytes, file, opts);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Accepts a PKCS#8 private key as PEM ("-----BEGIN PRIVATE KEY-----", what the ledger double and
 * `openssl genpkey -algorithm ed25519` write) or DER, or a bare key as hex/base64 text: a 32-byte
 * seed, or the 64-byte seed ‖ public key of NaCl-style tooling (its public half must match).
 */
export function signerFromKeyBytes(bytes: Buffer, source: string, opts: LoadSignerOptions = {}): TreasurySigner {
  const key = parsePrivateKey(bytes, source);
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeyError(`${source} holds a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; the treasury key must be Ed25519`);
  }
  const publicKey = createPublicKey(key);
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const raw = spki.subarray(spki.length - 32);
  const fingerprint = ed25519Fingerprint(raw);
  // A key that cannot produce a verifiable signature must not get as far as a withdrawal.
  const probe = Buffer.from('treasury key self-test');
  if (!verify(null, probe, publicKey, sign(null, probe, key)))
    throw new SigningKeyError(`${source}: the key fails its own signature check`);
  checkTreasuryNamespace(fingerprint, `the key in ${source}`, 'wrong key file', opts);
  return makeSigner(key, publicKey, raw.toString('base64'), fingerprint, `file:${source}`);
}

/**
 * The start-up check both signers make: the treasury party's namespace (after "::") is the
 * fingerprint of its namespace key, which for the usual external party is its signing key.
 */
export function checkTreasuryNamespace(
  fingerprint: string,
  what: string,
  hint: string,
  opts: Pick<LoadSignerOptions, 'party' | 'allowOtherNamespaceKey'>,
): void {
  if (opts.party === undefined) return;
  const namespace = partyNamespace(opts.party);
  if (namespace === undefined)
    throw new SigningKeyError(`treasury party "${opts.party}" is not a party id of the form <hint>::1220<64 hex>`);
  if (namespace !== fingerprint && !opts.allowOtherNamespaceKey) {
    throw new SigningKeyError(
      `${what} has fingerprint ${fingerprint}, but treasury party ${opts.party} belongs to namespace ${namespace}: ${hint} (or set the option for a party whose namespace key differs from its signing key)`,
    );
  }
}

/** SubjectPublicKeyInfo prefix of an Ed25519 public key (RFC 8410) before the 32 raw bytes. */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A verifying key from the raw 32 bytes (what an HSM and Canton hand out). */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new SigningKeyError(`an Ed25519 public key has 32 bytes, not ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** Ed25519 verification that answers false, never throws, on a malformed signature. */
export function verifyEd25519(publicKey: KeyObject, data: Uint8Array, signatureBase64: string): boolean {
  try {
    return verify(null, data, publicKey, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Whatever serialises or inspects a signer sees only public facts: its kind, key id, public key
 * and fingerprint. Freezes it.
 */
export function sealSigner<S extends TreasurySigner>(signer: S): S {
  const visible = { kind: signer.kind, keyId: signer.keyId, publicKey: signer.publicKey, fingerprint: signer.fingerprint };
  Object.defineProperty(signer, 'toJSON', { value: () => visible, enumerable: false });
  Object.defineProperty(signer, inspect.custom, {
    value: () => `TreasurySigner(${signer.kind} ${signer.keyId} ${signer.fingerprint})`,
    enumerable: false,
  });
  return Object.freeze(signer);
}

function parsePrivateKey(bytes: Buffer, source: string): KeyObject {
  const text = bytes.toString('utf8').trim();
  if (text.startsWith('-----BEGIN')) {
    if (text.includes('ENCRYPTED PRIVATE KEY'))
      throw new SigningKeyError(`${source} holds an encrypted private key; provide it decrypted (PKCS#8, file mode 600)`);
    if (!text.includes('-----BEGIN PRIVATE KEY-----'))
      throw new SigningKeyError(`${source} is PEM but not a PKCS#8 private key ("BEGIN PRIVATE KEY")`);
    return tryKey(() => createPrivateKey({ key: text, format: 'pem' }), source, 'PKCS#8 PEM');
  }
  const bare = bareKey(text);
  if (bare !== undefined) {
    try {
      return seedToKey(bare, source);
    } finally {
      bare.fill(0);
    }
  }
  if (bytes.length > 0 && bytes[0] === 0x30)
    return tryKey(() => createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }), source, 'PKCS#8 DER');
  throw new SigningKeyError(`${source} is not a key file: expected PKCS#8 PEM or DER, or a 32/64-byte Ed25519 key in hex or base64`);
}

/** Hex or base64 text of exactly 32 or 64 bytes. */
function bareKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]+$/.test(text) && (text.length === 64 || text.length === 128)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === 32 || b.length === 64) return b;
    b.fill(0);
  }
  return undefined;
}

function seedToKey(bare: Buffer, source: string): KeyObject {
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, bare.subarray(0, 32)]);
  try {
    const key = tryKey(() => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), source, 'raw Ed25519 seed');
    if (bare.length === 64) {
      const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
      if (!spki.subarray(spki.length - 32).equals(bare.subarray(32))) {
        throw new SigningKeyError(`${source}: the 64-byte key's public half does not belong to its private half`);
      }
    }
    return key;
  } finally {
    der.fill(0);
  }
}

function tryKey(build: () => KeyObject, source: string, what: string): KeyObject {
  try {
    return build();
  } catch (e) {
    // OpenSSL's reason ("unsupported", "bad decrypt") only: never the input.
    const reason = e instanceof Error ? e.message.split('\n')[0] : 'unreadable';
    throw new SigningKeyError(`${source} cannot be read as ${what}: ${reason}`);
  }
}

function makeSigner(privateKey: KeyObject, publicKey: KeyObject, publicKeyB64: string, fingerprint: string, keyId: string): TreasurySigner {
  return sealSigner({
    kind: 'file',
    keyId,
    publicKey: publicKeyB64,
    fingerprint,
    signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519',
    signatureFormat: 'SIGNATURE_FORMAT_CONCAT',
    sign: (data) => Promise.resolve(sign(null, data, privateKey).toString('base64')),
    verify: (data, signatureBase64) => verifyEd25519(publicKey, data, signatureBase64),
    close: () => Promise.resolve(),
  });
}

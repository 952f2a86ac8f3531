import type { Handle } from 'pkcs11js';
import type { Pkcs11SignerConfig } from '../../config.js';
import {
  checkTreasuryNamespace,
  ed25519Fingerprint,
  ed25519PublicKey,
  sealSigner,
  SignerUnavailableError,
  SigningKeyError,
  verifyEd25519,
  type LoadSignerOptions,
  type TreasurySigner,
} from '../signing.js';
import { CKM_EDDSA, openPkcs11Module, pkcs11Code, pkcs11js, pkcs11Reason, type Pkcs11Module } from './pkcs11-module.js';
import { describeKey, describeToken, lostSessionCodes, pkcs11KeyUri, Pkcs11Token, type Session } from './pkcs11-token.js';

/**
 * The treasury's Ed25519 key in an HSM, through the vendor's PKCS#11 library (pkcs11js binding):
 * the private key never enters this process — the daemon holds a session handle and the public key.
 *
 * Start-up (openPkcs11Signer) finds the token (by label or slot) and the key (by CKA_LABEL and/or
 * CKA_ID, an Ed25519 = CKK_EC_EDWARDS private key with its public key object beside it), logs in,
 * reads the public key from the token, checks it against the treasury party's namespace and signs
 * a probe that must verify with it. Any failure there stops start-up with a SigningKeyError that
 * says which step failed and what the HSM answered.
 *
 * Signing (CKM_EDDSA over the 32 hash bytes) takes a session from a small pool; the binding runs
 * the signature on a worker thread (C_SignAsync), under a deadline. A lost session (closed,
 * logged out, token re-inserted, library finalised) is replaced once, transparently; what still
 * fails is a SignerUnavailableError naming the HSM's answer, which the machines retry. Every new
 * session re-reads the public key and every signature is verified with the start-up public key
 * before it is returned, so a key swapped on the token is never used — it is refused.
 *
 * A PIN the HSM refused is not offered again (HSMs lock the user after a few wrong PINs): the
 * PIN file is re-read at each login, and only a changed PIN is tried.
 */

export type Pkcs11SignerOptions = Omit<LoadSignerOptions, 'allowReadableKeyFile'>;

function startupError(c: Pkcs11SignerConfig, step: string, e: unknown): SigningKeyError {
  if (e instanceof SigningKeyError) return e;
  return new SigningKeyError(`HSM (${c.modulePath}, ${describeToken(c)}): ${step}: ${pkcs11Reason(e)}`);
}

/**
 * Connects to the HSM and builds the signer; throws SigningKeyError naming the step that failed
 * and the HSM's answer (never the PIN).
 */
export function openPkcs11Signer(c: Pkcs11SignerConfig, opts: Pkcs11SignerOptions = {}): TreasurySigner {
  let module: Pkcs11Module;
  try {
    module = openPkcs11Module(c.modulePath);
  } catch (e) {
    throw new SigningKeyError(`cannot load the PKCS#11 library ${c.modulePath} (TREASURY_PKCS11_MODULE): ${pkcs11Reason(e)}`);
  }
  try {
    return connect(new Pkcs11Token(module, c), c, opts);
  } catch (e) {
    module.release();
    throw e;
  }
}

function connect(token: Pkcs11Token, c: Pkcs11SignerConfig, opts: Pkcs11SignerOptions): TreasurySigner {
  const lib = token.lib;
  const keyId = pkcs11KeyUri(c);
  let first: Session;
  let raw: Buffer;
  {
    let session: Handle;
    try {
      session = token.open();
    } catch (e) {
      throw startupError(c, 'opening a logged-in session', e);
    }
    try {
      const key = token.findPrivateKey(session);
      if (key === undefined)
        throw new SigningKeyError(
          `${describeToken(c)} has no Ed25519 private key with ${describeKey(c)} (generate one: cxi treasury keygen)`,
        );
      raw = token.readPublicKey(session);
      if (token.exportable(session, key))
        opts.logger?.warn(
          { keyId },
          'the treasury key in the HSM is exportable (CKA_EXTRACTABLE or not CKA_SENSITIVE): the HSM would let it out',
        );
      first = { handle: session, key };
    } catch (e) {
      token.closeQuietly(session);
      throw startupError(c, 'finding the treasury key', e);
    }
  }
  const publicKey = ed25519PublicKey(raw);
  const fingerprint = ed25519Fingerprint(raw);
  try {
    checkTreasuryNamespace(fingerprint, `the HSM key ${keyId}`, 'wrong key or token', opts);
    // The key signs, and what it signs verifies with the key read from the token.
    const probe = Buffer.from('treasury key self-test');
    let signature: Buffer;
    try {
      lib.C_SignInit(first.handle, { mechanism: CKM_EDDSA }, first.key);
      signature = lib.C_Sign(first.handle, probe, Buffer.alloc(64));
    } catch (e) {
      throw startupError(c, `the self-test signature with ${keyId} (CKM_EDDSA)`, e);
    }
    if (!verifyEd25519(publicKey, probe, signature.toString('base64')))
      throw new SigningKeyError(`HSM key ${keyId}: its signature does not verify with its public key`);
  } catch (e) {
    token.closeQuietly(first.handle);
    throw e;
  }

  const idle: Session[] = [first];
  const waiting: ((s: Session | undefined) => void)[] = [];
  let open = 1;
  let closed = false;

  /** A fresh session whose key is still the treasury key. */
  const newSession = (): Session => {
    let session: Handle;
    try {
      session = token.open();
    } catch (e) {
      if (pkcs11Code(e) === pkcs11js().CKR_CRYPTOKI_NOT_INITIALIZED) {
        token.module.reinitialize();
        session = token.open();
      } else throw e;
    }
    try {
      const key = token.findPrivateKey(session);
      if (key === undefined)
        throw new SignerUnavailableError(`${describeToken(c)} has no Ed25519 private key with ${describeKey(c)} any more`);
      const now = token.readPublicKey(session);
      if (!now.equals(raw)) {
        throw new SignerUnavailableError(
          `the key with ${describeKey(c)} on ${describeToken(c)} is not the treasury key any more (fingerprint ${ed25519Fingerprint(now)}, expected ${fingerprint}): refusing to sign with it`,
        );
      }
      return { handle: session, key };
    } catch (e) {
      token.closeQuietly(session);
      throw e;
    }
  };

  const acquire = async (): Promise<Session> => {
    for (;;) {
      if (closed) throw new SignerUnavailableError('the HSM signer is closed');
      const s = idle.pop();
      if (s) return s;
      if (open < c.sessions) {
        open += 1;
        try {
          return newSession();
        } catch (e) {
          open -= 1;
          throw e;
        }
      }
      const handed = await new Promise<Session | undefined>((resolve) => waiting.push(resolve));
      if (handed) return handed;
    }
  };
  const release = (s: Session) => {
    if (closed) return token.closeQuietly(s.handle);
    const next = waiting.shift();
    if (next) next(s);
    else idle.push(s);
  };
  /** The session is broken (or abandoned to a hung call): close it and let a waiter open a new one. */
  const discard = (s: Session, closeIt = true) => {
    open -= 1;
    if (closeIt) token.closeQuietly(s.handle);
    waiting.shift()?.(undefined);
  };

  const signOnce = async (s: Session, data: Buffer): Promise<Buffer> => {
    lib.C_SignInit(s.handle, { mechanism: CKM_EDDSA }, s.key);
    const signing = lib.C_SignAsync(s.handle, data, Buffer.alloc(64));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HsmTimeout()), c.signTimeoutMs);
    });
    try {
      return await Promise.race([signing, deadline]);
    } finally {
      clearTimeout(timer);
      // A late answer after the deadline settles nothing: keep it from being an unhandled rejection.
      signing.catch(() => {});
    }
  };

  return sealSigner<TreasurySigner>({
    kind: 'pkcs11',
    keyId,
    publicKey: raw.toString('base64'),
    fingerprint,
    signingAlgorithmSpec: 'SIGNING_ALGORITHM_SPEC_ED25519',
    signatureFormat: 'SIGNATURE_FORMAT_CONCAT',
    async sign(data) {
      const bytes = Buffer.from(data);
      // One transparent retry: a session lost since the last signature is replaced by a new one.
      for (let attempt = 1; ; attempt++) {
        let s: Session;
        try {
          s = await acquire();
        } catch (e) {
          throw unavailable(c, 'opening a session', e);
        }
        let signature: Buffer;
        try {
          signature = await signOnce(s, bytes);
        } catch (e) {
          if (e instanceof HsmTimeout) {
            // The call may still hang in the library: the session is left to it, never reused.
            discard(s, false);
            throw new SignerUnavailableError(
              `the HSM (${describeToken(c)}) did not answer a signature within ${c.signTimeoutMs} ms (TREASURY_PKCS11_SIGN_TIMEOUT_MS)`,
            );
          }
          discard(s);
          const code = pkcs11Code(e);
          if (attempt === 1 && code !== undefined && lostSessionCodes().has(code)) continue;
          throw unavailable(c, 'signing', e);
        }
        if (signature.length !== 64 || !verifyEd25519(publicKey, bytes, signature.toString('base64'))) {
          discard(s);
          throw new SignerUnavailableError(
            `the HSM (${describeToken(c)}) returned a signature that does not verify with the treasury's public key ${fingerprint}: not used`,
          );
        }
        release(s);
        return signature.toString('base64');
      }
    },
    verify: (data, signatureBase64) => verifyEd25519(publicKey, data, signatureBase64),
    close() {
      if (!closed) {
        closed = true;
        for (const s of idle.splice(0)) token.closeQuietly(s.handle);
        for (const w of waiting.splice(0)) w(undefined);
        token.module.release();
      }
      return Promise.resolve();
    },
  });
}

class HsmTimeout extends Error {}

function unavailable(c: Pkcs11SignerConfig, step: string, e: unknown): SignerUnavailableError {
  if (e instanceof SignerUnavailableError) return e;
  if (e instanceof SigningKeyError) return new SignerUnavailableError(e.message);
  return new SignerUnavailableError(`HSM (${describeToken(c)}) ${step}: ${pkcs11Reason(e)}`);
}

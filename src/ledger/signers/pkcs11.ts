import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Handle, Template } from 'pkcs11js';
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
import { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, ED25519_NAME_DER, ED25519_OID_DER, openPkcs11Module, pkcs11Code, pkcs11js, pkcs11Reason, slotNumber, type Pkcs11Module } from './pkcs11-module.js';

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

export interface Pkcs11SignerOptions extends LoadSignerOptions {
  /** Tests: another PKCS#11 library path than the configuration's (never needed in production). */
  modulePath?: string;
}

interface Session {
  readonly handle: Handle;
  readonly key: Handle;
}

/** Answers that mean the session (or the library's state) is gone, not that the key or data is wrong. */
function lostSessionCodes(): Set<number> {
  const p = pkcs11js();
  return new Set([
    p.CKR_SESSION_HANDLE_INVALID,
    p.CKR_SESSION_CLOSED,
    p.CKR_USER_NOT_LOGGED_IN,
    p.CKR_OBJECT_HANDLE_INVALID,
    p.CKR_KEY_HANDLE_INVALID,
    p.CKR_DEVICE_REMOVED,
    p.CKR_TOKEN_NOT_PRESENT,
    p.CKR_CRYPTOKI_NOT_INITIALIZED,
    p.CKR_OPERATION_ACTIVE,
  ]);
}

function pinRefusedCodes(): Set<number> {
  const p = pkcs11js();
  return new Set([p.CKR_PIN_INCORRECT, p.CKR_PIN_LOCKED, p.CKR_PIN_EXPIRED, p.CKR_PIN_INVALID, p.CKR_PIN_LEN_RANGE]);
}

/** RFC 7512: the URI of the key object, for logs (`pkcs11:token=…;object=…;id=%01`). */
export function pkcs11KeyUri(c: Pick<Pkcs11SignerConfig, 'token' | 'key'>): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  const parts = ['label' in c.token ? `token=${enc(c.token.label)}` : `slot-id=${c.token.slot}`];
  if (c.key.label !== undefined) parts.push(`object=${enc(c.key.label)}`);
  if (c.key.id !== undefined) parts.push(`id=${c.key.id.replace(/(..)/g, '%$1').toUpperCase()}`);
  parts.push('type=private');
  return `pkcs11:${parts.join(';')}`;
}

function describeToken(c: Pick<Pkcs11SignerConfig, 'token'>): string {
  return 'label' in c.token ? `token "${c.token.label}"` : `slot ${c.token.slot}`;
}

function describeKey(c: Pick<Pkcs11SignerConfig, 'key'>): string {
  return [c.key.label !== undefined ? `label "${c.key.label}"` : undefined, c.key.id !== undefined ? `id ${c.key.id}` : undefined].filter((x) => x !== undefined).join(' and ');
}

/** The raw 32 bytes of an Ed25519 CKA_EC_POINT: a DER OCTET STRING (04 20 …) or, from some HSMs, the bare bytes. */
function rawEcPoint(point: Buffer): Buffer | undefined {
  if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) return point.subarray(2);
  if (point.length === 32) return point;
  return undefined;
}

/** Reads the PIN: a file (trailing newline dropped) or the setting's value. Never logged. */
function readPin(c: Pick<Pkcs11SignerConfig, 'pin'>): string {
  if ('value' in c.pin) return c.pin.value;
  let text: string;
  try {
    text = readFileSync(c.pin.file, 'utf8');
  } catch (e) {
    throw new SignerUnavailableError(`cannot read the HSM PIN file ${c.pin.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const pin = text.replace(/\r?\n$/, '');
  if (pin === '') throw new SignerUnavailableError(`the HSM PIN file ${c.pin.file} is empty`);
  return pin;
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

/** Token, login and key lookup, shared by the signer and by key generation. */
class Pkcs11Token {
  private refusedPin: string | undefined;

  constructor(
    readonly module: Pkcs11Module,
    readonly config: Pick<Pkcs11SignerConfig, 'token' | 'key' | 'pin'>,
  ) {}

  get lib() {
    return this.module.lib;
  }

  /** The slot holding the configured token (looked up again each time: a re-inserted token may move). */
  slot(): Handle {
    const t = this.config.token;
    const slots = this.lib.C_GetSlotList(true);
    if ('slot' in t) {
      const found = slots.find((s) => slotNumber(s) === t.slot);
      if (!found) throw new SignerUnavailableError(`no token present in slot ${t.slot} (slots with a token: ${slots.map(slotNumber).join(', ') || 'none'})`);
      return found;
    }
    const labelOf = (s: Handle): string | undefined => {
      try {
        return this.lib.C_GetTokenInfo(s).label.trimEnd();
      } catch {
        return undefined; // a token going away under us (SoftHSM: CKR_GENERAL_ERROR)
      }
    };
    const matching = slots.filter((s) => labelOf(s) === t.label);
    if (matching.length === 0) throw new SignerUnavailableError(`no token labelled "${t.label}" is present`);
    if (matching.length > 1) throw new SignerUnavailableError(`${matching.length} tokens are labelled "${t.label}" (slots ${matching.map(slotNumber).join(', ')}): name the slot instead`);
    return matching[0]!;
  }

  /** A logged-in session. The login belongs to the application: later sessions find it done. */
  open(rw = false): Handle {
    const p = pkcs11js();
    const slot = this.slot();
    const session = this.lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | (rw ? p.CKF_RW_SESSION : 0));
    try {
      this.login(session);
      return session;
    } catch (e) {
      this.closeQuietly(session);
      throw e;
    }
  }

  private login(session: Handle): void {
    const p = pkcs11js();
    const pin = readPin(this.config);
    const d = digest(pin);
    if (this.refusedPin === d) {
      throw new SignerUnavailableError(`the HSM refused this PIN before; it is not offered again (an HSM locks the user after a few wrong PINs): correct the PIN${'file' in this.config.pin ? ` in ${this.config.pin.file}` : ' and restart'}`);
    }
    try {
      this.lib.C_Login(session, p.CKU_USER, pin);
    } catch (e) {
      const code = pkcs11Code(e);
      if (code === p.CKR_USER_ALREADY_LOGGED_IN) return;
      if (code !== undefined && pinRefusedCodes().has(code)) {
        this.refusedPin = d;
        throw new SignerUnavailableError(`the HSM refused the PIN (${pkcs11Reason(e)}) for ${describeToken(this.config)}`);
      }
      throw e;
    }
    this.refusedPin = undefined;
  }

  closeQuietly(session: Handle): void {
    try {
      this.lib.C_CloseSession(session);
    } catch {
      /* already gone */
    }
  }

  private find(session: Handle, template: Template): Handle[] {
    this.lib.C_FindObjectsInit(session, template);
    try {
      return this.lib.C_FindObjects(session, 2);
    } finally {
      this.lib.C_FindObjectsFinal(session);
    }
  }

  private keyTemplate(objectClass: number): Template {
    const p = pkcs11js();
    const t: Template = [
      { type: p.CKA_CLASS, value: objectClass },
      { type: p.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
    ];
    if (this.config.key.label !== undefined) t.push({ type: p.CKA_LABEL, value: this.config.key.label });
    if (this.config.key.id !== undefined) t.push({ type: p.CKA_ID, value: Buffer.from(this.config.key.id, 'hex') });
    return t;
  }

  /** The one private key matching the settings, or undefined. */
  findPrivateKey(session: Handle): Handle | undefined {
    const found = this.find(session, this.keyTemplate(pkcs11js().CKO_PRIVATE_KEY));
    if (found.length > 1) throw new SigningKeyError(`several Ed25519 private keys on ${describeToken(this.config)} match ${describeKey(this.config)}: give TREASURY_PKCS11_KEY_ID (and the label) to name one`);
    return found[0];
  }

  /** The raw Ed25519 public key of the matching public key object. */
  readPublicKey(session: Handle): Buffer {
    const p = pkcs11js();
    const found = this.find(session, this.keyTemplate(p.CKO_PUBLIC_KEY));
    if (found.length === 0) throw new SigningKeyError(`${describeToken(this.config)} has no Ed25519 public key object with ${describeKey(this.config)} beside the private key: the daemon reads the public key from the token`);
    if (found.length > 1) throw new SigningKeyError(`several Ed25519 public keys on ${describeToken(this.config)} match ${describeKey(this.config)}`);
    const [params, point] = this.lib.C_GetAttributeValue(session, found[0]!, [{ type: p.CKA_EC_PARAMS }, { type: p.CKA_EC_POINT }]);
    if (!params?.value.equals(ED25519_OID_DER) && !params?.value.equals(ED25519_NAME_DER)) {
      throw new SigningKeyError(`the key with ${describeKey(this.config)} on ${describeToken(this.config)} is an Edwards key but not on curve Ed25519 (CKA_EC_PARAMS ${params?.value.toString('hex') ?? 'missing'})`);
    }
    const raw = point && rawEcPoint(point.value);
    if (raw === undefined) throw new SigningKeyError(`the Ed25519 public key with ${describeKey(this.config)} has an unreadable CKA_EC_POINT`);
    return Buffer.from(raw);
  }

  /** Whether the HSM would let the private key out (CKA_EXTRACTABLE true or CKA_SENSITIVE false). */
  exportable(session: Handle, key: Handle): boolean {
    const p = pkcs11js();
    try {
      const [extractable, sensitive] = this.lib.C_GetAttributeValue(session, key, [{ type: p.CKA_EXTRACTABLE }, { type: p.CKA_SENSITIVE }]);
      return extractable?.value[0] === 1 || sensitive?.value[0] === 0;
    } catch {
      return false;
    }
  }
}

function startupError(c: Pkcs11SignerConfig, step: string, e: unknown): SigningKeyError {
  if (e instanceof SigningKeyError) return e;
  return new SigningKeyError(`HSM (${c.modulePath}, ${describeToken(c)}): ${step}: ${pkcs11Reason(e)}`);
}

/**
 * Connects to the HSM and builds the signer; throws SigningKeyError naming the step that failed
 * and the HSM's answer (never the PIN).
 */
export function openPkcs11Signer(c: Pkcs11SignerConfig, opts: Pkcs11SignerOptions = {}): TreasurySigner {
  const modulePath = opts.modulePath ?? c.modulePath;
  let module: Pkcs11Module;
  try {
    module = openPkcs11Module(modulePath);
  } catch (e) {
    throw new SigningKeyError(`cannot load the PKCS#11 library ${modulePath} (TREASURY_PKCS11_MODULE): ${pkcs11Reason(e)}`);
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
      if (key === undefined) throw new SigningKeyError(`${describeToken(c)} has no Ed25519 private key with ${describeKey(c)} (generate one: cxi treasury keygen)`);
      raw = token.readPublicKey(session);
      if (token.exportable(session, key)) opts.logger?.warn({ keyId }, 'the treasury key in the HSM is exportable (CKA_EXTRACTABLE or not CKA_SENSITIVE): the HSM would let it out');
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
    if (!verifyEd25519(publicKey, probe, signature.toString('base64'))) throw new SigningKeyError(`HSM key ${keyId}: its signature does not verify with its public key`);
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
      if (key === undefined) throw new SignerUnavailableError(`${describeToken(c)} has no Ed25519 private key with ${describeKey(c)} any more`);
      const now = token.readPublicKey(session);
      if (!now.equals(raw)) {
        throw new SignerUnavailableError(`the key with ${describeKey(c)} on ${describeToken(c)} is not the treasury key any more (fingerprint ${ed25519Fingerprint(now)}, expected ${fingerprint}): refusing to sign with it`);
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
            throw new SignerUnavailableError(`the HSM (${describeToken(c)}) did not answer a signature within ${c.signTimeoutMs} ms (TREASURY_PKCS11_SIGN_TIMEOUT_MS)`);
          }
          discard(s);
          const code = pkcs11Code(e);
          if (attempt === 1 && code !== undefined && lostSessionCodes().has(code)) continue;
          throw unavailable(c, 'signing', e);
        }
        if (signature.length !== 64 || !verifyEd25519(publicKey, bytes, signature.toString('base64'))) {
          discard(s);
          throw new SignerUnavailableError(`the HSM (${describeToken(c)}) returned a signature that does not verify with the treasury's public key ${fingerprint}: not used`);
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
  if (c.key.label === undefined && c.key.id === undefined) throw new SigningKeyError('a new key needs TREASURY_PKCS11_KEY_LABEL or TREASURY_PKCS11_KEY_ID');
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
      if (token.findPrivateKey(session) !== undefined) throw new SigningKeyError(`${describeToken(c)} already has an Ed25519 key with ${describeKey(c)}: not generating another`);
      const named: Template = [
        ...(c.key.label !== undefined ? [{ type: p.CKA_LABEL, value: c.key.label }] : []),
        ...(c.key.id !== undefined ? [{ type: p.CKA_ID, value: Buffer.from(c.key.id, 'hex') }] : []),
      ];
      try {
        module.lib.C_GenerateKeyPair(
          session,
          { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
          [{ type: p.CKA_TOKEN, value: true }, { type: p.CKA_VERIFY, value: true }, { type: p.CKA_EC_PARAMS, value: ED25519_OID_DER }, ...named],
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
        throw new SigningKeyError(`HSM (${describeToken(c)}): generating an Ed25519 key pair (CKM_EC_EDWARDS_KEY_PAIR_GEN): ${pkcs11Reason(e)}`);
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

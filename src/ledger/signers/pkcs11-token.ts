import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Handle, Template } from 'pkcs11js';
import type { Pkcs11SignerConfig } from '../../config.js';
import { SignerUnavailableError, SigningKeyError } from '../signing.js';
import {
  CKK_EC_EDWARDS,
  ED25519_NAME_DER,
  ED25519_OID_DER,
  pkcs11Code,
  pkcs11js,
  pkcs11Reason,
  slotNumber,
  type Pkcs11Module,
} from './pkcs11-module.js';

/** Finding the token, logging in, finding the treasury key and reading its public key: shared by the signer and key generation. */

export interface Session {
  readonly handle: Handle;
  readonly key: Handle;
}

/** Answers that mean the session (or the library's state) is gone, not that the key or data is wrong. */
export function lostSessionCodes(): Set<number> {
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

export function describeToken(c: Pick<Pkcs11SignerConfig, 'token'>): string {
  return 'label' in c.token ? `token "${c.token.label}"` : `slot ${c.token.slot}`;
}

export function describeKey(c: Pick<Pkcs11SignerConfig, 'key'>): string {
  return [c.key.label !== undefined ? `label "${c.key.label}"` : undefined, c.key.id !== undefined ? `id ${c.key.id}` : undefined]
    .filter((x) => x !== undefined)
    .join(' and ');
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
    throw new SignerUnavailableError(
      `cannot read the HSM PIN file ${c.pin.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const pin = text.replace(/\r?\n$/, '');
  if (pin === '') throw new SignerUnavailableError(`the HSM PIN file ${c.pin.file} is empty`);
  return pin;
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

export class Pkcs11Token {
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
      if (!found)
        throw new SignerUnavailableError(
          `no token present in slot ${t.slot} (slots with a token: ${slots.map(slotNumber).join(', ') || 'none'})`,
        );
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
    if (matching.length > 1)
      throw new SignerUnavailableError(
        `${matching.length} tokens are labelled "${t.label}" (slots ${matching.map(slotNumber).join(', ')}): name the slot instead`,
      );
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
      throw new SignerUnavailableError(
        `the HSM refused this PIN before; it is not offered again (an HSM locks the user after a few wrong PINs): correct the PIN${'file' in this.config.pin ? ` in ${this.config.pin.file}` : ' and restart'}`,
      );
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
    if (found.length > 1)
      throw new SigningKeyError(
        `several Ed25519 private keys on ${describeToken(this.config)} match ${describeKey(this.config)}: give TREASURY_PKCS11_KEY_ID (and the label) to name one`,
      );
    return found[0];
  }

  /** The raw Ed25519 public key of the matching public key object. */
  readPublicKey(session: Handle): Buffer {
    const p = pkcs11js();
    const found = this.find(session, this.keyTemplate(p.CKO_PUBLIC_KEY));
    if (found.length === 0)
      throw new SigningKeyError(
        `${describeToken(this.config)} has no Ed25519 public key object with ${describeKey(this.config)} beside the private key: the daemon reads the public key from the token`,
      );
    if (found.length > 1)
      throw new SigningKeyError(`several Ed25519 public keys on ${describeToken(this.config)} match ${describeKey(this.config)}`);
    const [params, point] = this.lib.C_GetAttributeValue(session, found[0]!, [{ type: p.CKA_EC_PARAMS }, { type: p.CKA_EC_POINT }]);
    if (!params?.value.equals(ED25519_OID_DER) && !params?.value.equals(ED25519_NAME_DER)) {
      throw new SigningKeyError(
        `the key with ${describeKey(this.config)} on ${describeToken(this.config)} is an Edwards key but not on curve Ed25519 (CKA_EC_PARAMS ${params?.value.toString('hex') ?? 'missing'})`,
      );
    }
    const raw = point && rawEcPoint(point.value);
    if (raw === undefined)
      throw new SigningKeyError(`the Ed25519 public key with ${describeKey(this.config)} has an unreadable CKA_EC_POINT`);
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

import { createHash } from 'node:crypto';
import type { Rng } from './rng.js';

/**
 * Identifier formats as a real participant emits them (compare ../shared/fixtures/recorded):
 *   contract id  "00" + 32-byte discriminator (hex) + "ca111220" + 32-byte suffix (hex)
 *   update id    "1220" + 32-byte hash (hex)            (a multihash of SHA-256)
 *   party id     "<hint>::1220" + 32-byte fingerprint (hex)
 * Before a transaction commits its contracts only have the discriminator ("00" + 64 hex): that is
 * what a prepared transaction carries; the suffix is added when it is committed, as Canton does.
 */
export const CONTRACT_ID_SUFFIX_PREFIX = 'ca111220';

export class IdGen {
  constructor(private readonly rng: Rng) {}

  /** A provisional (unsuffixed) contract id: "00" + 64 hex. */
  discriminator(): string {
    return `00${this.rng.hex(32)}`;
  }

  /** The committed form of a provisional contract id. */
  suffixed(discriminator: string): string {
    return `${discriminator}${CONTRACT_ID_SUFFIX_PREFIX}${this.rng.hex(32)}`;
  }

  contractId(): string {
    return this.suffixed(this.discriminator());
  }

  updateId(): string {
    return `1220${this.rng.hex(32)}`;
  }

  /** A namespace fingerprint for a participant-hosted (internal) party or node. */
  namespace(): string {
    return `1220${this.rng.hex(32)}`;
  }

  traceparent(): string {
    return `00-${this.rng.hex(16)}-${this.rng.hex(8)}-01`;
  }

  uuid(): string {
    const h = this.rng.hex(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  hex(nBytes: number): string {
    return this.rng.hex(nBytes);
  }
}

/** Canton's hash purposes used by the double (a 4-byte big-endian prefix of the hashed data). */
export const HashPurpose = {
  TopologyTransactionSignature: 11,
  PublicKeyFingerprint: 12,
  MultiTopologyTransaction: 55,
} as const;

/** Canton's multihash of SHA-256 over (purpose, data): 0x12 0x20 + digest. */
export function cantonHash(purpose: number, ...data: readonly Uint8Array[]): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(purpose);
  const h = createHash('sha256').update(prefix);
  for (const d of data) h.update(d);
  return Buffer.concat([Buffer.from([0x12, 0x20]), h.digest()]);
}

/** The key fingerprint Canton derives from a raw Ed25519 public key ("1220" + 64 hex). */
export function ed25519Fingerprint(rawPublicKey: Uint8Array): string {
  return cantonHash(HashPurpose.PublicKeyFingerprint, rawPublicKey).toString('hex');
}

const PARTY_ID = /^([^:\s]+)::(1220[0-9a-f]{64})$/;

export function partyIdOf(hint: string, fingerprint: string): string {
  return `${hint}::${fingerprint}`;
}

export function isPartyId(s: string): boolean {
  return PARTY_ID.test(s);
}

/**
 * Party hints as Canton accepts them (UniqueIdentifier.verifyValidString, community/base/.../
 * topology/Identifier.scala): a Daml-LF party string (letters, digits, space, ':', '-', '_'),
 * at most 185 characters, without the "::" delimiter; one ending in ':' would move the delimiter.
 */
export function isValidPartyHint(hint: string): boolean {
  return /^[A-Za-z0-9:_ -]{1,185}$/.test(hint) && !hint.includes('::') && !hint.endsWith(':');
}

import { createRequire } from 'node:module';
import type * as Pkcs11Binding from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';

/**
 * One PKCS#11 library per path and process. A library keeps global state (C_Initialize,
 * sessions, the login of the application), so a second C_Initialize or an early C_Finalize by
 * another user in the same process would break the first: every user here shares one handle,
 * initialised once, finalised when the last user releases it.
 *
 * pkcs11js is a native addon, required only when a PKCS#11 signer is configured: the daemon with
 * a key file never loads it.
 */

type Pkcs11Js = typeof Pkcs11Binding;

let binding: Pkcs11Js | undefined;

/** The pkcs11js binding (constants, error classes, the PKCS11 class). */
export function pkcs11js(): Pkcs11Js {
  binding ??= createRequire(import.meta.url)('pkcs11js') as Pkcs11Js;
  return binding;
}

/** PKCS#11 3.0 values pkcs11js (a 2.40 binding) does not name. */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
/** CKA_EC_PARAMS of Ed25519: the curve's OID 1.3.101.112 (RFC 8410), DER. */
export const ED25519_OID_DER = Buffer.from('06032b6570', 'hex');
/** … or, as PKCS#11 3.0 also allows, the PrintableString "edwards25519". */
export const ED25519_NAME_DER = Buffer.from('130c656477617264733235353139', 'hex');

export interface Pkcs11Module {
  readonly path: string;
  readonly lib: PKCS11;
  /** Initialises the library again if it was finalised under us (CKR_CRYPTOKI_NOT_INITIALIZED). */
  reinitialize(): void;
  release(): void;
}

interface Loaded {
  lib: PKCS11;
  users: number;
}

const loaded = new Map<string, Loaded>();

function initialize(lib: PKCS11): void {
  const p = pkcs11js();
  try {
    // C_SignAsync runs on libuv's threads: the library must lock for itself.
    lib.C_Initialize({ flags: p.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (!(e instanceof p.Pkcs11Error && e.code === p.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw e;
  }
}

/** Loads and initialises the library (or shares the one already loaded). Throws the binding's error. */
export function openPkcs11Module(path: string): Pkcs11Module {
  let entry = loaded.get(path);
  if (entry === undefined) {
    const p = pkcs11js();
    const lib = new p.PKCS11();
    lib.load(path);
    try {
      initialize(lib);
    } catch (e) {
      lib.close();
      throw e;
    }
    entry = { lib, users: 0 };
    loaded.set(path, entry);
  }
  entry.users += 1;
  const e = entry;
  let released = false;
  return {
    path,
    lib: e.lib,
    reinitialize: () => initialize(e.lib),
    release() {
      if (released) return;
      released = true;
      e.users -= 1;
      if (e.users > 0) return;
      loaded.delete(path);
      try {
        e.lib.C_Finalize();
      } catch {
        /* already finalised */
      }
      e.lib.close();
    },
  };
}

/** A slot handle as the number PKCS#11 tools print (softhsm2-util --show-slots, pkcs11-tool -L). */
export function slotNumber(slot: Handle): number {
  return Number(slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUInt32LE(0)));
}

/** The name of a PKCS#11 return value (CKR_PIN_INCORRECT …), or the error's own message. */
export function pkcs11Reason(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? e.name;
  return String(e);
}

/** The CKR_ code of a binding error, undefined for anything else. */
export function pkcs11Code(e: unknown): number | undefined {
  const p = pkcs11js();
  return e instanceof p.Pkcs11Error ? e.code : undefined;
}

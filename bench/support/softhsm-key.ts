import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Pkcs11SignerConfig } from '../../src/config.js';
import { CKK_EC_EDWARDS, ED25519_OID_DER, openPkcs11Module, pkcs11js } from '../../src/ledger/signers/pkcs11-module.js';
import { startSoftHsm, type SoftHsm } from '../../test/support/softhsm.js';

/**
 * bench:withdraw --signer pkcs11: the ledger double's treasury key (a PKCS#8 file) imported into a
 * SoftHSM2 token made for the run, so the same treasury signs through PKCS#11. Importing is for
 * the benchmark only: a real treasury key is generated in the HSM (`cxi treasury keygen`).
 */
export async function softHsmWithKey(keyFile: string): Promise<{ hsm: SoftHsm; config: Pkcs11SignerConfig }> {
  const hsm = await startSoftHsm();
  const pin = 'bench-pin-1234';
  hsm.initToken('bench', pin);
  const config = await hsm.signerConfig({ token: 'bench', keyLabel: 'treasury', pin, sessions: 4 });
  const privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  const raw = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32);
  const p = pkcs11js();
  const module = openPkcs11Module(hsm.module);
  try {
    const slot = module.lib.C_GetSlotList(true).find((s) => module.lib.C_GetTokenInfo(s).label.trimEnd() === 'bench')!;
    const session = module.lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    module.lib.C_Login(session, p.CKU_USER, pin);
    const common = [
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
      { type: p.CKA_EC_PARAMS, value: ED25519_OID_DER },
      { type: p.CKA_LABEL, value: 'treasury' },
    ];
    module.lib.C_CreateObject(session, [
      { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY },
      ...common,
      { type: p.CKA_VERIFY, value: true },
      { type: p.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, 0x20]), raw]) },
    ]);
    module.lib.C_CreateObject(session, [
      { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
      ...common,
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_SIGN, value: true },
      { type: p.CKA_VALUE, value: Buffer.from(seed) },
    ]);
    module.lib.C_CloseSession(session);
  } finally {
    seed.fill(0);
    module.release();
  }
  return { hsm, config };
}

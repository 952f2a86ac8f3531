import type { TreasuryKeyConfig } from '../../config.js';
import { loadTreasurySigner, type LoadSignerOptions, type TreasurySigner } from '../signing.js';
import { openPkcs11Signer } from './pkcs11.js';

/**
 * The treasury signer the configuration names (TREASURY_SIGNER): the key file, or the HSM through
 * PKCS#11. Either way the public key is checked against the treasury party's namespace
 * (`opts.party`) before anything is signed, and a problem is a SigningKeyError that stops start-up.
 */
export function openTreasurySigner(key: TreasuryKeyConfig, opts: Omit<LoadSignerOptions, 'allowReadableKeyFile'> = {}): TreasurySigner {
  if (key.treasuryPkcs11 !== undefined) return openPkcs11Signer(key.treasuryPkcs11, opts);
  return loadTreasurySigner(key.treasuryKeyFile, { ...opts, ...(key.allowReadableKeyFile ? { allowReadableKeyFile: true } : {}) });
}

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { SandboxOptionsInput } from './options.js';
import { startSandbox, type Sandbox } from './start.js';

export interface PersistentSandbox {
  readonly sb: Sandbox;
  /** PKCS#8 PEM of the treasury's Ed25519 key. */
  readonly keyFile: string;
  /** What was printed / saved about this double (also <dir>/sandbox.json). */
  readonly detailsFile: string;
  /** True when it continued a ledger saved by an earlier run. */
  readonly restored: boolean;
}

/**
 * A double whose ledger survives restarts, kept in `dir`: ledger.json (the state),
 * treasury.key (the treasury's key, written once), sandbox.json (URLs and credentials of the
 * current run). The first run onboards and funds a treasury; later runs continue that ledger
 * with the same parties, contracts and offsets.
 */
export async function startPersistentSandbox(dir: string, options: SandboxOptionsInput, logger: Logger): Promise<PersistentSandbox> {
  mkdirSync(dir, { recursive: true });
  const stateFile = path.join(dir, 'ledger.json');
  const keyFile = path.join(dir, 'treasury.key');
  const restored = existsSync(stateFile);
  if (restored && !existsSync(keyFile)) {
    throw new Error(`${stateFile} holds a saved sandbox ledger but ${keyFile} is missing: restore the key or delete the ledger file`);
  }
  const treasury = options.treasury ?? {};
  const sb = await startSandbox(
    {
      ...options,
      stateFile,
      treasury: { ...treasury, ...(restored ? { privateKeyPem: readFileSync(keyFile, 'utf8') } : {}) },
    },
    logger,
  );
  if (!restored && sb.treasury) writeFileSync(keyFile, sb.treasury.privateKeyPem, { mode: 0o600 });
  const detailsFile = path.join(dir, 'sandbox.json');
  writeFileSync(detailsFile, `${JSON.stringify({ ...sb.info(), keyFile, controlToken: sb.controlToken, restored }, null, 2)}\n`, {
    mode: 0o600,
  });
  return { sb, keyFile, detailsFile, restored };
}

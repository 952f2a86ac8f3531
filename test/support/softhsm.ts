import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pkcs11SignerConfig } from '../../src/config.js';

/**
 * SoftHSM2 (Debian package softhsm2), a real PKCS#11 implementation, for the HSM signer's tests:
 * a token directory and configuration per test file in a temporary directory (SOFTHSM2_CONF),
 * tokens initialised with softhsm2-util. SoftHSM reads SOFTHSM2_CONF and its tokens when the
 * library is initialised: create every token a file needs before its first signer opens.
 *
 * Without SoftHSM2 the files using this skip with one line on stderr; under CI (CI=true) they fail
 * instead, since .ci/run installs it.
 */

export const SOFTHSM_MODULE = process.env.SOFTHSM2_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';

function missing(): string | undefined {
  if (!existsSync(SOFTHSM_MODULE)) return `${SOFTHSM_MODULE} not found`;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'pipe' });
  } catch {
    return 'softhsm2-util not found';
  }
  return undefined;
}

/** True when the SoftHSM tests of `what` must be skipped (and says so, once). */
export function skipWithoutSoftHsm(what: string): boolean {
  const reason = missing();
  if (reason === undefined) return false;
  if (process.env.CI === 'true') throw new Error(`${what}: SoftHSM2 is required in CI (${reason}); .ci/run installs the softhsm2 package`);
  process.stderr.write(`SKIPPED ${what}: SoftHSM2 is not installed (${reason}; apt-get install softhsm2)\n`);
  return true;
}

export interface SoftHsm {
  readonly dir: string;
  readonly module: string;
  /** Initialises a token in the first free slot. */
  initToken(label: string, pin: string, soPin?: string): void;
  /** A signer configuration for a key on a token, the PIN in a file (mode 600). */
  signerConfig(o: {
    token: string;
    keyLabel?: string;
    keyId?: string;
    pin: string;
    sessions?: number;
    signTimeoutMs?: number;
  }): Promise<Pkcs11SignerConfig & { pinFile: string }>;
  /** Removes a token as if unplugged (its files go; the library in this process notices at the next call). */
  deleteToken(label: string): void;
  close(): Promise<void>;
}

export async function startSoftHsm(): Promise<SoftHsm> {
  const dir = await mkdtemp(join(tmpdir(), 'cxi-softhsm-'));
  const tokens = join(dir, 'tokens');
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  execFileSync('mkdir', ['-p', tokens]);
  process.env.SOFTHSM2_CONF = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  let pins = 0;
  return {
    dir,
    module: SOFTHSM_MODULE,
    initToken(label, pin, soPin = `so-${pin}`) {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], { env, stdio: 'pipe' });
    },
    async signerConfig(o) {
      const pinFile = join(dir, `pin-${++pins}`);
      await writeFile(pinFile, `${o.pin}\n`, { mode: 0o600 });
      return {
        modulePath: SOFTHSM_MODULE,
        token: { label: o.token },
        key: { ...(o.keyLabel !== undefined ? { label: o.keyLabel } : {}), ...(o.keyId !== undefined ? { id: o.keyId } : {}) },
        pin: { file: pinFile },
        sessions: o.sessions ?? 2,
        signTimeoutMs: o.signTimeoutMs ?? 10_000,
        pinFile,
      };
    },
    deleteToken(label) {
      execFileSync('softhsm2-util', ['--delete-token', '--token', label], { env, stdio: 'pipe' });
    },
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/logger.js';
import { ed25519Fingerprint, loadTreasurySigner, SigningKeyError } from '../../src/ledger/signing.js';
import { ed25519Fingerprint as sandboxFingerprint } from '../../src/sandbox/util/ids.js';

/** The treasury key: formats accepted, checks at load, and that key material never shows. */

const dir = await mkdtemp(join(tmpdir(), 'cxi-signing-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const raw = spki.subarray(spki.length - 32);
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    privateKey,
    publicKey,
    raw,
    fingerprint: ed25519Fingerprint(raw),
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    der: pkcs8,
    seed: pkcs8.subarray(pkcs8.length - 32),
  };
}

let n = 0;
async function file(content: string | Buffer, mode = 0o600): Promise<string> {
  const p = join(dir, `key-${n++}`);
  await writeFile(p, content, { mode });
  return p;
}

describe('treasury signer', () => {
  it('fingerprints keys as Canton does (same as the ledger double)', () => {
    const k = keyPair();
    expect(k.fingerprint).toBe(sandboxFingerprint(k.raw));
    expect(k.fingerprint).toMatch(/^1220[0-9a-f]{64}$/);
  });

  it('loads PKCS#8 PEM and DER, and bare 32/64-byte keys in hex and base64; signs verifiably', async () => {
    const k = keyPair();
    const party = `treasury::${k.fingerprint}`;
    const sources = [
      k.pem,
      k.der,
      k.seed.toString('hex'),
      k.seed.toString('base64'),
      Buffer.concat([k.seed, k.raw]).toString('base64'),
      `${Buffer.concat([k.seed, k.raw]).toString('hex')}\n`,
    ];
    for (const content of sources) {
      const s = loadTreasurySigner(await file(content), { party });
      expect(s.fingerprint).toBe(k.fingerprint);
      expect(s.publicKey).toBe(k.raw.toString('base64'));
      expect(s).toMatchObject({ kind: 'file', keyId: expect.stringMatching(/^file:\//) });
      const hash = Buffer.alloc(32, 7);
      const sig = await s.sign(hash);
      expect(Buffer.from(sig, 'base64')).toHaveLength(64);
      expect(verify(null, hash, k.publicKey, Buffer.from(sig, 'base64'))).toBe(true);
      expect(s.verify(hash, sig)).toBe(true);
      expect(s.verify(Buffer.alloc(32, 8), sig)).toBe(false);
    }
  });

  it('fails start-up clearly: missing file, not a key, wrong algorithm, encrypted, inconsistent 64-byte key, wrong party', async () => {
    const k = keyPair();
    const other = keyPair();
    const expectError = (f: () => unknown, pattern: RegExp) => {
      let thrown: unknown;
      try {
        f();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(SigningKeyError);
      expect((thrown as Error).message).toMatch(pattern);
      // Never the key itself, in any encoding.
      for (const secret of [k.pem.split('\n')[1]!, k.seed.toString('hex'), k.seed.toString('base64')])
        expect((thrown as Error).message).not.toContain(secret.slice(0, 24));
    };
    const rsaPem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const encryptedPem = k.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    const [notKey, rsa, encrypted, mixed, pem] = await Promise.all([
      file('hello, I am not a key'),
      file(rsaPem),
      file(encryptedPem),
      file(Buffer.concat([k.seed, other.raw]).toString('base64')),
      file(k.pem),
    ]);
    expectError(() => loadTreasurySigner(join(dir, 'nope')), /cannot read the treasury key file .*ENOENT/);
    expectError(() => loadTreasurySigner(dir), /cannot read the treasury key file/);
    expectError(() => loadTreasurySigner(notKey), /is not a key file/);
    expectError(() => loadTreasurySigner(rsa), /holds a rsa key; the treasury key must be Ed25519/);
    expectError(() => loadTreasurySigner(encrypted), /encrypted private key/);
    expectError(() => loadTreasurySigner(mixed), /public half does not belong/);
    expectError(
      () => loadTreasurySigner(pem, { party: `treasury::${other.fingerprint}` }),
      new RegExp(`fingerprint ${k.fingerprint}, but treasury party treasury::${other.fingerprint}`),
    );
    expectError(() => loadTreasurySigner(pem, { party: 'not-a-party' }), /not a party id/);
    // A party whose namespace key is another key can be allowed explicitly.
    expect(loadTreasurySigner(pem, { party: `treasury::${other.fingerprint}`, allowOtherNamespaceKey: true }).fingerprint).toBe(
      k.fingerprint,
    );
  });

  it('refuses a key file group or others can read, naming it and the chmod to run; development may downgrade that to a warning', async () => {
    const k = keyPair();
    const loose = await file(k.pem, 0o644);
    expect(() => loadTreasurySigner(loose)).toThrow(
      new RegExp(`treasury key file ${loose} has mode 644: .*chmod 600 ${loose}.*TREASURY_KEY_FILE_ALLOW_READABLE`),
    );
    const warnings: unknown[] = [];
    const logger = { warn: (o: unknown) => warnings.push(o) } as unknown as Logger;
    expect(loadTreasurySigner(loose, { logger, allowReadableKeyFile: true }).fingerprint).toBe(k.fingerprint);
    expect(warnings).toHaveLength(1);
  });

  it('never shows key material: JSON, inspect and enumerable properties carry only public facts', async () => {
    const k = keyPair();
    const s = loadTreasurySigner(await file(k.pem));
    const shown = [JSON.stringify(s), inspect(s, { showHidden: true, depth: 5 }), JSON.stringify(Object.entries(s))].join(' ');
    expect(shown).toContain(k.fingerprint);
    for (const secret of [k.seed.toString('hex'), k.seed.toString('base64'), k.pem.split('\n')[1]!])
      expect(shown).not.toContain(secret.slice(0, 16));
    expect(Object.isFrozen(s)).toBe(true);
    expect(createPublicKey(k.privateKey).export({ format: 'der', type: 'spki' }).subarray(12).toString('base64')).toBe(s.publicKey);
  });
});

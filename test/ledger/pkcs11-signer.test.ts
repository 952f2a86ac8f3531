import { writeFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11SignerConfig } from '../../src/config.js';
import { SignerUnavailableError, SigningKeyError, ed25519PublicKey, verifyEd25519, type TreasurySigner } from '../../src/ledger/signing.js';
import { generatePkcs11Key, openPkcs11Signer } from '../../src/ledger/signers/index.js';
import { openPkcs11Module, pkcs11js, type Pkcs11Module } from '../../src/ledger/signers/pkcs11-module.js';
import { skipWithoutSoftHsm, startSoftHsm, type SoftHsm } from '../support/softhsm.js';

/**
 * Issue 24 item 1: the treasury key in an HSM, against a real PKCS#11 implementation (SoftHSM2):
 * keys generated in the token, signatures made there, and an HSM that loses the session, changes
 * its PIN, swaps the key or goes away makes signing fail retryably with a clear reason — never a
 * crash and never a signature by another key.
 */

const PIN = '246810';
const hash = (n: number) => Buffer.alloc(32, n);

describe.skipIf(skipWithoutSoftHsm('PKCS#11 signer tests'))('PKCS#11 treasury signer (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let lib: Pkcs11Module;
  const opened: TreasurySigner[] = [];
  const open = (c: Pkcs11SignerConfig, party?: string) => {
    const s = openPkcs11Signer(c, party !== undefined ? { party } : {});
    opened.push(s);
    return s;
  };
  const slotOf = (label: string) => lib.lib.C_GetSlotList(true).find((s) => lib.lib.C_GetTokenInfo(s).label.trimEnd() === label)!;
  /** What a network glitch or an HSM restart does to the daemon's sessions. */
  const dropSessions = (label: string) => lib.lib.C_CloseAllSessions(slotOf(label));

  beforeAll(async () => {
    hsm = await startSoftHsm();
    // SoftHSM sees the tokens that exist when the library is initialised.
    for (const t of ['main', 'pin', 'swap', 'gone', 'empty']) hsm.initToken(t, PIN, 'so-pin-1');
    lib = openPkcs11Module(hsm.module);
  });
  afterAll(async () => {
    for (const s of opened) await s.close();
    lib?.release();
    await hsm?.close();
  });

  it('generates an Ed25519 key in the token, signs there, verifiably, and checks the party namespace at start-up', async () => {
    const c = await hsm.signerConfig({ token: 'main', keyLabel: 'treasury', keyId: '01ab', pin: PIN });
    const key = generatePkcs11Key(c);
    expect(key.fingerprint).toMatch(/^1220[0-9a-f]{64}$/);
    expect(key.keyId).toBe('pkcs11:token=main;object=treasury;id=%01%AB;type=private');
    // A treasury key is never replaced by accident.
    expect(() => generatePkcs11Key(c)).toThrow(/already has an Ed25519 key with label "treasury" and id 01ab/);

    const s = open(c, `treasury::${key.fingerprint}`);
    expect(s).toMatchObject({ kind: 'pkcs11', keyId: key.keyId, publicKey: key.publicKey, fingerprint: key.fingerprint });
    const sig = await s.sign(hash(1));
    expect(verifyEd25519(ed25519PublicKey(Buffer.from(key.publicKey, 'base64')), hash(1), sig)).toBe(true);
    expect(s.verify(hash(1), sig)).toBe(true);
    expect(s.verify(hash(2), sig)).toBe(false);

    // Found by id alone, or label alone, too.
    expect(open({ ...c, key: { id: '01ab' } }).fingerprint).toBe(key.fingerprint);
    expect(open({ ...c, key: { label: 'treasury' } }).fingerprint).toBe(key.fingerprint);

    // Nothing shown of the signer says more than its public facts (and never the PIN).
    const shown = [JSON.stringify(s), inspect(s, { showHidden: true, depth: 5 })].join(' ');
    expect(shown).toContain(key.fingerprint);
    expect(shown).not.toContain(PIN);
    expect(Object.isFrozen(s)).toBe(true);

    // More signatures than sessions, at once: each verifies.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => s.sign(hash(i + 10))));
    many.forEach((sg, i) => expect(s.verify(hash(i + 10), sg)).toBe(true));
  });

  it('stops start-up with one clear message: another party, a wrong PIN, no such token or key, no library', async () => {
    const c = await hsm.signerConfig({ token: 'main', keyLabel: 'treasury', pin: PIN });
    const other = `treasury::1220${'c'.repeat(64)}`;
    const failure = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(SigningKeyError);
        expect((e as Error).message).not.toContain(PIN);
        return (e as Error).message;
      }
      throw new Error('expected a SigningKeyError');
    };
    expect(failure(() => open(c, other))).toMatch(
      new RegExp(
        `the HSM key pkcs11:token=main;object=treasury;type=private has fingerprint 1220[0-9a-f]{64}, but treasury party ${other} belongs to namespace 1220c+: wrong key or token`,
      ),
    );
    // A token nobody in this process is logged in to (PKCS#11 logins belong to the application).
    const wrongPin = await hsm.signerConfig({ token: 'empty', keyLabel: 'treasury', pin: '999999' });
    expect(failure(() => open(wrongPin))).toMatch(
      /HSM \(.*libsofthsm2.so, token "empty"\): opening a logged-in session: the HSM refused the PIN \(CKR_PIN_INCORRECT\)/,
    );
    expect(failure(() => open({ ...c, token: { label: 'nope' } }))).toMatch(/no token labelled "nope" is present/);
    expect(failure(() => open({ ...c, token: { slot: 123456 } }))).toMatch(/no token present in slot 123456/);
    expect(failure(() => open({ ...c, key: { label: 'other' } }))).toMatch(
      /token "main" has no Ed25519 private key with label "other" \(generate one: cxi treasury keygen\)/,
    );
    expect(failure(() => open({ ...c, token: { label: 'empty' } }))).toMatch(/has no Ed25519 private key/);
    expect(failure(() => open({ ...c, modulePath: '/nonexistent/libpkcs11.so' }))).toMatch(
      /cannot load the PKCS#11 library \/nonexistent\/libpkcs11.so \(TREASURY_PKCS11_MODULE\)/,
    );
    expect(failure(() => open({ ...c, pin: { file: `${hsm.dir}/no-pin-file` } }))).toMatch(
      /cannot read the HSM PIN file .*no-pin-file: ENOENT/,
    );
  });

  it('replaces a lost session by itself: the next signature is made on a new one', async () => {
    const c = await hsm.signerConfig({ token: 'main', keyLabel: 'treasury', pin: PIN, sessions: 1 });
    const s = open(c);
    await s.sign(hash(1));
    dropSessions('main');
    expect(s.verify(hash(2), await s.sign(hash(2)))).toBe(true);
  });

  it('a PIN refused after a lost session fails retryably, is not offered again, and a corrected PIN file recovers without a restart', async () => {
    const c = await hsm.signerConfig({ token: 'pin', keyLabel: 'treasury', pin: PIN, sessions: 1 });
    generatePkcs11Key(c);
    const s = open(c);
    await s.sign(hash(1));
    // The custodian rotates the PIN on the HSM; the daemon still has the old one.
    const p = pkcs11js();
    const admin = lib.lib.C_OpenSession(slotOf('pin'), p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    lib.lib.C_SetPIN(admin, PIN, '135790');
    dropSessions('pin');

    const refusal = await s.sign(hash(2)).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(SignerUnavailableError);
    expect((refusal as Error).message).toMatch(/the HSM refused the PIN \(CKR_PIN_INCORRECT\) for token "pin"/);
    const again = await s.sign(hash(3)).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(SignerUnavailableError);
    expect((again as Error).message).toMatch(/refused this PIN before; it is not offered again .* correct the PIN in .*pin-/);

    await writeFile(c.pinFile, '135790\n');
    expect(s.verify(hash(4), await s.sign(hash(4)))).toBe(true);
  });

  it('never signs with another key: a token re-initialised with a new key under the same label is refused', async () => {
    const c = await hsm.signerConfig({ token: 'swap', keyLabel: 'treasury', pin: PIN, sessions: 1 });
    const original = generatePkcs11Key(c);
    const s = open(c);
    await s.sign(hash(1));
    const p = pkcs11js();
    dropSessions('swap');
    // A token label is 32 characters, blank-padded.
    lib.lib.C_InitToken(slotOf('swap'), 'so-pin-1', 'swap'.padEnd(32));
    const so = lib.lib.C_OpenSession(slotOf('swap'), p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    lib.lib.C_Login(so, p.CKU_SO, 'so-pin-1');
    lib.lib.C_InitPIN(so, PIN);
    lib.lib.C_Logout(so);
    lib.lib.C_CloseSession(so);
    const impostor = generatePkcs11Key(c);
    expect(impostor.fingerprint).not.toBe(original.fingerprint);

    const refusal = await s.sign(hash(2)).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(SignerUnavailableError);
    expect((refusal as Error).message).toBe(
      `the key with label "treasury" on token "swap" is not the treasury key any more (fingerprint ${impostor.fingerprint}, expected ${original.fingerprint}): refusing to sign with it`,
    );
    expect(s.fingerprint).toBe(original.fingerprint);
  });

  it('a removed token makes signing fail retryably, naming it', async () => {
    const c = await hsm.signerConfig({ token: 'gone', keyLabel: 'treasury', pin: PIN, sessions: 1 });
    generatePkcs11Key(c);
    const s = open(c);
    await s.sign(hash(1));
    hsm.deleteToken('gone');
    for (const n of [2, 3]) {
      const refusal = await s.sign(hash(n)).catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(SignerUnavailableError);
      expect((refusal as Error).message).toBe('no token labelled "gone" is present');
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerHoldingsSource } from '../../src/admin/reconciliation/ledger-holdings.js';
import { createRegistryMetadataCheck } from '../../src/admin/registry-check.js';
import { staticToken } from '../../src/ledger/auth.js';
import { LedgerHttp } from '../../src/ledger/http.js';
import { LedgerReadClient } from '../../src/ledger/read-client.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { testLogger } from '../support/silent-logger.js';
import { TEST_REGISTRY_POLICY } from '../support/registry-policy.js';

/** The two ledger-facing parts of this feature against the double: registry metadata and the ACS. */
describe('against the ledger double', () => {
  let sb: Sandbox;
  let treasury: string;
  beforeAll(async () => {
    sb = await startSandbox({ seed: 'admin-ledger-side', clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } }, testLogger());
    treasury = sb.treasury!.party;
  });
  afterAll(() => sb.stop());

  const cc = () => sb.instruments.find((i) => i.id === 'Amulet')!;
  const utk = () => sb.instruments.find((i) => i.id === 'UTK')!;

  it("the registry check accepts the registry's own instruments and explains every refusal", async () => {
    const check = createRegistryMetadataCheck({ policy: TEST_REGISTRY_POLICY });
    const info = await check.check({ admin: cc().admin, id: 'Amulet', registryUrl: cc().registryUrl });
    expect(info).toMatchObject({
      adminId: cc().admin,
      decimals: 10,
      supportedApis: expect.objectContaining({ 'splice-api-token-transfer-instruction-v1': 1 }),
    });
    await expect(check.check({ admin: utk().admin, id: 'Amulet', registryUrl: cc().registryUrl })).rejects.toMatchObject({
      message: expect.stringMatching(/belongs to admin DSO::/),
      retryable: false,
    });
    await expect(check.check({ admin: cc().admin, id: 'UTK', registryUrl: cc().registryUrl })).rejects.toMatchObject({
      message: expect.stringMatching(/does not know instrument "UTK"/),
    });
    await expect(check.check({ admin: cc().admin, id: 'Amulet', registryUrl: 'http://127.0.0.1:1' })).rejects.toMatchObject({
      retryable: true,
    });
  });

  it('reads the treasury holdings at an offset: one HTTP page when small, the websocket beyond 200, other owners ignored', async () => {
    const token = await sb.tokenFor(sb.treasury!.userId);
    const auth = staticToken(token);
    const source = createLedgerHoldingsSource({
      reads: new LedgerReadClient(new LedgerHttp({ baseUrl: sb.jsonApiUrl, auth })),
      baseUrl: sb.jsonApiUrl,
      auth,
      treasury,
      progressEvery: 100,
    });
    const alice = sb.control.createCustomer({ fund: [{ instrument: 'UTK', amount: '50' }] }).party;
    for (let i = 0; i < 5; i++) sb.control.mint(treasury, 'Amulet', `${i + 1}`);
    const small = sb.control.books.ledgerEnd().offset;
    const few = await source.treasuryHoldingsAt(small);
    expect(few.map((h) => h.amount).sort()).toEqual(['1.0000000000', '2.0000000000', '3.0000000000', '4.0000000000', '5.0000000000']);

    for (let i = 0; i < 250; i++) sb.control.mint(treasury, 'UTK', '0.5');
    // A 2-step offer to the treasury locks alice's holding, which the treasury sees: not ours.
    sb.control.transfer({ from: alice, to: treasury, instrument: 'UTK', amount: '1', memo: 'm', mode: 'offer' });
    const progress: number[] = [];
    const many = await source.treasuryHoldingsAt(sb.control.books.ledgerEnd().offset, (n) => progress.push(n));
    expect(many).toHaveLength(255);
    expect(many.filter((h) => h.instrument.id === 'UTK')).toHaveLength(250);
    expect(progress.at(-1)).toBe(many.length + 1);
    // At the earlier offset the later holdings do not exist yet.
    expect(await source.treasuryHoldingsAt(small)).toHaveLength(5);
  });

  it('a node whose list limit is below our page: its 413 sends the read to the websocket, nothing missed', async () => {
    const small = await startSandbox(
      { seed: 'admin-ledger-side-413', maxListElements: 3, clock: { mode: 'manual' }, treasury: { onboarding: 'direct' } },
      testLogger(),
    );
    try {
      const party = small.treasury!.party;
      const auth = staticToken(await small.tokenFor(small.treasury!.userId));
      const source = createLedgerHoldingsSource({
        reads: new LedgerReadClient(new LedgerHttp({ baseUrl: small.jsonApiUrl, auth })),
        baseUrl: small.jsonApiUrl,
        auth,
        treasury: party,
      });
      for (let i = 0; i < 6; i++) small.control.mint(party, 'Amulet', `${i + 1}`);
      const holdings = await source.treasuryHoldingsAt(small.control.books.ledgerEnd().offset);
      expect(holdings.map((h) => h.amount).sort()).toEqual([
        '1.0000000000',
        '2.0000000000',
        '3.0000000000',
        '4.0000000000',
        '5.0000000000',
        '6.0000000000',
      ]);
    } finally {
      await small.stop();
    }
  });
});

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EmbeddedLedgerProvider } from '../daemon.js';
import type { ComponentStatus } from '../lifecycle.js';
import { createDepositAccount } from '../store/accounts.js';
import type { Sql } from '../store/db.js';
import { NO_REGISTRY_AUTH } from '../ledger/registry-auth.js';
import { compareAmounts, normalizeAmount } from '../lib/decimal.js';
import { findInstrumentRecord, insertInstrument, updateInstrument } from '../store/instruments.js';
import type { SandboxControl } from './control/control.js';
import { CustomerScript } from './customers.js';
import { startPersistentSandbox } from './persistent.js';

/**
 * The holdings job's pool for the double's instruments (README, UTXO policy): that many holdings
 * of at least the target kept for concurrent withdrawals, change below it merged back.
 */
export const SANDBOX_POOL = {
  Amulet: { poolSize: 30, poolTargetAmount: '2000', mergeThreshold: 20, smallAmount: '2000' },
  UTK: { poolSize: 10, poolTargetAmount: '2000', mergeThreshold: 20, smallAmount: '2000' },
} as const;

/**
 * The exchange's own money: the sandbox funds its treasury from a hot wallet of the exchange with
 * this memo, credited to a house account. Minted straight into the treasury it would be funds that
 * arrived without a readable transfer, which ingestion rightly lists as unattributed deposits
 * waiting for an operator.
 */
export const HOUSE_MEMO = 'sandbox-house';
const HOUSE_CUSTOMER_REF = '(sandbox: the exchange itself)';

/**
 * A pool from the start (the same totals as one large holding each: 75,000 CC, 20,000 UTK), so a
 * burst of withdrawals runs side by side instead of waiting, one at a time, for the change of one.
 * Canton Coin arrives 1-step (the treasury has a preapproval), UTK as offers the deposit machine
 * accepts once the daemon runs.
 */
function fundTreasury(control: SandboxControl, treasury: string): void {
  const transfers = [
    ...Array.from({ length: SANDBOX_POOL.Amulet.poolSize }, () => ({ instrument: 'Amulet', amount: SANDBOX_POOL.Amulet.poolTargetAmount })),
    { instrument: 'Amulet', amount: '15000' },
    ...Array.from({ length: SANDBOX_POOL.UTK.poolSize }, () => ({ instrument: 'UTK', amount: SANDBOX_POOL.UTK.poolTargetAmount })),
  ];
  // Enough for the amounts and the sender's fees (Canton Coin: 0.5 + 0.1 % per transfer).
  const wallet = control.createCustomer({
    hint: 'exchange-hot-wallet',
    fund: [
      { instrument: 'Amulet', amount: '80000' },
      { instrument: 'UTK', amount: '20000' },
    ],
  }).party;
  for (const t of transfers) control.transfer({ from: wallet, to: treasury, instrument: t.instrument, amount: t.amount, memo: HOUSE_MEMO });
}

/** Deposit account ids the demo customers use (unknown ones land as unattributed deposits). */
const DEMO_MEMOS = ['demo-account-1', 'demo-account-2', 'demo-account-3'];

/**
 * `npm start` with no LEDGER_API_URL: the ledger double in-process, as a sandbox. The first run
 * onboards an external treasury over the wire, funds it and writes its key to
 * DATA_DIR/sandbox/treasury.key; the ledger is saved in DATA_DIR/sandbox/ledger.json, so later
 * runs continue it (same parties, contracts, offsets) just as the daemon's database does. Once
 * the daemon starts its components, a few scripted customers act at a gentle pace.
 */
export const embeddedSandboxLedger: EmbeddedLedgerProvider = async ({ config, logger }) => {
  const log = logger.child({ component: 'sandbox' });
  const { sb, keyFile, restored } = await startPersistentSandbox(
    path.join(config.dataDir, 'sandbox'),
    {
      checkpointIntervalMs: 5000,
      treasury: {
        // Funded below (fundTreasury), as an exchange funds its treasury, not minted into it.
        fund: [],
      },
    },
    log,
  );
  const treasury = sb.treasury;
  if (!treasury) throw new Error('sandbox started without a treasury');
  // A restored ledger was funded on its first start.
  if (!restored) fundTreasury(sb.control, treasury.party);
  const token = await sb.tokenFor(treasury.userId, { expiresInSeconds: 365 * 24 * 3600 });
  const script = new CustomerScript(sb.control, { treasury: treasury.party, memos: DEMO_MEMOS, intervalMs: 20_000, logger: log });
  let status: ComponentStatus = { state: 'starting' };
  log.warn(
    { jsonApiUrl: sb.jsonApiUrl, treasuryParty: treasury.party, keyFile, controlUrl: sb.controlUrl, restored },
    'SANDBOX: started the in-process ledger double (a fake validator node, not a real ledger)',
  );
  // The double's instruments are the sandbox's to configure: onboarded on first start; on later
  // starts only their registry URL (a new port each run) is refreshed, operator changes are kept —
  // except a fee reserve below the double's fee (a data dir from before reserves existed), which
  // can only stall withdrawals, so it is raised to the fee.
  const prepareDatabase = async (sql: Sql) => {
    for (const i of sb.instruments) {
      const existing = await findInstrumentRecord(sql, i.admin, i.id);
      // The double's sender fee is exactly what coin selection must cover beyond the amount.
      const fee = { rate: normalizeAmount(i.senderFee.rate), flat: normalizeAmount(i.senderFee.flat) };
      if (!existing) {
        const transferPolicy = i.supportsPreapproval ? 'direct-or-offer' : 'offer-only';
        const utxoPolicy = i.id === 'Amulet' || i.id === 'UTK' ? SANDBOX_POOL[i.id] : {};
        await insertInstrument(sql, {
          admin: i.admin,
          id: i.id,
          registryUrl: i.registryUrl,
          registryAuth: NO_REGISTRY_AUTH,
          displayDecimals: 10,
          transferPolicy,
          utxoPolicy,
          feeReserve: fee,
          enabled: true,
        });
        log.info(
          { instrument: i.id, admin: i.admin, transferPolicy, feeReserve: fee, utxoPolicy },
          "SANDBOX: onboarded the double's instrument",
        );
        continue;
      }
      const max = (a: string, b: string) => (compareAmounts(a, b) >= 0 ? a : b);
      const feeReserve = { rate: max(existing.feeReserve.rate, fee.rate), flat: max(existing.feeReserve.flat, fee.flat) };
      const reserveTooLow = feeReserve.rate !== existing.feeReserve.rate || feeReserve.flat !== existing.feeReserve.flat;
      if (existing.registryUrl !== i.registryUrl || reserveTooLow) {
        await updateInstrument(sql, { ...existing, registryUrl: i.registryUrl, feeReserve });
        if (reserveTooLow) log.info({ instrument: i.id, feeReserve }, "SANDBOX: raised the fee reserve to the double's fee");
      }
    }
    for (const memo of DEMO_MEMOS) await createDepositAccount(sql, { customerRef: memo, memo });
    await createDepositAccount(sql, { customerRef: HOUSE_CUSTOMER_REF, memo: HOUSE_MEMO });
  };
  const apiTokenFile = path.join(config.dataDir, 'sandbox', 'api-token');
  const apiToken = await readOrCreateSecret(apiTokenFile);
  if (config.apiTokens.length === 0) {
    log.warn(
      { apiTokenFile, scopes: ['read', 'write', 'admin'] },
      'SANDBOX: no API_TOKENS configured; the API accepts the token in this file (CXI_TOKEN=$(cat …) for the CLI)',
    );
  }
  return {
    prepareDatabase,
    // The double's registries are http on loopback: allowed for this process, they alone.
    ownRegistryUrls: sb.instruments.map((i) => i.registryUrl),
    apiTokens: [{ name: 'sandbox', token: apiToken, scopes: ['read', 'write', 'admin'] }],
    ledger: {
      apiUrl: sb.jsonApiUrl,
      userId: treasury.userId,
      auth: { kind: 'static', token },
      treasuryParty: treasury.party,
      treasuryKeyFile: keyFile,
    },
    component: {
      name: 'sandbox',
      start: async () => {
        script.start();
        status = { state: 'running', detail: `ledger double at ${sb.jsonApiUrl}, ${script.customers.length} scripted customers` };
      },
      stop: async () => {
        if (status.state === 'stopped') return;
        status = { state: 'stopping' };
        script.stop();
        await sb.stop();
        status = { state: 'stopped' };
      },
      status: () => status,
    },
  };
};

/** A random secret kept in a file readable by its owner only, the same across restarts. */
async function readOrCreateSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const secret = randomBytes(24).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../src/logger.js';
import { startSandbox } from '../../src/sandbox/index.js';

/**
 * The withdrawal benchmark's ledger: the ledger double in its own process (its CPU and memory are
 * not the daemon's), on the real clock, with a treasury holding `holdings` Canton Coin holdings of
 * 1000 (the pool: one per withdrawal, so no withdrawal waits for change) and `receivers` customers
 * with a transfer preapproval (1-step withdrawals). Writes the treasury key to a 0600 file and
 * prints one JSON line {url, token, party, userId, keyFile, instrument, receivers, controlUrl,
 * controlToken} when ready, then serves until killed or its stdin closes.
 */
const { values } = parseArgs({ options: { holdings: { type: 'string', default: '2000' }, receivers: { type: 'string', default: '50' } } });

const sb = await startSandbox(
  { clock: { mode: 'real' }, treasury: { onboarding: 'direct' }, commitDelayMs: 5, checkpointIntervalMs: 250 },
  createLogger({ level: 'error', pretty: false }),
);
const t = sb.treasury!;
const cc = sb.control.instrument('Amulet');
for (let i = 0; i < Number(values.holdings); i++) sb.engine.mint(t.party, cc, '1000');
const receivers = Array.from({ length: Number(values.receivers) }, () => sb.control.createCustomer({ preapproval: true }).party);
const dir = mkdtempSync(join(tmpdir(), 'cxi-bench-'));
const keyFile = join(dir, 'treasury.key');
writeFileSync(keyFile, t.privateKeyPem, { mode: 0o600 });
const info = sb.instruments.find((i) => i.id === 'Amulet')!;
process.stdout.write(
  `${JSON.stringify({
    url: sb.jsonApiUrl,
    token: await sb.tokenFor(t.userId, { expiresInSeconds: 24 * 3600 }),
    party: t.party,
    userId: t.userId,
    keyFile,
    // The sender fee: the daemon's onboarding makes it the fee reserve coin selection covers.
    instrument: { admin: info.admin, id: info.id, registryUrl: info.registryUrl, senderFee: info.senderFee },
    receivers,
    controlUrl: sb.controlUrl,
    controlToken: sb.controlToken,
  })}\n`,
);
const stop = () => void sb.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();

import { parseArgs } from 'node:util';
import { createLogger } from '../../src/logger.js';
import { startSandbox } from '../../src/sandbox/index.js';

/**
 * The benchmark's ledger: the ledger double in its own process (so its memory is not counted as
 * ingestion's), holding N customer deposits to the treasury — 1-step Canton Coin transfers, the
 * shape of the recorded 1-step deposit — of which 1 in 10 carry a memo no account has. Prints one
 * JSON line {url, token, party, ledgerEnd, transactions, instruments} when ready, then serves until killed.
 */
const { values } = parseArgs({ options: { n: { type: 'string', default: '100000' }, customers: { type: 'string', default: '20' } } });
const n = Number(values.n);
const customers = Number(values.customers);

const sb = await startSandbox(
  { clock: { mode: 'manual' }, treasury: { onboarding: 'direct' }, checkpointIntervalMs: 1000 },
  createLogger({ level: 'error', pretty: false }),
);
const treasury = sb.treasury!.party;
const cc = sb.control.instrument('Amulet');
const senders = Array.from({ length: customers }, () => sb.control.createCustomer({}).party);
// Each deposit spends a holding minted for it, named explicitly: the double's own input selection
// scans every contract it ever had, which makes generating large N quadratic.
const inputs: string[] = [];
for (let i = 0; i < n; i++) {
  const minted = sb.engine.mint(senders[i % customers]!, cc, '1000').nodes.find((x) => x.kind === 'create');
  if (minted?.kind !== 'create') throw new Error('mint created no holding');
  inputs.push(minted.contract.contractId);
}
const started = Date.now();
for (let i = 0; i < n; i++) {
  sb.engine.transferAs({
    sender: senders[i % customers]!,
    receiver: treasury,
    instrument: cc,
    amount: String(1 + (i % 97)),
    memo: i % 10 === 9 ? `unknown-${i}` : `memo-${i % 1000}`,
    inputs: [inputs[i]!],
  });
  if (i % 10_000 === 9_999)
    process.stderr.write(`double: ${i + 1}/${n} deposits (${Math.round((i + 1) / ((Date.now() - started) / 1000))}/s)\n`);
}
const token = await sb.tokenFor(sb.treasury!.userId, { expiresInSeconds: 24 * 3600 });
const end = await fetch(`${sb.jsonApiUrl}/v2/state/ledger-end`, { headers: { authorization: `Bearer ${token}` } }).then(
  (r) => r.json() as Promise<{ offset: number }>,
);
const instruments = sb.instruments.map((i) => ({ admin: i.admin, id: i.id }));
process.stdout.write(
  `${JSON.stringify({ url: sb.jsonApiUrl, token, party: treasury, ledgerEnd: end.offset, transactions: n, instruments })}\n`,
);
const stop = () => void sb.stop().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop); // the parent went away
process.stdin.resume();

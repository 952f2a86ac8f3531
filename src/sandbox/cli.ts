/**
 * `npm run sandbox`: the ledger double as a standalone process (for running the daemon against
 * it by URL, and for chaos campaigns driving it through its HTTP control API).
 *
 *   npm run sandbox -- [--port 7575] [--host 127.0.0.1] [--seed s] [--clock manual]
 *                      [--data-dir ./data] [--customers 3] [--customer-interval-ms 20000]
 *                      [--checkpoint-interval-ms 1000] [--control-token <secret>]
 *                      [--replay file.json ...] [--persist]
 *
 * Prints the URLs, parties, credentials and the treasury key file it wrote
 * (<data-dir>/sandbox/treasury.key, PKCS#8 PEM), plus <data-dir>/sandbox/sandbox.json. With
 * --persist the ledger is kept in <data-dir>/sandbox/ledger.json and continued on the next run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../logger.js';
import { CustomerScript } from './customers.js';
import type { SandboxOptionsInput } from './options.js';
import { startPersistentSandbox } from './persistent.js';
import { startSandbox, type Sandbox } from './start.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      seed: { type: 'string' },
      clock: { type: 'string', default: 'real' },
      'data-dir': { type: 'string', default: process.env['DATA_DIR'] ?? './data' },
      customers: { type: 'string', default: '0' },
      'customer-interval-ms': { type: 'string', default: '20000' },
      'checkpoint-interval-ms': { type: 'string', default: '1000' },
      'control-token': { type: 'string' },
      replay: { type: 'string', multiple: true },
      persist: { type: 'boolean', default: false },
      'log-level': { type: 'string', default: process.env['LOG_LEVEL'] ?? 'info' },
    },
    strict: true,
  });
  const logger = createLogger({ level: values['log-level'], pretty: process.stdout.isTTY === true });
  const clock = values.clock === 'manual' ? 'manual' : 'real';
  const options: SandboxOptionsInput = {
    host: values.host,
    port: Number(values.port),
    ...(values.seed !== undefined ? { seed: values.seed } : {}),
    clock: { mode: clock },
    checkpointIntervalMs: Number(values['checkpoint-interval-ms']),
    ...(values['control-token'] !== undefined ? { controlToken: values['control-token'] } : {}),
    ...(values.replay && values.replay.length > 0 ? { replay: { files: values.replay } } : {}),
    treasury: {
      fund: [
        { instrument: 'Amulet', amount: '50000' },
        { instrument: 'UTK', amount: '20000' },
      ],
    },
  };
  const dir = path.resolve(values['data-dir'], 'sandbox');
  mkdirSync(dir, { recursive: true });
  let sb: Sandbox;
  let keyFile: string | undefined;
  if (values.persist) {
    const p = await startPersistentSandbox(dir, options, logger);
    sb = p.sb;
    keyFile = p.keyFile;
  } else {
    sb = await startSandbox(options, logger);
    if (sb.treasury) {
      keyFile = path.join(dir, 'treasury.key');
      writeFileSync(keyFile, sb.treasury.privateKeyPem, { mode: 0o600 });
    }
  }
  const token = sb.treasury ? await sb.tokenFor(sb.treasury.userId, { expiresInSeconds: 30 * 24 * 3600 }) : undefined;
  const info = { ...sb.info(), keyFile, controlToken: sb.controlToken, treasuryToken: token };
  writeFileSync(path.join(dir, 'sandbox.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });

  const customers = Number(values.customers);
  const script =
    sb.treasury && customers > 0
      ? new CustomerScript(sb.control, {
          treasury: sb.treasury.party,
          memos: ['demo-account-1', 'demo-account-2', 'demo-account-3'],
          intervalMs: Number(values['customer-interval-ms']),
          customers,
          ...(values.seed !== undefined ? { seed: values.seed } : {}),
          logger,
        })
      : undefined;
  script?.start();

  const lines = [
    'Ledger double (sandbox) running — a fake validator node, in memory.',
    `  JSON Ledger API   ${sb.jsonApiUrl}    (websockets: ${sb.jsonApiUrl.replace(/^http/, 'ws')}/v2/updates)`,
    `  participant       ${sb.participantId}`,
    `  synchronizer      ${sb.synchronizerId}`,
    ...sb.instruments.map((i) => `  registry ${i.symbol.padEnd(8)} ${i.registryUrl}   admin ${i.admin}  instrument ${i.id}`),
    ...(sb.treasury
      ? [
          `  treasury party    ${sb.treasury.party}`,
          `  treasury user     ${sb.treasury.userId}   (CanReadAs + CanExecuteAs)`,
          `  treasury key file ${keyFile ?? ''}`,
          `  treasury token    ${token ?? ''}`,
        ]
      : []),
    `  OAuth2 token URL  ${sb.oauth.tokenUrl}   client ${sb.oauth.clientId} / ${sb.oauth.clientSecret}   audience ${sb.oauth.audience}`,
    `  control API       ${sb.controlUrl}   (Authorization: Bearer ${sb.controlToken})`,
    `  details           ${path.join(dir, 'sandbox.json')}`,
    ...(script ? [`  scripted customers: ${script.customers.join(', ')}`] : []),
    '',
    'Daemon against it:',
    sb.treasury
      ? `  LEDGER_API_URL=${sb.jsonApiUrl} LEDGER_USER_ID=${sb.treasury.userId} LEDGER_TOKEN=<treasury token> TREASURY_PARTY='${sb.treasury.party}' TREASURY_KEY_FILE=${keyFile ?? ''} REGISTRY_ALLOW_HTTP=true REGISTRY_ALLOW_HOSTS='["127.0.0.1"]' npm start`
      : '  (replay mode: read-only)',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const stop = (signal: string) => {
    logger.info({ signal }, 'sandbox stopping');
    script?.stop();
    sb.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  process.stderr.write(`sandbox failed to start: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

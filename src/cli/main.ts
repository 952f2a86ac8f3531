import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ApiError, createApiClient, type ApiClient } from './api-client.js';
import { registerAccountCommands } from './account-commands.js';
import { registerIngestionCommands } from './ingestion-commands.js';
import { registerMachineCommands } from './machines-commands.js';
import { registerOperatorCommands } from './operator-commands.js';
import { registerRecoveryCommands } from './recovery-commands.js';
import { registerSwitchCommands } from './switch-commands.js';
import { registerTreasuryCommands } from './treasury-commands.js';
import { printRecord, printRows, type Column } from './output.js';

interface GlobalOptions {
  url: string;
  token?: string;
  tokenFile?: string;
  json: boolean;
}

/** The API token: from a file or CXI_TOKEN, so it does not show in `ps`; --token still works. */
function tokenOf(opts: GlobalOptions): string | undefined {
  if (opts.tokenFile === undefined) return opts.token;
  try {
    return readFileSync(opts.tokenFile, 'utf8').trim();
  } catch (e) {
    throw new Error(`cannot read the token file ${opts.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

interface Withdrawal {
  withdrawalId: string;
  status: string;
  statusReason: string | null;
  statusCode?: string | null;
  amount: string;
  instrument: { admin: string; id: string };
  receiver: string;
  attempt: number;
  requestedAt: string;
}

const withdrawalColumns: Column<Withdrawal>[] = [
  { header: 'id', value: (w) => w.withdrawalId },
  { header: 'status', value: (w) => w.status },
  { header: 'code', value: (w) => w.statusCode ?? null },
  { header: 'reason', value: (w) => w.statusReason },
  { header: 'amount', value: (w) => w.amount },
  { header: 'instrument', value: (w) => w.instrument.id },
  { header: 'receiver', value: (w) => w.receiver },
  { header: 'attempt', value: (w) => w.attempt },
  { header: 'requested', value: (w) => w.requestedAt },
];

function parseInstrument(s: string): { admin: string; id: string } {
  const at = s.lastIndexOf('/');
  if (at <= 0) throw new Error(`instrument must be "<admin party>/<instrument id>", got "${s}"`);
  return { admin: s.slice(0, at), id: s.slice(at + 1) };
}

const program = new Command('cxi')
  .description('Operate the Canton exchange integration daemon through its HTTP API')
  .addOption(new Option('--url <url>', 'daemon base URL').env('CXI_URL').default('http://127.0.0.1:8080'))
  .addOption(
    new Option('--token-file <path>', 'file holding the API token (preferred: a token on the command line shows in ps)').env(
      'CXI_TOKEN_FILE',
    ),
  )
  .addOption(new Option('--token <token>', 'API token; prefer CXI_TOKEN or --token-file').env('CXI_TOKEN'))
  .option('--json', 'print JSON instead of tables', false);

const client = (): { api: ApiClient; opts: GlobalOptions } => {
  const opts = program.opts<GlobalOptions>();
  return { api: createApiClient(opts.url, tokenOf(opts)), opts };
};

program
  .command('health')
  .description('liveness and readiness of the daemon and its components')
  .action(async () => {
    const { api, opts } = client();
    const health = await api
      .get<{ status: string; components: Record<string, { state: string; detail?: string }> }>('/health')
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 503) return e.details as never;
        throw e;
      });
    const ready = await api
      .get<{ status: string }>('/ready')
      .catch((e: unknown) => ({ status: e instanceof ApiError ? e.code : 'unknown' }));
    if (opts.json) return printRecord({ health, ready }, true);
    printRecord({ health: health.status, ready: ready.status }, false);
    printRows(
      Object.entries(health.components ?? {}),
      [
        { header: 'component', value: ([name]) => name },
        { header: 'state', value: ([, s]) => s.state },
        { header: 'detail', value: ([, s]) => s.detail },
      ],
      false,
    );
  });

const withdrawals = program.command('withdrawals').description('withdrawal requests and their status');
withdrawals
  .command('list')
  .option('--status <status>')
  .option('--account <account>')
  .option('--limit <n>', 'page size', '50')
  .action(async (o: { status?: string; account?: string; limit: string }) => {
    const { api, opts } = client();
    const q = new URLSearchParams({
      limit: o.limit,
      ...(o.status ? { status: o.status } : {}),
      ...(o.account ? { account: o.account } : {}),
    });
    const page = await api.get<{ items: Withdrawal[]; nextCursor: string | null }>(`/v1/withdrawals?${q}`);
    printRows(page.items, withdrawalColumns, opts.json);
  });
withdrawals.command('show <withdrawalId>').action(async (id: string) => {
  const { api, opts } = client();
  const w = await api.get<Withdrawal & { history: { seq: number; eventType: string; to: unknown; at: string }[]; holdings: unknown[] }>(
    `/v1/withdrawals/${encodeURIComponent(id)}`,
  );
  if (opts.json) return printRecord(w as unknown as Record<string, unknown>, true);
  const { history, holdings, ...rest } = w;
  printRecord(rest as unknown as Record<string, unknown>, false);
  printRows(
    history,
    [
      { header: 'seq', value: (h) => h.seq },
      { header: 'event', value: (h) => h.eventType },
      { header: 'state', value: (h) => h.to },
      { header: 'at', value: (h) => h.at },
    ],
    false,
  );
  console.log(`${holdings.length} holding reservation(s)`);
});
withdrawals
  .command('request')
  .description('request a withdrawal (idempotent on --id)')
  .requiredOption('--id <withdrawalId>')
  .requiredOption('--account <account>')
  .requiredOption('--instrument <admin/id>', 'e.g. DSO::1220…/Amulet')
  .requiredOption('--amount <decimal>')
  .requiredOption('--receiver <party>')
  .action(async (o: { id: string; account: string; instrument: string; amount: string; receiver: string }) => {
    const { api, opts } = client();
    const w = await api.post<Withdrawal>('/v1/withdrawals', {
      withdrawalId: o.id,
      account: o.account,
      instrument: parseInstrument(o.instrument),
      amount: o.amount,
      receiver: o.receiver,
    });
    printRecord(w as unknown as Record<string, unknown>, opts.json);
  });

const accounts = program.command('accounts').description('customer deposit accounts');
accounts
  .command('create')
  .requiredOption('--customer <ref>')
  .option('--memo <memo>')
  .action(async (o: { customer: string; memo?: string }) => {
    const { api, opts } = client();
    printRecord(await api.post('/v1/accounts', { customerRef: o.customer, ...(o.memo ? { memo: o.memo } : {}) }), opts.json);
  });
accounts.command('show <accountId>').action(async (id: string) => {
  const { api, opts } = client();
  printRecord(await api.get(`/v1/accounts/${encodeURIComponent(id)}`), opts.json);
});

program
  .command('events')
  .description('domain events after an id; --follow streams them live')
  .option('--after <id>', 'last event id already processed', '0')
  .option('--topics <list>', 'comma-separated topics')
  .option('--follow', 'keep streaming', false)
  .action(async (o: { after: string; topics?: string; follow: boolean }) => {
    const { api, opts } = client();
    const topics = o.topics ? `&topics=${encodeURIComponent(o.topics)}` : '';
    if (!o.follow) {
      const page = await api.get<{ events: { eventId: number; topic: string; aggregateId: string; createdAt: string }[] }>(
        `/v1/events?after=${o.after}&limit=500${topics}`,
      );
      return printRows(
        page.events,
        [
          { header: 'id', value: (e) => e.eventId },
          { header: 'topic', value: (e) => e.topic },
          { header: 'aggregate', value: (e) => e.aggregateId },
          { header: 'at', value: (e) => e.createdAt },
        ],
        opts.json,
      );
    }
    const res = await api.stream(`/v1/events/stream?after=${o.after}${topics}`);
    if (!res.ok || !res.body) throw new ApiError(res.status, `HTTP_${res.status}`, 'cannot open the event stream', {});
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let idx;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const data = buf
          .slice(0, idx)
          .split('\n')
          .find((l) => l.startsWith('data: '));
        buf = buf.slice(idx + 2);
        if (!data) continue;
        const e = JSON.parse(data.slice(6)) as { eventId: number; topic: string; aggregateId: string; payload: unknown };
        console.log(opts.json ? JSON.stringify(e) : `${e.eventId}\t${e.topic}\t${e.aggregateId}\t${JSON.stringify(e.payload)}`);
      }
    }
  });

interface InstrumentView {
  admin: string;
  id: string;
  registryUrl: string;
  registryAuth: { mode: string; credential?: string };
  displayDecimals: number;
  transferPolicy: string;
  utxoPolicy: Record<string, unknown>;
  feeReserve: { rate: string; flat: string };
  enabled: boolean;
  updatedAt: string;
}

const instrumentColumns: Column<InstrumentView>[] = [
  { header: 'instrument', value: (i) => `${i.admin}/${i.id}` },
  { header: 'enabled', value: (i) => i.enabled },
  { header: 'registry', value: (i) => i.registryUrl },
  {
    header: 'registry auth',
    value: (i) => (i.registryAuth.credential !== undefined ? `${i.registryAuth.mode} ${i.registryAuth.credential}` : i.registryAuth.mode),
  },
  { header: 'decimals', value: (i) => i.displayDecimals },
  { header: 'transfers', value: (i) => i.transferPolicy },
  { header: 'utxo policy', value: (i) => i.utxoPolicy },
  { header: 'fee reserve', value: (i) => `${i.feeReserve.flat} + ${i.feeReserve.rate} × amount` },
  { header: 'updated', value: (i) => i.updatedAt },
];

const instrumentPath = (s: string) => {
  const i = parseInstrument(s);
  return `/v1/instruments/${encodeURIComponent(i.admin)}/${encodeURIComponent(i.id)}`;
};

function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${name} must be JSON, e.g. '{"mergeThreshold": 50, "poolSize": 4, "poolTargetAmount": "1000"}'`);
  }
}

interface InstrumentSettings {
  registryUrl?: string;
  registryAuth?: string;
  registryCredential?: string;
  displayDecimals?: string;
  transferPolicy?: string;
  utxoPolicy?: string;
  feeReserveFlat?: string;
  feeReserveRate?: string;
}

/** --registry-credential NAME is mode credential; --registry-auth names the other modes. */
function registryAuthOption(o: InstrumentSettings): { registryAuth?: { mode: string; credential?: string } } {
  if (o.registryCredential !== undefined) {
    if (o.registryAuth !== undefined && o.registryAuth !== 'credential')
      throw new Error(`--registry-credential goes with --registry-auth credential, not ${o.registryAuth}`);
    return { registryAuth: { mode: 'credential', credential: o.registryCredential } };
  }
  if (o.registryAuth === 'credential') throw new Error('--registry-auth credential needs --registry-credential <name>');
  return o.registryAuth !== undefined ? { registryAuth: { mode: o.registryAuth } } : {};
}

const instrumentSettings = (o: InstrumentSettings) => ({
  ...(o.registryUrl !== undefined ? { registryUrl: o.registryUrl } : {}),
  ...registryAuthOption(o),
  ...(o.displayDecimals !== undefined ? { displayDecimals: Number(o.displayDecimals) } : {}),
  ...(o.transferPolicy !== undefined ? { transferPolicy: o.transferPolicy } : {}),
  ...(o.utxoPolicy !== undefined ? { utxoPolicy: parseJsonOption('--utxo-policy', o.utxoPolicy) } : {}),
  // Amounts stay strings end to end; the daemon validates them. A part not given stays (set) or is 0 (add).
  ...(o.feeReserveFlat !== undefined || o.feeReserveRate !== undefined
    ? {
        feeReserve: {
          ...(o.feeReserveFlat !== undefined ? { flat: o.feeReserveFlat } : {}),
          ...(o.feeReserveRate !== undefined ? { rate: o.feeReserveRate } : {}),
        },
      }
    : {}),
});

const instruments = program
  .command('instruments')
  .description('token onboarding: the instruments the daemon handles (changes need an admin token)');
instruments
  .command('list')
  .option('--enabled', 'only enabled instruments')
  .option('--disabled', 'only disabled instruments')
  .action(async (o: { enabled?: boolean; disabled?: boolean }) => {
    const { api, opts } = client();
    const q = o.enabled ? '?enabled=true' : o.disabled ? '?enabled=false' : '';
    printRows((await api.get<{ items: InstrumentView[] }>(`/v1/instruments${q}`)).items, instrumentColumns, opts.json);
  });
instruments.command('show <admin/id>').action(async (ref: string) => {
  const { api, opts } = client();
  printRecord(await api.get(instrumentPath(ref)), opts.json);
});
instruments
  .command('add')
  .description("onboard an instrument; the daemon checks it against the registry's metadata API first")
  .requiredOption('--admin <party>', 'the token admin party')
  .requiredOption('--id <instrumentId>', 'e.g. Amulet')
  .requiredOption('--registry-url <url>', "base URL of the admin's Registry API")
  .option(
    '--registry-auth <mode>',
    "none (default) | ledger (send the daemon's Ledger API token, e.g. to a validator's Scan proxy) | credential",
  )
  .option('--registry-credential <name>', 'send the token of this REGISTRY_CREDENTIALS entry (mode credential)')
  .option('--display-decimals <n>', "default: the registry's decimals")
  .option('--transfer-policy <policy>', 'direct-only | direct-or-offer | offer-only (default direct-or-offer)')
  .option('--utxo-policy <json>', 'holdings job policy, e.g. \'{"mergeThreshold": 50, "poolSize": 4, "poolTargetAmount": "1000"}\'')
  .option('--fee-reserve-flat <amount>', "fixed part of the sender's fee coin selection covers beyond the amount, e.g. 0.5 (default 0)")
  .option('--fee-reserve-rate <rate>', "part of the sender's fee proportional to the amount, e.g. 0.001 for 0.1 % (default 0)")
  .option('--disabled', 'add it disabled')
  .action(async (o: InstrumentSettings & { admin: string; id: string; disabled?: boolean }) => {
    const { api, opts } = client();
    const body = { admin: o.admin, id: o.id, ...instrumentSettings(o), ...(o.disabled ? { enabled: false } : {}) };
    printRecord(await api.post('/v1/instruments', body), opts.json);
  });
instruments
  .command('set <admin/id>')
  .description('change an instrument: only the options given change')
  .option('--registry-url <url>')
  .option('--registry-auth <mode>', 'none | ledger | credential (with --registry-credential)')
  .option('--registry-credential <name>', 'a REGISTRY_CREDENTIALS entry (mode credential)')
  .option('--display-decimals <n>')
  .option('--transfer-policy <policy>')
  .option('--utxo-policy <json>', 'replaces the whole policy')
  .option('--fee-reserve-flat <amount>', 'fixed part of the fee reserve (the rate stays unless given)')
  .option('--fee-reserve-rate <rate>', 'proportional part of the fee reserve (the flat part stays unless given)')
  .option('--enabled', 'enable it (the registry is checked again)')
  .option('--disabled', 'disable it: no new withdrawals, no UTXO management; deposits are still ingested')
  .action(async (ref: string, o: InstrumentSettings & { enabled?: boolean; disabled?: boolean }) => {
    if (o.enabled && o.disabled) throw new Error('--enabled and --disabled exclude each other');
    const { api, opts } = client();
    const body = { ...instrumentSettings(o), ...(o.enabled ? { enabled: true } : o.disabled ? { enabled: false } : {}) };
    printRecord(await api.put(instrumentPath(ref), body), opts.json);
  });
instruments
  .command('disable <admin/id>')
  .description('no new withdrawals of it, no UTXO management; deposits are still ingested and credited')
  .action(async (ref: string) => {
    const { api, opts } = client();
    printRecord(await api.post(`${instrumentPath(ref)}/disable`), opts.json);
  });

registerOperatorCommands(program, client);
registerSwitchCommands(program, client);
registerAccountCommands(program, client);
registerIngestionCommands(program, client);
registerRecoveryCommands(program, client);
registerMachineCommands(program, client);
registerTreasuryCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof ApiError) {
    console.error(`error: ${e.code}: ${e.message}${e.details && Object.keys(e.details).length ? ` ${JSON.stringify(e.details)}` : ''}`);
  } else {
    console.error(`error: ${(e as Error).message}`);
  }
  process.exitCode = 1;
}

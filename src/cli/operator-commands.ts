import type { Command } from 'commander';
import { z } from 'zod';
import type { ApiClient } from './api-client.js';
import { printRecord, printRows, type Column } from './output.js';

/**
 * Operator actions and deposit views (`cxi withdrawals retry|cancel|fail`, `cxi deposits …`).
 * The daemon's machines decide whether an action is allowed; a refusal comes back as an API error
 * (STATE_CONFLICT with the machine's reason, NOT_FOUND…), which main.ts prints before exiting 1.
 * Answers are parsed with zod: a daemon of another version fails loudly here, not in a table.
 */

export type CliClient = () => { api: ApiClient; opts: { json: boolean } };

const Deposit = z.looseObject({
  depositId: z.string(),
  kind: z.string(),
  status: z.string(),
  statusReason: z.string().nullable(),
  instrument: z.object({ admin: z.string(), id: z.string() }),
  sender: z.string().nullable(),
  memo: z.string().nullable(),
  accountId: z.string().nullable(),
  transferAmount: z.string(),
  creditedAmount: z.string().nullable(),
  createdAt: z.string(),
});
type Deposit = z.infer<typeof Deposit>;

const History = z.array(z.object({ seq: z.number(), eventType: z.string(), to: z.unknown(), at: z.string() }));
const DepositDetail = Deposit.extend({ history: History });
const DepositPage = z.object({ items: z.array(Deposit), nextCursor: z.string().nullable() });

const Applied = { command: z.string(), by: z.string(), machineState: z.string() };
const WithdrawalAction = z.object({
  ...Applied,
  withdrawal: z.looseObject({ withdrawalId: z.string(), status: z.string(), statusReason: z.string().nullable() }),
});
const DepositAction = z.object({ ...Applied, deposit: Deposit });

const depositColumns: Column<Deposit>[] = [
  { header: 'id', value: (d) => d.depositId },
  { header: 'kind', value: (d) => d.kind },
  { header: 'status', value: (d) => d.status },
  { header: 'reason', value: (d) => d.statusReason },
  { header: 'amount', value: (d) => d.transferAmount },
  { header: 'credited', value: (d) => d.creditedAmount },
  { header: 'instrument', value: (d) => d.instrument.id },
  { header: 'memo', value: (d) => d.memo },
  { header: 'account', value: (d) => d.accountId },
  { header: 'created', value: (d) => d.createdAt },
];

const historyColumns: Column<z.infer<typeof History>[number]>[] = [
  { header: 'seq', value: (h) => h.seq },
  { header: 'event', value: (h) => h.eventType },
  { header: 'state', value: (h) => h.to },
  { header: 'at', value: (h) => h.at },
];

const withdrawalPath = (id: string, action: string) => `/v1/withdrawals/${encodeURIComponent(id)}/${action}`;
const depositPath = (id: string, action?: string) => `/v1/deposits/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;

/** The action's outcome as one record: what was applied, by whom, and where the machine is now. */
function printApplied(
  id: string,
  r: { command: string; by: string; machineState: string },
  row: { status: string; statusReason: string | null },
  extra: Record<string, unknown> = {},
): void {
  printRecord(
    { id, command: r.command, by: r.by, status: row.status, reason: row.statusReason, machineState: r.machineState, ...extra },
    false,
  );
}

export function registerOperatorCommands(program: Command, client: CliClient): void {
  // main.ts owns the withdrawals group (list, show, request); the actions join it.
  const withdrawals = program.commands.find((c) => c.name() === 'withdrawals') ?? program.command('withdrawals');

  const withdrawalAction = async (id: string, action: string, body: Record<string, string> = {}) => {
    const { api, opts } = client();
    const raw = await api.post<unknown>(withdrawalPath(id, action), body);
    if (opts.json) return printRecord(raw as Record<string, unknown>, true);
    const r = WithdrawalAction.parse(raw);
    printApplied(r.withdrawal.withdrawalId, r, r.withdrawal);
  };

  withdrawals
    .command('retry <withdrawalId>')
    .description(
      'retry now: waiting for funds, backing off, stalled (fresh attempt) or awaiting the ledger (resubmits the same transaction)',
    )
    .action((id: string) => withdrawalAction(id, 'retry'));
  withdrawals
    .command('cancel <withdrawalId>')
    .description('cancel before submission: holdings released, ends cancelled (refused once an execute was submitted: use fail)')
    .requiredOption('--reason <text>', 'why; kept in the history and the withdrawal.failed event')
    .action((id: string, o: { reason: string }) => withdrawalAction(id, 'cancel', { reason: o.reason }));
  withdrawals
    .command('fail <withdrawalId>')
    .description('fail it: at once before submission; after, no more submissions and it fails when the attempt expires')
    .requiredOption('--reason <text>', 'why; kept in the history and the withdrawal.failed event')
    .action((id: string, o: { reason: string }) => withdrawalAction(id, 'fail', { reason: o.reason }));

  const deposits = program
    .command('deposits')
    .description('incoming deposits; assign unattributed ones, retry failed accepts (actions need an admin token)');
  deposits
    .command('list')
    .option('--status <status>', 'e.g. unattributed, ignored (does not count: see the reason), offered, accept_failed, credited')
    .option('--account <account>')
    .option('--kind <kind>', 'one_step | two_step')
    .option('--limit <n>', 'page size', '50')
    .action(async (o: { status?: string; account?: string; kind?: string; limit: string }) => {
      const { api, opts } = client();
      const q = new URLSearchParams({ limit: o.limit });
      for (const key of ['status', 'account', 'kind'] as const) {
        const v = o[key];
        if (v !== undefined) q.set(key, v);
      }
      const page = DepositPage.parse(await api.get<unknown>(`/v1/deposits?${q}`));
      printRows(page.items, depositColumns, opts.json);
    });
  deposits.command('show <depositId>').action(async (id: string) => {
    const { api, opts } = client();
    const raw = await api.get<unknown>(depositPath(id));
    if (opts.json) return printRecord(raw as Record<string, unknown>, true);
    const { history, ...rest } = DepositDetail.parse(raw);
    printRecord(rest, false);
    printRows(history, historyColumns, false);
  });

  const depositAction = async (id: string, action: string, body: Record<string, string> = {}) => {
    const { api, opts } = client();
    const raw = await api.post<unknown>(depositPath(id, action), body);
    if (opts.json) return printRecord(raw as Record<string, unknown>, true);
    const r = DepositAction.parse(raw);
    printApplied(r.deposit.depositId, r, r.deposit, { account: r.deposit.accountId, credited: r.deposit.creditedAmount });
  };
  deposits
    .command('assign <depositId>')
    .description('attribute an unattributed deposit: a 1-step one is credited at once, a live offer is then accepted')
    .requiredOption('--account <account>', 'an existing deposit account: its id or its memo')
    .action((id: string, o: { account: string }) => depositAction(id, 'assign', { account: o.account }));
  deposits
    .command('retry-accept <depositId>')
    .description('accept a 2-step offer again after its accept failed')
    .action((id: string) => depositAction(id, 'retry-accept'));
}

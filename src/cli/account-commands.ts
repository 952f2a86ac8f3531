import type { Command } from 'commander';
import { z } from 'zod';
import type { CliClient } from './operator-commands.js';
import { printRecord, printRows, type Column } from './output.js';

/**
 * `cxi accounts list|assign`, `cxi holdings` and `cxi reconcile`: the API's account list, the
 * treasury's holdings per instrument and the reconciliation report, as tables (or `--json`).
 * Answers are parsed with zod, as in operator-commands.ts.
 */

const Account = z.looseObject({ accountId: z.string(), memo: z.string(), customerRef: z.string(), createdAt: z.string() });
const AccountPage = z.object({ items: z.array(Account), nextCursor: z.string().nullable() });

const Bucket = z.object({ count: z.number(), amount: z.string() });
const Holdings = z.object({
  checkpoint: z.object({ offset: z.number(), recordTime: z.string().nullable() }).nullable(),
  items: z.array(
    z.looseObject({
      instrument: z.object({ admin: z.string(), id: z.string() }),
      config: z.object({ enabled: z.boolean(), displayDecimals: z.number() }).nullable(),
      count: z.number(),
      total: z.string(),
      free: Bucket,
      reserved: Bucket,
      locked: Bucket,
      plannedForSelfTransfer: Bucket,
      selfTransfersInFlight: z.number(),
    }),
  ),
});

const Totals = z.object({ count: z.number(), total: z.string() });
const Reconciliation = z.looseObject({
  treasuryParty: z.string(),
  offset: z.number(),
  recordTime: z.string().nullable(),
  clean: z.boolean(),
  instruments: z.array(
    z.object({
      instrument: z.object({ admin: z.string(), id: z.string() }),
      db: Totals,
      ledger: Totals,
      movements: z.object({ net: z.string() }).loose(),
      differences: z.number(),
    }),
  ),
  differences: z.array(z.looseObject({ kind: z.string(), contractId: z.string().optional(), instrument: z.object({ id: z.string() }) })),
  differencesTotal: z.number(),
  truncated: z.boolean(),
});

const accountColumns: Column<z.infer<typeof Account>>[] = [
  { header: 'account', value: (a) => a.accountId },
  { header: 'memo', value: (a) => a.memo },
  { header: 'customer', value: (a) => a.customerRef },
  { header: 'created', value: (a) => a.createdAt },
];

const bucket = (b: z.infer<typeof Bucket>) => `${b.amount} (${b.count})`;

export function registerAccountCommands(program: Command, client: CliClient): void {
  // main.ts owns the accounts group (create, show); these join it.
  const accounts = program.commands.find((c) => c.name() === 'accounts') ?? program.command('accounts');
  accounts
    .command('list')
    .description('deposit accounts, newest first')
    .option('--search <text>', 'memos, customer references or account ids starting with this (any case)')
    .option('--memo <memo>', 'exactly this memo')
    .option('--customer <ref>', 'exactly this customer reference')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .action(async (o: { search?: string; memo?: string; customer?: string; limit: string; cursor?: string }) => {
      const { api, opts } = client();
      const q = new URLSearchParams({
        limit: o.limit,
        ...(o.search ? { search: o.search } : {}),
        ...(o.memo ? { memo: o.memo } : {}),
        ...(o.customer ? { customerRef: o.customer } : {}),
        ...(o.cursor ? { cursor: o.cursor } : {}),
      });
      const page = AccountPage.parse(await api.get<unknown>(`/v1/accounts?${q}`));
      if (opts.json) return printRecord(page, true);
      printRows(page.items, accountColumns, false);
      if (page.nextCursor !== null) console.log(`more: --cursor ${page.nextCursor}`);
    });
  accounts
    .command('assign <depositId> <account>')
    .description('attribute an unattributed deposit to an account, named by its id or its memo (as cxi deposits assign)')
    .action(async (depositId: string, account: string) => {
      const { api, opts } = client();
      const raw = await api.post<unknown>(`/v1/deposits/${encodeURIComponent(depositId)}/assign`, { account });
      if (opts.json) return printRecord(raw as Record<string, unknown>, true);
      const r = z
        .object({
          command: z.string(),
          by: z.string(),
          machineState: z.string(),
          deposit: z.looseObject({
            depositId: z.string(),
            status: z.string(),
            accountId: z.string().nullable(),
            creditedAmount: z.string().nullable(),
          }),
        })
        .parse(raw);
      printRecord(
        {
          id: r.deposit.depositId,
          command: r.command,
          by: r.by,
          status: r.deposit.status,
          account: r.deposit.accountId,
          credited: r.deposit.creditedAmount,
          machineState: r.machineState,
        },
        false,
      );
    });

  program
    .command('holdings')
    .description("the treasury's holdings per instrument: total, free, reserved, locked, planned for a self-transfer")
    .action(async () => {
      const { api, opts } = client();
      const h = Holdings.parse(await api.get<unknown>('/v1/holdings'));
      if (opts.json) return printRecord(h, true);
      console.log(
        h.checkpoint ? `as of offset ${h.checkpoint.offset} (${h.checkpoint.recordTime ?? 'no record time'})` : 'nothing ingested yet',
      );
      printRows(
        h.items,
        [
          { header: 'instrument', value: (i) => i.instrument.id },
          { header: 'admin', value: (i) => i.instrument.admin },
          { header: 'total', value: (i) => `${i.total} (${i.count})` },
          { header: 'free', value: (i) => bucket(i.free) },
          { header: 'reserved', value: (i) => bucket(i.reserved) },
          { header: 'locked', value: (i) => bucket(i.locked) },
          { header: 'planned', value: (i) => bucket(i.plannedForSelfTransfer) },
          { header: 'self-transfers', value: (i) => i.selfTransfersInFlight },
          { header: 'onboarded', value: (i) => (i.config === null ? 'no' : i.config.enabled ? 'enabled' : 'disabled') },
        ],
        false,
      );
    });

  program
    .command('reconcile')
    .description(
      "compare the database's holdings with the ledger's at the ingestion checkpoint (the daemon's GET /v1/reconciliation); exit 1 on any difference",
    )
    .option('--max-differences <n>', 'differences listed at most', '100')
    .action(async (o: { maxDifferences: string }) => {
      const { api, opts } = client();
      const raw = await api.get<unknown>(`/v1/reconciliation?maxDifferences=${encodeURIComponent(o.maxDifferences)}`);
      const r = Reconciliation.parse(raw);
      if (opts.json) printRecord(raw as Record<string, unknown>, true);
      else {
        console.log(`treasury ${r.treasuryParty} at offset ${r.offset} (${r.recordTime ?? 'no record time'})`);
        printRows(
          r.instruments,
          [
            { header: 'instrument', value: (i) => i.instrument.id },
            { header: 'database', value: (i) => `${i.db.total} (${i.db.count})` },
            { header: 'ledger', value: (i) => `${i.ledger.total} (${i.ledger.count})` },
            { header: 'movements', value: (i) => i.movements.net },
            { header: 'differences', value: (i) => i.differences },
          ],
          false,
        );
        if (r.clean) console.log(`CLEAN: the database matches the ledger at offset ${r.offset}.`);
        else {
          console.log(`${r.differencesTotal} DIFFERENCE(S)${r.truncated ? ` (first ${r.differences.length})` : ''}:`);
          printRows(
            r.differences,
            [
              { header: 'kind', value: (d) => d.kind },
              { header: 'instrument', value: (d) => d.instrument.id },
              { header: 'contract', value: (d) => d.contractId ?? null },
            ],
            false,
          );
        }
      }
      if (!r.clean) process.exitCode = 1;
    });
}

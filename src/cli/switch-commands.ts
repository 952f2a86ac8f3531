import type { Command } from 'commander';
import { z } from 'zod';
import type { ApiClient } from './api-client.js';
import { printRecord, printRows } from './output.js';

/**
 * Operator pause switches: `cxi switches`, `cxi pause <name> --reason …`, `cxi resume <name>`.
 * Pausing and resuming need an admin token; the daemon's answer is parsed with zod.
 */

const SWITCHES = ['ingestion', 'withdrawals', 'acceptance'] as const;
const Name = z.enum(SWITCHES);

const SwitchView = z.object({
  name: Name,
  paused: z.boolean(),
  reason: z.string().nullable(),
  changedBy: z.string().nullable(),
  changedAt: z.string(),
});
type SwitchView = z.infer<typeof SwitchView>;

function switchName(s: string): z.infer<typeof Name> {
  const r = Name.safeParse(s);
  if (!r.success) throw new Error(`unknown switch "${s}": one of ${SWITCHES.join(', ')}`);
  return r.data;
}

const print = (s: SwitchView, json: boolean) => printRecord(s, json);

export function registerSwitchCommands(program: Command, client: () => { api: ApiClient; opts: { json: boolean } }): void {
  program
    .command('switches')
    .description('operator pause switches: ingestion, withdrawals, acceptance')
    .action(async () => {
      const { api, opts } = client();
      const { items } = z.object({ items: z.array(SwitchView) }).parse(await api.get('/v1/admin/switches'));
      printRows(
        items,
        [
          { header: 'switch', value: (s) => s.name },
          { header: 'state', value: (s) => (s.paused ? 'PAUSED' : 'running') },
          { header: 'reason', value: (s) => s.reason },
          { header: 'by', value: (s) => s.changedBy },
          { header: 'since', value: (s) => s.changedAt },
        ],
        opts.json,
      );
    });

  program
    .command('pause <switch>')
    .description(
      'pause ingestion (stop reading the ledger), withdrawals (no new submission) or acceptance (no 2-step deposit accepts); persisted, applies to every instance',
    )
    .requiredOption('--reason <text>', 'why: shown in the status and kept in the audit event')
    .action(async (name: string, o: { reason: string }) => {
      const { api, opts } = client();
      print(SwitchView.parse(await api.post(`/v1/admin/switches/${switchName(name)}/pause`, { reason: o.reason })), opts.json);
    });

  program
    .command('resume <switch>')
    .description('resume a paused switch: held work starts where it stopped')
    .option('--reason <text>', 'optional note kept with the change')
    .action(async (name: string, o: { reason?: string }) => {
      const { api, opts } = client();
      print(
        SwitchView.parse(await api.post(`/v1/admin/switches/${switchName(name)}/resume`, o.reason ? { reason: o.reason } : {})),
        opts.json,
      );
    });
}

import type { Command } from 'commander';
import { z } from 'zod';
import type { ApiClient } from './api-client.js';
import { printRecord } from './output.js';

/** `cxi ingestion [--follow]`: where ingestion stands; with --follow, a catch-up's progress until it is done. */

const IngestionView = z.object({
  state: z.string(),
  detail: z.string().nullable(),
  checkpointOffset: z.number().int().nullable(),
  recordTime: z.string().nullable(),
  ledgerEnd: z.number().int().nullable(),
  lag: z.number().int().nullable(),
  transport: z.string().nullable(),
});
type IngestionView = z.infer<typeof IngestionView>;

/** One line per poll: offsets, lag, rate since the previous line, and an estimate of the time left. */
function progressLine(now: IngestionView, prev: { offset: number; at: number } | undefined, at: number): string {
  const offset = now.checkpointOffset ?? 0;
  const parts = [`${now.state}`, `offset ${offset}`, `ledger end ${now.ledgerEnd ?? '?'}`, `lag ${now.lag ?? '?'}`];
  if (prev && at > prev.at) {
    const rate = ((offset - prev.offset) * 1000) / (at - prev.at);
    parts.push(`${rate.toFixed(0)} offsets/s`);
    if (rate > 0 && now.lag) parts.push(`~${Math.ceil(now.lag / rate)} s left`);
  }
  return parts.join('  ');
}

export function registerIngestionCommands(program: Command, client: () => { api: ApiClient; opts: { json: boolean } }): void {
  program
    .command('ingestion')
    .description('ingestion progress: stored checkpoint, ledger end and lag')
    .option('--follow', 'print progress every --interval until the lag is 0 (Ctrl-C to stop early)')
    .option('--interval <seconds>', 'between two lines with --follow', '2')
    .action(async (o: { follow?: boolean; interval: string }) => {
      const { api, opts } = client();
      const read = async () => IngestionView.parse(await api.get('/v1/ingestion'));
      if (!o.follow) return printRecord(await read(), opts.json);
      const intervalMs = Math.max(0.2, Number(o.interval)) * 1000;
      let prev: { offset: number; at: number } | undefined;
      for (;;) {
        const now = await read();
        const at = Date.now();
        console.log(opts.json ? JSON.stringify(now) : progressLine(now, prev, at));
        if (now.state === 'failed') throw new Error(`ingestion failed: ${now.detail ?? 'no detail'}`);
        if (now.lag === 0) return;
        prev = { offset: now.checkpointOffset ?? 0, at };
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    });
}

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

const RecoveryResult = z.object({
  action: z.enum(['resync', 'migrate']),
  summary: z.array(z.string()),
  before: z.object({ offset: z.number() }).passthrough(),
  after: z.object({ offset: z.number() }).passthrough(),
});

/** What resync or migrate did: its sentences (or the whole answer as JSON). */
function printRecovery(raw: unknown, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(raw, null, 2));
    return;
  }
  const r = RecoveryResult.parse(raw);
  console.log(`${r.action}: done`);
  for (const line of r.summary) console.log(`  - ${line}`);
}

export function registerIngestionCommands(program: Command, client: () => { api: ApiClient; opts: { json: boolean } }): void {
  const ingestion = program
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
  registerRecoveryCommands(ingestion, client);
}

/**
 * `cxi ingestion resync` / `cxi ingestion migrate`: the validator-restore and major-upgrade
 * runbooks (README "Recovery"), admin scope. Each prints what it did; a refusal exits non-zero
 * with the daemon's reason and changes nothing.
 */
export function registerRecoveryCommands(ingestion: Command, client: () => { api: ApiClient; opts: { json: boolean } }): void {
  ingestion
    .command('resync')
    .description(
      'after a validator restore: resume at the offset where the ingested record time begins on the ledger (found by reading it), skipping updates already ingested',
    )
    .option('--offset <n>', 'resume after this offset instead of searching')
    .option('--participant <id>', "accept the ledger's participant id when the treasury is now read from another of its nodes")
    .action(async (o: { offset?: string; participant?: string }) => {
      const { api, opts } = client();
      const offset = o.offset === undefined ? undefined : Number(o.offset);
      if (offset !== undefined && (!Number.isInteger(offset) || offset < 0))
        throw new Error(`--offset must be a non-negative integer, got ${o.offset}`);
      printRecovery(
        await api.post('/v1/ingestion/resync', {
          ...(offset !== undefined ? { offset } : {}),
          ...(o.participant ? { participant: o.participant } : {}),
        }),
        opts.json,
      );
    });
  ingestion
    .command('migrate')
    .description(
      'after a major upgrade (synchronizer migration): follow the new synchronizer from the start of the new ledger; its import transactions credit nobody',
    )
    .option('--acs-timestamp <iso>', "the migration dump's acs_timestamp: refuse unless ingestion reached it on the old synchronizer")
    .action(async (o: { acsTimestamp?: string }) => {
      const { api, opts } = client();
      printRecovery(await api.post('/v1/ingestion/migrate', o.acsTimestamp ? { acsTimestamp: o.acsTimestamp } : {}), opts.json);
    });
}

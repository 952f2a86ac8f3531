import type { Command } from 'commander';
import { z } from 'zod';
import { exportMachine, isMachineType, MACHINE_TYPES, toMermaid, type MachineTypeName } from '../machines/definition-export.js';
import type { ApiClient } from './api-client.js';

/**
 * `cxi machines export [type] [--format json|mermaid] [--from-daemon]`: the machine definitions,
 * read from the machines this CLI was built with (no daemon needed), or with --from-daemon from
 * the daemon's GET /v1/machines/{type}/definition (what the running version executes). JSON is the
 * XState config (paste it into Stately Studio, or `createMachine(config)`); Mermaid a
 * stateDiagram-v2 for documentation.
 */

const FORMATS = ['json', 'mermaid'] as const;
type Format = (typeof FORMATS)[number];

const Definition = z.object({ config: z.record(z.string(), z.unknown()), mermaid: z.string(), version: z.number().int() });

function typesOf(type: string | undefined): MachineTypeName[] {
  if (type === undefined) return [...MACHINE_TYPES];
  if (!isMachineType(type)) throw new Error(`unknown machine type "${type}": one of ${MACHINE_TYPES.join(', ')}`);
  return [type];
}

function formatOf(f: string): Format {
  if (!(FORMATS as readonly string[]).includes(f)) throw new Error(`unknown format "${f}": one of ${FORMATS.join(', ')}`);
  return f as Format;
}

export function registerMachineCommands(program: Command, client: () => { api: ApiClient }): void {
  const machines = program.command('machines').description('the withdrawal and deposit state machines');
  machines
    .command('export [type]')
    .description(
      `print machine definitions (${MACHINE_TYPES.join(', ')}; default: all): XState config JSON for Stately Studio, or Mermaid for documentation`,
    )
    .option('--format <format>', `${FORMATS.join(' | ')}`, 'json')
    .option('--from-daemon', "ask the daemon (GET /v1/machines/{type}/definition, read scope) instead of this CLI's own definitions", false)
    .action(async (type: string | undefined, o: { format: string; fromDaemon: boolean }) => {
      const format = formatOf(o.format);
      const types = typesOf(type);
      const read = async (t: MachineTypeName) => {
        if (o.fromDaemon) return Definition.parse(await client().api.get(`/v1/machines/${t}/definition`));
        const e = exportMachine(t);
        return { config: e.config, mermaid: toMermaid(e), version: e.version };
      };
      const defs = await Promise.all(types.map(async (t) => [t, await read(t)] as const));
      if (format === 'json') {
        const configs = defs.map(([, d]) => d.config);
        console.log(JSON.stringify(type === undefined ? Object.fromEntries(defs.map(([t, d]) => [t, d.config])) : configs[0], null, 2));
        return;
      }
      // Several diagrams: each after a Mermaid comment naming it, a blank line between them.
      console.log(
        defs.map(([t, d]) => (types.length > 1 ? `%% ${t} machine, version ${d.version}\n${d.mermaid}` : d.mermaid).trimEnd()).join('\n\n'),
      );
    });
}

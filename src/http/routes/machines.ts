import { z } from 'zod';
import { AppError } from '../../errors.js';
import { exportMachine, MACHINE_TYPES, toMermaid, type MachineTypeName } from '../../machines/definition-export.js';
import { commandsAccepted } from '../../machines/operator-commands.js';
import { stateName } from '../../machines/state-path.js';
import type { Sql } from '../../store/db.js';
import { findDeposit } from '../../store/deposits.js';
import { loadSnapshot } from '../../store/machines.js';
import { findWithdrawal } from '../../store/withdrawals.js';
import { errorResponses } from '../schemas.js';
import type { App } from '../server.js';

/**
 * The machines as data (read scope): each type's definition, read from the XState machine
 * (src/machines/definition-export.ts), and for one withdrawal or deposit the operator commands its
 * machine accepts in its stored state, with the machine's reason for refusing the others. The
 * console draws the first and turns the second into buttons; the commands themselves are the
 * operator routes' (admin scope), which ask the live machine again.
 */

const TypeParams = z.object({ type: z.enum(MACHINE_TYPES) });

const Guard = z.union([z.string(), z.object({ type: z.string(), params: z.unknown().optional() })]);
const ConfigTransition = z.object({
  target: z.array(z.string()).optional().describe('Absolute state ids: "#withdrawal.reserving"'),
  guard: Guard.optional(),
  actions: z.array(z.string()).optional(),
  reenter: z.literal(true).optional(),
});
// One level is described; nested states (`states`) have the same shape (OpenAPI 3.0 has no
// recursive schema the document generator can write).
const StateConfig = z.object({
  id: z.string().optional(),
  type: z.enum(['final', 'parallel', 'history']).optional(),
  initial: z.string().optional(),
  entry: z.array(z.string()).optional(),
  invoke: z
    .array(
      z.object({
        id: z.string(),
        src: z.string(),
        onDone: z.array(ConfigTransition).optional(),
        onError: z.array(ConfigTransition).optional(),
      }),
    )
    .optional(),
  on: z.record(z.string(), z.array(ConfigTransition)).optional(),
  after: z.record(z.string(), z.array(ConfigTransition)).optional(),
  always: z.array(ConfigTransition).optional(),
  states: z.record(z.string(), z.unknown()).optional().describe('Child states, each of this same shape'),
});

const MachineDefinition = z.object({
  type: z.enum(MACHINE_TYPES),
  version: z.number().int().describe('The machine version its persisted snapshots carry'),
  id: z.string().describe('The XState machine id'),
  config: StateConfig.describe(
    'The XState machine config: paste it into Stately Studio or createMachine(); guards and actions by name ("inline" where the machine has an anonymous one)',
  ),
  graph: z.object({
    states: z.array(
      z.object({
        id: z.string().describe('The state path, dotted ("preparing.fetchingFactory")'),
        key: z.string(),
        parent: z.string().nullable(),
        type: z.enum(['atomic', 'compound', 'final', 'parallel', 'history']),
        initial: z.string().nullable(),
        transient: z.boolean().describe('Only routes on at once: never a stored state'),
        invokes: z.array(z.string()).describe('Effects running in this state'),
      }),
    ),
    transitions: z.array(
      z.object({
        source: z.string().nullable().describe('null: taken from any state'),
        target: z.string().nullable().describe('null: no state change'),
        kind: z.enum(['event', 'done', 'error', 'after', 'always']),
        event: z.string(),
        trigger: z.string(),
        guard: z.string().nullable(),
        reenter: z.boolean(),
        operator: z.boolean().describe('An operator command'),
      }),
    ),
  }),
  mermaid: z.string().describe('The same as a Mermaid stateDiagram-v2'),
});

const Command = z.object({
  command: z.string().describe('The machine event: RETRY, CANCEL, FAIL (withdrawals); RETRY_ACCEPT, ASSIGN (deposits)'),
  method: z.literal('POST'),
  path: z.string().describe('The operator route that sends it (admin scope)'),
  body: z.enum(['none', 'reason', 'account']).describe('What its body carries'),
  allowed: z.boolean().describe('Whether the machine accepts it in its stored state'),
  reason: z.string().nullable().describe("The machine's reason for refusing it"),
});
const CommandsView = z.object({
  machineState: z.string().nullable().describe('The stored state ("awaitingLedger.waiting"); null when no machine runs it (yet)'),
  isFinal: z.boolean(),
  commands: z.array(Command),
});

/** The operator route of each command, as src/http/routes/operator.ts registers them. */
const ROUTES: Record<
  MachineTypeName,
  { base: string; commands: Record<string, { segment: string; body: z.infer<typeof Command>['body'] }> }
> = {
  withdrawal: {
    base: '/v1/withdrawals',
    commands: {
      RETRY: { segment: 'retry', body: 'none' },
      CANCEL: { segment: 'cancel', body: 'reason' },
      FAIL: { segment: 'fail', body: 'reason' },
    },
  },
  deposit: {
    base: '/v1/deposits',
    commands: { RETRY_ACCEPT: { segment: 'retry-accept', body: 'none' }, ASSIGN: { segment: 'assign', body: 'account' } },
  },
};

export function registerMachineRoutes(app: App, deps: { sql: Sql }): void {
  const { sql } = deps;
  // Built once: the definitions are code.
  const definitions = new Map(
    MACHINE_TYPES.map((t) => {
      const e = exportMachine(t);
      return [t, { ...e, mermaid: toMermaid(e) }] as const;
    }),
  );

  app.get(
    '/v1/machines/:type/definition',
    {
      config: { access: 'read' },
      schema: {
        summary: "A machine type's definition: states and transitions, as XState config, graph and Mermaid",
        description:
          'Read from the machine the daemon runs. `config` pastes into Stately Studio; `mermaid` renders in documentation; `graph` is what the console draws.',
        tags: ['machines'],
        params: TypeParams,
        response: { 200: MachineDefinition, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => definitions.get(req.params.type)!,
  );

  async function commandsOf(type: MachineTypeName, id: string, row: { recovered?: boolean; status: string }) {
    const base = `${ROUTES[type].base}/${encodeURIComponent(id)}`;
    const stored = await loadSnapshot(sql, type, id);
    const accepted = stored
      ? commandsAccepted(type, stored.stateValue, (stored.snapshot as { context?: unknown } | null)?.context)
      : Object.keys(ROUTES[type].commands).map((command) => ({
          command,
          allowed: false,
          reason: row.recovered
            ? `${type} ${id} was recovered from the ledger (status ${row.status}): no machine runs it`
            : `${type} ${id} has no machine yet (status ${row.status})`,
        }));
    return {
      machineState: stored ? stateName(stored.stateValue) : null,
      isFinal: stored?.isFinal ?? false,
      commands: accepted.map((c) => {
        const route = ROUTES[type].commands[c.command];
        if (!route) throw new AppError('INTERNAL', `no operator route for ${type} command ${c.command}`);
        return { ...c, method: 'POST' as const, path: `${base}/${route.segment}`, body: route.body };
      }),
    };
  }

  app.get(
    '/v1/withdrawals/:withdrawalId/commands',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The operator commands this withdrawal accepts now',
        description:
          "Asked of its machine at its stored state (snapshot.can), with the machine's reason for each it refuses. Sending one is the operator routes' (admin scope).",
        tags: ['operator'],
        params: z.object({ withdrawalId: z.string().min(1).max(128) }),
        response: { 200: CommandsView, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => {
      const w = await findWithdrawal(sql, req.params.withdrawalId);
      if (!w) throw new AppError('NOT_FOUND', `No withdrawal ${req.params.withdrawalId}`);
      return commandsOf('withdrawal', w.withdrawalId, w);
    },
  );

  app.get(
    '/v1/deposits/:depositId/commands',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The operator commands this deposit accepts now',
        description:
          "Asked of its machine at its stored state (snapshot.can), with the machine's reason for each it refuses. Sending one is the operator routes' (admin scope).",
        tags: ['operator'],
        params: z.object({ depositId: z.string().min(1).max(256) }),
        response: { 200: CommandsView, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => {
      const d = await findDeposit(sql, req.params.depositId);
      if (!d) throw new AppError('NOT_FOUND', `No deposit ${req.params.depositId}`);
      return commandsOf('deposit', d.depositId, d);
    },
  );
}

import { z } from 'zod';
import type { Switches } from '../../gates/switches.js';
import type { Sql } from '../../store/db.js';
import { listSwitches, setSwitch, SwitchName, type SwitchState } from '../../store/switches.js';
import { Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';
import { operatorName } from '../auth.js';

/**
 * Operator pause switches (src/gates/switches.ts): read scope to look, admin scope to pause or
 * resume. The table is the truth, so this works on any instance (and without a ledger): a change
 * made here applies to this process at once and to the others within about a second.
 */

export interface SwitchRouteDeps {
  sql: Sql;
  /** This process's switches: told at once about a change (else they see it at their next poll). */
  switches?: Pick<Switches, 'refresh'> | undefined;
}

const SwitchView = z.object({
  name: SwitchName.describe(
    'ingestion: reading the ledger; withdrawals: reservations and ledger submissions of withdrawals; acceptance: accepting 2-step deposit offers',
  ),
  paused: z.boolean(),
  reason: z.string().nullable().describe('Why it was last changed (always set while paused)'),
  changedBy: z.string().nullable().describe('The API token name of the operator who last changed it'),
  changedAt: Timestamp,
});
const Params = z.object({ name: SwitchName });
const PauseBody = z
  .object({ reason: z.string().trim().min(1).max(500).describe('Why: shown in the component status and kept in the audit event') })
  .strict();
// Resuming takes an optional reason, an empty object or no body at all (fastify gives null then).
const ResumeBody = z
  .object({ reason: z.string().trim().min(1).max(500).optional() })
  .strict()
  .nullish();

const view = (s: SwitchState): z.infer<typeof SwitchView> => s;

export function registerSwitchRoutes(app: App, deps: SwitchRouteDeps): void {
  const tags = ['operator'];
  const changed = async () => {
    // The change is committed; failing to tell the local cache only delays it to the next poll.
    await deps.switches?.refresh().catch(() => {});
  };

  app.get(
    '/v1/admin/switches',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The operator pause switches',
        tags,
        response: { 200: z.object({ items: z.array(SwitchView) }), ...errorResponses(401, 403) },
      },
    },
    async () => ({ items: (await listSwitches(deps.sql)).map(view) }),
  );

  app.post(
    '/v1/admin/switches/:name/pause',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Pause ingestion, withdrawals or deposit acceptance',
        description:
          'Persisted and applied by every instance within about a second, across restarts. ingestion: stops reading after the batch in flight (health stays green, the component reports paused). withdrawals: requests are still accepted, but no reservation or ledger submission starts; outcomes of transfers already submitted still apply. acceptance: 2-step deposit offers are still ingested but not accepted. Pausing a paused switch replaces the reason.',
        tags,
        params: Params,
        body: PauseBody,
        response: { 200: SwitchView, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const by = operatorName(req, 'switch change');
      const { state, changed: flipped } = await setSwitch(deps.sql, req.params.name, { paused: true, reason: req.body.reason, by });
      await changed();
      req.log.warn({ switch: state.name, reason: state.reason, by, changed: flipped }, `operator paused ${state.name}`);
      return view(state);
    },
  );

  app.post(
    '/v1/admin/switches/:name/resume',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Resume a paused switch',
        description:
          'Held work starts again: ingestion from its stored checkpoint, held withdrawal and accept steps where they stopped. Resuming an open switch changes nothing.',
        tags,
        params: Params,
        body: ResumeBody,
        response: { 200: SwitchView, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const by = operatorName(req, 'switch change');
      const { state, changed: flipped } = await setSwitch(deps.sql, req.params.name, {
        paused: false,
        reason: req.body?.reason ?? null,
        by,
      });
      await changed();
      if (flipped) req.log.warn({ switch: state.name, by }, `operator resumed ${state.name}`);
      return view(state);
    },
  );
}

import { z } from 'zod';
import type { TrafficGate } from '../../gates/traffic.js';
import { AppError } from '../../errors.js';
import { Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';

/**
 * The validator's traffic as this instance's machines see it (src/gates/traffic.ts): whether
 * every submission is held because the validator is out of synchronizer traffic, since when and
 * why, and the submission rate cap. In-process: the instance running the machines knows.
 */

export interface TrafficRouteDeps {
  traffic?: Pick<TrafficGate, 'state'> | undefined;
}

const TrafficView = z.object({
  held: z.boolean().describe('Every submission (withdrawals, deposit accepts) is held: the ledger refused one for lack of traffic'),
  since: Timestamp.nullable(),
  reason: z.string().nullable().describe("The ledger's refusal that began or last renewed the hold"),
  refusals: z.number().int().describe('Submissions refused for traffic since this process started'),
  nextProbeAt: Timestamp.nullable().describe('While held: when one machine next tries whether traffic is back'),
  probe: z.string().nullable().describe('The machine trying now (withdrawal:<id> or deposit:<id>)'),
  waiting: z.number().int().describe('Machine effects waiting for traffic'),
  maxSubmissionsPerSecond: z.number().nullable().describe('LEDGER_MAX_SUBMISSIONS_PER_SECOND; null = no cap'),
});

export function registerTrafficRoutes(app: App, deps: TrafficRouteDeps): void {
  app.get(
    '/v1/admin/traffic',
    {
      config: { access: 'read' },
      schema: {
        summary: "The validator's traffic: are submissions held?",
        tags: ['operator'],
        response: { 200: TrafficView, ...errorResponses(401, 403, 503) },
      },
    },
    async () => {
      if (!deps.traffic) throw new AppError('NOT_READY', 'no ledger is configured: nothing is submitted');
      return deps.traffic.state();
    },
  );
}

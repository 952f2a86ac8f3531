import { DEPOSIT_MACHINE_TYPE } from '../../machines/machine-types.js';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { Sql } from '../../store/db.js';
import { findDeposit, listDeposits } from '../../store/deposits.js';
import { listTransitionHistory } from '../../store/machines.js';
import { Amount, Instrument, PageQuery, Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';
import { pausedSwitch, withHeldReason } from './held.js';

export const DepositSummary = z.object({
  depositId: z.string().describe('Derived from the ledger: "<updateId>:<nodeId>" for 1-step, the transfer instruction id for 2-step'),
  kind: z.enum(['one_step', 'two_step']),
  status: z.string(),
  statusReason: z.string().nullable(),
  instrument: Instrument,
  sender: z.string().nullable(),
  memo: z.string().nullable(),
  accountId: z.string().nullable(),
  transferAmount: Amount.describe('The amount the sender transferred'),
  creditedAmount: Amount.nullable().describe("The treasury's holdings delta: what actually arrived and was credited"),
  fee: Amount.nullable(),
  transferInstructionCid: z.string().nullable(),
  executeBefore: Timestamp.nullable(),
  offerUpdateId: z.string().nullable(),
  creditUpdateId: z.string().nullable(),
  creditRecordTime: Timestamp.nullable(),
  closedUpdateId: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const DepositDetail = DepositSummary.extend({
  history: z.array(z.object({ seq: z.number().int(), eventType: z.string(), from: z.unknown(), to: z.unknown(), at: Timestamp })),
});

export function registerDepositRoutes(app: App, deps: { sql: Sql }): void {
  const { sql } = deps;

  app.get(
    '/v1/deposits',
    {
      config: { access: 'read' },
      schema: {
        summary:
          'List deposits, newest first (e.g. ?status=unattributed for manual assignment; ?status=ignored for what does not count: an instrument not onboarded, or a contract its admin did not sign, with the reason)',
        tags: ['deposits'],
        querystring: z.object({
          status: z.string().max(64).optional(),
          account: z.string().max(128).optional(),
          memo: z.string().max(128).optional(),
          kind: z.enum(['one_step', 'two_step']).optional(),
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          ...PageQuery,
        }),
        response: {
          200: z.object({ items: z.array(DepositSummary), nextCursor: z.string().nullable() }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req) => {
      const { account, ...rest } = req.query;
      const [page, paused] = await Promise.all([listDeposits(sql, { ...rest, accountId: account }), pausedSwitch(sql, 'acceptance')]);
      return { ...page, items: page.items.map((d) => withHeldReason(d, paused)) };
    },
  );

  app.get(
    '/v1/deposits/:depositId',
    {
      config: { access: 'read' },
      schema: {
        summary: 'A deposit with amounts, update ids and history',
        tags: ['deposits'],
        params: z.object({ depositId: z.string().max(256) }),
        response: { 200: DepositDetail, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => {
      const d = await findDeposit(sql, req.params.depositId);
      if (!d) throw new AppError('NOT_FOUND', `No deposit ${req.params.depositId}`);
      const [history, paused] = await Promise.all([
        listTransitionHistory(sql, DEPOSIT_MACHINE_TYPE, d.depositId),
        pausedSwitch(sql, 'acceptance'),
      ]);
      return { ...withHeldReason(d, paused), history };
    },
  );
}

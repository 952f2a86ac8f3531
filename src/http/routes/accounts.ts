import { z } from 'zod';
import { AppError } from '../../errors.js';
import { ExternalId } from '../../lib/ids.js';
import { createDepositAccount, creditedTotals, findDepositAccount, listDepositAccounts } from '../../store/accounts.js';
import type { Sql } from '../../store/db.js';
import { listDeposits } from '../../store/deposits.js';
import { Amount, Instrument, PageQuery, Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';
import { DepositSummary } from './deposits.js';

const Account = z.object({
  accountId: z.string(),
  memo: z.string().describe('What the customer puts in the transfer reason'),
  customerRef: z.string(),
  createdAt: Timestamp,
});

const RECENT_DEPOSITS = 50;

const AccountDetail = Account.extend({
  credited: z.array(z.object({ instrument: Instrument, credited: Amount, deposits: z.number().int() })),
  recentDeposits: z.array(DepositSummary).describe(`The latest ${RECENT_DEPOSITS}; page through GET /v1/deposits?account= for all`),
});

export function registerAccountRoutes(app: App, deps: { sql: Sql }): void {
  const { sql } = deps;

  app.post(
    '/v1/accounts',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Open a deposit account',
        description:
          'Returns a new memo unless one is given; a given memo is idempotent for the same customerRef (200) and a conflict for another (409).',
        tags: ['accounts'],
        body: z.object({ customerRef: z.string().min(1).max(128), memo: ExternalId.optional() }).strict(),
        response: { 200: Account, 201: Account, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      const { created, account } = await createDepositAccount(sql, req.body);
      return reply.status(created ? 201 : 200).send(account);
    },
  );

  app.get(
    '/v1/accounts',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List deposit accounts, newest first; find one by memo or customer reference',
        tags: ['accounts'],
        querystring: z.object({
          memo: z.string().max(128).optional().describe('Exactly this memo'),
          customerRef: z.string().max(128).optional().describe('Exactly this customer reference'),
          search: z.string().min(1).max(128).optional().describe('Memos, customer references or account ids starting with this (any case)'),
          ...PageQuery,
        }),
        response: { 200: z.object({ items: z.array(Account), nextCursor: z.string().nullable() }), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => listDepositAccounts(sql, req.query),
  );

  app.get(
    '/v1/accounts/:accountId',
    {
      config: { access: 'read' },
      schema: {
        summary: 'A deposit account, its credited totals per instrument and its latest deposits',
        tags: ['accounts'],
        params: z.object({ accountId: z.string().max(128) }),
        response: { 200: AccountDetail, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => {
      const account = await findDepositAccount(sql, req.params.accountId);
      if (!account) throw new AppError('NOT_FOUND', `No account ${req.params.accountId}`);
      const [credited, recent] = await Promise.all([
        creditedTotals(sql, account.accountId),
        listDeposits(sql, { accountId: account.accountId, limit: RECENT_DEPOSITS }),
      ]);
      return { ...account, credited, recentDeposits: recent.items };
    },
  );
}

import { WITHDRAWAL_MACHINE_TYPE } from '../../machines/machine-types.js';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { PositiveAmountString, fractionDigits, normalizeAmount } from '../../lib/decimal.js';
import { ExternalId, InstrumentRef, PartyIdString } from '../../lib/ids.js';
import type { Sql } from '../../store/db.js';
import { findInstrument } from '../../store/instruments.js';
import { listTransitionHistory } from '../../store/machines.js';
import {
  createWithdrawalRequest,
  findWithdrawal,
  listWithdrawalReservations,
  listWithdrawals,
  type WithdrawalRow,
} from '../../store/withdrawals.js';
import { Amount, Instrument, PageQuery, Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';
import { pausedSwitch, withHeldReason } from './held.js';
import { WithdrawalReasonCode } from '../../failures.js';

const WithdrawalRequestBody = z
  .object({
    withdrawalId: ExternalId.describe("The exchange's own id: the idempotency key and the memo of the ledger transfer"),
    account: z.string().min(1).max(128).describe('The exchange customer account debited for this withdrawal'),
    instrument: InstrumentRef,
    amount: PositiveAmountString,
    receiver: PartyIdString.describe('The customer party receiving the tokens'),
  })
  .strict();

export const WithdrawalSummary = z.object({
  withdrawalId: z.string(),
  purpose: z.enum(['payout', 'self_transfer']),
  account: z.string(),
  instrument: Instrument,
  amount: Amount,
  receiver: z.string(),
  status: z.string(),
  statusReason: z
    .string()
    .nullable()
    .describe('Why, in words for an operator: ids, amounts and ledger error text; may change between releases'),
  statusCode: WithdrawalReasonCode.nullable().describe('Why, as a stable code from a closed set: branch on this, never on statusReason'),
  attempt: z.number().int(),
  deadline: Timestamp.nullable().describe('maxRecordTime of the current attempt'),
  recovered: z.boolean().describe('Seen on the ledger without a request in this database (after a restore)'),
  transfer: z
    .object({
      updateId: z.string(),
      offset: z.number().int().nullable(),
      recordTime: Timestamp.nullable(),
      transferInstructionCid: z.string().nullable(),
    })
    .nullable(),
  outcomeUpdateId: z.string().nullable(),
  trafficCostEstimate: z
    .number()
    .int()
    .nullable()
    .describe(
      "The participant's estimate of the synchronizer traffic (bytes) the signed transfer costs the validator; null before signing or when the node gives none",
    ),
  networkFee: Amount.nullable().describe(
    "The network fee the withdrawal paid, in the instrument: what the treasury's holdings lost beyond the amount in the ledger updates of its transfer (and of its offer's close). Null until the transfer is ingested",
  ),
  requestedAt: Timestamp,
  updatedAt: Timestamp,
});

const WithdrawalDetail = WithdrawalSummary.extend({
  holdings: z.array(
    z.object({
      contractId: z.string(),
      attempt: z.number().int(),
      amount: Amount.nullable(),
      reservedAt: Timestamp,
      releasedAt: Timestamp.nullable(),
    }),
  ),
  history: z.array(z.object({ seq: z.number().int(), eventType: z.string(), from: z.unknown(), to: z.unknown(), at: Timestamp })),
});

const ListQuery = z.object({
  status: z.string().max(64).optional(),
  account: z.string().max(128).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('requestedAt ≥ from'),
  to: z.iso.datetime({ offset: true }).optional().describe('requestedAt < to'),
  ...PageQuery,
});

const summary = (w: WithdrawalRow): z.infer<typeof WithdrawalSummary> => w;

export function registerWithdrawalRoutes(app: App, deps: { sql: Sql }): void {
  const { sql } = deps;

  app.post(
    '/v1/withdrawals',
    {
      config: { access: 'write' },
      schema: {
        summary: 'Request a withdrawal',
        description: 'Idempotent on withdrawalId: the same body returns the existing withdrawal (200); a different body is 409.',
        tags: ['withdrawals'],
        body: WithdrawalRequestBody,
        response: { 200: WithdrawalSummary, 201: WithdrawalSummary, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const instrument = await findInstrument(sql, body.instrument.admin, body.instrument.id);
      if (!instrument) {
        throw new AppError('VALIDATION_FAILED', 'Unknown instrument', {
          issues: [{ field: 'instrument', reason: `no instrument ${body.instrument.id} of admin ${body.instrument.admin} is configured` }],
        });
      }
      if (!instrument.enabled) {
        throw new AppError('VALIDATION_FAILED', 'Instrument disabled', {
          issues: [{ field: 'instrument', reason: 'withdrawals of this instrument are disabled' }],
        });
      }
      // What the exchange shows its customers is what the ledger moves: an amount finer than the
      // instrument's display decimals would be paid exactly yet shown rounded, so it is refused here.
      const decimals = fractionDigits(body.amount);
      if (decimals > instrument.displayDecimals) {
        throw new AppError(
          'AMOUNT_PRECISION_EXCEEDED',
          `amount ${body.amount} has ${decimals} decimals; ${body.instrument.id} allows at most ${instrument.displayDecimals}`,
          {
            issues: [{ field: 'amount', reason: `at most ${instrument.displayDecimals} decimals for this instrument` }],
            displayDecimals: instrument.displayDecimals,
          },
        );
      }
      const { created, withdrawal } = await createWithdrawalRequest(sql, { ...body, amount: normalizeAmount(body.amount) });
      req.log.info({ withdrawalId: withdrawal.withdrawalId, created }, created ? 'withdrawal requested' : 'withdrawal request repeated');
      return reply.status(created ? 201 : 200).send(summary(withdrawal));
    },
  );

  app.get(
    '/v1/withdrawals/:withdrawalId',
    {
      config: { access: 'read' },
      schema: {
        summary: 'A withdrawal with its holdings, ledger updates and transition history',
        tags: ['withdrawals'],
        params: z.object({ withdrawalId: z.string().max(128) }),
        response: { 200: WithdrawalDetail, ...errorResponses(401, 403, 404) },
      },
    },
    async (req) => {
      const w = await findWithdrawal(sql, req.params.withdrawalId);
      if (!w) throw new AppError('NOT_FOUND', `No withdrawal ${req.params.withdrawalId}`);
      const [holdings, history, paused] = await Promise.all([
        listWithdrawalReservations(sql, w.withdrawalId),
        listTransitionHistory(sql, WITHDRAWAL_MACHINE_TYPE, w.withdrawalId),
        pausedSwitch(sql, 'withdrawals'),
      ]);
      return { ...summary(withHeldReason(w, paused)), holdings, history };
    },
  );

  app.get(
    '/v1/withdrawals',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List withdrawals, newest first',
        tags: ['withdrawals'],
        querystring: ListQuery,
        response: {
          200: z.object({ items: z.array(WithdrawalSummary), nextCursor: z.string().nullable() }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (req) => {
      const [page, paused] = await Promise.all([listWithdrawals(sql, req.query), pausedSwitch(sql, 'withdrawals')]);
      return { ...page, items: page.items.map((w) => withHeldReason(w, paused)) };
    },
  );
}

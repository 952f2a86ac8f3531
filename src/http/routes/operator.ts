import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { MachineType, OperatorCommands } from '../../machines/runtime/index.js';
import type { CommandResult } from '../../machines/runtime/types.js';
import { stateName } from '../../machines/state-path.js';
import { resolveDepositAccount } from '../../store/accounts.js';
import type { Sql } from '../../store/db.js';
import { findDeposit } from '../../store/deposits.js';
import { findWithdrawal } from '../../store/withdrawals.js';
import { errorResponses } from '../schemas.js';
import type { App } from '../server.js';
import { DepositSummary } from './deposits.js';
import { WithdrawalSummary } from './withdrawals.js';
import { operatorName } from '../auth.js';

/**
 * Operator actions (admin scope): the machines' operator commands over HTTP. The machine decides
 * whether a command is allowed in its current state; this layer only names the operator (the API
 * token's name, so the audit trail says who did it), checks what needs the database, and maps a
 * refusal onto the error catalogue with the machine's reason.
 */

export interface OperatorRouteDeps {
  sql: Sql;
  /** Absent when this process runs no machines: every action is a 503. */
  operator?: OperatorCommands | undefined;
}

const Reason = z.string().trim().min(1).max(500).describe('Why: kept in the machine history and the outcome event');
const ReasonBody = z.object({ reason: Reason }).strict();
const AssignBody = z
  .object({ account: z.string().min(1).max(128).describe('An existing deposit account: its accountId, or its memo') })
  .strict();
// Commands without arguments take an empty JSON object or no body at all (fastify gives null then).
const NoBody = z.object({}).strict().nullish();

const WithdrawalParams = z.object({ withdrawalId: z.string().min(1).max(128) });
const DepositParams = z.object({ depositId: z.string().min(1).max(256) });

const Applied = {
  command: z.string().describe('The machine command applied'),
  by: z.string().describe('The operator: the API token name'),
  machineState: z.string().describe('The machine state right after the command; effects continue asynchronously'),
};
const WithdrawalActionResult = z.object({ ...Applied, withdrawal: WithdrawalSummary });
const DepositActionResult = z.object({ ...Applied, deposit: DepositSummary });

const refusedResponses = errorResponses(400, 401, 403, 404, 409, 503);

function requireOperator(deps: OperatorRouteDeps): OperatorCommands {
  if (!deps.operator) throw new AppError('NOT_READY', 'Operator commands need the machine runtimes, and this process runs none.');
  return deps.operator;
}

/** A refusal as the catalogue's error; the machine's words are the message. */
function refusalError(
  type: MachineType,
  id: string,
  r: Extract<CommandResult, { accepted: false }>,
  row: { status: string; recovered?: boolean },
): AppError {
  const { status } = row;
  const details = { reason: r.reason, status };
  switch (r.code) {
    case 'STATE_CONFLICT':
      return new AppError('STATE_CONFLICT', r.reason, details);
    case 'NOT_FOUND':
      // The row exists (checked first) but no machine runs it: a withdrawal recovered from the
      // ledger never gets one; otherwise the runtime picks the row up within a poll interval, so
      // this is a conflict worth retrying, not a missing resource.
      if (row.recovered)
        return new AppError(
          'STATE_CONFLICT',
          `${type} ${id} was recovered from the ledger (status ${status}): no machine runs it`,
          details,
        );
      return new AppError('STATE_CONFLICT', `${type} ${id} has no machine yet (status ${status}); try again in a moment`, details);
    case 'INVALID':
      return new AppError('VALIDATION_FAILED', r.reason, { ...details, issues: [{ field: '(command)', reason: r.reason }] });
    case 'NOT_ACTIVE':
      return new AppError('NOT_ACTIVE', `This instance is a standby (${r.reason}); send the command to the active instance.`, details);
  }
}

export function registerOperatorRoutes(app: App, deps: OperatorRouteDeps): void {
  const { sql } = deps;

  async function withdrawalCommand(
    req: FastifyRequest,
    id: string,
    command: { type: 'RETRY' } | { type: 'CANCEL' | 'FAIL'; reason: string },
  ) {
    const operator = requireOperator(deps);
    const before = await findWithdrawal(sql, id);
    if (!before) throw new AppError('NOT_FOUND', `No withdrawal ${id}`);
    const by = operatorName(req, 'operator action');
    const result = await operator.send('withdrawal', id, { ...command, by });
    if (!result.accepted) {
      req.log.info({ withdrawalId: id, command: command.type, by, code: result.code, reason: result.reason }, 'operator action refused');
      throw refusalError('withdrawal', id, result, before);
    }
    // The runtime returns once the transition (and its status mirror) is committed.
    const after = (await findWithdrawal(sql, id)) ?? before;
    const machineState = stateName(result.state);
    req.log.info({ withdrawalId: id, command: command.type, by, machineState, status: after.status }, 'operator action applied');
    return { command: command.type, by, machineState, withdrawal: after };
  }

  async function depositCommand(
    req: FastifyRequest,
    id: string,
    command: { type: 'RETRY_ACCEPT' } | { type: 'ASSIGN'; accountId: string },
  ) {
    const operator = requireOperator(deps);
    const before = await findDeposit(sql, id);
    if (!before) throw new AppError('NOT_FOUND', `No deposit ${id}`);
    // Checked here so a typo is a 400 naming the field; the runtime checks it again before delivering.
    if (command.type === 'ASSIGN') {
      // Operators often know the memo (what the customer typed) rather than the account id.
      const account = await resolveDepositAccount(sql, command.accountId);
      if (!account) {
        throw new AppError('VALIDATION_FAILED', `Unknown deposit account ${command.accountId}`, {
          issues: [{ field: 'account', reason: `no deposit account with id or memo ${command.accountId}` }],
        });
      }
      command = { ...command, accountId: account.accountId };
    }
    const by = operatorName(req, 'operator action');
    const result = await operator.send('deposit', id, { ...command, by });
    if (!result.accepted) {
      req.log.info({ depositId: id, command: command.type, by, code: result.code, reason: result.reason }, 'operator action refused');
      throw refusalError('deposit', id, result, before);
    }
    const after = (await findDeposit(sql, id)) ?? before;
    const machineState = stateName(result.state);
    req.log.info(
      { depositId: id, command: command.type, by, machineState, status: after.status, accountId: after.accountId },
      'operator action applied',
    );
    return { command: command.type, by, machineState, deposit: after };
  }

  // One shape for the three withdrawal actions; only the body and the words differ.
  const withdrawalAction = <B extends z.ZodType>(summary: string, description: string, body: B) => ({
    config: { access: 'admin' as const },
    schema: {
      summary,
      description,
      tags: ['operator'],
      params: WithdrawalParams,
      body,
      response: { 202: WithdrawalActionResult, ...refusedResponses },
    },
  });

  app.post(
    '/v1/withdrawals/:withdrawalId/retry',
    withdrawalAction(
      'Retry a withdrawal now',
      'Allowed while waiting for funds, backing off, stalled (fresh attempt with fresh budgets), awaiting the ledger (with a signed transaction: resubmits the same one; without: asks ingestion, caught up with the ledger, where the attempt stands) or withdrawing an offer (tries again now). 409 with the reason otherwise.',
      NoBody,
    ),
    async (req, reply) => reply.status(202).send(await withdrawalCommand(req, req.params.withdrawalId, { type: 'RETRY' })),
  );

  app.post(
    '/v1/withdrawals/:withdrawalId/cancel',
    withdrawalAction(
      'Cancel a withdrawal before it is submitted',
      'Releases its holdings and ends it cancelled (withdrawal.failed with cancelled: true). Refused (409) once an execute was submitted for the current attempt: use fail.',
      ReasonBody,
    ),
    async (req, reply) =>
      reply.status(202).send(await withdrawalCommand(req, req.params.withdrawalId, { type: 'CANCEL', reason: req.body.reason })),
  );

  app.post(
    '/v1/withdrawals/:withdrawalId/fail',
    withdrawalAction(
      'Fail a withdrawal',
      'Before submission: releases its holdings and fails it. After: no more submissions; it fails once ingestion reports the attempt expired (or completes if the transfer commits). An offer awaiting acceptance is withdrawn: failed once the ledger shows it withdrawn, completed if the receiver accepted first. Refused (409) when final.',
      ReasonBody,
    ),
    async (req, reply) =>
      reply.status(202).send(await withdrawalCommand(req, req.params.withdrawalId, { type: 'FAIL', reason: req.body.reason })),
  );

  app.post(
    '/v1/deposits/:depositId/assign',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Assign an unattributed deposit to a deposit account',
        description:
          'A 1-step deposit is credited at once (exactly once); a live 2-step offer records the account and is then accepted. 400 for an unknown account, 409 when the deposit is already attributed or closed.',
        tags: ['operator'],
        params: DepositParams,
        body: AssignBody,
        response: { 202: DepositActionResult, ...refusedResponses },
      },
    },
    async (req, reply) =>
      reply.status(202).send(await depositCommand(req, req.params.depositId, { type: 'ASSIGN', accountId: req.body.account })),
  );

  app.post(
    '/v1/deposits/:depositId/retry-accept',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Accept a 2-step deposit offer again',
        description: 'For an offer whose accept failed (accept_failed) or is backing off. 409 with the reason otherwise.',
        tags: ['operator'],
        params: DepositParams,
        body: NoBody,
        response: { 202: DepositActionResult, ...refusedResponses },
      },
    },
    async (req, reply) => reply.status(202).send(await depositCommand(req, req.params.depositId, { type: 'RETRY_ACCEPT' })),
  );
}

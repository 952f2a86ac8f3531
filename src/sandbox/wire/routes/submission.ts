import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  CompletionStreamRequest,
  JsCommands,
  JsExecuteSubmissionAndWaitForTransactionRequest,
  JsExecuteSubmissionAndWaitRequest,
  JsExecuteSubmissionRequest,
  JsPrepareSubmissionRequest,
  JsSubmitAndWaitForTransactionRequest,
  type TransactionFormat,
} from '../decode/index.js';
import { validTransactionFormat, type ValidTransactionFormat } from '../formats.js';
import { LedgerError } from '../../engine/errors.js';
import type { Outcome, Submissions } from '../../engine/submissions.js';
import { decodePrepared } from '../../engine/prepared.js';
import type { CommittedTx } from '../../engine/types.js';
import { microsToIso } from '../../util/time.js';
import type { Claims } from '../auth.js';
import { HANDLED, register, sendError, type WireContext } from '../http.js';
import { collectList, listOptions } from '../list.js';
import { projectTransaction, resolveEventFormat } from '../projection.js';
import { completionSpec, type UpdateReader } from '../reader.js';
import type { ServerSettings } from '../settings.js';
import { validateRange } from '../stream.js';

/** submit-and-wait-for-transaction default: ACS_DELTA, wildcard for the submitting parties. */
function formatOrDefault(format: TransactionFormat | undefined, parties: readonly string[]): ValidTransactionFormat {
  if (format !== undefined) return validTransactionFormat(format);
  return {
    transactionShape: 'TRANSACTION_SHAPE_ACS_DELTA',
    eventFormat: { filtersByParty: Object.fromEntries(parties.map((p) => [p, { cumulative: [] }])), verbose: true },
  };
}

export function submissionRoutes(
  app: FastifyInstance,
  ctx: WireContext,
  submissions: Submissions,
  reader: UpdateReader,
  settings: ServerSettings,
): void {
  const { engine } = ctx;

  const transactionOf = (tx: CommittedTx, format: ValidTransactionFormat) => {
    const projected = projectTransaction(tx, resolveEventFormat(format.eventFormat), format.transactionShape, engine.ledger.synchronizerId);
    // A participant answers with an empty event list when nothing is visible to the format.
    return (
      projected ?? {
        updateId: tx.updateId,
        commandId: tx.submitter?.commandId ?? '',
        workflowId: tx.workflowId ?? '',
        effectiveAt: tx.effectiveAt,
        events: [],
        offset: tx.offset,
        synchronizerId: engine.ledger.synchronizerId,
        recordTime: microsToIso(tx.recordTime),
      }
    );
  };

  /**
   * Faults of a submission: a definite rejection (at once, or as a failed completion) or a
   * commit whose response is lost (connection reset, or a 504 that says nothing).
   */
  const submissionFaults = (req: FastifyRequest, op: string) => {
    const path = req.url.split('?')[0] ?? req.url;
    const fired = ctx.faults.fire({ method: req.method, path, operation: op }, ['rejectSubmission', 'commitLoseResponse']);
    const reject = fired.find((a) => a.kind === 'rejectSubmission');
    const lose = fired.find((a) => a.kind === 'commitLoseResponse');
    return { reject, lose };
  };

  const loseResponse = async (req: FastifyRequest, reply: FastifyReply, mode: 'reset' | 'timeout'): Promise<typeof HANDLED> => {
    if (mode === 'reset') {
      reply.hijack();
      req.raw.socket.destroy();
      return HANDLED;
    }
    await sendError(
      ctx,
      req,
      reply,
      LedgerError.of('REQUEST_TIME_OUT', 'The request timed out; its outcome is unknown', { definiteAnswer: false }),
    );
    return HANDLED;
  };

  const runExecute = async (
    claims: Claims,
    body: JsExecuteSubmissionRequest,
    req: FastifyRequest,
    reply: FastifyReply,
    op: string,
    wait: boolean,
  ): Promise<{ outcome?: Outcome; handled?: typeof HANDLED }> => {
    const userId = claims.requireUser(body.userId);
    const faults = submissionFaults(req, op);
    const definite = faults.reject
      ? LedgerError.of(faults.reject.code, `Injected fault: the submission was rejected (${faults.reject.code})`, {
          definiteAnswer: true,
          correlationId: body.submissionId,
        })
      : undefined;
    if (definite && faults.reject?.sync) throw definite;
    // Authorization needs the parties, which are inside the prepared transaction.
    let actAs: string[] = [];
    try {
      actAs = decodePrepared(body.preparedTransaction).tx.metadata.submitterInfo.actAs;
    } catch {
      // execute reports the decoding problem itself
    }
    claims.requireExecuteAs(actAs);
    const { done } = submissions.execute(body, userId, definite ? { rejectWith: definite } : {});
    if (faults.lose) {
      await done;
      return { handled: await loseResponse(req, reply, faults.lose.mode) };
    }
    if (!wait) return {};
    return { outcome: await done };
  };

  register(app, ctx, {
    method: 'POST',
    url: '/v2/interactive-submission/prepare',
    op: 'prepare',
    body: JsPrepareSubmissionRequest,
    handler: async ({ claims, body }) => {
      claims.requireUser(body.userId);
      // Preparing only needs read rights: the party's signature authorizes the transaction.
      claims.requireReadAs([...body.actAs, ...(body.readAs ?? [])]);
      return submissions.prepare(body);
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/interactive-submission/execute',
    op: 'execute',
    body: JsExecuteSubmissionRequest,
    handler: async ({ claims, body, req, reply }) => {
      const r = await runExecute(claims, body, req, reply, 'execute', false);
      return r.handled ?? {};
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/interactive-submission/executeAndWait',
    op: 'executeAndWait',
    body: JsExecuteSubmissionAndWaitRequest,
    handler: async ({ claims, body, req, reply }) => {
      const r = await runExecute(claims, body, req, reply, 'executeAndWait', true);
      if (r.handled) return r.handled;
      if (r.outcome?.kind === 'rejected') throw r.outcome.error;
      if (r.outcome?.kind !== 'committed') throw LedgerError.of('REQUEST_TIME_OUT', 'no outcome');
      return { updateId: r.outcome.tx.updateId, completionOffset: r.outcome.tx.offset };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/interactive-submission/executeAndWaitForTransaction',
    op: 'executeAndWaitForTransaction',
    body: JsExecuteSubmissionAndWaitForTransactionRequest,
    handler: async ({ claims, body, req, reply }) => {
      const r = await runExecute(claims, body, req, reply, 'executeAndWaitForTransaction', true);
      if (r.handled) return r.handled;
      if (r.outcome?.kind === 'rejected') throw r.outcome.error;
      if (r.outcome?.kind !== 'committed') throw LedgerError.of('REQUEST_TIME_OUT', 'no outcome');
      const tx = r.outcome.tx;
      return { transaction: transactionOf(tx, formatOrDefault(body.transactionFormat, tx.submitter?.actAs ?? [])) };
    },
  });

  const submitAndWait = async (claims: Claims, body: JsCommands, req: FastifyRequest, reply: FastifyReply, op: string) => {
    const userId = claims.requireUser(body.userId);
    claims.requireActAs(body.actAs);
    claims.requireReadAs(body.readAs ?? []);
    const faults = submissionFaults(req, op);
    if (faults.reject) {
      throw LedgerError.of(faults.reject.code, `Injected fault: the submission was rejected (${faults.reject.code})`, {
        definiteAnswer: true,
      });
    }
    const tx = submissions.submitAndWait(body, userId);
    if (faults.lose) return { tx, handled: await loseResponse(req, reply, faults.lose.mode) };
    return { tx };
  };

  register(app, ctx, {
    method: 'POST',
    url: '/v2/commands/submit-and-wait',
    op: 'submitAndWait',
    body: JsCommands,
    handler: async ({ claims, body, req, reply }) => {
      const r = await submitAndWait(claims, body, req, reply, 'submitAndWait');
      return r.handled ?? { updateId: r.tx.updateId, completionOffset: r.tx.offset };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/commands/submit-and-wait-for-transaction',
    op: 'submitAndWaitForTransaction',
    body: JsSubmitAndWaitForTransactionRequest,
    handler: async ({ claims, body, req, reply }) => {
      const r = await submitAndWait(claims, body.commands, req, reply, 'submitAndWaitForTransaction');
      return r.handled ?? { transaction: transactionOf(r.tx, formatOrDefault(body.transactionFormat, body.commands.actAs)) };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/commands/async/submit',
    op: 'asyncSubmit',
    body: JsCommands,
    handler: async ({ claims, body, req, reply }) => {
      const r = await submitAndWait(claims, body, req, reply, 'asyncSubmit');
      return r.handled ?? {};
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/commands/completions',
    op: 'completions',
    body: CompletionStreamRequest,
    handler: async ({ claims, body, query, signal }) => {
      const userId = claims.requireUser(body.userId);
      claims.requireReadAs(body.parties);
      validateRange(reader.timeline, body.beginExclusive ?? 0, undefined, 'Command completions');
      // JsCommandService: a completion stream is always open-ended.
      const list = listOptions(query, settings, true, signal);
      return collectList(reader.timeline, completionSpec(engine, userId, body.parties, body.beginExclusive ?? 0), {
        ...list,
        checkpointIntervalMs: settings.checkpointIntervalMs,
      });
    },
  });
}

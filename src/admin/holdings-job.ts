import { randomUUID } from 'node:crypto';
import type { Component, ComponentStatus } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import type { Sql } from '../store/db.js';
import {
  insertSelfTransfers,
  lastFinishedSelfTransfer,
  lockFreeInputs,
  readFreeHoldingsView,
  tryLockInstrumentPlanning,
  unfinishedSelfTransfers,
  type InstrumentKey,
  type NewSelfTransfer,
} from '../store/holdings-job.js';
import { listInstrumentRecords } from '../store/instruments.js';
import { planSelfTransfers, viewLimits } from './utxo-plan.js';
import { effectivePolicy, managesAnything, UtxoPolicy, type EffectivePolicy } from './utxo-policy.js';

/**
 * The holdings job (UTXO management): per enabled instrument, merge small holdings and keep a pool
 * of large ones, as its `utxo_policy` says (src/admin/utxo-policy.ts). It only writes self-transfer
 * withdrawal rows (with the `withdrawal.requested` event, in one transaction); the withdrawal
 * runtime executes them on the payout path, with its crash safety, and they pay nothing out.
 *
 * One job at a time per instrument: nothing is planned while a planned self-transfer of the
 * instrument is unfinished (a stalled one waits for an operator), nor for `failureBackoffMs` after
 * one failed. Instruments and policies are read on every run: changes apply without a restart.
 */

export interface HoldingsJobOptions {
  sql: Sql;
  logger: Logger;
  /** Owner of the holdings, sender and receiver of every self-transfer. */
  treasuryParty: string;
  /** Between runs (default 30 s). */
  intervalMs?: number;
  /**
   * The withdrawal runtime's `policy.maxInputs` (default 100): a reservation takes at most that
   * many holdings, so no merge may plan more, whatever an instrument's policy says.
   */
  maxInputs?: number;
  /** After a planned self-transfer failed, wait this long before planning again (default 10 min). */
  failureBackoffMs?: number;
  /**
   * The withdrawal runtime's operator commands. When given, a self-transfer waiting for inputs a
   * payout took in the meantime is cancelled (nothing was submitted for it) so the next run plans
   * afresh; without it such a self-transfer waits for the runtime's funds timeout.
   */
  withdrawals?: { sendOperatorCommand(machineId: string, command: unknown): Promise<{ accepted: boolean; reason?: string }> };
}

export type InstrumentOutcome =
  | { kind: 'created'; transfers: { withdrawalId: string; kind: 'merge' | 'split'; inputs: number; amount: string }[] }
  | { kind: 'nothing_to_do' }
  | { kind: 'unmanaged' }
  | { kind: 'waiting'; unfinished: string[]; cancelled: string[] }
  | { kind: 'backoff'; after: string }
  | { kind: 'busy' }
  | { kind: 'inputs_taken' }
  | { kind: 'invalid_policy'; reason: string }
  | { kind: 'error'; reason: string };

export interface HoldingsJobRun {
  at: string;
  instruments: { instrument: InstrumentKey; outcome: InstrumentOutcome }[];
}

export interface HoldingsJob extends Component {
  /** One pass over every enabled instrument (the timer calls it; tests call it directly). */
  runOnce(): Promise<HoldingsJobRun>;
  lastRun(): HoldingsJobRun | undefined;
}

const CANCELLED_BY = 'holdings-job';

export function createHoldingsJob(opts: HoldingsJobOptions): HoldingsJob {
  const { sql, logger, treasuryParty } = opts;
  const log = logger.child({ component: 'holdings-job' });
  const intervalMs = opts.intervalMs ?? 30_000;
  const failureBackoffMs = opts.failureBackoffMs ?? 10 * 60_000;
  const maxInputs = Math.max(2, Math.min(opts.maxInputs ?? 100, 100));
  let state: ComponentStatus = { state: 'stopped' };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<HoldingsJobRun> | undefined;
  let last: HoldingsJobRun | undefined;
  // Log an operator-worthy condition once, not every interval.
  const reported = new Set<string>();
  const reportOnce = (key: string, fn: () => void) => {
    if (!reported.has(key)) {
      reported.add(key);
      fn();
    }
  };

  async function cancelStuck(i: InstrumentKey, ids: readonly string[]): Promise<string[]> {
    const cancelled: string[] = [];
    for (const id of ids) {
      if (!opts.withdrawals) {
        reportOnce(`stuck:${id}`, () =>
          log.warn(
            { withdrawalId: id, instrument: i },
            'self-transfer waits for inputs another withdrawal took; it fails at the funds timeout',
          ),
        );
        continue;
      }
      const r = await opts.withdrawals.sendOperatorCommand(id, {
        type: 'CANCEL',
        by: CANCELLED_BY,
        reason: 'its planned input holdings were taken by another withdrawal',
      });
      if (r.accepted) {
        cancelled.push(id);
        log.info({ withdrawalId: id, instrument: i }, 'cancelled a self-transfer whose inputs were taken; the next run plans again');
      } else {
        log.debug({ withdrawalId: id, reason: r.reason }, 'could not cancel a stuck self-transfer yet');
      }
    }
    return cancelled;
  }

  async function runInstrument(i: InstrumentKey, policy: EffectivePolicy): Promise<InstrumentOutcome> {
    const stuck: string[] = [];
    const outcome = await sql.begin(async (tx): Promise<InstrumentOutcome> => {
      if (!(await tryLockInstrumentPlanning(tx, i))) return { kind: 'busy' };
      const unfinished = await unfinishedSelfTransfers(tx, i);
      if (unfinished.length > 0) {
        stuck.push(...unfinished.filter((u) => u.inputsGone).map((u) => u.withdrawalId));
        for (const u of unfinished.filter((x) => x.status === 'stalled')) {
          reportOnce(`stalled:${u.withdrawalId}`, () =>
            log.warn(
              { withdrawalId: u.withdrawalId, instrument: i, reason: u.statusReason },
              'a self-transfer is stalled: UTXO management of this instrument waits for an operator (RETRY or FAIL it)',
            ),
          );
        }
        return { kind: 'waiting', unfinished: unfinished.map((u) => u.withdrawalId), cancelled: [] };
      }
      const lastDone = await lastFinishedSelfTransfer(tx, i);
      if (lastDone?.status === 'failed' && Date.parse(lastDone.updatedAt) + failureBackoffMs > Date.now()) {
        reportOnce(`failed:${lastDone.withdrawalId}`, () =>
          log.warn(
            { withdrawalId: lastDone.withdrawalId, instrument: i, reason: lastDone.statusReason },
            'a self-transfer failed: planning pauses',
          ),
        );
        return { kind: 'backoff', after: new Date(Date.parse(lastDone.updatedAt) + failureBackoffMs).toISOString() };
      }

      const view = await readFreeHoldingsView(tx, treasuryParty, i, {
        smallAmount: policy.smallAmount,
        poolTargetAmount: policy.poolTargetAmount,
        limits: viewLimits(policy),
      });
      const plan = planSelfTransfers(view, policy);
      if (plan.length === 0) return { kind: 'nothing_to_do' };

      // The view was read without locks: keep the transfers whose inputs are all still free now.
      const locked = await lockFreeInputs(
        tx,
        treasuryParty,
        i,
        plan.flatMap((t) => t.inputs.map((h) => h.contractId)),
      );
      const feasible = plan.filter((t) => t.inputs.every((h) => locked.has(h.contractId)));
      if (feasible.length === 0) return { kind: 'inputs_taken' };
      const rows: NewSelfTransfer[] = feasible.map((t) => ({
        withdrawalId: `utxo-${t.kind}-${randomUUID()}`,
        kind: t.kind,
        amount: t.amount,
        inputHoldingCids: t.inputs.map((h) => h.contractId),
        reason: t.reason,
      }));
      await insertSelfTransfers(tx, treasuryParty, i, rows);
      return {
        kind: 'created',
        transfers: rows.map((r) => ({ withdrawalId: r.withdrawalId, kind: r.kind, inputs: r.inputHoldingCids.length, amount: r.amount })),
      };
    });
    if (outcome.kind === 'created') {
      log.info({ instrument: i, transfers: outcome.transfers }, `created ${outcome.transfers.length} self-transfer(s)`);
    }
    if (outcome.kind === 'waiting' && stuck.length > 0) return { ...outcome, cancelled: await cancelStuck(i, stuck) };
    return outcome;
  }

  async function runOnce(): Promise<HoldingsJobRun> {
    const run: HoldingsJobRun = { at: new Date().toISOString(), instruments: [] };
    for (const row of await listInstrumentRecords(sql, { enabled: true })) {
      const instrument = { admin: row.admin, id: row.id };
      const parsed = UtxoPolicy.safeParse(row.utxoPolicy);
      if (!parsed.success) {
        // Written around the API (which validates): refuse to guess what the operator meant.
        const reason = parsed.error.issues.map((x) => `${x.path.join('.') || '(policy)'}: ${x.message}`).join('; ');
        reportOnce(`policy:${row.admin}/${row.id}:${reason}`, () =>
          log.error({ instrument, reason }, 'invalid utxo_policy: instrument skipped'),
        );
        run.instruments.push({ instrument, outcome: { kind: 'invalid_policy', reason } });
        continue;
      }
      const policy = effectivePolicy(parsed.data);
      policy.maxInputs = Math.min(policy.maxInputs, maxInputs);
      if (!managesAnything(policy)) {
        run.instruments.push({ instrument, outcome: { kind: 'unmanaged' } });
        continue;
      }
      try {
        run.instruments.push({ instrument, outcome: await runInstrument(instrument, policy) });
      } catch (e) {
        // One instrument's trouble (a DB hiccup) must not starve the others; the next run retries.
        log.error({ err: e, instrument }, 'holdings job failed for an instrument');
        run.instruments.push({ instrument, outcome: { kind: 'error', reason: (e as Error).message } });
      }
    }
    last = run;
    return run;
  }

  /** Single flight: the timer and a direct call never plan concurrently in one process. */
  const runShared = (): Promise<HoldingsJobRun> => {
    running ??= runOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (state.state !== 'running') return;
    timer = setTimeout(() => {
      runShared()
        .catch((e: unknown) => log.error({ err: e }, 'holdings job run failed'))
        .finally(schedule);
    }, intervalMs);
  };

  return {
    name: 'holdings-job',
    async start() {
      if (state.state === 'running') return;
      state = { state: 'running' };
      schedule();
    },
    async stop() {
      if (state.state === 'stopped') return;
      state = { state: 'stopping' };
      clearTimeout(timer);
      await running?.catch(() => undefined);
      state = { state: 'stopped' };
    },
    status: () => state,
    runOnce: runShared,
    lastRun: () => last,
  };
}

import { PreparedTransactionError } from '../../ledger/prepared-transaction/index.js';
import type {
  DeduplicationPeriod,
  JsCommands,
  JsExecuteSubmissionRequest,
  JsPrepareSubmissionRequest,
  PartySignatures,
} from '../wire/decode/index.js';
import type { Logger } from '../../logger.js';
import { verifyEd25519 } from '../util/ed25519.js';
import { isoToMicros, microsToIso, type Micros } from '../util/time.js';
import type { SandboxEngine } from './engine.js';
import { LedgerError } from './errors.js';
import { interpretCommand, type Interpretation } from './interpret.js';
import { dedupKey } from './ledger.js';
import { buildPreparedTransaction, decodePrepared, encodePrepared, inputContractsOf } from './prepared.js';
import type { TxPlan } from './tx.js';
import { trafficCostOf, type TrafficAccount } from './traffic.js';
import type { CommittedTx } from './types.js';

/** What a hosted party's single-command transaction is taken to weigh for its traffic cost. */
const HOSTED_TX_BYTES = 4_000;

export interface SubmissionSettings {
  /** Delay between an accepted execute and its commit attempt. */
  commitDelayMs: number;
  /** Maximum (and default) deduplication duration. */
  maxDeduplicationSeconds: number;
  /** The participant's purchased traffic (engine/traffic.ts); absent = unlimited. */
  traffic?: TrafficAccount;
  logger?: Logger;
}

interface PreparedEntry {
  readonly interpretation: Interpretation;
  readonly hashB64: string;
  readonly preparedAt: Micros;
  /** What submitting it costs in traffic (bytes): prepare's estimate, which the double charges exactly. */
  readonly trafficCost: number;
}

export type Outcome = { kind: 'committed'; tx: CommittedTx } | { kind: 'rejected'; error: LedgerError };

interface Pending {
  readonly entry: PreparedEntry;
  readonly key: string;
  readonly userId: string;
  readonly actAs: readonly string[];
  readonly commandId: string;
  readonly submissionId: string;
  readonly dedupSeconds: number;
  readonly dedupOffset?: number;
  readonly maxRecordTime?: Micros;
  readonly forcedRejection?: LedgerError;
  /** Refused at submission (no traffic): rejected at the commit step without being sequenced. */
  readonly notSent?: LedgerError;
  readonly done: Promise<Outcome>;
  resolve(o: Outcome): void;
}

export interface ExecuteOptions {
  /** Fault injection: reject this submission (definite answer) at commit time. */
  readonly rejectWith?: LedgerError;
}

/**
 * Interactive submission (prepare / execute) and plain submissions of the double's hosted
 * parties: interpretation, signature checks, command deduplication, the asynchronous commit
 * with its re-checks (inputs still active, record time within maxRecordTime and executeBefore),
 * and the completions they produce.
 */
export class Submissions {
  private readonly prepared = new Map<string, PreparedEntry>();
  private readonly inFlight = new Map<string, Pending>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private held = false;
  private readonly heldQueue: Pending[] = [];
  private stopped = false;

  constructor(
    private readonly engine: SandboxEngine,
    private readonly settings: SubmissionSettings,
  ) {}

  // ---------------------------------------------------------------- prepare

  prepare(req: JsPrepareSubmissionRequest) {
    const ledger = this.engine.ledger;
    if (req.commands.length !== 1) {
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        'The submitted request has invalid arguments: only single-command transactions can be prepared',
      );
    }
    if (req.actAs.length === 0) throw LedgerError.of('MISSING_FIELD', 'The submitted command is missing a mandatory field: act_as');
    if (req.synchronizerId !== undefined && req.synchronizerId !== '' && req.synchronizerId !== ledger.synchronizerId) {
      throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: unknown synchronizer ${req.synchronizerId}`);
    }
    for (const p of [...req.actAs, ...(req.readAs ?? [])]) {
      if (!ledger.parties.has(p)) throw LedgerError.of('PARTY_NOT_KNOWN_ON_LEDGER', `Party not known on ledger: ${p}`);
    }
    const command = req.commands[0];
    if (!command) throw LedgerError.of('MISSING_FIELD', 'The submitted command is missing a mandatory field: commands');
    const interpretation = interpretCommand(this.engine, {
      command,
      actAs: req.actAs,
      readAs: req.readAs ?? [],
      disclosed: req.disclosedContracts ?? [],
    });
    const now = this.engine.clock.now();
    const prepared = buildPreparedTransaction(
      interpretation.plan,
      {
        actAs: req.actAs,
        commandId: req.commandId,
        synchronizerId: ledger.synchronizerId,
        transactionUuid: ledger.ids.uuid(),
        preparationTime: now,
        ...(req.maxRecordTime !== undefined ? { maxRecordTime: isoToMicros(req.maxRecordTime) } : {}),
        ...(interpretation.minLedgerTime !== undefined ? { minLedgerEffectiveTime: interpretation.minLedgerTime } : {}),
        ...(interpretation.validBefore !== undefined ? { maxLedgerEffectiveTime: interpretation.validBefore - 1n } : {}),
        inputs: inputContractsOf(interpretation.plan),
      },
      this.engine.rng.fork(`prepare:${ledger.ids.hex(8)}`),
    );
    const { bytes, hash } = encodePrepared(prepared);
    const hashB64 = Buffer.from(hash).toString('base64');
    // One signature per actAs party unless the hints name the keys (CostEstimationHints.expected_signatures).
    const hints = req.estimateTrafficCost;
    const signatures = hints?.expectedSignatures?.length ? hints.expectedSignatures.length : req.actAs.length;
    const cost = trafficCostOf(bytes.length, signatures);
    this.prepared.set(hashB64, { interpretation, hashB64, preparedAt: now, trafficCost: cost.total });
    return {
      preparedTransaction: Buffer.from(bytes).toString('base64'),
      preparedTransactionHash: hashB64,
      hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2' as const,
      // Estimated unless the hints turn it off (enabled by default: interactive_submission_service.proto).
      ...(hints?.disabled === true
        ? {}
        : {
            costEstimation: {
              estimationTimestamp: microsToIso(now),
              confirmationRequestTrafficCostEstimation: cost.request,
              confirmationResponseTrafficCostEstimation: cost.response,
              totalTrafficCostEstimation: cost.total,
            },
          }),
    };
  }

  // ---------------------------------------------------------------- execute

  private dedupWindow(period: DeduplicationPeriod | undefined): { seconds: number; offset?: number } {
    const max = this.settings.maxDeduplicationSeconds;
    if (!period || 'Empty' in period) return { seconds: max };
    if ('DeduplicationDuration' in period) {
      const s = period.DeduplicationDuration.value.seconds + period.DeduplicationDuration.value.nanos / 1e9;
      if (s < 0 || s > max) {
        throw LedgerError.of(
          'INVALID_DEDUPLICATION_PERIOD',
          `The submitted command had an invalid deduplication period: the deduplication duration ${s}s exceeds the maximum ${max}s`,
          {
            context: { longest_duration: `${max}s` },
            definiteAnswer: false,
          },
        );
      }
      return { seconds: Math.ceil(s) };
    }
    return { seconds: max, offset: period.DeduplicationOffset.value };
  }

  /** DUPLICATE_COMMAND when the change id committed within the window. */
  private checkDuplicate(key: string, dedupSeconds: number, dedupOffset: number | undefined, now: Micros, submissionId: string): void {
    const prior = this.engine.ledger.dedup.get(key);
    if (!prior) return;
    const within = dedupOffset !== undefined ? prior.offset > dedupOffset : now - prior.recordTime < BigInt(dedupSeconds) * 1_000_000n;
    if (within) {
      throw LedgerError.of('DUPLICATE_COMMAND', 'A command with the given command id has already been successfully processed', {
        context: { existing_submission_id: prior.submissionId ?? '', completion_offset: String(prior.offset) },
        definiteAnswer: false,
        correlationId: submissionId,
      });
    }
  }

  private verifySignatures(actAs: readonly string[], hash: Uint8Array, sigs: PartySignatures): void {
    const ledger = this.engine.ledger;
    for (const party of actAs) {
      const rec = ledger.parties.get(party);
      if (!rec?.external) {
        throw LedgerError.of(
          'INVALID_ARGUMENT',
          `The submitted request has invalid arguments: party ${party} is not an external party and cannot sign`,
        );
      }
      const mine = sigs.signatures.filter((s) => s.party === party).flatMap((s) => s.signatures);
      if (mine.length === 0) {
        throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: missing signature of party ${party}`);
      }
      const valid = mine.some(
        (s) =>
          s.signedBy === rec.external?.fingerprint &&
          (s.format === 'SIGNATURE_FORMAT_CONCAT' || s.format === 'SIGNATURE_FORMAT_RAW') &&
          s.signingAlgorithmSpec === 'SIGNING_ALGORITHM_SPEC_ED25519' &&
          rec.external !== undefined &&
          verifyEd25519(rec.external.publicKey, hash, Buffer.from(s.signature, 'base64')),
      );
      if (!valid) {
        throw LedgerError.of(
          'INVALID_ARGUMENT',
          `The submitted request has invalid arguments: invalid signature of party ${party} (expected an Ed25519 signature by ${rec.external.fingerprint} over the prepared transaction hash)`,
        );
      }
    }
  }

  /**
   * Checks and queues an externally signed transaction. Returns once it is accepted for
   * processing; `done` settles when it committed or was rejected.
   */
  execute(req: JsExecuteSubmissionRequest, userId: string, opts: ExecuteOptions = {}): { done: Promise<Outcome> } {
    if (this.stopped) throw LedgerError.of('SERVICE_NOT_RUNNING', 'The service is not running: the ledger double is stopping');
    if (req.hashingSchemeVersion !== 'HASHING_SCHEME_VERSION_V2') {
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        `The submitted request has invalid arguments: unsupported hashing scheme ${req.hashingSchemeVersion}`,
      );
    }
    let decoded: ReturnType<typeof decodePrepared>;
    try {
      decoded = decodePrepared(req.preparedTransaction);
    } catch (e) {
      if (e instanceof PreparedTransactionError) {
        throw LedgerError.of(
          'INVALID_ARGUMENT',
          `The submitted request has invalid arguments: cannot deserialize the prepared transaction: ${e.message}`,
        );
      }
      throw e;
    }
    const hashB64 = Buffer.from(decoded.hash).toString('base64');
    const entry = this.prepared.get(hashB64);
    if (!entry) {
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        'The submitted request has invalid arguments: the prepared transaction is not one this participant prepared (or it was altered)',
      );
    }
    const meta = decoded.tx.metadata;
    const actAs = meta.submitterInfo.actAs;
    this.verifySignatures(actAs, decoded.hash, req.partySignatures);
    const window = this.dedupWindow(req.deduplicationPeriod);
    const key = dedupKey(userId, actAs, meta.submitterInfo.commandId);
    const inFlight = this.inFlight.get(key);
    if (inFlight) {
      throw LedgerError.of('SUBMISSION_ALREADY_IN_FLIGHT', 'The command is already being processed', {
        context: { existing_submission_id: inFlight.submissionId },
        definiteAnswer: false,
        correlationId: req.submissionId,
      });
    }
    this.checkDuplicate(key, window.seconds, window.offset, this.engine.clock.now(), req.submissionId);
    const traffic = this.settings.traffic;
    const notSent =
      traffic && !traffic.affords(entry.trafficCost)
        ? traffic.refusedAtSubmission(entry.trafficCost, microsToIso(this.engine.clock.now()), req.submissionId)
        : undefined;
    let resolve: (o: Outcome) => void = () => {};
    const done = new Promise<Outcome>((r) => (resolve = r));
    const pending: Pending = {
      entry,
      key,
      userId,
      actAs,
      commandId: meta.submitterInfo.commandId,
      submissionId: req.submissionId,
      dedupSeconds: window.seconds,
      ...(window.offset !== undefined ? { dedupOffset: window.offset } : {}),
      // Not covered by the V2 hash: the executing node enforces whatever the submitted bytes say.
      ...(meta.maxRecordTime !== undefined ? { maxRecordTime: meta.maxRecordTime } : {}),
      ...(opts.rejectWith ? { forcedRejection: opts.rejectWith } : {}),
      ...(notSent ? { notSent } : {}),
      done,
      resolve: (o) => resolve(o),
    };
    this.inFlight.set(key, pending);
    if (this.held) this.heldQueue.push(pending);
    else this.schedule(pending);
    return { done };
  }

  private schedule(p: Pending): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.commit(p);
    }, this.settings.commitDelayMs);
    this.timers.add(t);
  }

  /** The commit attempt: every check the synchronizer and confirmers would make, then the commit. */
  private commit(p: Pending): void {
    const ledger = this.engine.ledger;
    this.inFlight.delete(p.key);
    // One step: the transaction (or the rejection), its completion and dedup entry become durable
    // and visible together.
    const outcome = ledger.batch(() => this.attempt(p));
    p.resolve(outcome);
  }

  private attempt(p: Pending): Outcome {
    const ledger = this.engine.ledger;
    const recordTime = this.engine.clock.nextRecordTime();
    let outcome: Outcome;
    const traffic = this.settings.traffic;
    // Sequenced: the confirmation request costs its traffic whatever the verdict (not when refused or timed out).
    let sequenced = false;
    try {
      if (p.forcedRejection) throw p.forcedRejection;
      if (p.notSent) throw p.notSent;
      if (p.maxRecordTime !== undefined && recordTime > p.maxRecordTime) {
        throw LedgerError.of(
          'NOT_SEQUENCED_TIMEOUT',
          `Transaction was not sequenced within the pre-defined max sequencing time (${microsToIso(p.maxRecordTime)}) and has therefore timed out`,
          {
            definiteAnswer: true,
            correlationId: p.submissionId,
          },
        );
      }
      if (traffic && !traffic.affords(p.entry.trafficCost))
        throw traffic.refusedAtSequencing(p.entry.trafficCost, microsToIso(recordTime), p.submissionId);
      sequenced = true;
      const validBefore = p.entry.interpretation.validBefore;
      if (validBefore !== undefined && recordTime >= validBefore) {
        throw LedgerError.of(
          'LOCAL_VERDICT_LEDGER_TIME_OUT_OF_BOUND',
          `The ledger time of the transaction is outside its bounds: it had to be recorded before ${microsToIso(validBefore)}`,
          {
            definiteAnswer: true,
            correlationId: p.submissionId,
          },
        );
      }
      this.checkDuplicate(p.key, p.dedupSeconds, p.dedupOffset, recordTime, p.submissionId);
      const tx = ledger.commit(
        p.entry.interpretation.plan,
        {
          submitter: { userId: p.userId, actAs: p.actAs, commandId: p.commandId, submissionId: p.submissionId },
          externalTransactionHash: p.entry.hashB64,
        },
        recordTime,
      );
      ledger.setDedup(p.key, { offset: tx.offset, recordTime, updateId: tx.updateId, submissionId: p.submissionId });
      ledger.addCompletion({
        offset: tx.offset,
        recordTime,
        userId: p.userId,
        actAs: p.actAs,
        commandId: p.commandId,
        submissionId: p.submissionId,
        updateId: tx.updateId,
        deduplicationSeconds: p.dedupSeconds,
      });
      outcome = { kind: 'committed', tx };
    } catch (e) {
      const error =
        e instanceof LedgerError
          ? new LedgerError(e.code, e.causeText, { ...e.opts, category: e.category, grpc: e.grpc, correlationId: p.submissionId })
          : LedgerError.of('LEDGER_API_INTERNAL_ERROR', String(e));
      const silent = ledger.appendSilent(recordTime);
      ledger.addCompletion({
        offset: silent.offset,
        recordTime,
        userId: p.userId,
        actAs: p.actAs,
        commandId: p.commandId,
        submissionId: p.submissionId,
        error,
        deduplicationSeconds: p.dedupSeconds,
      });
      this.settings.logger?.debug({ code: error.code, commandId: p.commandId }, 'sandbox: submission rejected');
      outcome = { kind: 'rejected', error };
    }
    if (sequenced) traffic?.consume(p.entry.trafficCost);
    return outcome;
  }

  // ---------------------------------------------------------------- hosted parties

  /** submit-and-wait for the double's internal parties: interpret and commit at once. */
  submitAndWait(req: JsCommands, userId: string): CommittedTx {
    const ledger = this.engine.ledger;
    if (req.commands.length !== 1)
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        'The submitted request has invalid arguments: the ledger double runs single-command submissions only',
      );
    for (const p of req.actAs) {
      const rec = ledger.parties.get(p);
      if (!rec) throw LedgerError.of('PARTY_NOT_KNOWN_ON_LEDGER', `Party not known on ledger: ${p}`);
      if (rec.external)
        throw LedgerError.of(
          'INVALID_ARGUMENT',
          `The submitted request has invalid arguments: ${p} is an external party: use interactive submission`,
        );
    }
    const command = req.commands[0];
    if (!command) throw LedgerError.of('MISSING_FIELD', 'The submitted command is missing a mandatory field: commands');
    const window = this.dedupWindow(req.deduplicationPeriod);
    const key = dedupKey(userId, req.actAs, req.commandId);
    const submissionId = req.submissionId ?? ledger.ids.uuid();
    this.checkDuplicate(key, window.seconds, window.offset, this.engine.clock.now(), submissionId);
    const interpretation = interpretCommand(this.engine, {
      command,
      actAs: req.actAs,
      readAs: req.readAs ?? [],
      disclosed: req.disclosedContracts ?? [],
    });
    // A hosted party's submission costs the participant traffic too; no transaction bytes are built for it here.
    const cost = trafficCostOf(HOSTED_TX_BYTES, 0).total;
    const traffic = this.settings.traffic;
    if (traffic && !traffic.affords(cost)) throw traffic.refusedAtSubmission(cost, microsToIso(this.engine.clock.now()), submissionId);
    return ledger.batch(() => {
      traffic?.consume(cost);
      return this.commitHosted(req, userId, key, submissionId, window.seconds, interpretation.plan);
    });
  }

  private commitHosted(
    req: JsCommands,
    userId: string,
    key: string,
    submissionId: string,
    dedupSeconds: number,
    plan: TxPlan,
  ): CommittedTx {
    const ledger = this.engine.ledger;
    const tx = ledger.commit(plan, {
      submitter: { userId, actAs: req.actAs, commandId: req.commandId, submissionId },
      ...(req.workflowId !== undefined ? { workflowId: req.workflowId } : {}),
    });
    ledger.setDedup(key, { offset: tx.offset, recordTime: tx.recordTime, updateId: tx.updateId, submissionId });
    ledger.addCompletion({
      offset: tx.offset,
      recordTime: tx.recordTime,
      userId,
      actAs: req.actAs,
      commandId: req.commandId,
      submissionId,
      updateId: tx.updateId,
      deduplicationSeconds: dedupSeconds,
    });
    return tx;
  }

  // ---------------------------------------------------------------- control

  /** Queue commits instead of running them (a test holds the ledger still). */
  hold(): void {
    this.held = true;
  }

  /** Commit everything queued, in order, and resume normal operation. */
  async release(): Promise<void> {
    this.held = false;
    const queued = this.heldQueue.splice(0);
    for (const p of queued) this.commit(p);
    await Promise.all(queued.map((p) => p.done));
  }

  get pendingCount(): number {
    return this.inFlight.size;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

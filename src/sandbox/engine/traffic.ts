import { LedgerError } from './errors.js';

/**
 * The participant's synchronizer traffic, as Canton 3.4 meters it (src/sandbox/README.md,
 * "Traffic"). Every submission the sequencer orders costs its event cost in bytes
 * (`community/base/.../sequencing/traffic/EventCostCalculator.scala`): per envelope the payload
 * size (write cost) plus payload × recipients × readVsWriteScalingFactor / 10 000 (read cost),
 * the factor defaulting to 200 (`community/base/.../sequencing/TrafficControlParameters.scala`).
 * A validator buys traffic with Canton Coin; the double keeps one purchased balance per
 * participant (`limit` − `consumed`), unlimited unless a test or the control API sets one.
 * Base (free) traffic that accrues per round is not modelled.
 */

/** readVsWriteScalingFactor: per ten-thousand of the write cost, per recipient (Canton's default). */
export const READ_VS_WRITE_SCALING = 200;
/** Recipients of a confirmation request: the submitting participant, a counterparty's, the mediator group. */
const REQUEST_RECIPIENTS = 3;
/** Recipients of a confirmation response: the mediator group and the sequencer's echo to the sender. */
const RESPONSE_RECIPIENTS = 2;
/** Root hash messages, envelope headers and the submission request's own signature. */
const REQUEST_OVERHEAD_BYTES = 1_200;
/** A confirmation response: verdict, root hash, view positions and the participant's signature. */
const RESPONSE_BYTES = 650;
/** An Ed25519 signature of an external party as the request carries it (signature, key fingerprint, format). */
const SIGNATURE_BYTES = 180;

export interface TrafficCost {
  request: number;
  response: number;
  total: number;
}

function envelopeCost(writeBytes: number, recipients: number): number {
  return writeBytes + Math.floor((writeBytes * recipients * READ_VS_WRITE_SCALING) / 10_000);
}

/**
 * The cost of submitting a prepared transaction of `bytes` bytes signed with `signatures` external
 * signatures: the confirmation request carries the transaction's views (about its own size) to
 * every recipient; the response is small and fixed. What prepare's `costEstimation` reports and
 * what a commit charges.
 */
export function trafficCostOf(bytes: number, signatures: number): TrafficCost {
  const request = envelopeCost(bytes + REQUEST_OVERHEAD_BYTES + SIGNATURE_BYTES * Math.max(1, signatures), REQUEST_RECIPIENTS);
  const response = envelopeCost(RESPONSE_BYTES, RESPONSE_RECIPIENTS);
  return { request, response, total: request + response };
}

export interface TrafficView {
  /** Purchased traffic (bytes); null = unlimited (traffic control off, the default). */
  limit: number | null;
  consumed: number;
  /** limit − consumed, never negative; null when unlimited. */
  available: number | null;
  /** Submissions refused for lack of traffic since the start. */
  refusals: number;
}

/** One participant's purchased traffic. In memory: a restart of the double starts unlimited. */
export class TrafficAccount {
  private limit: number | null;
  private consumed = 0;
  private refusals = 0;

  constructor(
    private readonly member: string,
    limit: number | null = null,
  ) {
    this.limit = limit;
  }

  view(): TrafficView {
    const available = this.limit === null ? null : Math.max(0, this.limit - this.consumed);
    return { limit: this.limit, consumed: this.consumed, available, refusals: this.refusals };
  }

  /** A new purchased balance in total (null = unlimited); what was consumed stays consumed. */
  setLimit(limit: number | null): TrafficView {
    this.limit = limit;
    return this.view();
  }

  /** A top-up: `bytes` more on top of the limit (an unlimited account stays unlimited). */
  refill(bytes: number): TrafficView {
    if (this.limit !== null) this.limit += bytes;
    return this.view();
  }

  affords(cost: number): boolean {
    return this.limit === null || this.limit - this.consumed >= cost;
  }

  consume(cost: number): void {
    this.consumed += cost;
  }

  /** Canton's `AboveTrafficLimit` rendering (SequencerRateLimitManager.scala), as the sequencer logs and returns it. */
  private aboveLimit(cost: number, timestamp: string): string {
    const v = this.view();
    return `AboveTrafficLimit(\n  member = ${this.member},\n  trafficCost = ${cost},\n  trafficState = TrafficState(extraTrafficLimit = ${v.limit ?? 0}, extraTrafficConsumed = ${v.consumed}, baseTrafficRemainder = 0, lastConsumedCost = 0, timestamp = ${timestamp}, serial = 1, availableTraffic = ${v.available ?? 0})\n)`;
  }

  /**
   * Refused when the submission reaches the sequencer (BlockSequencer.scala `enforceRateLimiting`:
   * SequencerErrors.TrafficCredit, returned synchronously to the participant's sequencer client).
   * The participant has already registered the submission, so execute answers success and the
   * refusal is its completion: TransactionProcessor.SubmissionErrors.SequencerRequest
   * (SEQUENCER_REQUEST_FAILED, ContentionOnSharedResources, definite), with the sequencer's
   * refusal in its `sendError` context (TransactionProcessingSteps.scala
   * `submissionErrorTrackingData`; ProtocolProcessor.scala `submitWithTracking`).
   */
  refusedAtSubmission(cost: number, timestamp: string, correlationId: string): LedgerError {
    this.refusals++;
    const sequencerError = `SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT(9,${correlationId.slice(0, 8)}): Submission was rejected because no traffic is available: ${this.aboveLimit(cost, timestamp)}`;
    return LedgerError.of('SEQUENCER_REQUEST_FAILED', 'Failed to send command', {
      context: { sendError: `RequestRefused(SendAsyncErrorGrpc(GrpcRequestRefusedByServer: FAILED_PRECONDITION/${sequencerError}))` },
      definiteAnswer: true,
      correlationId,
    });
  }

  /**
   * Ordered, then refused before delivery because the balance no longer covers it (concurrent
   * submissions spent it: TrafficControlValidator.scala): a deliver error whose status becomes the
   * completion as it is (SubmissionTrackingData.scala `updateOnNotSequenced`). Nothing is consumed.
   */
  refusedAtSequencing(cost: number, timestamp: string, correlationId: string): LedgerError {
    this.refusals++;
    return LedgerError.of('SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT', this.aboveLimit(cost, timestamp), { definiteAnswer: true, correlationId });
  }
}

import { z } from 'zod';
import { LedgerApiError } from '../../ledger/http.js';
import { PreparedTransactionError } from '../../ledger/prepared-transaction/index.js';
import { LedgerDecodeError } from '../../ledger/schema/index.js';
import { SigningKeyError } from '../../ledger/signing.js';
import { ActorError, type ActorFailure } from '../failure.js';
import { Failure } from '../../failures.js';

/**
 * Ledger and registry errors in the terms the machines decide on (src/machines/README.md, "For
 * whoever implements the ledger effects"):
 * - `retryable` from the ledger client's rules (categories 1, 2, 3, 12, network, 429/502/503/504);
 *   the machine never retries 401/403/500/501 whatever this says;
 * - `definiteAnswer` from the JsCantonError;
 * - a missing contract is classified by WHICH contract is missing: one of our inputs →
 *   INPUT_UNAVAILABLE, the instruction being accepted → INSTRUCTION_NOT_FOUND, anything else is a
 *   stale registry context (an archived mining round, rules, preapproval) → retryable, because the
 *   machine's retry fetches a fresh context.
 */

/** Error ids that mean "a contract the command uses is not active (any more)". */
const CONTRACT_GONE = new Set([
  'CONTRACT_NOT_FOUND',
  'LOCAL_VERDICT_INACTIVE_CONTRACTS',
  'INCONSISTENT',
  'CONTRACT_NOT_ACTIVE',
  'INCONSISTENT_CONTRACTS',
]);

/** What the failed command was about, to classify a missing contract. */
export interface FailureScope {
  /** Input holdings of a transfer. */
  inputs?: readonly string[];
  /** The transfer instruction an accept exercises. */
  instructionCid?: string;
  /** The party a transfer pays. */
  receiver?: string;
}

/**
 * How Canton 3.4 says a party of the transaction is hosted nowhere: routing at prepare/submit
 * answers UNKNOWN_INFORMEES, the parties in its context (`unknownInformees` = "Set(…)";
 * community/base/.../error/TransactionRoutingError.scala, raised in participant/.../routing/
 * AdmissibleSynchronizersComputation.scala); PARTY_NOT_KNOWN_ON_LEDGER is the Ledger API's older
 * name for it (ledger-common/.../groups/SyncServiceRejectionErrors.scala).
 */
const PARTY_UNKNOWN = new Set(['UNKNOWN_INFORMEES', 'PARTY_NOT_KNOWN_ON_LEDGER']);

/** Whether the error names `party` among the unknown parties (context, resources or cause). */
function namesParty(e: LedgerApiError, party: string): boolean {
  const c = e.cantonError;
  const texts = [...Object.values(c?.context ?? {}), ...(c?.resources ?? []).map(([, v]) => v), c?.cause ?? e.message];
  // Whole ids only: one party id may be a prefix of another's hint.
  return texts.some((t) => t.split(/[\s,()[\]"']+/).includes(party));
}

const CONTRACT_ID_IN_TEXT = /\b00[0-9a-f]{64,}\b/g;

/** The contract ids an error names: its CONTRACT_ID resources, else ids in its cause. */
export function contractIdsOf(e: LedgerApiError): string[] {
  const resources = (e.cantonError?.resources ?? []).filter(([k]) => k === 'CONTRACT_ID').map(([, v]) => v);
  if (resources.length > 0) return resources;
  return [...(e.cantonError?.cause ?? e.message).matchAll(CONTRACT_ID_IN_TEXT)].map((m) => m[0]);
}

/**
 * Whether the ledger refused a submission for traffic (src/sandbox/README.md "Traffic" names the
 * Canton sources). The participant reports the sequencer's refusal of the send as
 * SEQUENCER_REQUEST_FAILED with the sequencer's own error (SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT) in
 * its context; a refusal after ordering arrives as that code itself; OUTDATED_TRAFFIC_COST when the
 * cost the participant computed was stale. Each is a definite answer: nothing was sequenced.
 */
export function trafficRefusalOf(e: LedgerApiError): 'exhausted' | 'outdated' | null {
  const c = e.cantonError;
  const text = [e.code, c?.cause ?? e.message, ...Object.values(c?.context ?? {})].join('\n');
  if (e.code === 'SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT') return 'exhausted';
  if (e.code === 'OUTDATED_TRAFFIC_COST') return 'outdated';
  if (e.code !== 'SEQUENCER_REQUEST_FAILED') return null;
  if (text.includes('SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT')) return 'exhausted';
  if (text.includes('OUTDATED_TRAFFIC_COST')) return 'outdated';
  return null;
}

function definiteOf(e: LedgerApiError): boolean | undefined {
  const c = e.cantonError;
  if (c?.definiteAnswer !== undefined) return c.definiteAnswer;
  const d = c?.context['definite_answer'];
  return d === 'true' ? true : d === 'false' ? false : undefined;
}

function base(e: LedgerApiError): ActorFailure {
  const definiteAnswer = definiteOf(e);
  return {
    code: e.code,
    message: e.message,
    retryable: e.retryable,
    ...(definiteAnswer !== undefined ? { definiteAnswer } : {}),
    // 0 = no response at all (network, timeout): there is no HTTP status to report.
    ...(e.status > 0 ? { status: e.status } : {}),
    ...(e.errorCategory !== undefined ? { category: e.errorCategory } : {}),
  };
}

/** Whether the error says a contract is gone (the ids may or may not be named). */
export function isContractGone(e: unknown): e is LedgerApiError {
  return e instanceof LedgerApiError && CONTRACT_GONE.has(e.code);
}

export function toActorError(e: unknown, what: string, scope: FailureScope = {}): ActorError {
  if (e instanceof ActorError) return e;
  if (e instanceof LedgerApiError) {
    const f = base(e);
    const traffic = trafficRefusalOf(e);
    if (traffic !== null) {
      const code = traffic === 'exhausted' ? Failure.TRAFFIC_EXHAUSTED : Failure.TRAFFIC_COST_OUTDATED;
      const why =
        traffic === 'exhausted' ? 'the validator has no synchronizer traffic left' : 'the traffic cost was outdated at the sequencer';
      // The sequencer's own words (its error id, cost and balance) are in the participant's context.
      const sent = e.cantonError?.context['sendError'];
      const sequencer = sent === undefined ? '' : `; sequencer: ${sent.length > 400 ? `${sent.slice(0, 400)}…` : sent}`;
      // Whatever the category says, the refusal came before sequencing: definite, and worth sending again.
      return new ActorError({ ...f, code, message: `${what}: ${why} (${e.message}${sequencer})`, retryable: true, definiteAnswer: true });
    }
    if (CONTRACT_GONE.has(e.code)) {
      const named = contractIdsOf(e);
      const inputs = new Set(scope.inputs ?? []);
      if (scope.instructionCid !== undefined && named.includes(scope.instructionCid)) {
        return new ActorError({
          ...f,
          code: Failure.INSTRUCTION_NOT_FOUND,
          message: `${what}: transfer instruction ${scope.instructionCid} is no longer active (${e.message})`,
          retryable: false,
        });
      }
      const gone = named.filter((c) => inputs.has(c));
      // Unnamed: assume the worst for our inputs. Before a submission that only costs a new
      // reservation; after one the machine just waits for the ledger's verdict on the attempt.
      if (gone.length > 0 || (named.length === 0 && inputs.size > 0)) {
        return new ActorError({
          ...f,
          code: Failure.INPUT_UNAVAILABLE,
          message: `${what}: input holding${gone.length === 1 ? '' : 's'} ${gone.join(', ') || '(unnamed)'} no longer active (${e.code}: ${e.message})`,
          retryable: false,
        });
      }
      if (named.length === 0 && scope.instructionCid !== undefined) {
        return new ActorError({ ...f, code: Failure.INSTRUCTION_NOT_FOUND, message: `${what}: ${e.message}`, retryable: false });
      }
      // A context contract (round, rules, preapproval) went stale: a fresh registry context fixes it.
      return new ActorError({ ...f, message: `${what}: registry context is stale (${e.message})`, retryable: true });
    }
    if (PARTY_UNKNOWN.has(e.code) && scope.receiver !== undefined && namesParty(e, scope.receiver)) {
      return new ActorError({
        ...f,
        code: Failure.RECEIVER_UNKNOWN,
        message: `${what}: the receiver ${scope.receiver} is not known on the ledger (${e.code}: ${e.message})`,
        retryable: false,
      });
    }
    return new ActorError({ ...f, message: `${what}: ${e.message}` });
  }
  if (e instanceof LedgerDecodeError) {
    return new ActorError({ code: Failure.BAD_RESPONSE, message: `${what}: ${e.message}`, retryable: false });
  }
  if (e instanceof PreparedTransactionError) {
    return new ActorError({
      code: Failure.PREPARED_TX_MISMATCH,
      message: `${what}: the prepared transaction cannot be read: ${e.message}`,
      retryable: false,
    });
  }
  if (e instanceof z.ZodError) {
    // A request we built does not match the wire schema: our bug, and trying again will not fix it.
    return new ActorError({
      code: Failure.INVALID_REQUEST,
      message: `${what}: ${e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      retryable: false,
    });
  }
  if (e instanceof SigningKeyError) {
    return new ActorError({ code: Failure.SIGNING_KEY, message: `${what}: ${e.message}`, retryable: false });
  }
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new ActorError({ code: Failure.UNEXPECTED, message: `${what}: ${message}`, retryable: true });
}

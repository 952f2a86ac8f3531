import { LedgerAdminClient } from '../ledger/admin-client.js';
import { LedgerApiError, type LedgerHttp } from '../ledger/http.js';
import { treasuryUpdateFormat, type LedgerReadClient } from '../ledger/read-client.js';
import { compareTimestamps } from '../ledger/schema/index.js';
import type { Checkpoint } from '../ingestion/checkpoint.js';
import type { ContinuityReason } from '../store/checkpoint.js';

/**
 * Ledger identity and continuity (issue 20). Offsets are the participant's own numbering: a
 * validator restored from a backup renumbers what came after the backup, a major upgrade starts a
 * new ledger on a new synchronizer, and a ledger API pointed at another node numbers everything
 * differently. Resuming from a stored offset on such a ledger silently skips or repeats updates,
 * so before every read (the start of each session and each reconnect) ingestion checks that the
 * ledger is still the one it read: same participant, its synchronizer still connected, the ledger
 * end not below the checkpoint, and its last ingested transaction still at the offset it was
 * ingested at. Any difference stops ingestion and every ledger effect until an operator re-points
 * the checkpoint (`cxi ingestion resync` / `cxi ingestion migrate`, src/admin/ledger-recovery.ts).
 */

/** What continuity checks and the recovery commands ask of the ledger. */
export interface ContinuityLedger {
  participantId(signal?: AbortSignal): Promise<string>;
  /** Ids of the synchronizers the node is connected to. */
  connectedSynchronizers(signal?: AbortSignal): Promise<string[]>;
  ledgerEnd(signal?: AbortSignal): Promise<number>;
  /** participantPrunedUpToInclusive (0 when never pruned). */
  prunedUpTo(signal?: AbortSignal): Promise<number>;
  /** The id of the update the treasury sees at `offset`; undefined when it sees none there (404). */
  updateIdAt(offset: number, signal?: AbortSignal): Promise<string | undefined>;
  /** Up to `limit` updates the treasury sees in (beginExclusive, endInclusive], in offset order. */
  updatesBetween(beginExclusive: number, endInclusive: number, limit: number, signal?: AbortSignal): Promise<LedgerPoint[]>;
}

/** An update as the recovery search needs it. */
export interface LedgerPoint {
  offset: number;
  updateId: string;
  recordTime: string;
  synchronizerId: string;
}

/** The ledger API as ContinuityLedger (participant-id and connected-synchronizers are public reads in Canton 3.4). */
export function continuityLedgerOf(http: LedgerHttp, client: LedgerReadClient, party: string): ContinuityLedger {
  const admin = new LedgerAdminClient(http);
  const format = treasuryUpdateFormat(party);
  return {
    participantId: () => admin.participantId(),
    connectedSynchronizers: async () => (await admin.connectedSynchronizers()).map((s) => s.synchronizerId),
    ledgerEnd: (signal) => client.ledgerEnd(signal),
    prunedUpTo: async (signal) => (await client.latestPrunedOffsets(signal)).participantPrunedUpToInclusive,
    async updateIdAt(offset, signal) {
      const r = await client.updateByOffset(offset, format, signal);
      if (!r) return undefined;
      const u = r.update;
      if ('Transaction' in u) return u.Transaction.value.updateId;
      if ('TopologyTransaction' in u) return u.TopologyTransaction.value.updateId;
      if ('Reassignment' in u) return u.Reassignment.value.updateId;
      return undefined;
    },
    async updatesBetween(beginExclusive, endInclusive, limit, signal) {
      if (endInclusive <= beginExclusive) return [];
      const page = await client.updates({ beginExclusive, endInclusive, updateFormat: format }, { limit, ...(signal ? { signal } : {}) });
      const out: LedgerPoint[] = [];
      for (const el of page) {
        const u = el.update;
        const v = 'Transaction' in u ? u.Transaction.value : 'TopologyTransaction' in u ? u.TopologyTransaction.value : undefined;
        if (v) out.push({ offset: v.offset, updateId: v.updateId, recordTime: v.recordTime, synchronizerId: v.synchronizerId });
      }
      return out;
    },
  };
}

const COMMAND: Record<ContinuityReason, string> = {
  ledger_end_behind: 'cxi ingestion resync',
  update_differs: 'cxi ingestion resync',
  participant_differs: 'cxi ingestion resync --participant <the new participant id>',
  synchronizer_differs: 'cxi ingestion migrate',
};

const WHAT: Record<ContinuityReason, string> = {
  ledger_end_behind:
    'the validator was restored from a backup (or its ledger otherwise went back): follow README "Validator restored from backup"',
  update_differs: 'the validator was restored from a backup and renumbered its offsets: follow README "Validator restored from backup"',
  participant_differs:
    'LEDGER_API_URL reaches another node than before: check the configuration first; only if the treasury is now read from another node of its own, resync to it',
  synchronizer_differs: 'a major upgrade (synchronizer migration) took place: follow README "Major upgrade (synchronizer migration)"',
};

/** The ledger is not the one ingestion read: ingestion and every ledger effect stop until an operator acts. */
export class LedgerContinuityError extends Error {
  override readonly name = 'LedgerContinuityError';
  constructor(
    readonly reason: ContinuityReason,
    /** What differs, with both values (for a failure recorded earlier: its whole message). */
    readonly difference: string,
    /** Recorded earlier (sql/019) and not cleared by resync or migrate: `difference` is the message. */
    readonly stored = false,
  ) {
    super(
      stored
        ? difference
        : `ledger continuity broken (${reason}): ${difference}. Ingestion and every ledger effect (withdrawals, deposit accepts, expiries) are stopped: ` +
            `nothing is credited, expired or paid meanwhile. Likely cause: ${WHAT[reason]}. Then run \`${COMMAND[reason]}\``,
    );
  }

  get command(): string {
    return COMMAND[this.reason];
  }
}

/**
 * Checks the ledger against the stored checkpoint (nothing to check without one) and returns the
 * participant id read. Throws LedgerContinuityError naming the first difference found, in the
 * order participant, synchronizer, ledger end, update at the stored offset. The last transaction
 * cannot be looked up once its offset is pruned: then only the other checks apply.
 */
export async function checkLedgerContinuity(
  ledger: ContinuityLedger,
  cp: Checkpoint | undefined,
  signal?: AbortSignal,
): Promise<{ participantId: string }> {
  const participantId = await ledger.participantId(signal);
  if (!cp) return { participantId };
  if (cp.participantId !== null && cp.participantId !== participantId) {
    throw new LedgerContinuityError(
      'participant_differs',
      `the ledger is participant ${participantId}, ingestion read participant ${cp.participantId}`,
    );
  }
  if (cp.synchronizerId !== null) {
    const connected = await ledger.connectedSynchronizers(signal);
    if (!connected.includes(cp.synchronizerId)) {
      throw new LedgerContinuityError(
        'synchronizer_differs',
        `ingestion follows synchronizer ${cp.synchronizerId}, but the node is connected to ${connected.length === 0 ? 'none' : connected.join(', ')}`,
      );
    }
  }
  const end = await ledger.ledgerEnd(signal);
  if (end < cp.offset) {
    throw new LedgerContinuityError(
      'ledger_end_behind',
      `the ledger end is offset ${end}, below ingestion's checkpoint at offset ${cp.offset}`,
    );
  }
  if (cp.updateId !== null && cp.updateOffset !== null) {
    const pruned = await ledger.prunedUpTo(signal).catch(() => 0);
    if (cp.updateOffset > pruned) {
      const there = await ledger.updateIdAt(cp.updateOffset, signal);
      if (there !== cp.updateId) {
        throw new LedgerContinuityError(
          'update_differs',
          `at offset ${cp.updateOffset} the ledger has ${there === undefined ? 'no update the treasury sees' : `update ${there}`}, ingestion ingested update ${cp.updateId} there`,
        );
      }
    }
  }
  return { participantId };
}

/** A stream read beyond the ledger end: the ledger went back below what ingestion already received. */
export function continuityErrorOfStream(e: unknown, resumeOffset: number): LedgerContinuityError | undefined {
  if (!(e instanceof LedgerApiError) || e.code !== 'OFFSET_AFTER_LEDGER_END') return undefined;
  return new LedgerContinuityError(
    'ledger_end_behind',
    `the ledger refused to stream from offset ${resumeOffset}, which ingestion already received: ${e.message}`,
  );
}

/** How many updates one probe of the search reads at most. */
const PROBE_PAGE = 20;

export interface ResumePoint {
  /** Resume after this offset (beginExclusive). */
  offset: number;
  /** The update at `offset` when the treasury sees one there (it has a record time before the target). */
  at: LedgerPoint | undefined;
  /** Ledger reads the search made. */
  reads: number;
}

/**
 * Where to resume so that no update of `synchronizerId` with record time ≥ `recordTime` is missed:
 * the smallest offset m (from `from`) after which the first update of that synchronizer the
 * treasury sees has a record time ≥ `recordTime` (or there is none). The JSON API has no
 * GetHighestOffsetByTimestamp, so it is found by reading: record time never decreases with the
 * offset within one synchronizer, which makes that property monotone in m, so a binary search
 * over offsets finds it in about log2(ledger end) small reads. Updates at the target time itself
 * (record times can repeat after participant-local repairs) are read again and skipped by their
 * update ids.
 */
export async function findResumeOffset(
  ledger: ContinuityLedger,
  o: { synchronizerId: string; recordTime: string; from: number; ledgerEnd: number; signal?: AbortSignal },
): Promise<ResumePoint> {
  let reads = 0;
  /** The first update of the synchronizer after m, or undefined. */
  const firstAfter = async (m: number): Promise<LedgerPoint | undefined> => {
    let cursor = m;
    while (cursor < o.ledgerEnd) {
      reads++;
      const page = await ledger.updatesBetween(cursor, o.ledgerEnd, PROBE_PAGE, o.signal);
      const hit = page.find((p) => p.synchronizerId === o.synchronizerId);
      if (hit) return hit;
      if (page.length < PROBE_PAGE) return undefined;
      cursor = page.at(-1)!.offset;
    }
    return undefined;
  };
  const reached = (p: LedgerPoint | undefined) => p === undefined || compareTimestamps(p.recordTime, o.recordTime) >= 0;
  let lo = o.from;
  let hi = o.ledgerEnd;
  // Invariant: the property holds at hi; below lo it was not checked (lo itself may hold).
  let atHi: LedgerPoint | undefined;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const first = await firstAfter(mid);
    if (reached(first)) hi = mid;
    else {
      lo = mid + 1;
      // The first update after mid is before the target: the answer is at least its offset.
      if (first && first.offset > lo) lo = Math.min(first.offset, hi);
      if (first && first.offset === lo) atHi = first;
    }
  }
  const at = atHi?.offset === hi ? atHi : hi > o.from ? await pointAt(hi) : undefined;
  return { offset: hi, at, reads };

  async function pointAt(offset: number): Promise<LedgerPoint | undefined> {
    const first = await firstAfter(offset - 1);
    return first?.offset === offset ? first : undefined;
  }
}

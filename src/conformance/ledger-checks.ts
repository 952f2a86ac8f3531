import { filter, firstValueFrom, of, throwError, timeout } from 'rxjs';
import { createLedgerHoldingsSource } from '../admin/reconciliation/ledger-holdings.js';
import type { HoldingRecord } from '../admin/reconciliation/compare.js';
import { compareAmounts } from '../lib/decimal.js';
import { treasuryEventFormat } from '../ledger/read-client.js';
import { findInterfaceView, HOLDING_INTERFACE_ID, HoldingView } from '../ledger/schema/index.js';
import type { IngestElement } from '../ingestion/elements.js';
import { offsetOf } from '../ingestion/elements.js';
import { staticLedgerState } from '../ingestion/ledger-state.js';
import { parseTransaction } from '../ingestion/parser.js';
import { updatesSource } from '../streams/source.js';
import type { ConformanceClients } from './clients.js';
import { CheckFailed, type CheckRunner } from './runner.js';

/**
 * The reads the daemon relies on, each through the code that does it in the daemon: ingestion's
 * pruning pre-check and update stream (websocket and HTTP, with ingestion's filter and decoding),
 * reconciliation's active-contracts read, the ledger end ingestion and metrics read, and the
 * events-by-contract-id lookup the deposit effects use.
 */

export interface LedgerFacts {
  ledgerEnd: number | undefined;
  /** The treasury's active holdings at `ledgerEnd` (every instrument). */
  holdings: HoldingRecord[] | undefined;
}

export interface LedgerChecksDeps {
  runner: CheckRunner;
  clients: ConformanceClients;
  treasuryParty: string;
  /** Which instruments' holdings may serve as the probe for the contract and stream checks. */
  instruments: readonly { admin: string; id: string }[];
  /** How long a stream check waits for the element it expects. */
  streamTimeoutMs: number;
}

/** The treasury's smallest unlocked holding of the instrument, if it has one. */
export function smallestUnlocked(holdings: readonly HoldingRecord[], instrument: { admin: string; id: string }): HoldingRecord | undefined {
  return holdings
    .filter((h) => !h.locked && h.instrument.admin === instrument.admin && h.instrument.id === instrument.id)
    .sort((a, b) => compareAmounts(a.amount, b.amount) || (a.contractId < b.contractId ? -1 : 1))[0];
}

const shortId = (id: string) => (id.length > 16 ? `${id.slice(0, 12)}…` : id);

export async function runLedgerChecks(d: LedgerChecksDeps): Promise<LedgerFacts> {
  const { runner: r, clients: c, treasuryParty: party } = d;

  await r.check('version', async () => {
    const v = await c.reads.version();
    return { value: v, detail: v.version };
  });

  const ledgerEnd = await r.check('ledger end', async () => {
    const end = await c.reads.ledgerEnd();
    return { value: end, detail: `offset ${end}` };
  });

  const pruned = await r.check('latest pruned offsets', async () => {
    const p = await c.reads.latestPrunedOffsets();
    return { value: p.participantPrunedUpToInclusive, detail: `participant pruned up to offset ${p.participantPrunedUpToInclusive}` };
  });

  const holdings = await r.checkWith('active contracts', [['ledger end', ledgerEnd]], async (end) => {
    const source = createLedgerHoldingsSource({ reads: c.reads, baseUrl: c.http.baseUrl, auth: c.auth, treasury: party });
    const found = await source.treasuryHoldingsAt(end);
    return { value: found, detail: `${found.length} treasury holdings at offset ${end}` };
  });

  // One holding whose history the next checks follow: its creation event and the update that created it.
  const probe = holdings && d.instruments.map((i) => smallestUnlocked(holdings, i)).find((h) => h !== undefined);
  const probeNeed: [string, HoldingRecord | undefined] = ['an unlocked treasury holding (active contracts)', probe];

  const createdAt = await r.checkWith('events by contract id', [probeNeed], async (h) => {
    const events = await c.reads.eventsByContractId(h.contractId, treasuryEventFormat(party));
    if (events === undefined) throw new CheckFailed(`the ledger answered 404 for active holding ${h.contractId}`);
    if (events.archived !== undefined)
      throw new CheckFailed(
        `holding ${h.contractId}, active at the ledger end, is reported archived at offset ${events.archived.archivedEvent.offset}`,
      );
    const created = events.created?.createdEvent;
    if (created === undefined) throw new CheckFailed(`no created event for active holding ${h.contractId}`);
    const view = HoldingView.safeParse(findInterfaceView(created.interfaceViews, HOLDING_INTERFACE_ID)?.viewValue);
    if (!view.success) throw new CheckFailed(`the created event of ${h.contractId} carries no readable Holding view`);
    if (view.data.owner !== party || compareAmounts(view.data.amount, h.amount) !== 0) {
      throw new CheckFailed(
        `the Holding view of ${h.contractId} says owner ${view.data.owner}, amount ${view.data.amount}; active contracts said ${party}, ${h.amount}`,
      );
    }
    return { value: created.offset, detail: `holding ${shortId(h.contractId)} created at offset ${created.offset}` };
  });

  for (const transport of ['websocket', 'http'] as const) {
    await r.checkWith(
      `updates over ${transport}`,
      [['the creation offset (events by contract id)', createdAt], probeNeed],
      async (offset, h) => {
        // Below the pruning offset the creation is gone: then any element after it will do.
        const prunedUpTo = pruned ?? 0;
        const begin = offset - 1 >= prunedUpTo ? offset - 1 : prunedUpTo;
        const target = offset - 1 >= prunedUpTo ? offset : undefined;
        const el = await firstElement(d, transport, begin, target);
        if (target === undefined)
          return { value: el, detail: `from offset ${begin} (the holding's creation is pruned): first element at offset ${offsetOf(el)}` };
        return { value: el, detail: describeCreation(el, h, offset, party) };
      },
    );
  }

  return { ledgerEnd, holdings };
}

/** The first element of ingestion's update stream after `begin` (at or after `target`, when given). */
function firstElement(
  d: LedgerChecksDeps,
  transport: 'websocket' | 'http',
  begin: number,
  target: number | undefined,
): Promise<IngestElement> {
  const source$ = updatesSource({
    http: d.clients.http,
    client: d.clients.reads,
    party: d.treasuryParty,
    transport,
    resumeOffset: () => begin,
    paused$: of(false),
    // No reconnecting: a conformance check reports the first failure as it came.
    retry: { maxAttempts: 0, baseDelayMs: 0, maxDelayMs: 0, jitter: 0 },
  });
  return firstValueFrom(
    source$.pipe(
      filter((el) => target === undefined || offsetOf(el) >= target),
      timeout({
        first: d.streamTimeoutMs,
        with: () =>
          throwError(
            () =>
              new CheckFailed(
                `no element ${target === undefined ? `after offset ${begin}` : `at offset ${target}`} within ${d.streamTimeoutMs} ms`,
              ),
          ),
      }),
    ),
  );
}

/** The element must be the transaction that created the holding, and ingestion's parser must see the creation. */
function describeCreation(el: IngestElement, h: HoldingRecord, offset: number, party: string): string {
  if (el.kind !== 'transaction' || el.tx.offset !== offset) {
    throw new CheckFailed(
      `expected the transaction at offset ${offset} that created holding ${h.contractId}; the first element at or after it is a ${el.kind} at offset ${offsetOf(el)}`,
    );
  }
  const facts = parseTransaction(el.tx, party, staticLedgerState(), { unknownOwnedHolding: 'report' });
  const created = facts.holdingsCreated.find((x) => x.contractId === h.contractId);
  if (!created)
    throw new CheckFailed(`update ${el.tx.updateId} at offset ${offset} does not show holding ${h.contractId} created for the treasury`);
  if (compareAmounts(created.amount, h.amount) !== 0)
    throw new CheckFailed(
      `update ${el.tx.updateId} creates ${h.contractId} with amount ${created.amount}, active contracts said ${h.amount}`,
    );
  return `update ${shortId(el.tx.updateId)} at offset ${offset} creates holding ${shortId(h.contractId)}`;
}

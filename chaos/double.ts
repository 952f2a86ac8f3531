import { z } from 'zod';
import { requestJson } from './http.js';

/**
 * The ledger double's HTTP control API (`<jsonApiUrl>/sandbox/control/…`), as the chaos campaign
 * uses it: scripted customers, fault rules, the clock, and the double's own books.
 */

const TxSummary = z.object({ updateId: z.string(), offset: z.number().int(), recordTime: z.string() });
export type TxSummary = z.infer<typeof TxSummary>;

const TransferResult = TxSummary.extend({ kind: z.enum(['self', 'direct', 'offer']), transferInstructionCid: z.string().optional() });
export type TransferResult = z.infer<typeof TransferResult>;

const HoldingRow = z.object({
  contractId: z.string(),
  owner: z.string(),
  admin: z.string(),
  instrumentId: z.string(),
  amount: z.string(),
  locked: z.boolean(),
  createdOffset: z.number().int(),
});
export type HoldingRow = z.infer<typeof HoldingRow>;

const TransferRow = z.object({
  updateId: z.string(),
  offset: z.number().int(),
  recordTime: z.string(),
  choice: z.string(),
  sender: z.string(),
  receiver: z.string(),
  amount: z.string(),
  admin: z.string(),
  instrumentId: z.string(),
  memo: z.string().nullable(),
  outcome: z.string(),
});
export type TransferRow = z.infer<typeof TransferRow>;

const InstructionRow = z.object({
  contractId: z.string(),
  sender: z.string(),
  receiver: z.string(),
  amount: z.string(),
  admin: z.string(),
  instrumentId: z.string(),
  memo: z.string().nullable(),
  executeBefore: z.string(),
});
export type InstructionRow = z.infer<typeof InstructionRow>;

const LedgerEnd = z.object({ offset: z.number().int(), recordTime: z.string(), prunedUpTo: z.number().int() });
export type LedgerEnd = z.infer<typeof LedgerEnd>;

/** What the fault injector accepts (a subset of src/sandbox/wire/faults.ts's FaultRule, as JSON). */
export type FaultAction =
  | { kind: 'http503' }
  | { kind: 'http429' }
  | { kind: 'backpressure' }
  | { kind: 'delay'; ms: number }
  | { kind: 'dropWebsocket'; afterFrames: number }
  | {
      kind: 'rejectSubmission';
      code?: 'LOCAL_VERDICT_LOCKED_CONTRACTS' | 'PARTICIPANT_BACKPRESSURE' | 'NOT_SEQUENCED_TIMEOUT';
      sync?: boolean;
    }
  | { kind: 'commitLoseResponse'; mode: 'reset' | 'timeout' };
export interface FaultRuleInput {
  match: { operation: string };
  action: FaultAction;
  times?: number;
  rate?: number;
}

export interface DoubleConnection {
  jsonApiUrl: string;
  controlToken: string;
}

export class DoubleControl {
  private readonly base: string;
  constructor(private readonly c: DoubleConnection) {
    this.base = `${c.jsonApiUrl}/sandbox/control`;
  }

  private async call<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>> {
    const r = await requestJson({
      method,
      url: `${this.base}${path}`,
      token: this.c.controlToken,
      schema,
      ...(body !== undefined ? { body } : {}),
      timeoutMs: 30_000,
    });
    return r.body;
  }

  async createCustomer(req: { hint: string; preapproval: boolean; fund: { instrument: string; amount: string }[] }): Promise<string> {
    return (await this.call('POST', '/customers', z.object({ party: z.string() }), req)).party;
  }

  mint(party: string, instrument: string, amount: string): Promise<TxSummary> {
    return this.call('POST', '/mint', TxSummary, { party, instrument, amount });
  }

  transfer(req: {
    from: string;
    to: string;
    instrument: string;
    amount: string;
    memo: string | null;
    mode: 'auto' | 'offer';
  }): Promise<TransferResult> {
    return this.call('POST', '/transfers', TransferResult, req);
  }

  instruction(cid: string, choice: 'accept' | 'reject' | 'withdraw'): Promise<TxSummary> {
    return this.call('POST', `/instructions/${encodeURIComponent(cid)}/${choice}`, TxSummary, {});
  }

  async addFault(rule: FaultRuleInput): Promise<string> {
    return (await this.call('POST', '/faults', z.object({ id: z.string() }), rule)).id;
  }

  /** Rules added so far (exhausted ones stay listed) and how often each fired. */
  async faults(): Promise<{ id: string; fired: number; kind: string }[]> {
    const r = await this.call(
      'GET',
      '/faults',
      z.object({
        faults: z.array(z.object({ id: z.string(), fired: z.number().int(), rule: z.object({ action: z.object({ kind: z.string() }) }) })),
      }),
    );
    return r.faults.map((f) => ({ id: f.id, fired: f.fired, kind: f.rule.action.kind }));
  }

  /** A backup of the double's node now (control POST /node/backup). */
  async backupNode(): Promise<{ backupId: string; ledgerEnd: number }> {
    return this.call('POST', '/node/backup', z.object({ backupId: z.string(), ledgerEnd: z.number().int() }), {});
  }

  /** The node restored from that backup, the updates after it redelivered at offsets moved by `offsetShift`. */
  async restoreNode(backupId: string, offsetShift: number): Promise<{ ledgerEnd: number; backupLedgerEnd: number }> {
    return this.call('POST', '/node/restore', z.object({ ledgerEnd: z.number().int(), backupLedgerEnd: z.number().int() }), {
      backupId,
      redeliver: true,
      offsetShift,
    });
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults', z.object({}));
  }

  async dropWebsockets(): Promise<void> {
    await this.call('POST', '/websockets/drop', z.object({}), {});
  }

  async releaseCommits(): Promise<void> {
    await this.call('POST', '/commits/release', z.object({}), {});
  }

  async advanceClock(ms: number): Promise<string> {
    return (await this.call('POST', '/clock/advance', z.object({ time: z.string() }), { ms })).time;
  }

  async useRealTime(): Promise<void> {
    await this.call('POST', '/clock/real', z.object({ time: z.string(), mode: z.string() }), {});
  }

  async expireDue(): Promise<void> {
    await this.call('POST', '/expire', z.object({ expired: z.array(TxSummary) }), {});
  }

  async holdings(party: string): Promise<HoldingRow[]> {
    return (await this.call('GET', `/books/holdings?party=${encodeURIComponent(party)}`, z.object({ holdings: z.array(HoldingRow) })))
      .holdings;
  }

  async transfers(): Promise<TransferRow[]> {
    return (await this.call('GET', '/books/transfers', z.object({ transfers: z.array(TransferRow) }))).transfers;
  }

  async instructions(party?: string): Promise<InstructionRow[]> {
    const q = party === undefined ? '' : `?party=${encodeURIComponent(party)}`;
    return (await this.call('GET', `/books/instructions${q}`, z.object({ instructions: z.array(InstructionRow) }))).instructions;
  }

  ledgerEnd(): Promise<LedgerEnd> {
    return this.call('GET', '/books/ledger-end', LedgerEnd);
  }
}

import { Rng } from '../src/sandbox/util/rng.js';
import type { DaemonApi, WithdrawalRequest } from './daemon-api.js';
import type { DoubleControl } from './double.js';
import { HttpError, isUnavailable } from './http.js';
import type { SandboxDetails } from './processes.js';

/**
 * What the world does to the exchange during a campaign: scripted customers deposit (1-step and
 * 2-step, with a known memo, an unknown one or none), answer the treasury's 2-step offers (accept
 * or reject) and sometimes withdraw their own deposit offers; the exchange requests withdrawals
 * (unique ids, receivers with and without a preapproval), re-sending each request until the daemon
 * acknowledges it. Everything done is recorded for the invariant checks.
 */

export type MemoKind = 'known' | 'unknown' | 'none';

export interface DepositMade {
  customer: string;
  instrument: string;
  amount: string;
  memo: string | null;
  memoKind: MemoKind;
  kind: 'direct' | 'offer';
  updateId: string;
  transferInstructionCid?: string;
}

export interface WithdrawalMade {
  request: WithdrawalRequest;
  /** The daemon answered 200/201 at least once: it must exist from then on. */
  acknowledged: boolean;
  sends: number;
  /** A 4xx the daemon answered (other than unavailability): the request was refused. */
  refused?: string;
}

export interface Customer {
  party: string;
  preapproval: boolean;
}

export interface WorkloadRecord {
  customers: Customer[];
  memos: string[];
  deposits: DepositMade[];
  withdrawals: Map<string, WithdrawalMade>;
  /** Treasury offers (withdrawals) the customers accepted / rejected, by instruction cid → memo. */
  accepted: Map<string, string | null>;
  rejected: Map<string, string | null>;
  /** Deposit offers the customers withdrew, by instruction cid. */
  withdrawnOffers: Set<string>;
  /** Update ids of mints to the treasury (the daemon records them as unattributed deposits). */
  treasuryMints: Set<string>;
  /** Control API calls that failed (a customer action the double refused, e.g. an accept race). */
  refusedActions: number;
}

const AMULET = 'Amulet';
const UTK = 'UTK';

function amount(rng: Rng, min: number, max: number): string {
  const whole = min + rng.int(max - min);
  return `${whole}.${String(rng.int(100)).padStart(2, '0')}`;
}

export class Workload {
  readonly record: WorkloadRecord;
  private readonly rng: Rng;
  private nextWithdrawal = 1;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly instruments: Map<string, { admin: string; id: string }>;

  constructor(
    private readonly double: DoubleControl,
    private readonly sandbox: SandboxDetails,
    seed: string,
    private readonly api: () => DaemonApi | undefined,
  ) {
    this.rng = new Rng(`chaos-workload:${seed}`);
    this.record = {
      customers: [],
      memos: [],
      deposits: [],
      withdrawals: new Map(),
      accepted: new Map(),
      rejected: new Map(),
      withdrawnOffers: new Set(),
      treasuryMints: new Set(),
      refusedActions: 0,
    };
    this.instruments = new Map(sandbox.instruments.map((i) => [i.id, { admin: i.admin, id: i.id }]));
  }

  private get treasury(): string {
    return this.sandbox.treasury.party;
  }

  /** Customers, and treasury holdings split into many (so that withdrawals can run side by side). */
  async setup(opts: { customers: number; accounts: number }): Promise<void> {
    for (let i = 0; i < opts.customers; i++) {
      const preapproval = i % 2 === 0;
      const party = await this.double.createCustomer({
        hint: `chaos-customer-${i + 1}`,
        preapproval,
        fund: [
          { instrument: AMULET, amount: '1000000' },
          { instrument: UTK, amount: '1000000' },
        ],
      });
      this.record.customers.push({ party, preapproval });
    }
    for (let i = 0; i < 30; i++) this.record.treasuryMints.add((await this.double.mint(this.treasury, AMULET, '2000')).updateId);
    for (let i = 0; i < 15; i++) this.record.treasuryMints.add((await this.double.mint(this.treasury, UTK, '2000')).updateId);
    for (let i = 0; i < opts.accounts; i++) this.record.memos.push(`chaos-acct-${i + 1}`);
  }

  /** Opens the deposit accounts through the daemon's API (it must be up). */
  async openAccounts(api: DaemonApi): Promise<void> {
    for (const memo of this.record.memos) await api.openAccount(`customer-${memo}`, memo);
  }

  start(tickMs: number): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick().finally(() => {
        this.busy = false;
      });
    }, tickMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
  }

  private async tick(): Promise<void> {
    const r = this.rng.float();
    try {
      if (r < 0.35) await this.deposit();
      else if (r < 0.7) this.newWithdrawal();
      else if (r < 0.9) await this.answerOffer(this.rng.float() < 0.8 ? 'accept' : 'reject');
      else await this.withdrawOwnOffer(false);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      this.record.refusedActions += 1;
    }
    await this.sendPending(4);
  }

  private pick<T>(xs: readonly T[]): T {
    const x = xs[this.rng.int(xs.length)];
    if (x === undefined) throw new Error('pick from an empty list');
    return x;
  }

  private async deposit(): Promise<void> {
    const customer = this.pick(this.record.customers);
    const instrument = this.rng.float() < 0.6 ? AMULET : UTK;
    const mode = instrument === AMULET && this.rng.float() < 0.6 ? 'auto' : 'offer';
    const m = this.rng.float();
    const memoKind: MemoKind = m < 0.7 ? 'known' : m < 0.9 ? 'unknown' : 'none';
    const memo = memoKind === 'known' ? this.pick(this.record.memos) : memoKind === 'unknown' ? `nobody-${this.rng.hex(4)}` : null;
    const amt = amount(this.rng, 1, 200);
    const res = await this.double.transfer({ from: customer.party, to: this.treasury, instrument, amount: amt, memo, mode });
    this.record.deposits.push({
      customer: customer.party,
      instrument,
      amount: amt,
      memo,
      memoKind,
      kind: res.kind === 'direct' ? 'direct' : 'offer',
      updateId: res.updateId,
      ...(res.transferInstructionCid !== undefined ? { transferInstructionCid: res.transferInstructionCid } : {}),
    });
  }

  private newWithdrawal(): void {
    const customer = this.pick(this.record.customers);
    const id = this.rng.float() < 0.7 ? AMULET : UTK;
    const instrument = this.instruments.get(id);
    if (!instrument) throw new Error(`the double has no ${id}`);
    const withdrawalId = `chaos-w-${this.nextWithdrawal++}`;
    this.record.withdrawals.set(withdrawalId, {
      request: {
        withdrawalId,
        account: `customer-${customer.party.slice(0, 20)}`,
        instrument,
        amount: amount(this.rng, 1, 50),
        receiver: customer.party,
      },
      acknowledged: false,
      sends: 0,
    });
  }

  /** Sends (again) up to `max` requests the daemon has not acknowledged yet. */
  async sendPending(max: number): Promise<number> {
    const api = this.api();
    if (!api) return 0;
    let sent = 0;
    for (const w of this.record.withdrawals.values()) {
      if (w.acknowledged || w.refused !== undefined) continue;
      if (sent >= max) break;
      sent += 1;
      w.sends += 1;
      try {
        await api.requestWithdrawal(w.request);
        w.acknowledged = true;
      } catch (e) {
        if (isUnavailable(e)) return sent;
        if (e instanceof HttpError) w.refused = e.message;
        else throw e;
      }
    }
    return sent;
  }

  /**
   * After a restore: the requests the daemon had acknowledged whose rows the backup does not have.
   * The exchange re-sends them (idempotent on the withdrawal id) as it would any request it holds
   * no outcome for; returns their ids.
   */
  forgetLostRequests(kept: ReadonlySet<string>): string[] {
    const lost: string[] = [];
    for (const [id, w] of this.record.withdrawals) {
      if (!w.acknowledged || kept.has(id)) continue;
      w.acknowledged = false;
      lost.push(id);
    }
    return lost;
  }

  unacknowledged(): number {
    let n = 0;
    for (const w of this.record.withdrawals.values()) if (!w.acknowledged && w.refused === undefined) n += 1;
    return n;
  }

  /** Treasury offers waiting for a customer. */
  async treasuryOffers(): Promise<{ contractId: string; memo: string | null }[]> {
    const mine = new Set(this.record.customers.map((c) => c.party));
    return (await this.double.instructions()).filter((i) => i.sender === this.treasury && mine.has(i.receiver));
  }

  private async answerOffer(choice: 'accept' | 'reject'): Promise<void> {
    const offers = await this.treasuryOffers();
    if (offers.length === 0) return;
    await this.answer(this.pick(offers), choice);
  }

  private async answer(offer: { contractId: string; memo: string | null }, choice: 'accept' | 'reject'): Promise<void> {
    await this.double.instruction(offer.contractId, choice);
    (choice === 'accept' ? this.record.accepted : this.record.rejected).set(offer.contractId, offer.memo);
  }

  /** A customer takes back one of its deposit offers (racing the treasury's accept when the memo is known). */
  private async withdrawOwnOffer(unknownOnly: boolean): Promise<boolean> {
    const mine = new Set(this.record.customers.map((c) => c.party));
    const known = new Set(this.record.memos);
    const offers = (await this.double.instructions()).filter(
      (i) => i.receiver === this.treasury && mine.has(i.sender) && (!unknownOnly || i.memo === null || !known.has(i.memo)),
    );
    if (offers.length === 0) return false;
    const o = this.pick(offers);
    await this.double.instruction(o.contractId, 'withdraw');
    this.record.withdrawnOffers.add(o.contractId);
    return true;
  }

  /**
   * Drain: customers answer every treasury offer (mostly accept) and take back about half of their
   * unattributable deposit offers (the rest stay waiting on them, as in real life).
   */
  async settle(): Promise<void> {
    for (const o of await this.treasuryOffers()) {
      try {
        await this.answer(o, this.rng.float() < 0.8 ? 'accept' : 'reject');
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        this.record.refusedActions += 1;
      }
    }
    const mine = new Set(this.record.customers.map((c) => c.party));
    const known = new Set(this.record.memos);
    for (const o of await this.double.instructions()) {
      if (o.receiver !== this.treasury || !mine.has(o.sender) || (o.memo !== null && known.has(o.memo))) continue;
      if (this.rng.float() < 0.5) continue;
      try {
        await this.double.instruction(o.contractId, 'withdraw');
        this.record.withdrawnOffers.add(o.contractId);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        this.record.refusedActions += 1;
      }
    }
  }
}

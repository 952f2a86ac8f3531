import type { Logger } from '../logger.js';
import type { SandboxControl } from './control/control.js';
import { LedgerError } from './engine/errors.js';
import { Rng } from './util/rng.js';

export interface CustomerScriptOptions {
  readonly treasury: string;
  /** Memos the exchange knows (deposit account ids); deposits use them unless scripted otherwise. */
  readonly memos: readonly string[];
  /** Time between two actions. */
  readonly intervalMs: number;
  readonly customers?: number;
  readonly seed?: string;
  readonly logger?: Logger;
}

type Action =
  'deposit-1step' | 'deposit-2step' | 'deposit-wrong-memo' | 'deposit-no-memo' | 'withdraw-own-offer' | 'answer-treasury-offer' | 'top-up';

/** Relative frequency of each action: mostly good deposits, a steady trickle of the awkward cases. */
const WEIGHTS: readonly [Action, number][] = [
  ['deposit-1step', 5],
  ['deposit-2step', 4],
  ['deposit-wrong-memo', 1],
  ['deposit-no-memo', 1],
  ['withdraw-own-offer', 1],
  ['answer-treasury-offer', 4],
  ['top-up', 1],
];

/**
 * Scripted customers living on the double: at a gentle pace they deposit to the treasury
 * (1-step Canton Coin, 2-step registry token; right memo, unknown memo, no memo), withdraw
 * their own pending offers, and accept (mostly) or reject the treasury's offers to them.
 */
export class CustomerScript {
  private readonly rng: Rng;
  private timer: NodeJS.Timeout | undefined;
  readonly customers: string[] = [];
  readonly log: { action: Action; detail: string }[] = [];

  constructor(
    private readonly control: SandboxControl,
    private readonly opts: CustomerScriptOptions,
  ) {
    this.rng = new Rng(opts.seed === undefined ? undefined : `customers:${opts.seed}`);
  }

  /** Creates and funds the customers (once); a restored ledger's scripted customers are reused. */
  setUp(): void {
    if (this.customers.length > 0) return;
    const n = this.opts.customers ?? 3;
    const known = [...this.control.engine.ledger.parties.values()]
      .filter((p) => /^customer-\d+-[0-9a-f]+$/.test(p.hint))
      .map((p) => p.party);
    this.customers.push(...known.slice(0, n));
    for (let i = this.customers.length; i < n; i++) {
      const { party } = this.control.createCustomer({
        hint: `customer-${i + 1}-${this.rng.hex(2)}`,
        preapproval: i % 2 === 0,
        fund: [
          { instrument: 'Amulet', amount: '10000' },
          { instrument: 'UTK', amount: '5000' },
        ],
      });
      this.customers.push(party);
    }
  }

  start(): void {
    this.setUp();
    if (this.timer) return;
    this.timer = setInterval(() => this.step(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.rng.int(xs.length)];
  }

  private chooseAction(): Action {
    const total = WEIGHTS.reduce((s, [, w]) => s + w, 0);
    let r = this.rng.int(total);
    for (const [a, w] of WEIGHTS) {
      if (r < w) return a;
      r -= w;
    }
    return 'deposit-1step';
  }

  private amount(): string {
    return `${1 + this.rng.int(200)}.${String(this.rng.int(100)).padStart(2, '0')}`;
  }

  /** One scripted action; never throws (a refused action is logged and skipped). */
  step(forced?: Action): void {
    this.setUp();
    const action = forced ?? this.chooseAction();
    const who = this.pick(this.customers) ?? '';
    const memo = this.pick(this.opts.memos) ?? 'unknown-account';
    try {
      let detail = '';
      switch (action) {
        case 'deposit-1step':
          detail = JSON.stringify(
            this.control.transfer({ from: who, to: this.opts.treasury, instrument: 'Amulet', amount: this.amount(), memo }),
          );
          break;
        case 'deposit-2step':
          detail = JSON.stringify(
            this.control.transfer({ from: who, to: this.opts.treasury, instrument: 'UTK', amount: this.amount(), memo, mode: 'offer' }),
          );
          break;
        case 'deposit-wrong-memo':
          detail = JSON.stringify(
            this.control.transfer({
              from: who,
              to: this.opts.treasury,
              instrument: 'Amulet',
              amount: this.amount(),
              memo: `no-such-account-${this.rng.hex(3)}`,
            }),
          );
          break;
        case 'deposit-no-memo':
          detail = JSON.stringify(
            this.control.transfer({ from: who, to: this.opts.treasury, instrument: 'Amulet', amount: this.amount(), memo: null }),
          );
          break;
        case 'withdraw-own-offer': {
          const mine = this.control.books
            .instructions()
            .filter((i) => this.customers.includes(i.sender) && i.receiver === this.opts.treasury);
          const target = this.pick(mine);
          if (target) detail = JSON.stringify(this.control.withdraw(target.contractId));
          break;
        }
        case 'answer-treasury-offer': {
          const offers = this.control.books
            .instructions()
            .filter((i) => i.sender === this.opts.treasury && this.customers.includes(i.receiver));
          const target = this.pick(offers);
          if (target)
            detail = JSON.stringify(
              this.rng.float() < 0.8 ? this.control.accept(target.contractId) : this.control.reject(target.contractId),
            );
          break;
        }
        case 'top-up':
          detail = JSON.stringify(this.control.mint(who, this.rng.float() < 0.5 ? 'Amulet' : 'UTK', '5000'));
          break;
      }
      if (detail) {
        this.log.push({ action, detail });
        this.opts.logger?.info({ action, customer: who }, 'sandbox customer');
      }
    } catch (e) {
      if (!(e instanceof LedgerError)) this.opts.logger?.warn({ err: e, action }, 'sandbox customer action failed');
      else this.opts.logger?.debug({ code: e.code, action }, 'sandbox customer action refused');
    }
  }
}

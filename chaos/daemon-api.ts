import { z } from 'zod';
import { HttpError, requestJson } from './http.js';

/** The daemon's HTTP API as the exchange uses it in a campaign (bodies parsed with zod). */

const Instrument = z.object({ admin: z.string(), id: z.string() });

const Account = z.object({ accountId: z.string(), memo: z.string(), customerRef: z.string() });

const Withdrawal = z.object({
  withdrawalId: z.string(),
  status: z.string(),
  amount: z.string(),
  receiver: z.string(),
  instrument: Instrument,
});

const Bucket = z.object({ count: z.number().int(), amount: z.string() });
const HoldingsSummary = z.object({
  checkpoint: z.object({ offset: z.number().int(), recordTime: z.string().nullable() }).nullable(),
  items: z.array(
    z.object({
      owner: z.string(),
      instrument: Instrument,
      count: z.number().int(),
      total: z.string(),
      locked: Bucket,
      reserved: Bucket,
      plannedForSelfTransfer: Bucket,
      free: Bucket,
    }),
  ),
});
export type HoldingsSummary = z.infer<typeof HoldingsSummary>;

export interface WithdrawalRequest {
  withdrawalId: string;
  account: string;
  instrument: { admin: string; id: string };
  amount: string;
  receiver: string;
}

export class DaemonApi {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async onboardInstrument(i: {
    admin: string;
    id: string;
    registryUrl: string;
    transferPolicy: 'direct-or-offer' | 'offer-only';
    utxoPolicy: Record<string, string | number>;
    feeReserve?: { rate: string; flat: string };
  }): Promise<void> {
    await requestJson({
      method: 'POST',
      url: `${this.url}/v1/instruments`,
      token: this.token,
      body: i,
      schema: z.object({ admin: z.string(), id: z.string() }),
    });
  }

  async openAccount(customerRef: string, memo: string): Promise<z.infer<typeof Account>> {
    return (
      await requestJson({ method: 'POST', url: `${this.url}/v1/accounts`, token: this.token, body: { customerRef, memo }, schema: Account })
    ).body;
  }

  /** Idempotent on withdrawalId: 201 the first time, 200 for a repeat of the same body. */
  async requestWithdrawal(w: WithdrawalRequest): Promise<{ status: number; withdrawal: z.infer<typeof Withdrawal> }> {
    const r = await requestJson({
      method: 'POST',
      url: `${this.url}/v1/withdrawals`,
      token: this.token,
      body: w,
      schema: Withdrawal,
      timeoutMs: 10_000,
    });
    return { status: r.status, withdrawal: r.body };
  }

  /** GET /v1/ingestion: state and detail (a continuity failure names itself there). */
  async ingestion(): Promise<{ state: string; detail: string | null; checkpointOffset: number | null }> {
    return (
      await requestJson({
        url: `${this.url}/v1/ingestion`,
        token: this.token,
        schema: z.object({ state: z.string(), detail: z.string().nullable(), checkpointOffset: z.number().int().nullable() }),
        timeoutMs: 10_000,
      })
    ).body;
  }

  /** `cxi ingestion resync` as the operator runs it after a validator restore: what it did, in sentences. */
  async resync(): Promise<string[]> {
    // As an operator would: again after an answer that says the ledger could not be read (503).
    for (let attempt = 1; ; attempt++) {
      try {
        return (
          await requestJson({
            method: 'POST',
            url: `${this.url}/v1/ingestion/resync`,
            token: this.token,
            body: {},
            schema: z.object({ summary: z.array(z.string()) }),
            timeoutMs: 60_000,
          })
        ).body.summary;
      } catch (e) {
        if (attempt >= 5 || !(e instanceof HttpError) || e.status !== 503) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async holdings(): Promise<HoldingsSummary> {
    return (await requestJson({ url: `${this.url}/v1/holdings`, token: this.token, schema: HoldingsSummary })).body;
  }
}

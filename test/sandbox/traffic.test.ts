import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { trafficCostOf } from '../../src/sandbox/engine/traffic.js';
import { TreasuryWallet, type Prepared } from './support/treasury-wallet.js';
import { WireClient } from './support/wire-client.js';

/**
 * The participant's synchronizer traffic (src/sandbox/README.md "Traffic"): prepare estimates the
 * cost as Canton's CostEstimation; a spent balance refuses submissions as Canton 3.4 does (the
 * send refused: SEQUENCER_REQUEST_FAILED carrying SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT; a refusal
 * after ordering: SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT); a top-up by control call lets them through.
 * Every body is checked against the OpenAPI by the wire client.
 */

describe('ledger double: traffic', () => {
  let sb: Sandbox;
  let client: WireClient;
  let wallet: TreasuryWallet;
  let carol: string;

  beforeAll(async () => {
    sb = await startSandbox({
      seed: 'traffic',
      clock: { mode: 'manual', start: '2026-02-01T00:00:00Z' },
      commitDelayMs: 5,
      treasury: { fund: [100, 100, 100, 100, 100].map((n) => ({ instrument: 'Amulet', amount: String(n) })) },
    });
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    wallet = new TreasuryWallet(sb, client);
    carol = sb.control.createCustomer({ hint: 'carol', preapproval: true }).party;
  });
  afterAll(() => sb.stop());

  const isoIn = (ms: number) => new Date(Date.parse(sb.control.clockNow().time) + ms).toISOString();
  let used = 0;
  const nextInput = () => {
    const h = wallet.holdings('Amulet')[used++];
    if (!h) throw new Error('no holding left');
    return h.contractId;
  };
  const prepare = async (extra: Record<string, unknown> = {}) => {
    const { prepared } = await wallet.prepareTransfer({
      receiver: carol,
      instrumentId: 'Amulet',
      amount: '1',
      memo: `m-${used}`,
      inputs: [nextInput()],
      maxRecordTime: isoIn(60_000),
    });
    expect(prepared.status).toBe(200);
    return { ...prepared.body, ...extra } as Prepared & {
      costEstimation?: {
        totalTrafficCostEstimation: number;
        confirmationRequestTrafficCostEstimation: number;
        confirmationResponseTrafficCostEstimation: number;
        estimationTimestamp: string;
      };
    };
  };

  it('estimates the cost of a prepared transaction as CostEstimation, unless the hints turn it off', async () => {
    const p = await prepare();
    const bytes = Buffer.from(p.preparedTransaction, 'base64').length;
    const cost = trafficCostOf(bytes, 1);
    expect(p.costEstimation).toEqual({
      estimationTimestamp: sb.control.clockNow().time,
      confirmationRequestTrafficCostEstimation: cost.request,
      confirmationResponseTrafficCostEstimation: cost.response,
      totalTrafficCostEstimation: cost.total,
    });
    expect(cost.total).toBe(cost.request + cost.response);
    // The request pays per recipient (readVsWriteScalingFactor 2 %), and grows with the transaction.
    expect(cost.request).toBeGreaterThan(bytes);
    expect(trafficCostOf(bytes * 2, 1).total).toBeGreaterThan(cost.total);

    const input = wallet.holdings('Amulet')[used]!.contractId;
    const off = await wallet.prepareTransfer({
      receiver: carol,
      instrumentId: 'Amulet',
      amount: '1',
      inputs: [input],
      prepareFields: { estimateTrafficCost: { disabled: true } },
    });
    expect(off.prepared.status).toBe(200);
    expect(off.prepared.body).not.toHaveProperty('costEstimation');
    // The signatures expected are what the request pays for: two keys cost more than one.
    const two = await wallet.prepareTransfer({
      receiver: carol,
      instrumentId: 'Amulet',
      amount: '1',
      inputs: [input],
      prepareFields: { estimateTrafficCost: { expectedSignatures: ['SIGNING_ALGORITHM_SPEC_ED25519', 'SIGNING_ALGORITHM_SPEC_ED25519'] } },
    });
    const twoBody = two.prepared.body as unknown as { preparedTransaction: string; costEstimation: { totalTrafficCostEstimation: number } };
    expect(twoBody.costEstimation.totalTrafficCostEstimation).toBe(
      trafficCostOf(Buffer.from(twoBody.preparedTransaction, 'base64').length, 2).total,
    );
  });

  it('spent traffic: execute is accepted and completes refused (SEQUENCER_REQUEST_FAILED); executeAndWait answers 409; nothing is charged', async () => {
    sb.control.setTraffic(0);
    const before = sb.control.traffic();
    const p = await prepare();
    const ex = await wallet.execute(p);
    expect(ex).toMatchObject({ status: 200, body: {} });
    const completion = await wallet.completion(ex.submissionId);
    expect(completion).toMatchObject({
      status: { code: 10, message: expect.stringMatching(/^SEQUENCER_REQUEST_FAILED\(2,[^)]*\): Failed to send command$/) },
    });
    expect(completion).not.toHaveProperty('updateId');

    const waited = await wallet.execute(p, { path: '/v2/interactive-submission/executeAndWait' });
    expect(waited.status).toBe(409);
    expect(waited.body).toMatchObject({
      code: 'SEQUENCER_REQUEST_FAILED',
      cause: 'Failed to send command',
      errorCategory: 2,
      grpcCodeValue: 10,
      definiteAnswer: true,
      context: { sendError: expect.stringContaining('SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT(9,') },
    });
    expect((waited.body['context'] as Record<string, string>)['sendError']).toContain(
      `trafficCost = ${p.costEstimation!.totalTrafficCostEstimation}`,
    );
    expect(sb.control.traffic()).toEqual({ ...before, refusals: before.refusals + 2 });
    expect(sb.control.books.transfers(`m-${used - 1}`)).toHaveLength(0);

    // Bought: the very same signed transaction now commits, charged its estimate.
    sb.control.refillTraffic(p.costEstimation!.totalTrafficCostEstimation);
    const ok = await wallet.execute(p, { path: '/v2/interactive-submission/executeAndWait' });
    expect(ok.status).toBe(200);
    expect(sb.control.traffic()).toMatchObject({ consumed: before.consumed + p.costEstimation!.totalTrafficCostEstimation, available: 0 });
  });

  it('two submissions the balance covers one at a time: the second is refused after ordering (SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT)', async () => {
    const a = await prepare();
    const b = await prepare();
    const t = sb.control.traffic();
    sb.control.setTraffic(
      t.consumed + Math.max(a.costEstimation!.totalTrafficCostEstimation, b.costEstimation!.totalTrafficCostEstimation),
    );
    sb.control.holdCommits();
    const ea = await wallet.execute(a);
    const eb = await wallet.execute(b);
    expect([ea.status, eb.status]).toEqual([200, 200]);
    await sb.control.releaseCommits();
    expect(await wallet.completion(ea.submissionId)).toMatchObject({ status: { code: 0 } });
    expect(await wallet.completion(eb.submissionId)).toMatchObject({
      status: { code: 9, message: expect.stringMatching(/^SEQUENCER_NOT_ENOUGH_TRAFFIC_CREDIT\(9,[^)]*\): AboveTrafficLimit\(/) },
    });
    sb.control.setTraffic(null);
  });

  it('the control API reads, sets and refills the balance', async () => {
    const control = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${sb.controlUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${sb.controlToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const consumed = sb.control.traffic().consumed;
    expect((await control('POST', '/traffic', { limit: consumed + 10 })).body).toMatchObject({ limit: consumed + 10, available: 10 });
    expect((await control('POST', '/traffic', { add: 5 })).body).toMatchObject({ limit: consumed + 15, available: 15 });
    expect((await control('GET', '/traffic')).body).toMatchObject({ consumed, available: 15 });
    expect((await control('POST', '/traffic', { limit: null })).body).toMatchObject({ limit: null, available: null });
    expect((await control('POST', '/traffic', { limit: -1 })).status).toBe(400);
  });
});

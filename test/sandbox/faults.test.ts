import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { updatesRequest } from './support/requests.js';
import { TreasuryWallet } from './support/treasury-wallet.js';
import { WireClient, WsStream } from './support/wire-client.js';

describe('ledger double: fault injection', () => {
  let sb: Sandbox;
  let client: WireClient;
  let wallet: TreasuryWallet;
  let treasury: string;
  let customer: string;

  beforeAll(async () => {
    sb = await startSandbox({
      seed: 'faults',
      clock: { mode: 'manual' },
      commitDelayMs: 5,
      treasury: { fund: Array.from({ length: 8 }, () => ({ instrument: 'Amulet', amount: '100' })) },
    });
    treasury = sb.treasury?.party ?? '';
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    wallet = new TreasuryWallet(sb, client);
    customer = sb.control.createCustomer({ hint: 'payee', preapproval: true }).party;
  });
  afterAll(() => sb.stop());

  const withdrawal = async (memo: string) => {
    const [input] = wallet.holdings('Amulet');
    const { prepared } = await wallet.prepareTransfer({
      receiver: customer,
      instrumentId: 'Amulet',
      amount: '1',
      memo,
      inputs: [input?.contractId ?? ''],
    });
    expect(prepared.status).toBe(200);
    return prepared.body;
  };

  it('answers 503 (UNAVAILABLE, retryable) once, then serves normally', async () => {
    sb.control.addFault({ match: { path: '/v2/state/ledger-end' }, action: { kind: 'http503' }, once: true });
    const r1 = await client.get('/v2/state/ledger-end');
    expect(r1.status).toBe(503);
    expect(r1.body).toMatchObject({ code: 'SERVICE_NOT_RUNNING', errorCategory: 1, grpcCodeValue: 14 });
    expect((await client.get('/v2/state/ledger-end')).status).toBe(200);
    expect(sb.control.faults().find((f) => f.rule.action.kind === 'http503')).toMatchObject({ remaining: 0, fired: 1 });
  });

  it("answers a proxy's 429 a given number of times, matched by operation; backpressure as Canton: 409, category 2", async () => {
    sb.control.addFault({ match: { operation: 'version' }, action: { kind: 'http429' }, times: 2 });
    const answers = [];
    for (let i = 0; i < 3; i++)
      answers.push(await fetch(`${sb.jsonApiUrl}/v2/version`, { headers: { authorization: `Bearer ${client.token}` } }));
    expect(answers.map((a) => a.status)).toEqual([429, 429, 200]);
    expect(answers[0]?.headers.get('content-type')).toMatch(/^text\/plain/);
    sb.control.addFault({ match: { operation: 'version' }, action: { kind: 'backpressure' }, once: true });
    const busy = await client.get('/v2/version');
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ code: 'PARTICIPANT_BACKPRESSURE', errorCategory: 2, grpcCodeValue: 10 });
  });

  it('delays responses', async () => {
    const id = sb.control.addFault({ match: { method: 'GET', path: '/v2/authenticated-user' }, action: { kind: 'delay', ms: 300 } });
    const t0 = Date.now();
    expect((await client.get('/v2/authenticated-user')).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    sb.control.removeFault(id);
  });

  it('fires by rate from a seeded generator: same seed, same pattern', async () => {
    const pattern = async (s: Sandbox) => {
      const c = new WireClient(s.jsonApiUrl, await s.tokenFor('exchange'));
      s.control.addFault({ match: { path: '/v2/state/latest-pruned-offsets' }, action: { kind: 'http503' }, rate: 0.5 });
      const out: number[] = [];
      for (let i = 0; i < 30; i++) out.push((await c.get('/v2/state/latest-pruned-offsets')).status);
      return out;
    };
    const other = await startSandbox({ seed: 'faults', treasury: { onboarding: 'direct' } });
    try {
      const [a, b] = [await pattern(sb), await pattern(other)];
      expect(a).toEqual(b);
      expect(a.filter((s) => s === 503).length).toBeGreaterThan(5);
      expect(a.filter((s) => s === 200).length).toBeGreaterThan(5);
    } finally {
      await other.stop();
      sb.control.clearFaults();
    }
  });

  it('drops a websocket stream after N frames (no close frame)', async () => {
    sb.control.addFault({ match: { operation: 'updates.ws' }, action: { kind: 'dropWebsocket', afterFrames: 2 }, once: true });
    const ws = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(treasury, 0));
    const frames = await ws.untilClosed();
    expect(frames).toHaveLength(2);
    expect(ws.closeCode).toBe(1006);
    // the next subscription is not affected and resumes from the last offset seen
    const ws2 = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(treasury, 0));
    await ws2.until((f) => f.length > 2);
    ws2.close();
  });

  it('refuses a websocket upgrade with 503, and can cut every open stream', async () => {
    sb.control.addFault({ match: { path: '/v2/updates', method: 'GET' }, action: { kind: 'http503' }, once: true });
    const refused = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(treasury, 0));
    await expect(refused.opened).rejects.toMatchObject({ status: 503 });
    const open = new WsStream(sb.jsonApiUrl, '/v2/updates', client.token, updatesRequest(treasury, 0));
    await open.until((f) => f.length > 0);
    sb.control.dropWebsockets();
    await open.untilClosed();
    expect(open.closeCode).toBe(1006);
  });

  it('rejects a submission with a definite answer: as a failed completion, or at once', async () => {
    sb.control.addFault({ match: { operation: 'execute' }, action: { kind: 'rejectSubmission' }, once: true });
    const p = await withdrawal('wd-rejected');
    const ex = await wallet.execute(p);
    expect(ex.status).toBe(200);
    const c = await wallet.completion(ex.submissionId);
    expect(c['status']).toMatchObject({ code: 10, message: expect.stringMatching(/^LOCAL_VERDICT_LOCKED_CONTRACTS/) });
    expect(sb.control.books.transfers('wd-rejected')).toEqual([]);

    sb.control.addFault({
      match: { operation: 'execute' },
      action: { kind: 'rejectSubmission', code: 'PARTICIPANT_BACKPRESSURE', sync: true },
      once: true,
    });
    const ex2 = await wallet.execute(p);
    expect(ex2.status).toBe(409); // Canton: category 2, ABORTED
    expect(ex2.body).toMatchObject({ code: 'PARTICIPANT_BACKPRESSURE', definiteAnswer: true });
    // the same signed transaction still goes through afterwards
    const ex3 = await wallet.execute(p);
    expect((await wallet.completion(ex3.submissionId))['status']).toMatchObject({ code: 0 });
  });

  it('commits but loses the response (connection reset): the ambiguous case', async () => {
    sb.control.addFault({ match: { operation: 'executeAndWait' }, action: { kind: 'commitLoseResponse' }, once: true });
    const p = await withdrawal('wd-lost');
    await expect(wallet.execute(p, { path: '/v2/interactive-submission/executeAndWait' })).rejects.toThrow();
    expect(sb.control.books.transfers('wd-lost')).toHaveLength(1);
    // retrying the same signed transaction is a duplicate, not a second payment
    const again = await wallet.execute(p, { path: '/v2/interactive-submission/executeAndWait' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'DUPLICATE_COMMAND' });
    expect(sb.control.books.transfers('wd-lost')).toHaveLength(1);
  });

  it('commits but answers 504 with an unknown outcome', async () => {
    sb.control.addFault({ match: { operation: 'execute' }, action: { kind: 'commitLoseResponse', mode: 'timeout' }, once: true });
    const p = await withdrawal('wd-timeout');
    const r = await wallet.execute(p);
    expect(r.status).toBe(504);
    expect(r.body).toMatchObject({ code: 'REQUEST_TIME_OUT', errorCategory: 3, definiteAnswer: false });
    expect(sb.control.books.transfers('wd-timeout')).toHaveLength(1);
  });
});

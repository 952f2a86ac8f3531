import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { treasuryUpdateFormat } from '../../src/ledger/read-client.js';
import { WireClient } from './support/wire-client.js';

describe('ledger double: HTTP control API', () => {
  let sb: Sandbox;
  const call = async (method: string, path: string, body?: unknown, token = sb.controlToken) => {
    const res = await fetch(`${sb.controlUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    sb = await startSandbox({
      seed: 'control',
      clock: { mode: 'manual', start: '2026-04-01T00:00:00Z' },
      treasury: { onboarding: 'direct' },
    });
  });
  afterAll(() => sb.stop());

  it('requires the control token', async () => {
    expect((await call('GET', '/info', undefined, 'wrong-token-wrong-token')).status).toBe(401);
    const info = await call('GET', '/info');
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ jsonApiUrl: sb.jsonApiUrl, treasury: { party: sb.treasury?.party }, mode: 'live' });
    expect(JSON.stringify(info.body)).not.toContain('PRIVATE KEY');
  });

  it('scripts customers, transfers, instructions and the clock', async () => {
    const treasury = sb.treasury?.party ?? '';
    const { body: c } = await call('POST', '/customers', {
      hint: 'remote',
      preapproval: true,
      fund: [
        { instrument: 'UTK', amount: '10' },
        { instrument: 'CC', amount: '10' },
      ],
    });
    const customer = String(c['party']);
    const t = await call('POST', '/transfers', { from: customer, to: treasury, instrument: 'UTK', amount: '4', memo: 'acct-r' });
    expect(t.body).toMatchObject({ kind: 'offer' });
    const instr = await call('GET', `/books/instructions?party=${encodeURIComponent(treasury)}`);
    expect((instr.body['instructions'] as unknown[]).length).toBe(1);
    const w = await call('POST', `/instructions/${String(t.body['transferInstructionCid'])}/withdraw`, {});
    expect(w.status).toBe(200);
    expect((await call('POST', `/instructions/${String(t.body['transferInstructionCid'])}/withdraw`, {})).status).toBe(404);
    expect((await call('POST', '/transfers', { from: customer, to: treasury, instrument: 'UTK', amount: '400', memo: 'x' })).status).toBe(
      400,
    );
    const transfers = await call('GET', '/books/transfers?memo=acct-r');
    expect(transfers.body['transfers']).toHaveLength(1);
    const clock = await call('POST', '/clock/advance', { ms: 60_000 });
    // each commit moved the manual clock by 1µs, so the step lands just after one minute
    expect(String(clock.body['time'])).toMatch(/^2026-04-01T00:01:00(\.\d+)?Z$/);
    expect((await call('POST', '/clock/set', { time: '2026-04-01T00:00:00Z' })).status).toBe(400);
    expect((await call('GET', '/books/supply')).body['supply']).toBeDefined();
    const end = await call('GET', '/books/ledger-end');
    expect(end.body['offset']).toBeGreaterThan(0);
  });

  it('counterfeits: a stranger signs them alone, the treasury observes them with the views the stranger chose; no registry or book knows them', async () => {
    const treasury = sb.treasury?.party ?? '';
    const cc = sb.instruments.find((i) => i.id === 'Amulet')!;
    const before = sb.control.books.balances(treasury);
    const from = Number((await call('GET', '/books/ledger-end')).body['offset']);
    const h = (await call('POST', '/counterfeits', { to: treasury, instrument: 'Amulet', amount: '1000000', memo: 'acct-r' })).body;
    const issuer = String(h['issuer']);
    const o = (
      await call('POST', '/counterfeits', {
        issuer,
        to: treasury,
        instrument: { admin: issuer, id: 'STR' },
        amount: '5',
        memo: 'acct-r',
        kind: 'offer',
      })
    ).body;
    expect((await call('POST', '/counterfeits', { to: treasury, instrument: 'nonsense', amount: '1' })).status).toBe(400);

    // What the treasury's participant delivers (spec-validated): the stranger's choice with its
    // claim in the result, the holding's create with the stranger as only signatory.
    const client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    const updates = await client.ok<{ update: { Transaction?: { value: { events: Record<string, Record<string, unknown>>[] } } } }[]>(
      'POST',
      '/v2/updates',
      {
        beginExclusive: from,
        endInclusive: Number(o['offset']),
        updateFormat: treasuryUpdateFormat(treasury),
      },
    );
    const events = updates.flatMap((u) => u.update.Transaction?.value.events ?? []);
    const exercise = events.find((e) => e['ExercisedEvent'])?.['ExercisedEvent'];
    expect(exercise).toMatchObject({
      choice: 'Issuer_Transfer',
      actingParties: [issuer],
      exerciseResult: {
        meta: { values: { 'splice.lfdecentralizedtrust.org/tx-kind': 'transfer', 'splice.lfdecentralizedtrust.org/reason': 'acct-r' } },
      },
    });
    const created = events.flatMap((e) => (e['CreatedEvent'] ? [e['CreatedEvent']] : []));
    expect(created).toEqual([
      expect.objectContaining({
        contractId: h['contractId'],
        templateId: expect.stringMatching(/:Counterfeit\.Token:Holding$/),
        signatories: [issuer],
        observers: [treasury],
        interfaceViews: [
          expect.objectContaining({
            viewValue: {
              owner: treasury,
              instrumentId: { admin: cc.admin, id: 'Amulet' },
              amount: '1000000.0000000000',
              lock: null,
              meta: { values: { 'splice.lfdecentralizedtrust.org/reason': 'acct-r' } },
            },
          }),
        ],
      }),
      expect.objectContaining({
        contractId: o['contractId'],
        signatories: [issuer],
        interfaceViews: [
          expect.objectContaining({
            viewValue: expect.objectContaining({
              transfer: expect.objectContaining({ sender: issuer, receiver: treasury, instrumentId: { admin: issuer, id: 'STR' } }),
            }),
          }),
        ],
      }),
    ]);

    // The double's truth: no holding, no instruction, no registry context.
    expect(sb.control.books.balances(treasury)).toEqual(before);
    expect(sb.control.books.instructions(treasury).map((i) => i.contractId)).not.toContain(o['contractId']);
    const ctx = await client.post(
      `${cc.registryUrl}/registry/transfer-instruction/v1/${String(o['contractId'])}/choice-contexts/accept`.replace(sb.jsonApiUrl, ''),
      { meta: {} },
    );
    expect(ctx.status).toBe(404);

    // Archived by the stranger, once dressed as a transfer the treasury sent.
    expect((await call('POST', `/counterfeits/${String(h['contractId'])}/archive`, { claimSender: treasury, memo: 'w-1' })).status).toBe(
      200,
    );
    expect((await call('POST', `/counterfeits/${String(o['contractId'])}/archive`, {})).status).toBe(200);
    expect((await call('POST', `/counterfeits/${String(o['contractId'])}/archive`, {})).status).toBe(404);
  });

  it('manages fault rules, commits, tokens and pruning', async () => {
    const { body } = await call('POST', '/faults', { match: { path: '/v2/version' }, action: { kind: 'http503' }, times: 1 });
    const client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    expect((await client.get('/v2/version')).status).toBe(503);
    const list = await call('GET', '/faults');
    expect(list.body['faults']).toEqual([expect.objectContaining({ id: body['id'], fired: 1, remaining: 0 })]);
    await call('DELETE', '/faults');
    expect((await call('GET', '/faults')).body['faults']).toEqual([]);
    expect((await call('POST', '/faults', { action: { kind: 'nonsense' } })).status).toBe(400);

    expect((await call('POST', '/commits/hold')).status).toBe(200);
    expect((await call('POST', '/commits/release')).status).toBe(200);

    const tok = await call('POST', '/tokens', { userId: 'exchange' });
    expect((await client.withToken(String(tok.body['token'])).get('/v2/authenticated-user')).status).toBe(200);

    const end = Number((await call('GET', '/books/ledger-end')).body['offset']);
    const pruned = await call('POST', '/prune', { offset: end - 1 });
    expect(pruned.body['prunedUpTo']).toBe(end - 1);
    expect((await call('POST', '/prune', { offset: end + 100 })).status).toBe(400);
    expect((await call('POST', '/websockets/drop')).status).toBe(200);
  });
});

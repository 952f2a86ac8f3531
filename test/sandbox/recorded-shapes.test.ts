import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import { transactionsOf, updatesRequest } from './support/requests.js';
import { WireClient } from './support/wire-client.js';

const RECORDED = fileURLToPath(new URL('../../../shared/fixtures/recorded/', import.meta.url));

function recordedEvents(file: string): { kind: string; body: Record<string, unknown> }[] {
  const raw = JSON.parse(readFileSync(`${RECORDED}${file}`, 'utf8')) as {
    update: { Transaction: { value: { events: Record<string, Record<string, unknown>>[] } } };
  };
  return raw.update.Transaction.value.events.map((e) => {
    const [kind, body] = Object.entries(e)[0] as [string, Record<string, unknown>];
    return { kind, body };
  });
}

/** Keys a recorded event carries with a non-null value: the double's events must have them too. */
function keysOf(body: Record<string, unknown>): string[] {
  return Object.entries(body)
    .filter(([, v]) => v !== null)
    .map(([k]) => k)
    .sort();
}

describe('the double produces the event shapes of recorded Canton transactions', () => {
  let sb: Sandbox;
  let client: WireClient;
  let treasury: string;

  beforeAll(async () => {
    sb = await startSandbox({ seed: 'shapes', clock: { mode: 'manual' } });
    treasury = sb.treasury?.party ?? '';
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
  });
  afterAll(() => sb.stop());

  it('1-step deposit: same choices, templates, key sets and nesting as 1-step-transfer.json', async () => {
    const { party } = sb.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '1000' }] });
    const dep = sb.control.transfer({ from: party, to: treasury, instrument: 'Amulet', amount: '200', memo: 'deposit-account-id' });
    const [tx] = transactionsOf(
      await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, dep.offset - 1, dep.offset)),
    );
    const ours = tx?.events ?? [];
    const recorded = recordedEvents('1-step-transfer.json');
    const shape = (kind: string, templateId: unknown, choice: unknown) =>
      `${kind}:${String(templateId).split(':').slice(1).join(':')}:${String(choice ?? '')}`;
    const oursShape = ours.map((e) => shape(e['kind'] as string, e['templateId'], e['choice']));
    const recordedShape = recorded.map((e) => shape(e.kind, e.body['templateId'], e.body['choice']));
    expect(oursShape).toEqual(recordedShape);
    recorded.forEach((r, i) => {
      const mine = ours[i] ?? {};
      for (const k of keysOf(r.body)) expect(Object.keys(mine), `event ${i} lacks ${k}`).toContain(k);
      expect(mine['nodeId']).toBe(r.body['nodeId']);
      if (r.kind === 'ExercisedEvent') expect(mine['lastDescendantNodeId']).toBe(r.body['lastDescendantNodeId']);
    });
  });

  it('2-step offer: the receiver sees the instruction with the recorded view shape', async () => {
    sb.control.instrument('Amulet');
    const { party } = sb.control.createCustomer({ fund: [{ instrument: 'Amulet', amount: '2000' }] });
    const offer = sb.control.transfer({
      from: party,
      to: treasury,
      instrument: 'Amulet',
      amount: '1000',
      memo: 'deposit-account-id',
      mode: 'offer',
    });
    const [tx] = transactionsOf(
      await client.ok<unknown[]>('POST', '/v2/updates?stream_idle_timeout_ms=50', updatesRequest(treasury, offer.offset - 1, offer.offset)),
    );
    const recorded = recordedEvents('transfer-instruction-create.json');
    expect(tx?.events.map((e) => e['kind'])).toEqual(['CreatedEvent']);
    const mine = tx?.events[0] ?? {};
    expect(String(mine['templateId']).split(':').slice(1)).toEqual(String(recorded[0]?.body['templateId']).split(':').slice(1));
    for (const k of keysOf(recorded[0]?.body ?? {})) expect(Object.keys(mine)).toContain(k);
    const view = (mine['interfaceViews'] as { viewValue: Record<string, unknown> }[])[0]?.viewValue ?? {};
    const recView = ((recorded[0]?.body['interfaceViews'] as { viewValue: Record<string, unknown> }[])[0]?.viewValue ?? {}) as Record<
      string,
      unknown
    >;
    expect(Object.keys(view).sort()).toEqual(Object.keys(recView).sort());
    expect(Object.keys(view['transfer'] as object).sort()).toEqual(Object.keys(recView['transfer'] as object).sort());
    // As recorded: the instruction names the locked holding as its only input.
    const createArg = mine['createArgument'] as { lockedAmulet: string; transfer: { inputHoldingCids: string[] } };
    expect(createArg.transfer.inputHoldingCids).toEqual([createArg.lockedAmulet]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/start.js';
import {
  GetUpdatesRequest,
  JsCommands,
  JsExecuteSubmissionRequest,
  JsPrepareSubmissionRequest,
  decodeWith,
  issuesDetail,
} from '../../src/sandbox/wire/decode/index.js';
import { TreasuryWallet } from './support/treasury-wallet.js';
import { treasuryEventFormat } from './support/requests.js';
import { WireClient } from './support/wire-client.js';

/**
 * The double decodes request bodies by Canton 3.4's rules (src/sandbox/wire/decode), not by what
 * our client happens to send. The three bodies of the real-server fidelity issue are refused as a
 * validator refuses them: 400, text/plain, "Invalid value for: body (…)".
 */

function detail(r: ReturnType<typeof decodeWith>): string {
  return r.ok ? 'ok' : issuesDetail(r.issues);
}

describe('request decoding as Canton 3.4 does it (unit)', () => {
  it('execute: deduplicationPeriod, preparedTransaction, partySignatures, submissionId and hashingSchemeVersion have no default', () => {
    expect(detail(decodeWith(JsExecuteSubmissionRequest, {}))).toBe(
      [
        "Missing required field at 'preparedTransaction'",
        "Missing required field at 'partySignatures'",
        "Missing required field at 'deduplicationPeriod'",
        "Missing required field at 'submissionId'",
        "Missing required field at 'hashingSchemeVersion'",
      ].join(', '),
    );
    const ok = decodeWith(JsExecuteSubmissionRequest, {
      preparedTransaction: 'AAAA',
      partySignatures: {},
      deduplicationPeriod: { Empty: {} },
      submissionId: 's',
      hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
    });
    expect(ok).toMatchObject({ ok: true, value: { userId: '', partySignatures: { signatures: [] }, deduplicationPeriod: { Empty: {} } } });
  });

  it('prepare: synchronizerId and packageIdSelectionPreference are required although the OpenAPI does not say so', () => {
    const body = { commandId: 'c', commands: [], actAs: ['p'] };
    expect(detail(decodeWith(JsPrepareSubmissionRequest, body))).toBe(
      "Missing required field at 'synchronizerId', Missing required field at 'packageIdSelectionPreference'",
    );
    const ok = decodeWith(JsPrepareSubmissionRequest, { ...body, synchronizerId: '', packageIdSelectionPreference: [] });
    expect(ok).toMatchObject({ ok: true, value: { readAs: [], disclosedContracts: [], verboseHashing: false, userId: '' } });
  });

  it('protobuf messages are relaxed: absent fields take empty values, but an absent enum does not decode', () => {
    expect(decodeWith(GetUpdatesRequest, {})).toMatchObject({ ok: true, value: { beginExclusive: 0, verbose: false } });
    const noShape = decodeWith(GetUpdatesRequest, { updateFormat: { includeTransactions: { eventFormat: {} } } });
    expect(detail(noShape)).toBe(
      `Got value '{"Unrecognized":{"unrecognizedValue":0}}' with wrong type, expecting string at 'updateFormat.includeTransactions.transactionShape'`,
    );
    // a null in a relaxed message falls back to the field's default; unknown keys are ignored
    expect(decodeWith(GetUpdatesRequest, { beginExclusive: null, whatever: 1 })).toMatchObject({ ok: true, value: { beginExclusive: 0 } });
  });

  it('hand-written classes keep their declared defaults only, and name array elements like tapir', () => {
    expect(decodeWith(JsCommands, { commands: [], commandId: 'c', actAs: [] })).toMatchObject({
      ok: true,
      value: { readAs: [], packageIdSelectionPreference: [] },
    });
    const bad = decodeWith(JsCommands, {
      commands: [{ ExerciseCommand: { templateId: 'a:b:c', contractId: 'x', choice: 1 } }],
      commandId: 'c',
      actAs: [],
    });
    expect(detail(bad)).toBe(
      "Got value '1' with wrong type, expecting string at 'commands[0].ExerciseCommand.choice', Missing required field at 'commands[0].ExerciseCommand.choiceArgument'",
    );
    expect(detail(decodeWith(JsCommands, { commands: [{ Frobnicate: {} }], commandId: 'c', actAs: [] }))).toBe(
      "type JsCommand.Command has no class/object/case named 'Frobnicate'. at 'commands[0]'",
    );
  });
});

describe('request decoding as Canton 3.4 does it (over the wire)', () => {
  let sb: Sandbox;
  let client: WireClient;
  let wallet: TreasuryWallet;
  let treasury: string;

  beforeAll(async () => {
    sb = await startSandbox({ seed: 'decoding', clock: { mode: 'manual', start: '2026-01-01T00:00:00Z' } });
    if (!sb.treasury) throw new Error('no treasury');
    treasury = sb.treasury.party;
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor(sb.treasury.userId));
    wallet = new TreasuryWallet(sb, client);
    sb.control.mint(treasury, 'Amulet', '100');
  });
  afterAll(async () => {
    await sb.stop();
  });

  it('refuses an execute without deduplicationPeriod before looking at anything else', async () => {
    const [input] = wallet.holdings('Amulet');
    const { prepared } = await wallet.prepareTransfer({
      receiver: treasury,
      instrumentId: 'Amulet',
      amount: '1',
      inputs: [input?.contractId ?? ''],
    });
    expect(prepared.status).toBe(200);
    const body = {
      preparedTransaction: prepared.body.preparedTransaction,
      hashingSchemeVersion: prepared.body.hashingSchemeVersion,
      submissionId: 'no-dedup',
      userId: 'exchange',
      partySignatures: wallet.signature(prepared.body.preparedTransactionHash),
    };
    for (const path of ['/v2/interactive-submission/execute', '/v2/interactive-submission/executeAndWait']) {
      const r = await client.request('POST', path, JSON.stringify(body));
      expect(r.status).toBe(400);
      expect(r.contentType).toMatch(/^text\/plain/);
      expect(r.body).toBe("Invalid value for: body (Missing required field at 'deduplicationPeriod')");
    }
    // nothing was submitted: the holding is still there, and the same body with the period executes
    expect(wallet.holdings('Amulet').map((h) => h.contractId)).toContain(input?.contractId);
    const ok = await wallet.execute(prepared.body, { path: '/v2/interactive-submission/executeAndWait' });
    expect(ok.status).toBe(200);
  });

  it('refuses a prepare without synchronizerId and packageIdSelectionPreference', async () => {
    const r = await client.request(
      'POST',
      '/v2/interactive-submission/prepare',
      JSON.stringify({ userId: 'exchange', commandId: 'c1', commands: [], actAs: [treasury] }),
    );
    expect(r.status).toBe(400);
    expect(r.contentType).toMatch(/^text\/plain/);
    expect(r.body).toBe(
      "Invalid value for: body (Missing required field at 'synchronizerId', Missing required field at 'packageIdSelectionPreference')",
    );
  });

  it('serves the backwards-compatible filter form of /v2/updates and refuses mixing it with updateFormat', async () => {
    const legacy = await client.ok<unknown[]>('POST', '/v2/updates?limit=5', {
      beginExclusive: 0,
      filter: { filtersByParty: { [treasury]: {} } },
      verbose: true,
    });
    expect(legacy.length).toBeGreaterThan(0);
    const both = await client.post('/v2/updates', {
      beginExclusive: 0,
      filter: { filtersByParty: { [treasury]: {} } },
      updateFormat: {
        includeTransactions: { eventFormat: treasuryEventFormat(treasury), transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS' },
      },
    });
    expect(both.status).toBe(400);
    expect(both.body).toMatchObject({ code: 'INVALID_ARGUMENT', cause: expect.stringContaining('Both update_format and filter are set') });
  });

  it('validates formats after decoding as the participant does (MISSING_FIELD, not a decode failure)', async () => {
    const r = await client.post('/v2/updates', {
      beginExclusive: 0,
      updateFormat: {
        includeTransactions: { eventFormat: treasuryEventFormat(treasury), transactionShape: 'TRANSACTION_SHAPE_UNSPECIFIED' },
      },
    });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'MISSING_FIELD', cause: expect.stringContaining('transaction_shape') });
    const byId = await client.post('/v2/updates/update-by-id', { updateId: 'x' });
    expect(byId.body).toMatchObject({ code: 'MISSING_FIELD', cause: expect.stringContaining('update_format') });
  });

  it('answers a bad base64 and a bad query parameter as tapir does', async () => {
    const r = await client.post('/v2/interactive-submission/execute', {
      preparedTransaction: 'not base64!',
      partySignatures: {},
      deduplicationPeriod: { Empty: {} },
      submissionId: 's',
      hashingSchemeVersion: 'HASHING_SCHEME_VERSION_V2',
    });
    expect(r.status).toBe(400);
    expect(r.body).toBe("Invalid value for: body (The string is not a valid Base64: not base64! at 'preparedTransaction')");
    const q = await client.request('POST', '/v2/updates?limit=ten', JSON.stringify({ beginExclusive: 0 }));
    expect(q.status).toBe(400);
    expect(q.body).toBe('Invalid value for: query parameter limit');
  });
});

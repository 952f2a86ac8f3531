import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSFER_FACTORY_INTERFACE_ID } from '../../src/ledger/schema/index.js';
import { startSandbox, type Sandbox, type SandboxInstrumentInfo } from '../../src/sandbox/start.js';
import { TreasuryWallet } from './support/treasury-wallet.js';
import { WireClient } from './support/wire-client.js';

/**
 * Request bodies refused as the real servers refuse them: the registry as Splice's Scan does
 * (guardrail + circe for the body, the Java codegen's fromJson for `choiceArguments`,
 * HttpErrorHandler for the answer), a prepared command's `choiceArgument` as Canton 3.4's JSON
 * API does (transcode JsonCodec + Endpoints.handleError).
 */
describe('ledger double: registry bodies and choice arguments decoded as Splice and Canton do', () => {
  let sb: Sandbox;
  let client: WireClient;
  let wallet: TreasuryWallet;
  let amulet: SandboxInstrumentInfo;

  const JAVA_ERROR = 'com.daml.ledger.javaapi.data.codegen.json.JsonLfDecoder$Error';
  const INVALID = 'Field `choiceArguments` does not contain a valid `TransferFactory_Transfer`';

  beforeAll(async () => {
    sb = await startSandbox({
      seed: 'registry-decoding',
      clock: { mode: 'manual', start: '2026-02-01T00:00:00Z' },
      treasury: { fund: [{ instrument: 'Amulet', amount: '100' }] },
    });
    client = new WireClient(sb.jsonApiUrl, await sb.tokenFor('exchange'));
    wallet = new TreasuryWallet(sb, client);
    amulet = wallet.instrument('Amulet');
  });
  afterAll(() => sb.stop());

  const transfer = () => {
    const now = Date.parse(sb.control.clockNow().time);
    return {
      sender: wallet.party,
      receiver: wallet.party,
      amount: '10.0000000000',
      instrumentId: { admin: amulet.admin, id: amulet.id },
      requestedAt: new Date(now - 1000).toISOString(),
      executeBefore: new Date(now + 3600_000).toISOString(),
      inputHoldingCids: wallet.holdings('Amulet').map((h) => h.contractId),
      meta: { values: {} as Record<string, string> },
    };
  };

  /** Raw POST: the answers under test are not all JSON. */
  const post = async (path: string, body: unknown) => {
    const res = await fetch(
      `${new URL(amulet.registryUrl).origin}${new URL(amulet.registryUrl).pathname}/registry/transfer-instruction/v1/${path}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
    );
    const text = await res.text();
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text };
  };

  it('refuses a transfer-factory request whose extraArgs.context is {} as Splice does', async () => {
    const choiceArguments = { expectedAdmin: amulet.admin, transfer: transfer(), extraArgs: { context: {}, meta: { values: {} } } };
    const res = await post('transfer-factory', { choiceArguments });
    // circe's noSpaces is JSON.stringify's text: ChoiceContext ends where "meta" starts.
    const text = JSON.stringify(choiceArguments);
    const column = text.indexOf('"meta"', text.indexOf('"extraArgs"')) + 1;
    expect(res.status).toBe(400);
    expect(res.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(res.text)).toEqual({ error: `${INVALID}: ${JAVA_ERROR}: Missing field values at line: 1, column: ${column}` });
  });

  it('refuses extraArgs.meta {} and transfer.meta {} the same way', async () => {
    const noExtraMeta = { expectedAdmin: amulet.admin, transfer: transfer(), extraArgs: { context: { values: {} }, meta: {} } };
    const r1 = await post('transfer-factory', { choiceArguments: noExtraMeta });
    const t1 = JSON.stringify(noExtraMeta);
    expect(r1.status).toBe(400);
    expect(JSON.parse(r1.text)).toEqual({ error: `${INVALID}: ${JAVA_ERROR}: Missing field values at line: 1, column: ${t1.length - 1}` });

    const noTransferMeta = {
      expectedAdmin: amulet.admin,
      transfer: { ...transfer(), meta: {} },
      extraArgs: { context: { values: {} }, meta: { values: {} } },
    };
    const r2 = await post('transfer-factory', { choiceArguments: noTransferMeta });
    expect(r2.status).toBe(400);
    expect(JSON.parse(r2.text).error).toMatch(
      new RegExp(`^${INVALID.replace(/[`]/g, '.')}: .*Missing field values at line: 1, column: \\d+$`),
    );
  });

  it('accepts {"values": {}} for context and meta, and ignores null-valued unknown fields', async () => {
    const choiceArguments = {
      expectedAdmin: amulet.admin,
      transfer: transfer(),
      extraArgs: { context: { values: {} }, meta: { values: {} } },
      note: null,
    };
    const res = await post('transfer-factory', { choiceArguments, excludeDebugFields: true });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ transferKind: 'self' });
  });

  it('refuses unknown fields and wrong types inside choiceArguments with the codegen message', async () => {
    const choiceArguments = {
      expectedAdmin: amulet.admin,
      transfer: { ...transfer(), amount: true },
      extraArgs: { context: { values: {} }, meta: { values: {} } },
    };
    const res = await post('transfer-factory', { choiceArguments });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toMatch(/: Expected numeric but was true at line: 1, column: \d+$/);
    const extra = await post('transfer-factory', { choiceArguments: { ...choiceArguments, transfer: transfer(), memo: 'x' } });
    expect(JSON.parse(extra.text).error).toMatch(
      /: Unknown field memo \(known fields are \[expectedAdmin, transfer, extraArgs\]\) at line: 1, column: \d+$/,
    );
  });

  it('refuses a body circe cannot decode as pekko-http does: 400 text/plain', async () => {
    const missing = await post('transfer-factory', { excludeDebugFields: true });
    expect(missing).toMatchObject({
      status: 400,
      text: 'The request content was malformed:\nDecodingFailure at .choiceArguments: Missing required field',
    });
    expect(missing.contentType).toMatch(/^text\/plain/);
    const notObject = await post('transfer-factory', { choiceArguments: [] });
    expect(notObject.text).toBe(
      "The request content was malformed:\nDecodingFailure at .choiceArguments: Got value '[]' with wrong type, expecting object",
    );
    const badFlag = await post('transfer-factory', { choiceArguments: {}, excludeDebugFields: 'yes' });
    expect(badFlag.text).toBe(
      `The request content was malformed:\nDecodingFailure at .excludeDebugFields: Got value '"yes"' with wrong type, expecting 'true' or 'false'`,
    );
    const badMeta = await post('some-cid/choice-contexts/accept', { meta: { k: 1 } });
    expect(badMeta).toMatchObject({
      status: 400,
      text: "The request content was malformed:\nDecodingFailure at .meta.k: Got value '1' with wrong type, expecting string",
    });
  });

  it("answers an unknown Canton Coin instruction with Scan's 404", async () => {
    const res = await post('00abc/choice-contexts/withdraw', {});
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toEqual({ error: "AmuletTransferInstruction '00abc' not found." });
  });

  describe('a prepared command whose choiceArgument Canton would not transcode', () => {
    const prepareWith = async (mutate: (arg: Record<string, unknown>) => Record<string, unknown>) => {
      const tr = transfer();
      const factory = await wallet.transferFactory(amulet, tr);
      const choiceArgument = mutate({
        expectedAdmin: amulet.admin,
        transfer: tr,
        extraArgs: { context: factory.choiceContext.choiceContextData, meta: { values: {} } },
      });
      return wallet.prepare({
        commands: [
          {
            ExerciseCommand: {
              templateId: TRANSFER_FACTORY_INTERFACE_ID,
              contractId: factory.factoryId,
              choice: 'TransferFactory_Transfer',
              choiceArgument,
            },
          },
        ],
        disclosedContracts: factory.choiceContext.disclosedContracts.map(
          ({ templateId, contractId, createdEventBlob, synchronizerId }) => ({ templateId, contractId, createdEventBlob, synchronizerId }),
        ),
        synchronizerId: '',
        packageIdSelectionPreference: [],
      });
    };

    it('lacks a non-optional field: 400 COMMAND_PREPROCESSING_FAILED', async () => {
      const res = await prepareWith((a) => ({ ...a, extraArgs: { context: { values: {} } } }));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        code: 'COMMAND_PREPROCESSING_FAILED',
        cause: 'Missing non-optional field: meta',
        errorCategory: 8,
        grpcCodeValue: 3,
      });
      const ctx = await prepareWith((a) => ({ ...a, extraArgs: { context: {}, meta: { values: {} } } }));
      expect(ctx.body).toMatchObject({ code: 'COMMAND_PREPROCESSING_FAILED', cause: 'Missing non-optional field: values' });
    });

    it('has an unexpected field: 400 INVALID_ARGUMENT', async () => {
      const res = await prepareWith((a) => ({ ...a, transfer: { ...(a['transfer'] as object), memo: 'x' } }));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        code: 'INVALID_ARGUMENT',
        cause: 'The submitted request has invalid arguments: Unexpected fields: memo',
        errorCategory: 8,
        grpcCodeValue: 3,
      });
    });

    it('still prepares with a null-valued unknown field and a numeric amount', async () => {
      const res = await prepareWith((a) => ({ ...a, transfer: { ...(a['transfer'] as object), amount: 10, memo: null } }));
      expect(res.status).toBe(200);
    });
  });
});

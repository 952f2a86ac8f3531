import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import * as decode from '../../src/sandbox/wire/decode/index.js';

/**
 * src/sandbox/README.md lists, per endpoint, the fields Canton requires beyond the OpenAPI. This
 * keeps that table equal to what the double's codecs actually require, so neither drifts.
 */

const README = readFileSync(new URL('../../src/sandbox/README.md', import.meta.url), 'utf8');
const OPENAPI = parse(readFileSync(new URL('../../../shared/specs/ledger-api-3.4.12/openapi.yaml', import.meta.url), 'utf8')) as {
  components: { schemas: Record<string, { required?: string[] }> };
};

/** Every request body the double decodes, by the class name Canton and the OpenAPI use. */
const CODECS: Record<string, decode.Codec<unknown>> = {
  JsPrepareSubmissionRequest: decode.JsPrepareSubmissionRequest,
  JsExecuteSubmissionRequest: decode.JsExecuteSubmissionRequest,
  JsExecuteSubmissionAndWaitRequest: decode.JsExecuteSubmissionAndWaitRequest,
  JsExecuteSubmissionAndWaitForTransactionRequest: decode.JsExecuteSubmissionAndWaitForTransactionRequest,
  JsCommands: decode.JsCommands,
  JsSubmitAndWaitForTransactionRequest: decode.JsSubmitAndWaitForTransactionRequest,
  GetUpdatesRequest: decode.GetUpdatesRequest,
  GetActiveContractsRequest: decode.GetActiveContractsRequest,
  GetUpdateByIdRequest: decode.GetUpdateByIdRequest,
  GetUpdateByOffsetRequest: decode.GetUpdateByOffsetRequest,
  GetEventsByContractIdRequest: decode.GetEventsByContractIdRequest,
  CompletionStreamRequest: decode.CompletionStreamRequest,
  AllocatePartyRequest: decode.AllocatePartyRequest,
  GenerateExternalPartyTopologyRequest: decode.GenerateExternalPartyTopologyRequest,
  AllocateExternalPartyRequest: decode.AllocateExternalPartyRequest,
  CreateUserRequest: decode.CreateUserRequest,
  GrantUserRightsRequest: decode.GrantUserRightsRequest,
  TransactionFormat: decode.TransactionFormat,
  Signature: decode.Signature,
  SigningPublicKey: decode.SigningPublicKey,
  DisclosedContract: decode.DisclosedContract,
};

function beyondOpenApi(name: string): string[] {
  const openapi = OPENAPI.components.schemas[name]?.required ?? [];
  return (CODECS[name]?.required ?? []).filter((f) => !openapi.includes(f));
}

/** Rows of the README table: request class → the backticked field names in its third column. */
function tableRows(): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of README.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 5 || !(cells[1] ?? '').startsWith('`POST')) continue;
    const fields = [...(cells[3] ?? '').matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1] as string);
    rows.set(cells[2] ?? '', fields);
  }
  return rows;
}

describe('the README table of fields required beyond the OpenAPI', () => {
  it('names every request class with such fields, and exactly those fields', () => {
    const rows = tableRows();
    const expected = Object.keys(CODECS)
      .filter((n) => beyondOpenApi(n).length > 0)
      .sort();
    expect([...rows.keys()].sort()).toEqual(expected);
    for (const [name, fields] of rows) expect(fields, name).toEqual(beyondOpenApi(name));
  });

  it('covers the three fields a real validator refuses our old requests without', () => {
    expect(beyondOpenApi('JsPrepareSubmissionRequest')).toEqual(['synchronizerId', 'packageIdSelectionPreference']);
    for (const n of [
      'JsExecuteSubmissionRequest',
      'JsExecuteSubmissionAndWaitRequest',
      'JsExecuteSubmissionAndWaitForTransactionRequest',
    ]) {
      expect(beyondOpenApi(n)).toEqual(['deduplicationPeriod']);
    }
  });
});

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { TransactionSummary } from '../../src/ingestion/summary.js';
import { loadRecorded, RECORDED, RECORDED_PARTIES as P } from './support/fixtures.js';

/** `npm run parse` as a process, on every recorded file. */

const CLI = fileURLToPath(new URL('../../src/cli/parse.ts', import.meta.url));
const run = promisify(execFile);

async function parse(args: string[]): Promise<{ code: number; out: TransactionSummary[]; err: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: path.dirname(CLI) });
    return {
      code: 0,
      out: r.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as TransactionSummary),
      err: r.stderr,
    };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return {
      code: x.code,
      out: x.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as TransactionSummary),
      err: x.stderr,
    };
  }
}

const file = (f: string) => path.join(RECORDED, f);

describe('npm run parse', () => {
  it('the 1-step deposit of 200 CC with memo "deposit-account-id"', async () => {
    const r = await parse(['--party', P.oneStepTreasury, file('1-step-transfer.json')]);
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    const [tx] = r.out;
    expect(tx).toMatchObject({
      updateId: '122008a4699e61ce682917c9515ecb3b4426adf276441e41edede8b3862efa2de80e',
      offset: 107,
      recordTime: '1970-01-01T00:01:00.000114Z',
      import: false,
    });
    expect(tx!.facts).toEqual([
      {
        kind: 'transfer_in',
        nodeId: 4,
        instrument: { admin: 'DSO::12204b8b621ec1dedd51ee2510085f8164cad194953496494d32f541f3f2c170e962', id: 'Amulet' },
        amount: '200.0000000000',
        holdingsDelta: '200.0000000000',
        fee: null,
        memo: 'deposit-account-id',
        counterparty: 'sender::1220278a4a0eb2c244b425dff62853ef1cd04ca1095bffcea465c0de766faf9ab8cd',
        holdingsCreated: [expect.stringMatching(/^008f783cd288/)],
        holdingsArchived: [],
        transferInstruction: null,
        details: { depositId: `${tx!.updateId}:4`, choice: 'TransferPreapproval_Send' },
      },
    ]);
  });

  it('the 1000 CC offer and its accept, from two files', async () => {
    const r = await parse([
      '--party',
      P.twoStepTreasury,
      file('transfer-instruction-create.json'),
      file('transfer-instruction-accept.json'),
    ]);
    expect(r.code).toBe(0);
    const [offer, accept] = r.out;
    expect(offer!.facts).toMatchObject([
      {
        kind: 'instruction_created',
        amount: '1000.0000000000',
        memo: 'deposit-account-id',
        transferInstruction: { status: 'TransferPendingReceiverAcceptance' },
        details: { direction: 'incoming', executeBefore: '1970-01-01T00:02:00Z' },
      },
    ]);
    expect(accept!.facts).toMatchObject([
      {
        kind: 'instruction_closed',
        amount: '1000.0000000000',
        holdingsDelta: '1000.0000000000',
        memo: 'deposit-account-id',
        transferInstruction: { cid: offer!.facts[0]!.transferInstruction!.cid, status: 'accepted' },
        details: { known: true, creditedAmount: '1000.0000000000' },
      },
    ]);
  });

  it('the utility token transfers: every transaction the SDK reports, with the same amounts and reasons', async () => {
    const r = await parse(['--party', P.utilitySender, file('utility-token-transfer.json')]);
    expect(r.code).toBe(0);
    const sdk = loadRecorded('utility-token-transfer.expected-sdk-parse.json') as {
      transactions: { updateId: string; offset: number; recordTime: string }[];
    };
    for (const t of sdk.transactions)
      expect(r.out.find((o) => o.updateId === t.updateId)).toMatchObject({ offset: t.offset, recordTime: t.recordTime });
    expect(r.out.map((t) => t.facts.map((f) => `${f.kind}:${f.holdingsDelta}`))).toEqual([
      ['holdings_changed:1000.0000000000'], // mint
      ['transfer_out:null', 'instruction_created:null'], // offer of 500; 4 inputs predate the recording
      ['instruction_closed:-500.0000000000'], // accepted by the receiver
      ['instruction_created:null'], // receiver offers 400 back
      ['instruction_closed:400.0000000000'], // accepted: 400 in
      ['holdings_changed:0.0000000000'], // burn request locks 1016
      ['holdings_changed:-1016.0000000000'], // burned
    ]);
    expect(r.out[1]!.unresolvedHoldingCids).toHaveLength(4);
    const strict = await parse(['--party', P.utilitySender, '--strict', file('utility-token-transfer.json')]);
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(
      /update 12206499bd14\w+ at offset 60681: holding 00f8b370\w+ \(node 4\) is an input of a transfer the treasury sent/,
    );
  });

  it('active-contracts files seed holdings and instructions; other recordings are refused clearly', async () => {
    const acs = await parse(['--party', 'party::normalized', file('active-contracts-holdings.json')]);
    expect([acs.code, acs.out]).toEqual([0, []]);
    expect(acs.err).toContain('4 holdings and 0 transfer instructions');
    const ti = await parse(['--party', 'bob::normalized', file('active-contracts-transfer-instructions.json')]);
    expect(ti.err).toContain('0 holdings and 2 transfer instructions');
    for (const f of ['prepare-response-example.json', 'utility-token-transfer.expected-sdk-parse.json']) {
      const r = await parse(['--party', 'x', file(f)]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/is not a ledger update, a transaction or an active-contracts entry/);
    }
    // every recorded file is covered above
    expect(
      readdirSync(RECORDED)
        .filter((f) => f.endsWith('.json'))
        .sort(),
    ).toEqual([
      '1-step-transfer.json',
      'active-contracts-holdings.json',
      'active-contracts-transfer-instructions.json',
      'prepare-response-example.json',
      'transfer-instruction-accept.json',
      'transfer-instruction-create.json',
      'utility-token-transfer.expected-sdk-parse.json',
      'utility-token-transfer.json',
    ]);
  });

  it('bad data: exit 1 naming update id and offset; usage errors exit 2', async () => {
    const raw = loadRecorded('1-step-transfer.json') as { update: { Transaction: { value: Record<string, unknown> } } };
    delete raw.update.Transaction.value['synchronizerId'];
    const dir = mkdtempSync(path.join(tmpdir(), 'parse-'));
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(raw));
    const r = await parse(['--party', P.oneStepTreasury, path.join(dir, 'bad.json')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/updateId=122008a4\w+ offset=107: update\.Transaction\.value\.synchronizerId/);
    expect((await parse([file('1-step-transfer.json')])).code).toBe(2);
  });
});

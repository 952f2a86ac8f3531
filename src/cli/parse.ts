import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  findInterfaceView,
  HOLDING_INTERFACE_ID,
  HoldingView,
  LedgerDecodeError,
  MetadataKey,
  parseActiveContract,
  parseUpdate,
  TRANSFER_INSTRUCTION_INTERFACE_ID,
  TransferInstructionView,
} from '../ledger/schema/index.js';
import { UpdateParseError } from '../ingestion/errors.js';
import { OverlayLedgerState, type KnownHolding, type KnownInstruction, type LedgerStateLookup } from '../ingestion/ledger-state.js';
import { parseTransaction } from '../ingestion/parser.js';
import { summarizeFacts } from '../ingestion/summary.js';

/**
 * `npm run parse -- --party <party> [--strict] <file>...`
 *
 * Parses recorded ledger JSON exactly as ingestion would and prints one JSON object per
 * transaction on stdout (format: README, "Parse output format"). A file holds one /v2/updates
 * element or update-by-id response ({"update": …}), a transaction lookup ({"transaction": …}),
 * active-contracts entries ({"contractEntry": …}: they seed the treasury's known holdings and
 * transfer instructions), or an array of these. Files are read in order and share what they
 * teach, so an offer and its accept may come from two files.
 *
 * Without --strict, an input of a transfer the treasury sent whose amount no earlier input shows
 * is listed in `unresolvedHoldingCids` (recordings rarely start at the beginning of history);
 * with --strict it is an error, as in ingestion. Exit codes: 0 ok, 1 bad data, 2 usage.
 */

const USAGE = 'usage: npm run parse -- --party <party> [--strict] <file> [<file>...]';

class Seeds implements LedgerStateLookup {
  readonly holdings = new Map<string, KnownHolding>();
  readonly instructions = new Map<string, KnownInstruction>();
  holding = (cid: string) => this.holdings.get(cid);
  instruction = (cid: string) => this.instructions.get(cid);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Item = { kind: 'update'; json: unknown } | { kind: 'acs'; json: unknown } | { kind: 'other'; keys: string[] };

function classify(item: unknown): Item {
  if (isObject(item) && 'update' in item) return { kind: 'update', json: item };
  if (isObject(item) && isObject(item['transaction']) && 'updateId' in item['transaction'] && 'events' in item['transaction']) {
    return { kind: 'update', json: { update: { Transaction: { value: item['transaction'] } } } };
  }
  if (isObject(item) && 'contractEntry' in item) return { kind: 'acs', json: item };
  return { kind: 'other', keys: isObject(item) ? Object.keys(item) : [typeof item] };
}

/** The treasury's holdings and transfer instructions in an active-contracts entry. */
function seed(seeds: Seeds, json: unknown, party: string): 'holding' | 'instruction' | undefined {
  const entry = parseActiveContract(json).contractEntry;
  if (!('JsActiveContract' in entry)) return undefined;
  const ev = entry.JsActiveContract.createdEvent;
  const hv = findInterfaceView(ev.interfaceViews, HOLDING_INTERFACE_ID);
  if (hv?.viewValue !== undefined) {
    const v = HoldingView.parse(hv.viewValue);
    if (v.owner !== party) return undefined;
    seeds.holdings.set(ev.contractId, {
      contractId: ev.contractId,
      instrument: { admin: v.instrumentId.admin, id: v.instrumentId.id },
      amount: v.amount,
      locked: v.lock !== undefined,
    });
    return 'holding';
  }
  const iv = findInterfaceView(ev.interfaceViews, TRANSFER_INSTRUCTION_INTERFACE_ID);
  if (iv?.viewValue !== undefined) {
    const t = TransferInstructionView.parse(iv.viewValue).transfer;
    if (t.sender !== party && t.receiver !== party) return undefined;
    const memo = t.meta.values[MetadataKey.reason];
    seeds.instructions.set(ev.contractId, {
      contractId: ev.contractId,
      sender: t.sender,
      receiver: t.receiver,
      instrument: { admin: t.instrumentId.admin, id: t.instrumentId.id },
      amount: t.amount,
      memo: memo === undefined || memo === '' ? null : memo,
      executeBefore: t.executeBefore,
    });
    return 'instruction';
  }
  return undefined;
}

function main(argv: string[]): number {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { party: { type: 'string' }, strict: { type: 'boolean', default: false }, help: { type: 'boolean' } },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const party = values.party;
  if (party === undefined || positionals.length === 0) {
    console.error(USAGE);
    return 2;
  }
  const seeds = new Seeds();
  const state = new OverlayLedgerState(seeds);
  for (const file of positionals) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch (e) {
      console.error(`${file}: ${(e as Error).message}`);
      return 1;
    }
    const items = Array.isArray(raw) ? raw : [raw];
    const seeded = { holding: 0, instruction: 0 };
    for (const [i, item] of items.entries()) {
      const c = classify(item);
      try {
        if (c.kind === 'other') {
          console.error(
            `${file}: item ${i} is not a ledger update, a transaction or an active-contracts entry (keys: ${c.keys.join(', ')})`,
          );
          return 1;
        }
        if (c.kind === 'acs') {
          const what = seed(seeds, c.json, party);
          if (what) seeded[what]++;
          continue;
        }
        const update = parseUpdate(c.json).update;
        if (!('Transaction' in update)) continue; // checkpoints, reassignments and topology carry no facts
        const facts = parseTransaction(update.Transaction.value, party, state, { unknownOwnedHolding: values.strict ? 'fail' : 'report' });
        state.apply(facts);
        console.log(JSON.stringify(summarizeFacts(facts)));
      } catch (e) {
        if (e instanceof UpdateParseError || e instanceof LedgerDecodeError || (e instanceof Error && e.name === 'ZodError')) {
          console.error(`${file}: ${e.message}`);
          return 1;
        }
        throw e;
      }
    }
    if (seeded.holding + seeded.instruction > 0) {
      console.error(
        `${file}: known from active contracts: ${seeded.holding} holdings and ${seeded.instruction} transfer instructions of ${party}`,
      );
    }
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));

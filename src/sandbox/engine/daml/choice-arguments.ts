import type { Json } from '../../util/json.js';
import type { TransferData } from '../types.js';
import type { DamlRecordValue, DamlValue } from './types.js';

/**
 * Typed views of decoded token-standard choice arguments (see token-standard.ts), whichever
 * reader decoded them. The decoder already checked every field's type, so these only pick.
 */

export interface FactoryTransferArgument {
  readonly expectedAdmin: string;
  readonly transfer: TransferData;
  /** As decoded: what the ledger echoes as the choice argument's `extraArgs`. */
  readonly extraArgs: Json;
}

function rec(v: DamlValue | undefined): DamlRecordValue {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('a decoded record was expected');
  return v;
}

function text(v: DamlValue | undefined): string {
  if (typeof v !== 'string') throw new TypeError('a decoded text was expected');
  return v;
}

function metaValues(meta: DamlValue | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(rec(rec(meta)['values'])).map(([k, v]) => [k, text(v)]));
}

/** A decoded `TransferFactory_Transfer`. */
export function factoryTransferArgument(value: DamlValue): FactoryTransferArgument {
  const arg = rec(value);
  const t = rec(arg['transfer']);
  const instrumentId = rec(t['instrumentId']);
  const inputs = t['inputHoldingCids'];
  return {
    expectedAdmin: text(arg['expectedAdmin']),
    transfer: {
      sender: text(t['sender']),
      receiver: text(t['receiver']),
      amount: text(t['amount']),
      instrumentId: { admin: text(instrumentId['admin']), id: text(instrumentId['id']) },
      requestedAt: text(t['requestedAt']),
      executeBefore: text(t['executeBefore']),
      inputHoldingCids: (Array.isArray(inputs) ? inputs : []).map(text),
      meta: metaValues(t['meta']),
    },
    extraArgs: rec(arg['extraArgs']),
  };
}

/** The `extraArgs` of a decoded TransferInstruction_Accept / _Reject / _Withdraw. */
export function instructionChoiceExtraArgs(value: DamlValue): Json {
  return rec(rec(value)['extraArgs']);
}

import {
  HOLDING_INTERFACE_ID,
  TRANSFER_FACTORY_INTERFACE_ID,
  TRANSFER_INSTRUCTION_INTERFACE_ID,
  type EventFormatInput,
  type GetUpdatesRequestInput,
} from '../../../src/ledger/schema/index.js';

/** The event format the exchange guide recommends for the treasury: wildcard + the three interfaces with views. */
export function treasuryEventFormat(party: string, blobs = false): EventFormatInput {
  const iface = (interfaceId: string) => ({
    identifierFilter: { InterfaceFilter: { value: { interfaceId, includeInterfaceView: true, includeCreatedEventBlob: blobs } } },
  });
  return {
    filtersByParty: {
      [party]: {
        cumulative: [
          { identifierFilter: { WildcardFilter: { value: { includeCreatedEventBlob: blobs } } } },
          iface(HOLDING_INTERFACE_ID),
          iface(TRANSFER_FACTORY_INTERFACE_ID),
          iface(TRANSFER_INSTRUCTION_INTERFACE_ID),
        ],
      },
    },
    verbose: true,
  };
}

export function updatesRequest(party: string, beginExclusive: number, endInclusive?: number): GetUpdatesRequestInput {
  return {
    beginExclusive,
    ...(endInclusive !== undefined ? { endInclusive } : {}),
    updateFormat: {
      includeTransactions: { transactionShape: 'TRANSACTION_SHAPE_LEDGER_EFFECTS', eventFormat: treasuryEventFormat(party) },
    },
  };
}

type AnyObj = Record<string, unknown>;

export interface TxView {
  updateId: string;
  offset: number;
  recordTime: string;
  commandId?: string;
  externalTransactionHash?: string;
  events: AnyObj[];
}

/** Transactions of a list of /v2/updates elements, events unwrapped to {kind, ...event}. */
export function transactionsOf(elements: unknown[]): TxView[] {
  const out: TxView[] = [];
  for (const e of elements) {
    const u = (e as { update?: AnyObj }).update;
    const t = (u?.['Transaction'] as { value?: AnyObj } | undefined)?.value;
    if (!t) continue;
    const events = (t['events'] as AnyObj[]).map((ev) => {
      const [kind, body] = Object.entries(ev)[0] as [string, AnyObj];
      return { kind, ...body };
    });
    out.push({ ...(t as unknown as TxView), events });
  }
  return out;
}

export function checkpointsOf(elements: unknown[]): { offset: number; recordTime: string }[] {
  const out: { offset: number; recordTime: string }[] = [];
  for (const e of elements) {
    const u = (e as { update?: AnyObj }).update;
    const c = (u?.['OffsetCheckpoint'] as { value?: { offset: number; synchronizerTimes: { recordTime: string }[] } } | undefined)?.value;
    if (c) out.push({ offset: c.offset, recordTime: c.synchronizerTimes[0]?.recordTime ?? '' });
  }
  return out;
}

export function viewOf(event: AnyObj, entity: string): AnyObj | undefined {
  const views = (event['interfaceViews'] as { interfaceId: string; viewValue?: AnyObj }[] | undefined) ?? [];
  return views.find((v) => v.interfaceId.endsWith(`:${entity}`))?.viewValue;
}

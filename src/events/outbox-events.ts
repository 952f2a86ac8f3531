import { z } from 'zod';

/**
 * The event feed as a public contract: one schema per topic, the only shape that topic is ever
 * written in. Whoever appends an event is typed by it and checked against it (store/outbox.ts
 * refuses a payload its schema refuses), the runtimes' routers read payloads with it, and
 * GET /v1/events documents every payload from it in the OpenAPI document.
 *
 * Conventions: amounts are decimal strings, times the ledger's ISO strings, offsets integers; a
 * value that is not known is null, never absent; no topic carries fields beyond its schema.
 */

const Instrument = z.strictObject({ admin: z.string(), id: z.string() }).describe('The token: its registry admin party and id');
const Amount = z.string().describe('Decimal string');
const Time = z.string().describe('ISO 8601 timestamp');
const Offset = z.number().int().describe('Ledger offset');
const InstrumentDelta = z.strictObject({ instrument: Instrument, amount: Amount });

const WithdrawalPurpose = z.enum(['payout', 'self_transfer']);
const TransferOutcome = z
  .enum(['completed', 'pending', 'failed'])
  .describe('completed: 1-step done; pending: an offer awaits the receiver; failed: funds returned');
const OfferOutcome = z.enum(['accepted', 'rejected', 'withdrawn', 'expired', 'failed']);
const DepositKind = z.enum(['one_step', 'two_step']);

/** What every withdrawal status event carries about the withdrawal itself. */
const withdrawalBase = {
  withdrawalId: z.string(),
  account: z.string(),
  purpose: WithdrawalPurpose,
  amount: Amount,
  instrument: Instrument,
  attempt: z.number().int(),
};

/** A transfer the treasury sent, as ingestion read it from the ledger. */
const transferFacts = {
  withdrawalId: z.string(),
  updateId: z.string(),
  offset: Offset,
  recordTime: Time,
  outcome: TransferOutcome,
  transferInstructionCid: z.string().nullable(),
  amount: Amount,
  fee: Amount.nullable(),
  holdingsDelta: Amount.nullable().describe("Net change of the treasury's holdings (negative: amount and fees left)"),
  self: z.boolean(),
};

/** The transfer fields of a 2-step offer: it has no outcome yet. */
function omitOutcome<T extends { outcome: unknown }>(o: T): Omit<T, 'outcome'> {
  const { outcome: _outcome, ...rest } = o;
  return rest;
}

const NetworkFee = Amount.nullable().describe(
  "What the treasury's holdings lost beyond the amount in the ledger updates of the transfer (and of its offer's close); null when nothing was sent",
);

/** A deposit's credit (or its funds' arrival, unattributed). */
const depositFunds = {
  depositId: z.string(),
  kind: DepositKind,
  instrument: Instrument,
  sender: z.string().nullable(),
  memo: z.string().nullable(),
  transferAmount: Amount,
  creditedAmount: Amount,
  fee: Amount.nullable(),
  transferInstructionCid: z.string().nullable(),
  updateId: z.string(),
  offset: Offset,
  recordTime: Time,
};

export const OUTBOX_PAYLOADS = {
  'withdrawal.requested': z.strictObject({
    withdrawalId: z.string(),
    account: z.string(),
    instrument: Instrument,
    amount: Amount,
    receiver: z.string(),
    purpose: WithdrawalPurpose,
    utxo: z
      .strictObject({ kind: z.enum(['merge', 'split']), inputCount: z.number().int(), reason: z.string() })
      .nullable()
      .describe('Self-transfers of the UTXO policy: what they do and why; null for payouts'),
  }),
  'withdrawal.recovered': z.strictObject({
    ...transferFacts,
    purpose: WithdrawalPurpose,
    receiver: z.string(),
    instrument: Instrument,
    memo: z.string().nullable(),
  }),
  'withdrawal.transferred': z
    .strictObject(transferFacts)
    .describe("A committed transfer with this withdrawal's memo (outcome pending only in events written before withdrawal.offered)"),
  'withdrawal.offered': z
    .strictObject({ ...omitOutcome(transferFacts), executeBefore: Time.nullable() })
    .describe(
      'A 2-step offer of this withdrawal is on the ledger, awaiting the receiver; its close comes as withdrawal.instruction_closed',
    ),
  'withdrawal.instruction_closed': z.strictObject({
    withdrawalId: z.string(),
    outcome: OfferOutcome,
    transferInstructionCid: z.string(),
    updateId: z.string().nullable().describe('Null when the offer expired without a transaction (decided from record time)'),
    offset: Offset.nullable(),
    recordTime: Time,
    executeBefore: Time.nullable(),
    holdingsDelta: z.array(InstrumentDelta),
    fee: Amount.nullable(),
  }),
  'withdrawal.attempt_expired': z.strictObject({
    withdrawalId: z.string(),
    attempt: z.number().int(),
    deadline: Time,
    recordTime: Time.describe("The record time of the attempt's synchronizer that passed the deadline"),
    synchronizerId: z.string(),
  }),
  'withdrawal.pending_acceptance': z.strictObject({
    ...withdrawalBase,
    updateId: z.string().nullable(),
    transferInstructionCid: z.string().nullable(),
  }),
  'withdrawal.completed': z.strictObject({
    ...withdrawalBase,
    updateId: z.string().nullable(),
    outcomeUpdateId: z.string().nullable(),
    transferInstructionCid: z.string().nullable(),
    networkFee: NetworkFee,
  }),
  'withdrawal.failed': z.strictObject({
    ...withdrawalBase,
    reason: z.string().nullable(),
    reasonCode: z.string().nullable().describe("The withdrawal's statusCode (closed set)"),
    cancelled: z.boolean(),
    recredit: z.boolean().describe('A payout that did not happen: the exchange re-credits the customer'),
    transferUpdateId: z.string().nullable(),
    outcomeUpdateId: z.string().nullable(),
    networkFee: NetworkFee,
  }),
  'deposit.offer_received': z.strictObject({
    depositId: z.string(),
    transferInstructionCid: z.string(),
    memo: z.string().nullable(),
    accountId: z.string().nullable(),
    sender: z.string(),
    executeBefore: Time,
    amount: Amount,
    instrument: Instrument,
    updateId: z.string(),
    offset: Offset,
    recordTime: Time,
  }),
  'deposit.credited': z.strictObject({
    ...depositFunds,
    accountId: z.string(),
    assignedBy: z.string().nullable().describe('Set when an operator assigned unattributed funds to the account'),
  }),
  'deposit.unattributed': z.strictObject(depositFunds),
  'deposit.offer_closed': z.strictObject({
    depositId: z.string(),
    outcome: OfferOutcome,
    transferInstructionCid: z.string(),
    updateId: z.string().nullable().describe('Null when the offer expired without a transaction (decided from record time)'),
    recordTime: Time.nullable(),
    executeBefore: Time.nullable(),
  }),
  'deposit.accept_failed': z.strictObject({
    depositId: z.string(),
    accountId: z.string().nullable(),
    transferInstructionCid: z.string().nullable(),
    reason: z.string().nullable(),
    attempts: z.number().int(),
  }),
  'deposit.ignored': z.strictObject({
    depositId: z.string(),
    kind: DepositKind,
    reason: z.string(),
    contractId: z.string(),
    templateId: z.string(),
    instrument: Instrument,
    amount: Amount,
    sender: z.string().nullable(),
    memo: z.string().nullable(),
    signatories: z.array(z.string()),
    transferInstructionCid: z.string().nullable(),
    updateId: z.string(),
    offset: Offset,
    recordTime: Time,
  }),
  'operator.switch_changed': z.strictObject({
    name: z.string(),
    paused: z.boolean(),
    reason: z.string().nullable(),
    by: z.string(),
    changedAt: Time,
  }),
  'instrument.configured': z.strictObject({
    action: z.enum(['added', 'changed', 'disabled', 'enabled']),
    admin: z.string(),
    id: z.string(),
    changed: z.array(z.string()),
    by: z.string(),
    config: z.record(z.string(), z.unknown()).describe('The configuration as GET /v1/instruments/{admin}/{id} shows it (no credentials)'),
    adopted: z
      .strictObject({ holdings: z.number().int(), atOffset: Offset.nullable() })
      .nullable()
      .describe("Onboarding: the treasury's holdings already on the ledger, adopted"),
  }),
} as const;

export type OutboxTopic = keyof typeof OUTBOX_PAYLOADS;
export const OUTBOX_TOPICS = Object.keys(OUTBOX_PAYLOADS) as [OutboxTopic, ...OutboxTopic[]];
export type OutboxPayload<T extends OutboxTopic> = z.output<(typeof OUTBOX_PAYLOADS)[T]>;

/** Which aggregate a topic's events are about (its prefix, except switches). */
export type OutboxAggregateType = 'withdrawal' | 'deposit' | 'switch' | 'instrument';

/** An event to append: its topic decides its payload's type. */
export type OutboxEventInput = {
  [T in OutboxTopic]: { topic: T; aggregateType: OutboxAggregateType; aggregateId: string; payload: OutboxPayload<T> };
}[OutboxTopic];

export class OutboxPayloadError extends Error {
  override readonly name = 'OutboxPayloadError';
}

/** The payload as its topic's schema has it; throws when it is not that shape (a producer's bug). */
export function checkedPayload<T extends OutboxTopic>(topic: T, payload: unknown): OutboxPayload<T> {
  // Typed callers cannot name another topic; an untyped one (JSON, a cast) still must not publish it.
  if (!isOutboxTopic(topic)) throw new OutboxPayloadError(`${String(topic)} is not a topic of the event feed`);
  const parsed = OUTBOX_PAYLOADS[topic].safeParse(payload);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ');
    throw new OutboxPayloadError(`${topic} payload does not match its schema: ${issues}`);
  }
  return parsed.data as OutboxPayload<T>;
}

export function isOutboxTopic(topic: string): topic is OutboxTopic {
  return Object.hasOwn(OUTBOX_PAYLOADS, topic);
}

/**
 * Every event as GET /v1/events serves it, one member per topic (the OpenAPI document shows each).
 * Events are read back as they were written, so this schema documents; it is not re-checked.
 */
export const OutboxEventSchema: z.ZodType<StoredOutboxEvent> = z.discriminatedUnion(
  'topic',
  OUTBOX_TOPICS.map((topic) =>
    z.object({
      eventId: z.number().int(),
      createdAt: Time,
      topic: z.literal(topic),
      aggregateType: z.string(),
      aggregateId: z.string(),
      payload: OUTBOX_PAYLOADS[topic],
    }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
) as unknown as z.ZodType<StoredOutboxEvent>;

/** An event as read back from the outbox: its payload as written. */
export type StoredOutboxEvent = {
  eventId: number;
  createdAt: string;
  topic: string;
  aggregateType: string;
  aggregateId: string;
  payload: Record<string, unknown>;
};

import { OUTBOX_PAYLOADS, type OutboxEventInput, type OutboxPayload, type OutboxTopic } from '../../src/events/outbox-events.js';

/**
 * A valid payload of every topic (src/events/outbox-events.ts), for tests that publish events by
 * hand: `sampleEvent('withdrawal.transferred', 'w1', { outcome: 'pending' })`. Whatever a test
 * does not care about has a plausible value; the result is checked against the topic's schema.
 */
const INSTRUMENT = { admin: 'DSO::1220aa', id: 'Amulet' };
const AT = '2026-01-01T00:00:00.000000Z';

const SAMPLES: { [T in OutboxTopic]: (id: string) => OutboxPayload<T> } = {
  'withdrawal.requested': (id) => ({
    withdrawalId: id,
    account: 'acct',
    instrument: INSTRUMENT,
    amount: '5.0000000000',
    receiver: 'alice::1220bb',
    purpose: 'payout',
    utxo: null,
  }),
  'withdrawal.recovered': (id) => ({ ...transfer(id), purpose: 'payout', receiver: 'alice::1220bb', instrument: INSTRUMENT, memo: id }),
  'withdrawal.transferred': (id) => transfer(id),
  'withdrawal.instruction_closed': (id) => ({
    withdrawalId: id,
    outcome: 'accepted',
    transferInstructionCid: `ti-${id}`,
    updateId: `closed-${id}`,
    offset: 2,
    recordTime: AT,
    executeBefore: null,
    holdingsDelta: [],
    fee: null,
  }),
  'withdrawal.attempt_expired': (id) => ({
    withdrawalId: id,
    attempt: 1,
    deadline: AT,
    recordTime: AT,
    synchronizerId: 'global-domain::1220cc',
  }),
  'withdrawal.pending_acceptance': (id) => ({ ...withdrawal(id), updateId: `tx-${id}`, transferInstructionCid: `ti-${id}` }),
  'withdrawal.offered': (id) => {
    const { outcome: _outcome, ...offer } = transfer(id);
    return { ...offer, transferInstructionCid: `ti-${id}`, executeBefore: AT };
  },
  'withdrawal.completed': (id) => ({
    ...withdrawal(id),
    updateId: `tx-${id}`,
    outcomeUpdateId: null,
    transferInstructionCid: null,
    networkFee: null,
  }),
  'withdrawal.failed': (id) => ({
    ...withdrawal(id),
    reason: 'failed',
    reasonCode: 'PERMANENT_FAILURE',
    cancelled: false,
    recredit: true,
    transferUpdateId: null,
    outcomeUpdateId: null,
    networkFee: null,
  }),
  'deposit.offer_received': (id) => ({
    depositId: id,
    transferInstructionCid: id,
    memo: null,
    accountId: null,
    sender: 'bob::1220dd',
    executeBefore: AT,
    amount: '5.0000000000',
    instrument: INSTRUMENT,
    updateId: `offer-${id}`,
    offset: 1,
    recordTime: AT,
  }),
  'deposit.credited': (id) => ({ ...funds(id), accountId: 'acct', assignedBy: null }),
  'deposit.unattributed': (id) => funds(id),
  'deposit.offer_closed': (id) => ({
    depositId: id,
    outcome: 'accepted',
    transferInstructionCid: id,
    updateId: `closed-${id}`,
    recordTime: AT,
    executeBefore: null,
  }),
  'deposit.accept_failed': (id) => ({ depositId: id, accountId: null, transferInstructionCid: id, reason: 'failed', attempts: 3 }),
  'deposit.ignored': (id) => ({
    depositId: id,
    kind: 'one_step',
    reason: 'not a holding of a known instrument',
    contractId: `c-${id}`,
    templateId: 'pkg:Mod:T',
    instrument: INSTRUMENT,
    amount: '1.0000000000',
    sender: null,
    memo: null,
    signatories: [],
    transferInstructionCid: null,
    updateId: `tx-${id}`,
    offset: 1,
    recordTime: AT,
  }),
  'operator.switch_changed': (id) => ({ name: id, paused: true, reason: 'test', by: 'ops', changedAt: AT }),
  'instrument.configured': (id) => ({ action: 'added', admin: INSTRUMENT.admin, id, changed: [], by: 'ops', config: {}, adopted: null }),
};

function transfer(id: string): OutboxPayload<'withdrawal.transferred'> {
  return {
    withdrawalId: id,
    updateId: `tx-${id}`,
    offset: 1,
    recordTime: AT,
    outcome: 'completed',
    transferInstructionCid: null,
    amount: '5.0000000000',
    fee: null,
    holdingsDelta: null,
    self: false,
  };
}

function withdrawal(id: string) {
  return { withdrawalId: id, account: 'acct', purpose: 'payout' as const, amount: '5.0000000000', instrument: INSTRUMENT, attempt: 1 };
}

function funds(id: string): OutboxPayload<'deposit.unattributed'> {
  return {
    depositId: id,
    kind: 'two_step',
    instrument: INSTRUMENT,
    sender: 'bob::1220dd',
    memo: null,
    transferAmount: '5.0000000000',
    creditedAmount: '5.0000000000',
    fee: null,
    transferInstructionCid: id,
    updateId: `credit-${id}`,
    offset: 1,
    recordTime: AT,
  };
}

const AGGREGATE: Record<string, OutboxEventInput['aggregateType']> = {
  withdrawal: 'withdrawal',
  deposit: 'deposit',
  operator: 'switch',
  instrument: 'instrument',
};

export function samplePayload<T extends OutboxTopic>(topic: T, id: string, overrides: Partial<OutboxPayload<T>> = {}): OutboxPayload<T> {
  return OUTBOX_PAYLOADS[topic].parse({ ...SAMPLES[topic](id), ...overrides }) as OutboxPayload<T>;
}

export function sampleEvent<T extends OutboxTopic>(topic: T, id: string, overrides: Partial<OutboxPayload<T>> = {}): OutboxEventInput {
  return {
    topic,
    aggregateType: AGGREGATE[topic.split('.')[0]!]!,
    aggregateId: id,
    payload: samplePayload(topic, id, overrides),
  } as OutboxEventInput;
}

import { createHash } from 'node:crypto';
import type { Logger } from '../../logger.js';
import { cantonHash, ed25519Fingerprint, HashPurpose, isValidPartyHint, partyIdOf } from '../util/ids.js';
import { publicKeyFromLedgerKey, rawPublicKey, verifyEd25519 } from '../util/ed25519.js';
import { Rng } from '../util/rng.js';
import { isoToMicros, microsToIso, type Micros } from '../util/time.js';
import { RecordTimeClock, type ClockMode } from './clock.js';
import { interpretationError, LedgerError } from './errors.js';
import { InstrumentConfig, senderFee, type Instrument, type InstrumentConfigInput } from './instruments.js';
import { Ledger, rightKey, type PartyRecord, type UserRecord, type UserRight } from './ledger.js';
import { factoryContext, instructionContext } from './registry-context.js';
import { holdingInfo, instructionTransfer } from './templates.js';
import type { TxPlan } from './tx.js';
import type { CommittedTx, Contract, Payload, TransferData } from './types.js';
import { emptyExtraArgs, MetaKeys, Workflows, type InstructionChoice, type TransferKind } from './workflows.js';
import { Counterfeits, type CounterfeitClaim, type CounterfeitIssue } from './counterfeit.js';
import { compareAmounts, addAmounts, isPositiveAmount, normalizeAmount } from '../../lib/decimal.js';
import type { CommitOptions } from './ledger.js';
import {
  parseSnapshotHeader,
  restoreMeta,
  restoreSnapshot,
  shiftOffsetsAfter,
  takeMeta,
  takeSnapshot,
  type Snapshot,
  type SnapshotMeta,
} from './snapshot.js';

/** Record time of the import transactions of a major upgrade (CantonTimestamp.MinValue). */
export const IMPORT_RECORD_TIME = '0001-01-01T00:00:00Z';

export interface EngineOptions {
  readonly seed?: string;
  readonly clock?: { mode: ClockMode; start?: string };
  readonly instruments: readonly InstrumentConfigInput[];
  readonly participantHint?: string;
  readonly logger?: Logger;
  /**
   * Canton Coin family: a new OpenMiningRound every this many ms of record time, the one two
   * rounds back is archived (so a round stays usable for about two periods); 0 = never.
   */
  readonly roundDurationMs?: number;
  /** Continue from a saved state (snapshot.ts) instead of a new, empty ledger. */
  readonly restore?: Snapshot;
}

export interface TopologyProposal {
  readonly partyId: string;
  readonly fingerprint: string;
  readonly transactions: readonly Buffer[];
  readonly multiHash: Buffer;
}

const TOPOLOGY_MAGIC = Buffer.from('sbx-topology-v1:');

/** Outcome of a transfer the double performs for one of its own (scripted) parties. */
export interface DirectTransferResult {
  readonly tx: CommittedTx;
  readonly kind: TransferKind;
  readonly transferInstructionCid?: string;
}

/**
 * The ledger double's engine: the Ledger plus the token instruments, their admins and
 * infrastructure contracts, parties (internal and external), users and rights, and the actions
 * the double performs for its own parties (customers, admins).
 */
export class SandboxEngine {
  readonly ledger: Ledger;
  readonly workflows: Workflows;
  readonly rng: Rng;
  readonly instruments: Instrument[] = [];
  readonly participantNamespace: string;
  /** Provider of every TransferPreapproval the double creates (stands for the validator operator). */
  validatorOperator = '';
  private readonly logger: Logger | undefined;
  private readonly roundDurationMs: number;

  constructor(opts: EngineOptions) {
    this.rng = new Rng(opts.seed);
    const clock = new RecordTimeClock(opts.clock?.mode ?? 'real', opts.clock?.start ? isoToMicros(opts.clock.start) : undefined);
    const idRng = this.rng.fork('ids');
    const configs = opts.instruments.map((i) => InstrumentConfig.parse(i));
    this.logger = opts.logger;
    this.roundDurationMs = opts.roundDurationMs ?? 600_000;
    const snap = opts.restore;
    if (snap) {
      parseSnapshotHeader(snap);
      this.participantNamespace = snap.participantNamespace;
      // Fresh ids must not repeat the saved ones: a restored double draws from a new stream.
      this.ledger = new Ledger(snap.participantId, snap.synchronizerId, new Rng().fork('ids'), clock);
      this.workflows = new Workflows(this.ledger);
      restoreSnapshot(this.ledger, snap);
      this.validatorOperator = snap.validatorOperator;
      for (const config of configs) {
        const saved = snap.instruments.find((i) => i.id === config.id && i.admin.startsWith(`${config.adminHint}::`));
        if (!saved) throw new Error(`the saved ledger has no instrument ${config.adminHint}/${config.id}`);
        const { id: _id, ...rest } = saved;
        this.instruments.push({ ...rest, config });
      }
      return;
    }
    this.participantNamespace = `1220${idRng.hex(32)}`;
    const participantId = `PAR::${opts.participantHint ?? 'sandbox-participant'}::${this.participantNamespace}`;
    const synchronizerId = `global-domain::1220${idRng.hex(32)}`;
    this.ledger = new Ledger(participantId, synchronizerId, idRng, clock);
    this.workflows = new Workflows(this.ledger);
    this.genesis(configs);
  }

  /** The whole state, to continue later (see snapshot.ts). */
  snapshot(): Snapshot {
    return takeSnapshot(this.ledger, {
      participantNamespace: this.participantNamespace,
      validatorOperator: this.validatorOperator,
      instruments: this.instruments,
    });
  }

  /** Parties, users, instruments and the clock: what a journal writes whole when one changes. */
  meta(): SnapshotMeta {
    return takeMeta(this.ledger, { validatorOperator: this.validatorOperator, instruments: this.instruments });
  }

  /** Puts journalled engine-level state back (src/sandbox/durable.ts). */
  restoreMeta(meta: SnapshotMeta): void {
    restoreMeta(this.ledger, meta);
    this.validatorOperator = meta.validatorOperator;
    for (const { id, ...saved } of meta.instruments) {
      const inst = this.instruments.find((i) => i.config.id === id && i.admin === saved.admin);
      if (inst) Object.assign(inst, saved);
    }
  }

  get clock(): RecordTimeClock {
    return this.ledger.clock;
  }

  /**
   * The node restored from a backup `snap` (taken earlier with snapshot()), in place. Update ids
   * and record times are the synchronizer's and stay; offsets are the participant's own and do
   * not: with `redeliver`, every update committed after the backup is delivered again by the
   * synchronizer (same id, record time and effects) at its offset plus `offsetShift`; without it,
   * those updates are lost (a sequencer that no longer has them, or a double whose state file fell
   * behind) and the next update takes the offset after the backup's end plus `offsetShift`. The
   * record-time clock goes on (a later commit never gets an earlier time); open streams are the
   * caller's to cut.
   */
  restoreNode(snap: Snapshot, opts: { redeliver: boolean; offsetShift: number }): void {
    if (!Number.isInteger(opts.offsetShift) || opts.offsetShift < 0) throw new RangeError('offsetShift must be a non-negative integer');
    if (snap.participantId !== this.ledger.participantId) throw new RangeError('the backup is of another participant');
    if (snap.synchronizerId !== this.ledger.synchronizerId)
      throw new RangeError('the backup is from before a major upgrade: restore it onto the old synchronizer is not modelled');
    const base = opts.redeliver ? this.snapshot() : snap;
    const restored = shiftOffsetsAfter(base, snap.end, opts.offsetShift);
    const clock = this.ledger.clock.exportState();
    this.ledger.clearForRestore();
    restoreSnapshot(this.ledger, restored);
    this.ledger.clock.importState(clock);
    for (const inst of this.instruments) {
      const saved = base.instruments.find((i) => i.id === inst.config.id && i.admin === inst.admin);
      if (!saved) continue;
      const { id: _id, ...rest } = saved;
      Object.assign(inst, rest);
    }
    this.ledger.notify();
  }

  /**
   * A major upgrade (hard synchronizer migration) of this node: a new synchronizer, history not
   * carried over, the active contracts imported at record time 0001-01-01T00:00:00Z
   * (Ledger.migrateSynchronizer). Returns the new synchronizer id and the import transactions.
   */
  majorUpgrade(): { synchronizerId: string; imports: CommittedTx[] } {
    const synchronizerId = `global-domain::1220${this.ledger.ids.hex(32)}`;
    const imports = this.ledger.migrateSynchronizer(synchronizerId, isoToMicros(IMPORT_RECORD_TIME));
    return { synchronizerId, imports };
  }

  /** Admin parties, their infrastructure contracts, and the participant admin user. */
  private genesis(configs: InstrumentConfig[]): void {
    this.users().set('participant_admin', {
      id: 'participant_admin',
      isDeactivated: false,
      annotations: {},
      resourceVersion: 0,
      rights: [{ kind: 'ParticipantAdmin' }],
    });
    this.validatorOperator = this.allocateInternal('sandbox-validator').party;
    const admins = new Map<string, { admin: string; operator: string; provider: string }>();
    for (const config of configs) {
      let a = admins.get(config.adminHint);
      if (!a) {
        const admin = this.addParty(partyIdOf(config.adminHint, this.ledger.ids.namespace()), config.adminHint);
        const operator =
          config.family === 'registry'
            ? this.addParty(partyIdOf(`${config.registry}-operator`, this.ledger.ids.namespace()), `${config.registry}-operator`)
            : admin;
        const provider =
          config.family === 'registry'
            ? this.addParty(partyIdOf(`${config.registry}-provider`, this.ledger.ids.namespace()), `${config.registry}-provider`)
            : admin;
        a = { admin: admin.party, operator: operator.party, provider: provider.party };
        admins.set(config.adminHint, a);
      }
      if (config.family === 'amulet' && config.id !== 'Amulet') throw new Error('Canton Coin–family instruments have the id "Amulet"');
      const inst: Instrument = { config, admin: a.admin, operator: a.operator, provider: a.provider, factoryCid: '', round: '1' };
      const at = this.ledger.nowIso();
      const created: { kind: keyof Instrument; payload: Payload }[] =
        config.family === 'amulet'
          ? [
              { kind: 'rulesCid', payload: { t: 'AmuletRules', dso: a.admin, synchronizerId: this.ledger.synchronizerId } },
              { kind: 'factoryCid', payload: { t: 'ExternalPartyAmuletRules', dso: a.admin } },
              {
                kind: 'openRoundCid',
                payload: {
                  t: 'OpenMiningRound',
                  dso: a.admin,
                  round: '1',
                  opensAt: at,
                  targetClosesAt: microsToIso(isoToMicros(at) + 600_000_000n),
                },
              },
            ]
          : [
              { kind: 'factoryCid', payload: { t: 'AllocationFactory', operator: a.operator, provider: a.provider, registrar: a.admin } },
              { kind: 'transferRuleCid', payload: { t: 'TransferRule', operator: a.operator, provider: a.provider, registrar: a.admin } },
              {
                kind: 'instrumentConfigCid',
                payload: {
                  t: 'InstrumentConfiguration',
                  operator: a.operator,
                  provider: a.provider,
                  registrar: a.admin,
                  instrumentId: config.id,
                },
              },
            ];
      const contracts = created.map((c) => ({
        ...c,
        contract: { contractId: this.ledger.ids.discriminator(), payload: c.payload, createdAt: at },
      }));
      const tx = this.ledger.commit({
        effectiveAt: at,
        description: 'genesis',
        roots: contracts.map((c) => ({ kind: 'create' as const, contract: c.contract })),
      });
      contracts.forEach((c, i) => {
        const node = tx.nodes[i];
        if (node?.kind === 'create') (inst as unknown as Record<string, string>)[c.kind] = node.contract.contractId;
      });
      if (inst.openRoundCid) {
        inst.openRounds = [inst.openRoundCid];
        inst.roundOpenedAt = at;
      }
      this.instruments.push(inst);
    }
  }

  // ---------------------------------------------------------------- instruments

  instrument(admin: string, id: string): Instrument | undefined {
    return this.instruments.find((i) => i.admin === admin && i.config.id === id);
  }

  instrumentBySymbolOrId(key: string): Instrument | undefined {
    return this.instruments.find((i) => i.config.id === key || i.config.symbol === key);
  }

  instrumentsOfRegistry(registry: string): Instrument[] {
    return this.instruments.filter((i) => i.config.registry === registry);
  }

  instrumentOfAdmin(admin: string): Instrument[] {
    return this.instruments.filter((i) => i.admin === admin);
  }

  /** The instrument a factory or instruction contract belongs to. */
  instrumentOfContract(c: Contract): Instrument | undefined {
    const t = instructionTransfer(c);
    if (t) return this.instrument(t.instrumentId.admin, t.instrumentId.id);
    return this.instruments.find((i) => i.factoryCid === c.contractId);
  }

  // ---------------------------------------------------------------- parties

  private addParty(party: string, hint: string, external?: PartyRecord['external']): PartyRecord {
    if (this.ledger.parties.has(party)) {
      // Canton turns the topology's ALREADY_EXISTS into INVALID_ARGUMENT (ApiPartyManagementService.alreadyExistsError).
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        `The submitted request has invalid arguments: Party already exists: party ${party} is already allocated on this node`,
      );
    }
    const rec: PartyRecord = { party, hint, isLocal: true, annotations: {}, resourceVersion: 0, ...(external ? { external } : {}) };
    this.ledger.parties.set(party, rec);
    this.ledger.metaChanged();
    return rec;
  }

  /** A party known from elsewhere (replayed recordings), hosted here so users can read as it. */
  addKnownParty(party: string): PartyRecord {
    return this.ledger.parties.get(party) ?? this.addParty(party, party.split('::')[0] ?? party);
  }

  /** An internal (participant-hosted key) party: "<hint>::<participant namespace>". */
  allocateInternal(hint?: string): PartyRecord {
    const h = hint ?? `party-${this.ledger.ids.hex(4)}`;
    if (!isValidPartyHint(h))
      throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: invalid party hint "${h}"`);
    return this.addParty(partyIdOf(h, this.participantNamespace), h);
  }

  /** POST /v2/parties/external/generate-topology: the onboarding transactions to sign. */
  generateTopology(partyHint: string, keyData: Buffer, format: string, keySpec: string): TopologyProposal {
    if (!isValidPartyHint(partyHint))
      throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: invalid party hint "${partyHint}"`);
    if (keySpec !== 'SIGNING_KEY_SPEC_EC_CURVE25519') {
      throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: unsupported key spec ${keySpec}`);
    }
    let raw: Buffer;
    try {
      raw = rawPublicKey(publicKeyFromLedgerKey(keyData, format));
    } catch (e) {
      throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: invalid public key: ${(e as Error).message}`);
    }
    const fingerprint = ed25519Fingerprint(raw);
    const partyId = partyIdOf(partyHint, fingerprint);
    const mappings = [
      { mapping: 'NamespaceDelegation', namespace: fingerprint, targetKey: raw.toString('base64'), isRootDelegation: true },
      { mapping: 'PartyToKeyMapping', party: partyId, threshold: 1, signingKeys: [raw.toString('base64')] },
      {
        mapping: 'PartyToParticipant',
        party: partyId,
        threshold: 1,
        participants: [{ participantUid: this.ledger.participantId.replace(/^PAR::/, ''), permission: 'Confirmation' }],
      },
    ];
    const transactions = mappings.map((m) =>
      Buffer.concat([TOPOLOGY_MAGIC, Buffer.from(JSON.stringify({ serial: 1, operation: 'Replace', ...m }))]),
    );
    return { partyId, fingerprint, transactions, multiHash: this.multiHash(transactions) };
  }

  private multiHash(transactions: readonly Buffer[]): Buffer {
    const hashes = transactions.map((t) => cantonHash(HashPurpose.TopologyTransactionSignature, t)).sort(Buffer.compare);
    return cantonHash(HashPurpose.MultiTopologyTransaction, ...hashes);
  }

  /**
   * POST /v2/parties/external/allocate: the transactions must be the ones generate-topology
   * produced for one party, signed by the party's key (over multiHash, or each transaction over
   * its own hash).
   */
  allocateExternal(
    transactions: readonly {
      transaction: Buffer;
      signatures: readonly { signature: Buffer; signedBy: string; format: string; algorithm: string }[];
    }[],
    multiHashSignatures: readonly { signature: Buffer; signedBy: string; format: string; algorithm: string }[],
  ): PartyRecord {
    const decoded = transactions.map((t) => {
      if (!t.transaction.subarray(0, TOPOLOGY_MAGIC.length).equals(TOPOLOGY_MAGIC)) {
        throw LedgerError.of('INVALID_ARGUMENT', 'The submitted request has invalid arguments: cannot decode topology transaction');
      }
      return JSON.parse(t.transaction.subarray(TOPOLOGY_MAGIC.length).toString('utf8')) as Record<string, unknown>;
    });
    const p2k = decoded.find((d) => d['mapping'] === 'PartyToKeyMapping');
    const ns = decoded.find((d) => d['mapping'] === 'NamespaceDelegation');
    const p2p = decoded.find((d) => d['mapping'] === 'PartyToParticipant');
    if (!p2k || !ns || !p2p || typeof p2k['party'] !== 'string' || typeof ns['targetKey'] !== 'string' || p2p['party'] !== p2k['party']) {
      // Canton: ValidationErrors.invalidArgument of ExternalPartyOnboardingDetails.create's complaint.
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        'The submitted request has invalid arguments: Party allocation needs a namespace delegation, a party-to-key and a party-to-participant mapping for one party',
      );
    }
    const partyId = p2k['party'];
    const raw = Buffer.from(ns['targetKey'], 'base64');
    const key = publicKeyFromLedgerKey(raw, 'CRYPTO_KEY_FORMAT_RAW');
    const fingerprint = ed25519Fingerprint(raw);
    if (!partyId.endsWith(`::${fingerprint}`))
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        'The submitted request has invalid arguments: the party namespace is not the fingerprint of its key',
      );
    const okSig = (s: { signature: Buffer; signedBy: string; format: string; algorithm: string }, data: Buffer) =>
      s.signedBy === fingerprint &&
      (s.format === 'SIGNATURE_FORMAT_CONCAT' || s.format === 'SIGNATURE_FORMAT_RAW') &&
      s.algorithm === 'SIGNING_ALGORITHM_SPEC_ED25519' &&
      verifyEd25519(key, data, s.signature);
    const multiHash = this.multiHash(transactions.map((t) => t.transaction));
    const byMultiHash = multiHashSignatures.some((s) => okSig(s, multiHash));
    const byEach = transactions.every((t) =>
      t.signatures.some((s) => okSig(s, cantonHash(HashPurpose.TopologyTransactionSignature, t.transaction))),
    );
    if (!byMultiHash && !byEach) {
      throw LedgerError.of(
        'INVALID_ARGUMENT',
        `The submitted request has invalid arguments: Missing or invalid signature of the party namespace key ${fingerprint} on the onboarding transactions`,
      );
    }
    const hint = partyId.slice(0, partyId.indexOf('::'));
    return this.addParty(partyId, hint, { publicKey: key, fingerprint });
  }

  // ---------------------------------------------------------------- users and rights

  users(): Map<string, UserRecord> {
    return this.ledger.users;
  }

  createUser(id: string, primaryParty: string | undefined, rights: UserRight[], annotations: Record<string, string> = {}): UserRecord {
    if (this.ledger.users.has(id)) throw LedgerError.of('USER_ALREADY_EXISTS', `User ${id} already exists`);
    if (!/^[a-zA-Z0-9@^$.!`\-#+'~_|:()]{1,128}$/.test(id))
      throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: invalid user id "${id}"`);
    const u: UserRecord = {
      id,
      ...(primaryParty ? { primaryParty } : {}),
      isDeactivated: false,
      annotations,
      resourceVersion: 0,
      rights: [],
    };
    this.ledger.users.set(id, u);
    this.ledger.metaChanged();
    this.grantRights(id, rights);
    return u;
  }

  /** Grants rights; returns the ones that were new. */
  grantRights(userId: string, rights: readonly UserRight[]): UserRight[] {
    const u = this.ledger.users.get(userId);
    if (!u) throw LedgerError.of('USER_NOT_FOUND', `User not found: ${userId}`);
    const have = new Set(u.rights.map(rightKey));
    const added: UserRight[] = [];
    for (const r of rights) {
      if ('party' in r && !this.ledger.parties.has(r.party)) {
        throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: unknown party ${r.party}`);
      }
      if (!have.has(rightKey(r))) {
        have.add(rightKey(r));
        u.rights.push(r);
        added.push(r);
      }
    }
    if (added.length > 0) this.ledger.metaChanged();
    return added;
  }

  revokeRights(userId: string, rights: readonly UserRight[]): UserRight[] {
    const u = this.ledger.users.get(userId);
    if (!u) throw LedgerError.of('USER_NOT_FOUND', `User not found: ${userId}`);
    const drop = new Set(rights.map(rightKey));
    const removed = u.rights.filter((r) => drop.has(rightKey(r)));
    u.rights = u.rights.filter((r) => !drop.has(rightKey(r)));
    if (removed.length > 0) this.ledger.metaChanged();
    return removed;
  }

  // ---------------------------------------------------------------- actions of the double's own parties

  /** Commits a plan at once (the double's own parties and admins need no signatures). */
  commitDirect(plan: TxPlan, opts: CommitOptions = {}): CommittedTx {
    const tx = this.ledger.commit(plan, opts);
    this.logger?.debug({ offset: tx.offset, updateId: tx.updateId, what: plan.description }, 'sandbox commit');
    return tx;
  }

  mint(owner: string, instrument: Instrument, amount: string): CommittedTx {
    return this.commitDirect(this.workflows.mint(instrument, owner, amount));
  }

  createPreapproval(receiver: string, instrument: Instrument): CommittedTx {
    return this.commitDirect(this.workflows.createPreapproval(instrument, receiver, this.validatorOperator));
  }

  /** Unlocked holdings of `owner` in `instrument`, largest first (what a wallet would pick). */
  spendableHoldings(owner: string, instrument: Instrument): { contract: Contract; amount: string }[] {
    return this.ledger
      .holdingsOf(owner)
      .map((c) => ({ contract: c, info: holdingInfo(c.payload) }))
      .filter((h) => h.info && !h.info.locked && h.info.admin === instrument.admin && h.info.instrumentId === instrument.config.id)
      .map((h) => ({ contract: h.contract, amount: h.info?.amount ?? '0' }))
      .sort((a, b) => compareAmounts(b.amount, a.amount));
  }

  /**
   * A token-standard transfer by one of the double's own parties, exactly as its wallet would
   * do it: ask the registry for the factory and context, pick inputs, exercise the factory.
   * `mode` 'offer' forces a 2-step transfer even when the receiver has a preapproval.
   */
  transferAs(args: {
    sender: string;
    receiver: string;
    instrument: Instrument;
    amount: string;
    memo?: string | undefined;
    mode?: 'auto' | 'offer';
    executeBefore?: string;
    inputs?: string[];
    synchronizerId?: string;
  }): DirectTransferResult {
    const inst = args.instrument;
    if (!isPositiveAmount(args.amount)) throw interpretationError('amount must be positive');
    const amount = normalizeAmount(args.amount);
    const ctx = factoryContext(this.ledger, inst, { sender: args.sender, receiver: args.receiver });
    const contextValues = { ...ctx.contextValues };
    if (args.mode === 'offer') delete contextValues['transfer-preapproval'];
    let inputs = args.inputs;
    if (!inputs) {
      const need = args.sender === args.receiver ? amount : addAmounts(amount, senderFee(inst, amount));
      inputs = [];
      let have = '0';
      for (const h of this.spendableHoldings(args.sender, inst)) {
        if (compareAmounts(have, need) >= 0) break;
        inputs.push(h.contract.contractId);
        have = addAmounts(have, h.amount);
      }
    }
    const now = this.ledger.clock.now();
    const transfer: TransferData = {
      sender: args.sender,
      receiver: args.receiver,
      amount,
      instrumentId: { admin: inst.admin, id: inst.config.id },
      requestedAt: microsToIso(now - 1_000_000n),
      executeBefore: args.executeBefore ?? microsToIso(now + 24n * 3600n * 1_000_000n),
      inputHoldingCids: inputs,
      meta: args.memo === undefined ? {} : { [MetaKeys.reason]: args.memo },
    };
    const req = { instrument: inst, factory: ctx.factory, expectedAdmin: inst.admin, transfer, extraArgs: emptyExtraArgs(contextValues) };
    const kind = this.workflows.transferKind(req);
    const tx = this.commitDirect(this.workflows.factoryTransfer(req), {
      submitter: { userId: 'sandbox-wallet', actAs: [args.sender], commandId: this.ledger.ids.uuid() },
      ...(args.synchronizerId !== undefined ? { synchronizerId: args.synchronizerId } : {}),
    });
    const root = tx.nodes[0];
    const output =
      root?.kind === 'exercise' ? (root.result as { output?: { value?: { transferInstructionCid?: string } } }).output : undefined;
    const cid = output?.value?.transferInstructionCid;
    return { tx, kind, ...(cid ? { transferInstructionCid: cid } : {}) };
  }

  /** Accept / reject / withdraw a transfer instruction as one of the double's own parties. */
  instructionActionAs(actor: string, instructionCid: string, choice: InstructionChoice): CommittedTx {
    const instruction = this.ledger.active(instructionCid);
    if (!instruction) throw LedgerError.of('CONTRACT_NOT_FOUND', `Contract could not be found with id ${instructionCid}`);
    const inst = this.instrumentOfContract(instruction);
    if (!inst) throw interpretationError(`${instructionCid} is not a transfer instruction`);
    const ctx = instructionContext(this.ledger, inst, instructionCid, choice);
    return this.commitDirect(
      this.workflows.instructionChoice({ instrument: inst, instruction, choice, actor, extraArgs: emptyExtraArgs(ctx.contextValues) }),
      { submitter: { userId: 'sandbox-wallet', actAs: [actor], commandId: this.ledger.ids.uuid() } },
    );
  }

  /**
   * A stranger's package at work (counterfeit.ts): a contract signed by `issuer` alone whose
   * Holding or TransferInstruction view names `to` and claims any instrument. Returns the
   * committed transaction and the counterfeit's contract id.
   */
  counterfeit(req: CounterfeitIssue): { tx: CommittedTx; contractId: string } {
    const tx = this.commitDirect(new Counterfeits(this.ledger).issue(req), {
      submitter: { userId: 'sandbox-stranger', actAs: [req.issuer], commandId: this.ledger.ids.uuid() },
    });
    const created = tx.nodes.find(
      (n) => n.kind === 'create' && (n.contract.payload.t === 'CounterfeitHolding' || n.contract.payload.t === 'CounterfeitInstruction'),
    );
    if (created?.kind !== 'create') throw new Error('counterfeit: nothing was created');
    return { tx, contractId: created.contract.contractId };
  }

  /** The stranger archives its counterfeit (with a claim: inside a choice whose result says it was a transfer). */
  archiveCounterfeit(cid: string, claim?: CounterfeitClaim): CommittedTx {
    const c = this.ledger.active(cid);
    const issuer = c && 'issuer' in c.payload ? c.payload.issuer : '';
    return this.commitDirect(new Counterfeits(this.ledger).archive(cid, claim), {
      submitter: { userId: 'sandbox-stranger', actAs: [issuer], commandId: this.ledger.ids.uuid() },
    });
  }

  /** Active transfer instructions (optionally only those involving `party`). */
  activeInstructions(party?: string): { contract: Contract; transfer: TransferData }[] {
    const out: { contract: Contract; transfer: TransferData }[] = [];
    for (const s of this.ledger.contracts.values()) {
      if (s.archived) continue;
      const t = instructionTransfer(s.contract);
      if (t && (party === undefined || t.sender === party || t.receiver === party)) out.push({ contract: s.contract, transfer: t });
    }
    return out;
  }

  /**
   * The registry admins' automation: returns the funds of every instruction past executeBefore,
   * except for instruments whose admin never expires offers (InstrumentConfig.expiresOffers).
   */
  expireDue(): CommittedTx[] {
    const now: Micros = this.ledger.clock.now();
    const out: CommittedTx[] = [];
    for (const { contract, transfer } of this.activeInstructions()) {
      if (isoToMicros(transfer.executeBefore) > now) continue;
      const inst = this.instrument(transfer.instrumentId.admin, transfer.instrumentId.id);
      if (!inst || !inst.config.expiresOffers) continue;
      try {
        out.push(this.commitDirect(this.workflows.expire(inst, contract)));
      } catch (e) {
        this.logger?.warn({ err: e, instruction: contract.contractId }, 'sandbox: expiring a transfer instruction failed');
      }
    }
    return out;
  }

  /**
   * The DSO's round automation: once the newest OpenMiningRound is roundDurationMs old, open the
   * next and archive the one two rounds back. A prepared transaction that used an archived round
   * then fails at commit with LOCAL_VERDICT_INACTIVE_CONTRACTS, as Canton Coin transactions
   * signed too late do. Only the DSO sees these transactions.
   */
  advanceRounds(): CommittedTx[] {
    if (this.roundDurationMs <= 0) return [];
    // The round's commit and the instrument's new round are durable together.
    return this.ledger.batch(() => this.advanceRoundsNow());
  }

  private advanceRoundsNow(): CommittedTx[] {
    const out: CommittedTx[] = [];
    const step = BigInt(this.roundDurationMs) * 1000n;
    for (const inst of this.instruments) {
      if (inst.config.family !== 'amulet' || !inst.roundOpenedAt || !inst.rulesCid) continue;
      while (this.clock.now() - isoToMicros(inst.roundOpenedAt) >= step) {
        const rules = this.ledger.active(inst.rulesCid);
        if (!rules) break;
        const opensAt = microsToIso(isoToMicros(inst.roundOpenedAt) + step);
        const round = String(Number(inst.round) + 1);
        const next: Contract = {
          contractId: this.ledger.ids.discriminator(),
          payload: { t: 'OpenMiningRound', dso: inst.admin, round, opensAt, targetClosesAt: microsToIso(isoToMicros(opensAt) + 2n * step) },
          createdAt: this.ledger.nowIso(),
        };
        const rounds = [...(inst.openRounds ?? [])];
        const retire = rounds.length >= 2 ? rounds.shift() : undefined;
        const retired = retire === undefined ? undefined : this.ledger.active(retire);
        const tx = this.commitDirect({
          effectiveAt: next.createdAt,
          description: 'advance-rounds',
          roots: [
            {
              kind: 'exercise',
              target: rules,
              choice: 'AmuletRules_AdvanceOpenMiningRounds',
              choiceArgument: { round: { number: round } },
              actingParties: [inst.admin],
              consuming: false,
              result: { newRound: next.contractId },
              children: [
                ...(retired
                  ? [
                      {
                        kind: 'exercise' as const,
                        target: retired,
                        choice: 'Archive',
                        choiceArgument: {},
                        actingParties: [inst.admin],
                        consuming: true,
                        result: {},
                        children: [],
                      },
                    ]
                  : []),
                { kind: 'create', contract: next },
              ],
            },
          ],
        });
        const created = tx.nodes.find((n) => n.kind === 'create');
        if (!created || created.kind !== 'create') break;
        inst.round = round;
        inst.openRoundCid = created.contract.contractId;
        inst.openRounds = [...rounds, created.contract.contractId];
        inst.roundOpenedAt = opensAt;
        this.ledger.metaChanged();
        out.push(tx);
      }
    }
    return out;
  }

  /**
   * The admins' automation — advanceRounds, then expireDue — whenever the clock is stepped and,
   * in real-time mode, every `intervalMs`. Returns a function that stops it.
   */
  startExpiryAutomation(intervalMs: number): () => void {
    const run = () => {
      this.advanceRounds();
      if (this.activeInstructions().length > 0) this.expireDue();
    };
    const off = this.clock.onChange(run);
    const timer = setInterval(() => {
      if (this.clock.getMode() === 'real') run();
    }, intervalMs);
    timer.unref();
    return () => {
      off();
      clearInterval(timer);
    };
  }

  /** Deterministic digest of the ledger state, for tests that compare runs. */
  stateDigest(): string {
    const h = createHash('sha256');
    for (const [cid, s] of [...this.ledger.contracts].sort(([a], [b]) => a.localeCompare(b))) {
      h.update(`${cid}:${s.archived ? 'a' : 'c'};`);
    }
    return h.digest('hex');
  }
}

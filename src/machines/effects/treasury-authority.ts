import type { CreateNode, ExerciseNode, PreparedTransaction, Value } from '../../ledger/prepared-transaction/index.js';

/**
 * What a prepared transaction binds the treasury to besides its root exercise. Signing authorises
 * every node below the root with the treasury's authority, so a registry (or a compromised node)
 * could add nodes to an otherwise exact transfer: a contract signed by the treasury whose choices
 * its author controls is a standing authorisation, usable later to move any of the treasury's funds.
 * The treasury signs only when every create it signs and every exercise it acts in is one the
 * withdrawal or the accept needs.
 *
 * What the treasury legitimately authorises, from the token-standard implementations we know
 * (hyperledger-labs/splice daml/splice-amulet/daml/Splice/ExternalPartyAmuletRules.daml
 * `amulet_transferFactory_transferImpl`, Amulet/TwoStepTransfer.daml, AmuletRules.daml
 * `executeTransfer` / `transferControllers`, AmuletTransferInstruction.daml; the registry
 * utility's recorded transactions in shared/fixtures/recorded/utility-token-transfer.json; the
 * real prepared TransferFactory_Transfer in test/fixtures/prepared-transaction/known-answers.json):
 * - a transfer archives its input holdings (Archive with the admin and the sender acting);
 * - it creates for the sender holdings of the same template as the inputs that differ only in
 *   amounts and rounds (change, a self-transfer's output), and for a 2-step transfer one
 *   instruction restating the transfer (AmuletTransferInstruction, TransferOffer) plus the locked
 *   holding it names (LockedAmulet, a Holding with a lock);
 * - an accept creates for the receiver a holding signed by the admin and the receiver;
 * - the sender (or receiver) also acts in non-consuming choices of the admin's own contracts
 *   (AmuletRules_Transfer, AmuletRules_ComputeFees, TransferPreapproval_Send(V2),
 *   TransferRule_Transfer), whose effects are the nodes below them, checked by the same rules;
 * - everything else the transfer creates (reward coupons, the receiver's holding, an executed-
 *   transfer record) is signed by others, not by the treasury.
 * A registry whose transactions have other shapes is refused: fail closed, loudly.
 */

export type AuthorityScope =
  | {
      kind: 'transfer';
      treasury: string;
      admin: string;
      receiver: string;
      inputs: readonly string[];
      /** The root's `transfer` argument, already checked against the request. */
      transfer: Value;
    }
  | { kind: 'accept'; treasury: string; admin: string; instructionCid: string }
  /**
   * Our own offer withdrawn: its locked holdings are unlocked back to the treasury (Splice
   * TwoStepTransfer.daml `abortTwoStepTransfer`).
   */
  | { kind: 'withdraw'; treasury: string; admin: string; instructionCid: string; lockedHoldingCids: readonly string[] };

export interface TreeEffects {
  /** Contracts consumed outside rollback nodes. */
  consumed: Set<string>;
  /** Consumed contracts the treasury signed that the transaction did not create (rolled back or not). */
  treasuryConsumed: Set<string>;
  /** Creates the treasury signs, rolled back or not (a rolled-back node still must not be there). */
  treasuryCreates: CreateNode[];
  /** Exercises below the root in which the treasury acts. */
  treasuryExercises: ExerciseNode[];
}

/** Walks only what hangs off the roots: what is hashed and executed. */
export function effectsOf(tx: PreparedTransaction, treasury: string): TreeEffects {
  const byId = new Map(tx.transaction.nodes.map((n) => [n.nodeId, n.node]));
  const roots = new Set(tx.transaction.roots);
  const created = new Set<string>();
  const fx: TreeEffects = { consumed: new Set(), treasuryConsumed: new Set(), treasuryCreates: [], treasuryExercises: [] };
  const stack = tx.transaction.roots.map((id) => ({ id, rolledBack: false }));
  const seen = new Set<string>();
  while (stack.length > 0) {
    const { id, rolledBack } = stack.pop()!;
    const node = byId.get(id);
    if (!node || seen.has(id)) continue;
    seen.add(id);
    if (node.kind === 'create') {
      created.add(node.contractId);
      if (node.signatories.includes(treasury)) fx.treasuryCreates.push(node);
    }
    if (node.kind === 'exercise') {
      if (node.consuming) {
        // A consuming exercise under a rollback consumes nothing: it does not count as spending an input.
        if (!rolledBack) fx.consumed.add(node.contractId);
        if (node.signatories.includes(treasury)) fx.treasuryConsumed.add(node.contractId);
      }
      if (!roots.has(id) && node.actingParties.includes(treasury)) fx.treasuryExercises.push(node);
    }
    if (node.kind === 'exercise' || node.kind === 'rollback') {
      for (const c of node.children) stack.push({ id: c, rolledBack: rolledBack || node.kind === 'rollback' });
    }
  }
  for (const c of created) fx.treasuryConsumed.delete(c);
  // The walk pops children in reverse; report in transaction order.
  fx.treasuryCreates.reverse();
  fx.treasuryExercises.reverse();
  return fx;
}

/** Problems with what the tree binds the treasury to beyond its root (empty = nothing more than needed). */
export function treasuryAuthorityProblems(tx: PreparedTransaction, root: ExerciseNode, fx: TreeEffects, scope: AuthorityScope): string[] {
  return scope.kind === 'transfer' ? transferProblems(tx, root, fx, scope) : instructionProblems(tx, fx, scope);
}

function transferProblems(
  tx: PreparedTransaction,
  root: ExerciseNode,
  fx: TreeEffects,
  s: Extract<AuthorityScope, { kind: 'transfer' }>,
): string[] {
  const problems: string[] = [];
  const inputs = s.inputs.map((cid) => inputContract(tx, cid)).filter((c): c is CreateNode => c !== undefined);
  const holdingPackages = new Set(inputs.map((c) => c.packageName));
  // The parties of our own holdings (admin, owner, and a registry's operator / provider): a
  // contract of the transfer may name them; the receiver only where the transfer involves it.
  const known = new Set([s.admin, s.treasury]);
  for (const c of inputs) partiesIn(c.argument, known);
  const withReceiver = new Set([...known, s.receiver]);
  const createdForTreasury = new Set(fx.treasuryCreates.map((c) => c.contractId));

  const instructions = fx.treasuryCreates.filter((c) => restatesTransfer(c.argument, s.transfer));
  if (instructions.length > 1)
    problems.push(`creates ${instructions.length} transfer instructions (${instructions.map(describe).join(', ')}), expected at most one`);
  const lockedHoldings = new Set<string>();
  for (const i of instructions) {
    const what = `the transfer instruction ${describe(i)}`;
    if (!holdingPackages.has(i.packageName) && i.packageName !== root.packageName) {
      problems.push(
        `${what} is of package ${i.packageName}, neither the factory's (${root.packageName}) nor the holdings' (${[...holdingPackages].join(', ')})`,
      );
    }
    if (!i.signatories.includes(s.admin)) problems.push(`${what} is not signed by the instrument admin ${s.admin}`);
    const cosigners = outside(i.signatories, known);
    if (cosigners.length > 0) problems.push(`${what} is also signed by ${cosigners.join(', ')}`);
    const strangers = outside(partiesIn(i.argument), withReceiver);
    if (strangers.length > 0) problems.push(`${what} names parties foreign to the transfer: ${strangers.join(', ')}`);
    for (const cid of contractIdsIn(i.argument)) {
      // It may name only the locked holding this transaction creates: naming another treasury
      // contract would hand that contract to whoever completes the instruction.
      if (createdForTreasury.has(cid) && cid !== i.contractId) lockedHoldings.add(cid);
      else problems.push(`${what} names ${cid}, which is not a holding this transaction creates for the treasury`);
    }
  }

  for (const c of fx.treasuryCreates) {
    if (instructions.includes(c) || inputs.some((input) => isChangeOf(c, input))) continue;
    if (lockedHoldings.has(c.contractId)) {
      const what = `the locked holding ${describe(c)}`;
      if (!holdingPackages.has(c.packageName))
        problems.push(`${what} is of package ${c.packageName}, not the input holdings' (${[...holdingPackages].join(', ')})`);
      const cosigners = outside(c.signatories, new Set([s.admin, s.treasury]));
      if (cosigners.length > 0) problems.push(`${what} is also signed by ${cosigners.join(', ')}`);
      const strangers = outside(partiesIn(c.argument), withReceiver);
      if (strangers.length > 0) problems.push(`${what} names parties foreign to the transfer: ${strangers.join(', ')}`);
      continue;
    }
    problems.push(
      `creates ${describe(c)} signed by the treasury, which is neither change of the input holdings nor the transfer's instruction or the holding it locks`,
    );
  }

  const inputSet = new Set(s.inputs);
  for (const e of fx.treasuryExercises) {
    const p = exerciseProblem(e, s.admin, s.treasury, inputSet);
    if (p) problems.push(p);
  }
  return problems;
}

/** An accept gives the treasury the offer's holding; a withdraw gives it back its own locked funds. */
function instructionProblems(
  tx: PreparedTransaction,
  fx: TreeEffects,
  s: Extract<AuthorityScope, { kind: 'accept' | 'withdraw' }>,
): string[] {
  const problems: string[] = [];
  if (fx.treasuryCreates.length > 0) {
    const instruction = inputContract(tx, s.instructionCid);
    const sender = instruction && transferPartyOf(instruction.argument, 'sender');
    const receiver = instruction && transferPartyOf(instruction.argument, 'receiver');
    if (!instruction || sender === undefined || receiver === undefined) {
      problems.push(
        `cannot tell what the ${s.kind} gives the treasury: the instruction ${s.instructionCid} ${instruction ? 'does not carry the token standard’s transfer' : 'is not among the input contracts'}`,
      );
    } else {
      // What the treasury receives is a holding of the instrument: of the instruction's package or
      // of the holding it locks, signed by the admin and the treasury alone, naming no party the
      // instruction does not name, and not the counterparty (who must gain no hold on it): the
      // sender of an offer we accept, the receiver of our own offer we withdraw.
      const packages = new Set([instruction.packageName]);
      for (const cid of contractIdsIn(instruction.argument)) {
        const named = inputContract(tx, cid);
        if (named) packages.add(named.packageName);
      }
      const allowed = partiesIn(instruction.argument, new Set([s.admin, s.treasury]));
      allowed.delete(s.kind === 'accept' ? sender : receiver);
      if (s.kind === 'withdraw' && sender !== s.treasury)
        problems.push(`withdraws ${s.instructionCid}, whose sender is ${sender}, not the treasury`);
      for (const c of fx.treasuryCreates) {
        const reasons: string[] = [];
        if (!packages.has(c.packageName))
          reasons.push(`its package ${c.packageName} is neither the instruction's nor its locked holding's (${[...packages].join(', ')})`);
        if (!sameSet(c.signatories, [s.admin, s.treasury]))
          reasons.push(`it is signed by [${c.signatories.join(', ')}], not by the admin and the treasury alone`);
        const strangers = outside(partiesIn(c.argument), allowed);
        if (strangers.length > 0) reasons.push(`it names ${strangers.join(', ')}`);
        if (reasons.length > 0)
          problems.push(
            `creates ${describe(c)} signed by the treasury, which is not the treasury's holding of the offer: ${reasons.join('; ')}`,
          );
      }
    }
  }
  const unlocks = new Set(s.kind === 'withdraw' ? s.lockedHoldingCids : []);
  for (const e of fx.treasuryExercises) {
    const p = exerciseProblem(e, s.admin, s.treasury, unlocks);
    if (p) problems.push(p);
  }
  return problems;
}

/**
 * An exercise below the root in which the treasury acts: consuming only on what the request
 * spends (its inputs), otherwise only a non-consuming choice of a contract the instrument admin
 * signed and the treasury did not (the instrument's rules, a receiver's preapproval).
 */
function exerciseProblem(e: ExerciseNode, admin: string, treasury: string, consumable: ReadonlySet<string>): string | undefined {
  if (e.consuming)
    return consumable.has(e.contractId)
      ? undefined
      : `consumes ${describe(e)} with the treasury acting (${e.choiceId}), which the request does not spend`;
  if (e.signatories.includes(admin) && !e.signatories.includes(treasury)) return undefined;
  return `exercises ${e.choiceId} on ${describe(e)} with the treasury acting, on a contract signed by [${e.signatories.join(', ')}], not one of the instrument admin's`;
}

function describe(n: CreateNode | ExerciseNode): string {
  return `${n.packageName}:${n.templateId.moduleName}:${n.templateId.entityName} ${n.contractId}`;
}

function inputContract(tx: PreparedTransaction, cid: string): CreateNode | undefined {
  return tx.metadata.inputContracts.find((c) => c.contract.create.contractId === cid)?.contract.create;
}

/** Change: the template of an input holding (by package name, so an upgrade is no change) and its value up to amounts. */
function isChangeOf(c: CreateNode, input: CreateNode): boolean {
  const sameTemplate =
    c.packageName === input.packageName &&
    c.templateId.moduleName === input.templateId.moduleName &&
    c.templateId.entityName === input.templateId.entityName;
  return sameTemplate && sameSet(c.signatories, input.signatories) && sameValue(c.argument, input.argument, true);
}

/** A create whose `transfer` field is the request's transfer; only its input holdings may differ (the instruction names the locked one). */
function restatesTransfer(argument: Value, transfer: Value): boolean {
  const field = argument.kind === 'record' ? argument.fields.find((f) => f.label === 'transfer')?.value : undefined;
  if (field?.kind !== 'record' || transfer.kind !== 'record') return false;
  const without = (r: Extract<Value, { kind: 'record' }>) => r.fields.filter((f) => f.label !== 'inputHoldingCids');
  const a = without(field);
  const b = without(transfer);
  return a.length === b.length && a.every((f, i) => f.label === b[i]?.label && sameValue(f.value, b[i].value, false));
}

/** The token standard's `transfer.sender` / `transfer.receiver`, where the contract carries the transfer record. */
function transferPartyOf(argument: Value, role: 'sender' | 'receiver'): string | undefined {
  const transfer = argument.kind === 'record' ? argument.fields.find((f) => f.label === 'transfer')?.value : undefined;
  const party = transfer?.kind === 'record' ? transfer.fields.find((f) => f.label === role)?.value : undefined;
  return party?.kind === 'party' ? party.value : undefined;
}

/**
 * Structural equality, type identifiers aside (an upgraded package changes them). `amounts`
 * ignores the leaves that hold quantities and times (numeric, int64, timestamp, date): a change
 * holding differs from its inputs only there (amount, round, holding-fee rate).
 */
function sameValue(a: Value, b: Value, amounts: boolean): boolean {
  switch (a.kind) {
    case 'numeric':
    case 'int64':
    case 'timestamp':
    case 'date':
      return a.kind === b.kind && (amounts || a.value === (b as typeof a).value);
    case 'unit':
      return b.kind === 'unit';
    case 'bool':
    case 'party':
    case 'text':
    case 'contractId':
      return a.kind === b.kind && a.value === (b as typeof a).value;
    case 'enum':
      return b.kind === 'enum' && a.tag === b.tag;
    case 'optional':
      return (
        b.kind === 'optional' &&
        (a.value === undefined || b.value === undefined ? a.value === b.value : sameValue(a.value, b.value, amounts))
      );
    case 'list':
      return (
        b.kind === 'list' && a.elements.length === b.elements.length && a.elements.every((x, i) => sameValue(x, b.elements[i]!, amounts))
      );
    case 'textMap':
      return (
        b.kind === 'textMap' &&
        a.entries.length === b.entries.length &&
        a.entries.every((x, i) => x.key === b.entries[i]!.key && sameValue(x.value, b.entries[i]!.value, amounts))
      );
    case 'genMap':
      return (
        b.kind === 'genMap' &&
        a.entries.length === b.entries.length &&
        a.entries.every((x, i) => sameValue(x.key, b.entries[i]!.key, amounts) && sameValue(x.value, b.entries[i]!.value, amounts))
      );
    case 'record':
      return (
        b.kind === 'record' &&
        a.fields.length === b.fields.length &&
        a.fields.every((f, i) => f.label === b.fields[i]!.label && sameValue(f.value, b.fields[i]!.value, amounts))
      );
    case 'variant':
      return b.kind === 'variant' && a.tag === b.tag && sameValue(a.value, b.value, amounts);
  }
}

function partiesIn(v: Value, into: Set<string> = new Set()): Set<string> {
  collect(v, 'party', into);
  return into;
}

function contractIdsIn(v: Value): string[] {
  return [...collect(v, 'contractId', new Set())];
}

function collect(v: Value, kind: 'party' | 'contractId', into: Set<string>): Set<string> {
  switch (v.kind) {
    case 'party':
    case 'contractId':
      if (v.kind === kind) into.add(v.value);
      break;
    case 'optional':
      if (v.value) collect(v.value, kind, into);
      break;
    case 'list':
      for (const x of v.elements) collect(x, kind, into);
      break;
    case 'textMap':
      for (const x of v.entries) collect(x.value, kind, into);
      break;
    case 'genMap':
      for (const x of v.entries) {
        collect(x.key, kind, into);
        collect(x.value, kind, into);
      }
      break;
    case 'record':
      for (const f of v.fields) collect(f.value, kind, into);
      break;
    case 'variant':
      collect(v.value, kind, into);
      break;
    default:
      break;
  }
  return into;
}

function outside(parties: Iterable<string>, allowed: ReadonlySet<string>): string[] {
  return [...new Set(parties)].filter((p) => !allowed.has(p));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((p) => y.has(p));
}

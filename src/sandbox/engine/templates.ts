import { normalizeAmount } from '../../lib/decimal.js';
import type { Json, JsonObject } from '../util/json.js';
import type { Contract, Payload, PayloadKind, QualifiedName, TransferData } from './types.js';

/**
 * Package ids are the ones seen in recorded Canton Network transactions, so identifiers look
 * exactly like production ones (clients must match on package name + module + entity anyway).
 */
const PKG = {
  holdingV1: { packageId: '718a0f77e505a8de22f188bd4c87fe74101274e9d4cb1bfac7d09aec7158d35b', packageName: 'splice-api-token-holding-v1' },
  transferInstructionV1: {
    packageId: '55ba4deb0ad4662c4168b39859738a0e91388d252286480c7331b3f71a517281',
    packageName: 'splice-api-token-transfer-instruction-v1',
  },
  amulet: { packageId: '6e9fc50fb94e56751b49f09ba2dc84da53a9d7cff08115ebb4f6b7a12d0c990c', packageName: 'splice-amulet' },
  registryApp: { packageId: '170929b11d5f0ed1385f890f42887c31ff7e289c0f4bc482aff193a7173d576c', packageName: 'utility-registry-app-v0' },
  registryHolding: {
    packageId: 'dd3a9f2d51cc4c52d9ec2e1d7ff235298dcfb3afd1d50ab44328b1aaa9a18587',
    packageName: 'utility-registry-holding-v0',
  },
  registry: { packageId: 'ed73d5b9ab717333f3dbd122de7be3156f8bf2614a67360c3dd61fc0135133fa', packageName: 'utility-registry-v0' },
  /** A stranger's package, not any token's (control.counterfeit); the id is sha256 of its name. */
  counterfeit: { packageId: 'dee375eb2189c050d149decd1e8782a16d0ecdca0773f2c35707d1a7e841a29f', packageName: 'counterfeit-token-v0' },
} as const;

function q(pkg: { packageId: string; packageName: string }, moduleName: string, entityName: string): QualifiedName {
  return { ...pkg, moduleName, entityName };
}

export const Interfaces = {
  Holding: q(PKG.holdingV1, 'Splice.Api.Token.HoldingV1', 'Holding'),
  TransferFactory: q(PKG.transferInstructionV1, 'Splice.Api.Token.TransferInstructionV1', 'TransferFactory'),
  TransferInstruction: q(PKG.transferInstructionV1, 'Splice.Api.Token.TransferInstructionV1', 'TransferInstruction'),
} as const;

export const ALL_INTERFACES: readonly QualifiedName[] = Object.values(Interfaces);

export const Templates: Record<PayloadKind, QualifiedName> = {
  Amulet: q(PKG.amulet, 'Splice.Amulet', 'Amulet'),
  LockedAmulet: q(PKG.amulet, 'Splice.Amulet', 'LockedAmulet'),
  AmuletRules: q(PKG.amulet, 'Splice.AmuletRules', 'AmuletRules'),
  ExternalPartyAmuletRules: q(PKG.amulet, 'Splice.ExternalPartyAmuletRules', 'ExternalPartyAmuletRules'),
  TransferPreapproval: q(PKG.amulet, 'Splice.AmuletRules', 'TransferPreapproval'),
  AmuletTransferInstruction: q(PKG.amulet, 'Splice.AmuletTransferInstruction', 'AmuletTransferInstruction'),
  OpenMiningRound: q(PKG.amulet, 'Splice.Round', 'OpenMiningRound'),
  ValidatorRewardCoupon: q(PKG.amulet, 'Splice.Amulet', 'ValidatorRewardCoupon'),
  AppRewardCoupon: q(PKG.amulet, 'Splice.Amulet', 'AppRewardCoupon'),
  RegistryHolding: q(PKG.registryHolding, 'Utility.Registry.Holding.V0.Holding', 'Holding'),
  AllocationFactory: q(PKG.registryApp, 'Utility.Registry.App.V0.Service.AllocationFactory', 'AllocationFactory'),
  TransferOffer: q(PKG.registryApp, 'Utility.Registry.App.V0.Model.Transfer', 'TransferOffer'),
  TransferRule: q(PKG.registry, 'Utility.Registry.V0.Rule.Transfer', 'TransferRule'),
  InstrumentConfiguration: q(PKG.registry, 'Utility.Registry.V0.Configuration.Instrument', 'InstrumentConfiguration'),
  ExecutedTransfer: q(PKG.registry, 'Utility.Registry.V0.Holding.Transfer', 'ExecutedTransfer'),
  CounterfeitIssuer: q(PKG.counterfeit, 'Counterfeit.Token', 'Issuer'),
  CounterfeitHolding: q(PKG.counterfeit, 'Counterfeit.Token', 'Holding'),
  CounterfeitInstruction: q(PKG.counterfeit, 'Counterfeit.Token', 'TransferOffer'),
};

export const ALL_TEMPLATES: readonly QualifiedName[] = Object.values(Templates);

export function templateOf(p: Payload): QualifiedName {
  return Templates[p.t];
}

const IMPLEMENTS: Partial<Record<PayloadKind, readonly QualifiedName[]>> = {
  Amulet: [Interfaces.Holding],
  LockedAmulet: [Interfaces.Holding],
  RegistryHolding: [Interfaces.Holding],
  ExternalPartyAmuletRules: [Interfaces.TransferFactory],
  AllocationFactory: [Interfaces.TransferFactory],
  AmuletTransferInstruction: [Interfaces.TransferInstruction],
  TransferOffer: [Interfaces.TransferInstruction],
  CounterfeitHolding: [Interfaces.Holding],
  CounterfeitInstruction: [Interfaces.TransferInstruction],
};

export function implementedInterfaces(p: Payload): readonly QualifiedName[] {
  return IMPLEMENTS[p.t] ?? [];
}

export const AMULET_INSTRUMENT_ID = 'Amulet';
const RATE_PER_ROUND = '0.0038051800';
export const AMULET_PRICE = '0.0050000000';

const sortedUnique = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

export function signatories(p: Payload): string[] {
  switch (p.t) {
    case 'Amulet':
    case 'LockedAmulet':
      return sortedUnique([p.dso, p.owner]);
    case 'AmuletRules':
    case 'ExternalPartyAmuletRules':
    case 'OpenMiningRound':
    case 'ValidatorRewardCoupon':
    case 'AppRewardCoupon':
      return [p.dso];
    case 'TransferPreapproval':
      return sortedUnique([p.dso, p.receiver, p.provider]);
    case 'AmuletTransferInstruction':
      return sortedUnique([p.transfer.instrumentId.admin, p.transfer.sender]);
    case 'RegistryHolding':
      return sortedUnique([p.registrar, p.owner]);
    case 'TransferOffer':
      return sortedUnique([p.provider, p.registrar, p.transfer.sender]);
    case 'AllocationFactory':
    case 'TransferRule':
    case 'InstrumentConfiguration':
    case 'ExecutedTransfer':
      return [p.registrar];
    case 'CounterfeitIssuer':
    case 'CounterfeitHolding':
    case 'CounterfeitInstruction':
      // Only the stranger: nobody else's authority is needed to create a contract of one's own template.
      return [p.issuer];
  }
}

export function observers(p: Payload): string[] {
  const sigs = new Set(signatories(p));
  const obs = ((): string[] => {
    switch (p.t) {
      case 'ValidatorRewardCoupon':
        return [p.user];
      case 'AppRewardCoupon':
        return [p.provider];
      case 'AmuletTransferInstruction':
        return [p.transfer.receiver];
      case 'RegistryHolding':
        return [p.provider, p.operator, ...(p.lock ? [p.lock.receiver] : [])];
      case 'TransferOffer':
        return [p.operator, p.transfer.receiver];
      case 'AllocationFactory':
      case 'TransferRule':
      case 'InstrumentConfiguration':
        return [p.operator, p.provider];
      case 'ExecutedTransfer':
        return [p.operator, p.provider, p.sender, p.receiver];
      case 'CounterfeitHolding':
        return [p.owner];
      case 'CounterfeitInstruction':
        return [p.transfer.sender, p.transfer.receiver];
      default:
        return [];
    }
  })();
  return sortedUnique(obs.filter((x) => !sigs.has(x)));
}

export function stakeholders(p: Payload): Set<string> {
  return new Set([...signatories(p), ...observers(p)]);
}

export function metaJson(values: Readonly<Record<string, string>>): JsonObject {
  return { values: { ...values } };
}

export function transferJson(t: TransferData): JsonObject {
  return {
    sender: t.sender,
    receiver: t.receiver,
    amount: normalizeAmount(t.amount),
    instrumentId: { admin: t.instrumentId.admin, id: t.instrumentId.id },
    requestedAt: t.requestedAt,
    executeBefore: t.executeBefore,
    inputHoldingCids: [...t.inputHoldingCids],
    meta: metaJson(t.meta),
  };
}

function amuletAmount(amount: string, round: string): JsonObject {
  return { initialAmount: normalizeAmount(amount), createdAt: { number: round }, ratePerRound: { rate: RATE_PER_ROUND } };
}

function instrumentIdentifier(registrar: string, id: string): JsonObject {
  return { source: registrar, id, scheme: 'RegistrarInternalScheme' };
}

/** The create argument in Daml-LF JSON, shaped like the recorded contracts of these templates. */
export function createArgument(p: Payload): JsonObject {
  switch (p.t) {
    case 'Amulet':
      return { dso: p.dso, owner: p.owner, amount: amuletAmount(p.amount, p.round) };
    case 'LockedAmulet':
      return {
        amulet: { dso: p.dso, owner: p.owner, amount: amuletAmount(p.amount, p.round) },
        lock: { holders: [p.dso], expiresAt: p.expiresAt, optContext: p.context },
      };
    case 'AmuletRules':
      return {
        dso: p.dso,
        configSchedule: {
          initialValue: { decentralizedSynchronizer: { activeSynchronizer: p.synchronizerId } },
          futureValues: [],
        },
        isDevNet: true,
      };
    case 'ExternalPartyAmuletRules':
      return { dso: p.dso };
    case 'TransferPreapproval':
      return {
        dso: p.dso,
        receiver: p.receiver,
        provider: p.provider,
        validatorFeePayer: p.provider,
        lastRenewedAt: p.lastRenewedAt,
        expiresAt: p.expiresAt,
      };
    case 'AmuletTransferInstruction':
      return { lockedAmulet: p.lockedAmulet, transfer: transferJson(p.transfer) };
    case 'OpenMiningRound':
      return {
        dso: p.dso,
        round: { number: p.round },
        amuletPrice: AMULET_PRICE,
        opensAt: p.opensAt,
        targetClosesAt: p.targetClosesAt,
        issuingFor: { microseconds: '0' },
        tickDuration: { microseconds: '600000000' },
      };
    case 'ValidatorRewardCoupon':
      return { dso: p.dso, user: p.user, amount: normalizeAmount(p.amount), round: { number: p.round } };
    case 'AppRewardCoupon':
      return {
        dso: p.dso,
        provider: p.provider,
        featured: false,
        amount: normalizeAmount(p.amount),
        round: { number: p.round },
        beneficiary: p.beneficiary,
      };
    case 'RegistryHolding': {
      const base: JsonObject = {
        operator: p.operator,
        provider: p.provider,
        registrar: p.registrar,
        owner: p.owner,
        instrument: instrumentIdentifier(p.registrar, p.instrumentId),
        label: '',
        amount: normalizeAmount(p.amount),
      };
      if (p.lock) {
        base['lock'] = {
          lockers: { map: [[p.registrar, {}]] },
          context: p.lock.context,
          observers: { map: [[p.lock.receiver, {}]] },
        };
      }
      return base;
    }
    case 'AllocationFactory':
    case 'TransferRule':
      return { operator: p.operator, provider: p.provider, registrar: p.registrar };
    case 'InstrumentConfiguration':
      return {
        operator: p.operator,
        provider: p.provider,
        registrar: p.registrar,
        defaultIdentifier: instrumentIdentifier(p.registrar, p.instrumentId),
        additionalIdentifiers: [],
        issuerRequirements: [],
        holderRequirements: [],
      };
    case 'TransferOffer':
      return { operator: p.operator, provider: p.provider, transfer: transferJson(p.transfer) };
    case 'ExecutedTransfer':
      return {
        transfer: {
          operator: p.operator,
          provider: p.provider,
          registrar: p.registrar,
          sender: p.sender,
          receiver: p.receiver,
          instrumentIdentifier: instrumentIdentifier(p.registrar, p.instrumentId),
          amount: normalizeAmount(p.amount),
          reference: p.reference,
          batch: { id: '', size: '1' },
        },
        senderLabel: '',
        receiverLabel: '',
      };
    case 'CounterfeitIssuer':
      return { issuer: p.issuer };
    case 'CounterfeitHolding':
      return {
        issuer: p.issuer,
        owner: p.owner,
        instrumentId: { admin: p.instrumentId.admin, id: p.instrumentId.id },
        amount: normalizeAmount(p.amount),
        meta: metaJson(p.meta),
      };
    case 'CounterfeitInstruction':
      return { issuer: p.issuer, transfer: transferJson(p.transfer) };
  }
}

export interface HoldingInfo {
  owner: string;
  admin: string;
  instrumentId: string;
  amount: string;
  locked: boolean;
}

/**
 * The engine's view of a holding (undefined for every other contract): the double's truth, so a
 * counterfeit, which only claims to be one, is not a holding here.
 */
export function holdingInfo(p: Payload): HoldingInfo | undefined {
  switch (p.t) {
    case 'Amulet':
      return { owner: p.owner, admin: p.dso, instrumentId: AMULET_INSTRUMENT_ID, amount: p.amount, locked: false };
    case 'LockedAmulet':
      return { owner: p.owner, admin: p.dso, instrumentId: AMULET_INSTRUMENT_ID, amount: p.amount, locked: true };
    case 'RegistryHolding':
      return { owner: p.owner, admin: p.registrar, instrumentId: p.instrumentId, amount: p.amount, locked: p.lock !== undefined };
    default:
      return undefined;
  }
}

function holdingView(p: Payload): Json | undefined {
  switch (p.t) {
    case 'Amulet':
    case 'LockedAmulet':
      return {
        owner: p.owner,
        instrumentId: { admin: p.dso, id: AMULET_INSTRUMENT_ID },
        amount: normalizeAmount(p.amount),
        lock: p.t === 'LockedAmulet' ? { holders: [p.dso], expiresAt: p.expiresAt, expiresAfter: null, context: p.context } : null,
        meta: metaJson({
          'amulet.splice.lfdecentralizedtrust.org/created-in-round': p.round,
          'amulet.splice.lfdecentralizedtrust.org/rate-per-round': '0.00380518',
        }),
      };
    case 'RegistryHolding':
      return {
        owner: p.owner,
        instrumentId: { admin: p.registrar, id: p.instrumentId },
        amount: normalizeAmount(p.amount),
        lock: p.lock ? { holders: [p.registrar], expiresAt: null, expiresAfter: null, context: p.lock.context } : null,
        meta: metaJson({ 'utility.digitalasset.com/holding-label': '' }),
      };
    case 'CounterfeitHolding':
      // Whatever the stranger put in it: the interface view is the template's to define.
      return {
        owner: p.owner,
        instrumentId: { admin: p.instrumentId.admin, id: p.instrumentId.id },
        amount: normalizeAmount(p.amount),
        lock: null,
        meta: metaJson(p.meta),
      };
    default:
      return undefined;
  }
}

function transferInstructionView(p: Payload): Json | undefined {
  if (p.t !== 'AmuletTransferInstruction' && p.t !== 'TransferOffer' && p.t !== 'CounterfeitInstruction') return undefined;
  return {
    originalInstructionCid: null,
    transfer: transferJson(p.transfer),
    status: { tag: 'TransferPendingReceiverAcceptance', value: {} },
    meta: metaJson({}),
  };
}

function transferFactoryView(p: Payload): Json | undefined {
  if (p.t === 'ExternalPartyAmuletRules') return { admin: p.dso, meta: metaJson({}) };
  if (p.t === 'AllocationFactory') return { admin: p.registrar, meta: metaJson({}) };
  return undefined;
}

/** The interface view of `iface` for a contract, or undefined when it does not implement it. */
export function interfaceView(p: Payload, iface: QualifiedName): Json | undefined {
  if (sameName(iface, Interfaces.Holding)) return holdingView(p);
  if (sameName(iface, Interfaces.TransferInstruction)) return transferInstructionView(p);
  if (sameName(iface, Interfaces.TransferFactory)) return transferFactoryView(p);
  return undefined;
}

export function sameName(a: QualifiedName, b: QualifiedName): boolean {
  return a.moduleName === b.moduleName && a.entityName === b.entityName && a.packageName === b.packageName;
}

/** Transfer instruction payload of a registry's instruction (a counterfeit's is not one). */
export function instructionTransfer(c: Contract): TransferData | undefined {
  const p = c.payload;
  return p.t === 'AmuletTransferInstruction' || p.t === 'TransferOffer' ? p.transfer : undefined;
}

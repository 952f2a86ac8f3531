import type { z } from 'zod';
import type { ArchivedEvent, CreatedEvent, ExercisedEvent, JsTransaction } from '../../ledger/schema/index.js';
import { parseIdentifier, type EventFormat, type Filters, type ParsedIdentifier, type TransactionShape } from './decode/index.js';
import { encodeBlob } from '../engine/blob.js';
import { LedgerError } from '../engine/errors.js';
import {
  createArgument,
  implementedInterfaces,
  interfaceView,
  observers,
  signatories,
  stakeholders,
  templateOf,
} from '../engine/templates.js';
import { idString, type CommittedTx, type Contract, type QualifiedName, type TxNode } from '../engine/types.js';
import { microsToIso } from '../util/time.js';

export type CreatedEventOut = z.input<typeof CreatedEvent>;
export type ExercisedEventOut = z.input<typeof ExercisedEvent>;
export type ArchivedEventOut = z.input<typeof ArchivedEvent>;
export type JsTransactionOut = z.input<typeof JsTransaction>;
type EventOut = { CreatedEvent: CreatedEventOut } | { ExercisedEvent: ExercisedEventOut } | { ArchivedEvent: ArchivedEventOut };

interface PartyFilter {
  wildcard: boolean;
  wildcardBlob: boolean;
  templates: { id: ParsedIdentifier; blob: boolean }[];
  interfaces: { id: ParsedIdentifier; view: boolean; blob: boolean }[];
}

/** An EventFormat resolved once per request: who reads, and through which filters. */
export interface ReadScope {
  readonly byParty: ReadonlyMap<string, PartyFilter>;
  /** filtersForAnyParty: applies to every party. */
  readonly anyParty?: PartyFilter;
}

function parseId(id: string | undefined, field: string): ParsedIdentifier {
  // FormatValidator.scala: requirePresence(filter.templateId, "templateId") (and interfaceId).
  if (id === undefined) throw LedgerError.of('MISSING_FIELD', `The submitted command is missing a mandatory field: ${field}`);
  try {
    return parseIdentifier(id);
  } catch (e) {
    throw LedgerError.of(
      'INVALID_FIELD',
      `The submitted command has a field with invalid value: Invalid field ${field}: ${(e as Error).message}`,
    );
  }
}

function resolveFilters(f: Filters | undefined): PartyFilter {
  const out: PartyFilter = { wildcard: false, wildcardBlob: false, templates: [], interfaces: [] };
  const cumulative = f?.cumulative ?? [];
  // Empty or absent filters mean "everything, without blobs".
  if (cumulative.length === 0) out.wildcard = true;
  for (const c of cumulative) {
    const idf = c.identifierFilter;
    if (idf === undefined || 'Empty' in idf) {
      out.wildcard = true;
    } else if ('WildcardFilter' in idf) {
      out.wildcard = true;
      out.wildcardBlob ||= idf.WildcardFilter.value.includeCreatedEventBlob ?? false;
    } else if ('TemplateFilter' in idf) {
      const v = idf.TemplateFilter.value;
      out.templates.push({ id: parseId(v.templateId, 'templateId'), blob: v.includeCreatedEventBlob ?? false });
    } else if ('InterfaceFilter' in idf) {
      const v = idf.InterfaceFilter.value;
      out.interfaces.push({
        id: parseId(v.interfaceId, 'interfaceId'),
        view: v.includeInterfaceView ?? false,
        blob: v.includeCreatedEventBlob ?? false,
      });
    }
  }
  return out;
}

export function resolveEventFormat(format: EventFormat): ReadScope {
  const byParty = new Map<string, PartyFilter>();
  for (const [party, f] of Object.entries(format.filtersByParty ?? {})) byParty.set(party, resolveFilters(f));
  return { byParty, ...(format.filtersForAnyParty ? { anyParty: resolveFilters(format.filtersForAnyParty) } : {}) };
}

/** Parties a read covers explicitly (for authorization). */
export function scopeParties(scope: ReadScope): string[] {
  return [...scope.byParty.keys()];
}

function matches(wanted: ParsedIdentifier, q: QualifiedName): boolean {
  if (wanted.moduleName !== q.moduleName || wanted.entityName !== q.entityName) return false;
  if (wanted.packageId !== undefined) return wanted.packageId === q.packageId;
  return wanted.packageName === q.packageName;
}

export interface Match {
  parties: string[];
  views: QualifiedName[];
  blob: boolean;
}

/** Which readers see a node of `template` (implementing `ifaces`) through their filters. */
export function matchNode(
  scope: ReadScope,
  witnesses: ReadonlySet<string>,
  template: QualifiedName,
  ifaces: readonly QualifiedName[],
): Match {
  const parties: string[] = [];
  const views = new Map<string, QualifiedName>();
  let blob = false;
  const consider = (party: string, f: PartyFilter) => {
    let hit = f.wildcard;
    if (f.wildcard && f.wildcardBlob) blob = true;
    for (const t of f.templates) {
      if (matches(t.id, template)) {
        hit = true;
        blob ||= t.blob;
      }
    }
    for (const i of f.interfaces) {
      const impl = ifaces.find((q) => matches(i.id, q));
      if (impl) {
        hit = true;
        blob ||= i.blob;
        if (i.view) views.set(idString(impl), impl);
      }
    }
    if (hit && !parties.includes(party)) parties.push(party);
  };
  for (const w of witnesses) {
    const f = scope.byParty.get(w);
    if (f) consider(w, f);
    if (scope.anyParty) consider(w, scope.anyParty);
  }
  return { parties: parties.sort(), views: [...views.values()], blob };
}

function intersects(a: Iterable<string>, b: ReadonlySet<string>): boolean {
  for (const x of a) if (b.has(x)) return true;
  return false;
}

/** A CreatedEvent of `contract` as seen by `m.parties`. */
export function createdEvent(contract: Contract, offset: number, nodeId: number, m: Match, acsDelta: boolean): CreatedEventOut {
  const template = templateOf(contract.payload);
  return {
    offset,
    nodeId,
    contractId: contract.contractId,
    templateId: idString(template),
    createArgument: createArgument(contract.payload),
    createdEventBlob: m.blob ? encodeBlob(contract) : '',
    interfaceViews: m.views.map((iface) => {
      const viewValue = interfaceView(contract.payload, iface);
      return {
        interfaceId: idString(iface),
        viewStatus: { code: 0, message: '', details: [] },
        ...(viewValue !== undefined ? { viewValue } : {}),
      };
    }),
    witnessParties: m.parties,
    signatories: signatories(contract.payload),
    observers: observers(contract.payload),
    createdAt: contract.createdAt,
    packageName: template.packageName,
    representativePackageId: template.packageId,
    acsDelta,
  };
}

function projectNode(n: TxNode, offset: number, scope: ReadScope, shape: TransactionShape): EventOut | undefined {
  if (n.kind === 'create') {
    const template = templateOf(n.contract.payload);
    const stake = stakeholders(n.contract.payload);
    if (shape === 'TRANSACTION_SHAPE_ACS_DELTA') {
      if (n.consumedInTx) return undefined;
      const m = matchNode(
        scope,
        new Set([...n.witnesses].filter((p) => stake.has(p))),
        template,
        implementedInterfaces(n.contract.payload),
      );
      return m.parties.length > 0 ? { CreatedEvent: createdEvent(n.contract, offset, n.nodeId, m, true) } : undefined;
    }
    const m = matchNode(scope, n.witnesses, template, implementedInterfaces(n.contract.payload));
    if (m.parties.length === 0) return undefined;
    return { CreatedEvent: createdEvent(n.contract, offset, n.nodeId, m, !n.consumedInTx && intersects(m.parties, stake)) };
  }
  const template = templateOf(n.target.payload);
  const ifaces = implementedInterfaces(n.target.payload);
  const stake = stakeholders(n.target.payload);
  if (shape === 'TRANSACTION_SHAPE_ACS_DELTA') {
    if (!n.consuming || n.createdInTx) return undefined;
    const m = matchNode(scope, new Set([...n.witnesses].filter((p) => stake.has(p))), template, ifaces);
    if (m.parties.length === 0) return undefined;
    return {
      ArchivedEvent: {
        offset,
        nodeId: n.nodeId,
        contractId: n.target.contractId,
        templateId: idString(template),
        witnessParties: m.parties,
        packageName: template.packageName,
        implementedInterfaces: m.views.map(idString),
      },
    };
  }
  const m = matchNode(scope, n.witnesses, template, ifaces);
  if (m.parties.length === 0) return undefined;
  return {
    ExercisedEvent: {
      offset,
      nodeId: n.nodeId,
      contractId: n.target.contractId,
      templateId: idString(template),
      ...(n.interfaceId ? { interfaceId: idString(n.interfaceId) } : {}),
      choice: n.choice,
      choiceArgument: n.choiceArgument,
      actingParties: [...n.actingParties],
      consuming: n.consuming,
      witnessParties: m.parties,
      lastDescendantNodeId: n.lastDescendantNodeId,
      exerciseResult: n.result,
      packageName: template.packageName,
      implementedInterfaces: m.views.map(idString),
      acsDelta: n.consuming && !n.createdInTx && intersects(m.parties, stake),
    },
  };
}

/**
 * The JsTransaction a reader gets, or undefined when none of its events is visible to it
 * (the update then only shows through OffsetCheckpoints).
 */
export function projectTransaction(
  tx: CommittedTx,
  scope: ReadScope,
  shape: TransactionShape,
  synchronizerId: string,
): JsTransactionOut | undefined {
  const events: EventOut[] = [];
  for (const n of tx.nodes) {
    const e = projectNode(n, tx.offset, scope, shape);
    if (e) events.push(e);
  }
  if (events.length === 0) return undefined;
  const readers = new Set([...scope.byParty.keys()]);
  // Command id and external hash only go to the submitting parties, as on a real participant.
  const isSubmitter = tx.submitter !== undefined && (scope.anyParty !== undefined || tx.submitter.actAs.some((p) => readers.has(p)));
  return {
    updateId: tx.updateId,
    commandId: isSubmitter && tx.submitter ? tx.submitter.commandId : '',
    workflowId: tx.workflowId ?? '',
    effectiveAt: tx.effectiveAt,
    events,
    offset: tx.offset,
    synchronizerId,
    traceContext: { traceparent: tx.traceparent },
    recordTime: microsToIso(tx.recordTime),
    ...(isSubmitter && tx.externalTransactionHash !== undefined ? { externalTransactionHash: tx.externalTransactionHash } : {}),
  };
}

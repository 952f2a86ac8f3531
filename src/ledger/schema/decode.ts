import type { z } from 'zod';
import { fastParseUpdate } from './fast-updates.js';
import { JsGetActiveContractsResponse } from './state.js';
import { JsGetUpdatesResponse } from './updates.js';

export interface DecodeIssue {
  /** JSON path of the offending value, e.g. "update.Transaction.value.events[2].CreatedEvent.offset". */
  readonly path: string;
  readonly message: string;
}

/**
 * Ledger JSON that does not match the schema. Ingestion must stop on it (never skip), so the
 * message names what is needed to find the data again: the update id and offset when readable.
 */
export class LedgerDecodeError extends Error {
  override readonly name = 'LedgerDecodeError';

  constructor(
    message: string,
    readonly what: string,
    readonly issues: readonly DecodeIssue[],
    readonly updateId?: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(root)' : out;
}

export function toDecodeIssues(error: z.ZodError): DecodeIssue[] {
  return error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
}

const MAX_ISSUES_IN_MESSAGE = 5;

function issuesText(issues: readonly DecodeIssue[]): string {
  const shown = issues.slice(0, MAX_ISSUES_IN_MESSAGE).map((i) => `${i.path}: ${i.message}`);
  const more = issues.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; … and ${more} more` : '');
}

/** Parse or throw a LedgerDecodeError naming `what` and every failing path. */
export function decode<T extends z.ZodType>(schema: T, json: unknown, what: string): z.output<T> {
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const issues = toDecodeIssues(r.error);
  throw new LedgerDecodeError(`cannot decode ${what}: ${issuesText(issues)}`, what, issues);
}

function field(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>)[key] : undefined;
}

export interface UpdateIdentity {
  /** The oneof case (Transaction, Reassignment, OffsetCheckpoint, TopologyTransaction, …). */
  readonly kind?: string;
  readonly updateId?: string;
  readonly offset?: number;
}

/** Best-effort read of an update's case, id and offset from raw JSON that may not parse. */
export function describeRawUpdate(json: unknown): UpdateIdentity {
  const update = field(json, 'update');
  if (typeof update !== 'object' || update === null) return {};
  const kind = Object.keys(update)[0];
  if (kind === undefined) return {};
  const value = field(field(update, kind), 'value');
  const updateId = field(value, 'updateId');
  const offset = field(value, 'offset');
  return {
    kind,
    ...(typeof updateId === 'string' ? { updateId } : {}),
    ...(typeof offset === 'number' ? { offset } : {}),
  };
}

/**
 * Parse one element of /v2/updates (websocket frame or HTTP list item) or an update-by-id /
 * update-by-offset response. On failure the error names the update id and offset.
 */
export function parseUpdate(json: unknown): JsGetUpdatesResponse {
  // The common elements take a hand-written path that accepts and returns exactly what the
  // schema does; anything else (including every error) is the schema's to answer.
  const fast = fastParseUpdate(json);
  if (fast !== undefined) return fast;
  const r = JsGetUpdatesResponse.safeParse(json);
  if (r.success) return r.data;
  const issues = toDecodeIssues(r.error);
  const id = describeRawUpdate(json);
  const where = [
    id.kind ?? 'update',
    id.updateId !== undefined ? `updateId=${id.updateId}` : undefined,
    id.offset !== undefined ? `offset=${id.offset}` : undefined,
  ]
    .filter((s) => s !== undefined)
    .join(' ');
  throw new LedgerDecodeError(`cannot decode ${where}: ${issuesText(issues)}`, 'JsGetUpdatesResponse', issues, id.updateId, id.offset);
}

/** Parse one active-contracts element; on failure the error names the contract id if readable. */
export function parseActiveContract(json: unknown): JsGetActiveContractsResponse {
  const r = JsGetActiveContractsResponse.safeParse(json);
  if (r.success) return r.data;
  const issues = toDecodeIssues(r.error);
  const cid = field(field(field(field(json, 'contractEntry'), 'JsActiveContract'), 'createdEvent'), 'contractId');
  const where = typeof cid === 'string' ? `active contract ${cid}` : 'active-contracts element';
  throw new LedgerDecodeError(`cannot decode ${where}: ${issuesText(issues)}`, 'JsGetActiveContractsResponse', issues);
}

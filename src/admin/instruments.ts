import { z } from 'zod';
import { REGISTRY_CREDENTIAL_NAME } from '../config.js';
import { AppError } from '../errors.js';
import { NO_REGISTRY_AUTH, type RegistryAuth, type RegistryTokens } from '../ledger/registry-auth.js';
import { RegistryUrlRefusedError, withoutCredentials, type RegistryUrlPolicy } from '../ledger/registry-url-policy.js';
import { FeeReserveBody, FeeReservePatch, NO_FEE_RESERVE } from '../lib/fee-reserve.js';
import { InstrumentRef } from '../lib/ids.js';
import type { Sql, Tx } from '../store/db.js';
import {
  findInstrumentRecord,
  insertInstrument,
  listInstrumentRecords,
  lockInstrumentRecord,
  updateInstrument,
  type InstrumentConfig,
  type InstrumentRecord,
} from '../store/instruments.js';
import { appendOutboxEvents } from '../store/outbox.js';
import type { HoldingAdoption } from './holding-adoption.js';
import { RegistryCheckError, type InstrumentRegistryCheck, type RegistryInstrumentInfo } from './registry-check.js';
import { UtxoPolicy } from './utxo-policy.js';

/**
 * Token onboarding: instruments are configuration in the `instruments` table, added, changed and
 * disabled here (HTTP admin endpoints, `cxi instruments`). Adding, re-pointing, changing the
 * registry auth of, or re-enabling an instrument first asks its registry, with that auth, whether
 * it serves that instrument for that admin; disabling never calls out, so it works while a
 * registry is down. Every change is one transaction with an `instrument.configured` outbox event
 * (an audit trail naming who changed what); it carries the registry auth's mode and credential
 * name, never a secret.
 *
 * Every stored URL is under the registry URL policy (src/ledger/registry-url-policy.ts: https,
 * no credentials, query or fragment, public addresses unless the settings allow the host),
 * whatever else a request changes: a URL stored before the policy, or one whose name now resolves
 * somewhere it may not, must be fixed before anything else of the instrument may change. Only
 * disabling needs no check: it stores nothing new and stops the calls.
 *
 * Everything that uses an instrument reads the table when it needs it (the withdrawal runtime at
 * machine creation, the ledger effects with a few seconds' cache, the holdings job every run), so
 * a change applies without a restart. A disabled instrument is still ingested and its deposits
 * still credited; new withdrawals of it are refused and the holdings job leaves it alone.
 */

/** The shape only: the registry URL policy, which depends on the settings, judges the rest. */
const HttpUrl = z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }).max(2048);
const TransferPolicy = z.enum(['direct-only', 'direct-or-offer', 'offer-only']);

/** Names a credential of the REGISTRY_CREDENTIALS setting; the secrets themselves never pass the API. */
export const RegistryAuthBody = z
  .discriminatedUnion('mode', [
    z.object({ mode: z.literal('none') }).strict(),
    z.object({ mode: z.literal('ledger') }).strict(),
    z
      .object({
        mode: z.literal('credential'),
        credential: z.string().regex(REGISTRY_CREDENTIAL_NAME, 'must name a credential of REGISTRY_CREDENTIALS'),
      })
      .strict(),
  ])
  .describe(
    "How the registry client authenticates. none: no token (Scan, public registries); ledger: the daemon's Ledger API token (a validator's Scan proxy); credential: the named credential of the REGISTRY_CREDENTIALS setting (static token or OAuth2 client credentials)",
  );

export const InstrumentCreateBody = z
  .object({
    admin: InstrumentRef.shape.admin.describe('The token admin party'),
    id: InstrumentRef.shape.id.describe('The admin\'s id of the instrument, e.g. "Amulet"'),
    registryUrl: HttpUrl.describe(
      "Base URL of the admin's Registry API (for Canton Coin: Scan, or the validator's Scan proxy https://<validator>/api/validator/v0/scan-proxy): https, no credentials, query or fragment, at public addresses (REGISTRY_ALLOW_HTTP and REGISTRY_ALLOW_HOSTS relax this)",
    ),
    registryAuth: RegistryAuthBody.default(NO_REGISTRY_AUTH),
    displayDecimals: z.int().min(0).max(10).optional().describe("Default: the registry's decimals"),
    transferPolicy: TransferPolicy.default('direct-or-offer').describe(
      'direct-only: 1-step only (receivers need a preapproval); offer-only: 2-step',
    ),
    utxoPolicy: UtxoPolicy.default(UtxoPolicy.parse({})),
    feeReserve: FeeReserveBody.default(NO_FEE_RESERVE).describe(
      "What a withdrawal reserves beyond its amount for the fee the sender pays from its inputs: amount + flat + amount × rate. Set it at or above the ledger's fee (Canton Coin: its sender fees); default none",
    ),
    enabled: z.boolean().default(true),
  })
  .strict();
export type InstrumentCreateBody = z.output<typeof InstrumentCreateBody>;

export const InstrumentChangeBody = z
  .object({
    registryUrl: HttpUrl.optional(),
    registryAuth: RegistryAuthBody.optional(),
    displayDecimals: z.int().min(0).max(10).optional(),
    transferPolicy: TransferPolicy.optional(),
    utxoPolicy: UtxoPolicy.optional(),
    feeReserve: FeeReservePatch.optional().describe('The parts given (rate, flat) replace the stored ones'),
    enabled: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one field to change');
export type InstrumentChangeBody = z.output<typeof InstrumentChangeBody>;

export type InstrumentAction = 'added' | 'changed' | 'disabled' | 'enabled';

export interface InstrumentChangeResult {
  instrument: InstrumentRecord;
  /** Onboarding only: the treasury's holdings of the token already on the ledger, adopted into the pool. */
  adopted?: { holdings: number; atOffset: number | null };
  /** Set when the registry was asked (add, new URL or registry auth, new display decimals, re-enable). */
  registry: RegistryInstrumentInfo | null;
  /** Fields whose value changed (empty: the request changed nothing). */
  changed: string[];
}

export interface InstrumentAdmin {
  list(filter?: { enabled?: boolean | undefined }): Promise<InstrumentRecord[]>;
  get(admin: string, id: string): Promise<InstrumentRecord>;
  add(body: InstrumentCreateBody, by: string): Promise<InstrumentChangeResult>;
  change(admin: string, id: string, body: InstrumentChangeBody, by: string): Promise<InstrumentChangeResult>;
}

const CONFIG_FIELDS = ['registryUrl', 'registryAuth', 'displayDecimals', 'transferPolicy', 'utxoPolicy', 'feeReserve', 'enabled'] as const;

const configOf = (r: InstrumentRecord): InstrumentConfig => ({
  admin: r.admin,
  id: r.id,
  registryUrl: r.registryUrl,
  registryAuth: r.registryAuth,
  displayDecimals: r.displayDecimals,
  transferPolicy: r.transferPolicy,
  utxoPolicy: r.utxoPolicy,
  feeReserve: r.feeReserve,
  enabled: r.enabled,
});

function registryRefusal(e: RegistryCheckError): AppError {
  return new AppError('VALIDATION_FAILED', `The registry check failed: ${e.message}`, {
    issues: [{ field: e.field, reason: e.message }],
    retryable: e.retryable,
  });
}

function urlRefusal(e: RegistryUrlRefusedError): AppError {
  return new AppError('VALIDATION_FAILED', e.message, { issues: [{ field: 'registryUrl', reason: e.message }], retryable: e.retryable });
}

/** Unknown credentials and URLs a token may not go to are refused before anyone is asked. */
function checkRegistryAuth(tokens: RegistryTokens, auth: RegistryAuth, registryUrl: string): void {
  const problem = tokens.problem(auth, registryUrl);
  if (problem) throw new AppError('VALIDATION_FAILED', problem.message, { issues: [{ field: problem.field, reason: problem.message }] });
}

function checkDecimals(displayDecimals: number, info: RegistryInstrumentInfo): void {
  if (displayDecimals > info.decimals) {
    throw new AppError('VALIDATION_FAILED', `displayDecimals ${displayDecimals} exceeds the ${info.decimals} decimals of ${info.symbol}`, {
      issues: [{ field: 'displayDecimals', reason: `must be at most ${info.decimals}, the token's decimals` }],
    });
  }
}

/** JSON with sorted keys: jsonb hands objects back in its own key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
const sameValue = (a: unknown, b: unknown) => canonical(a) === canonical(b);

export function createInstrumentAdmin(deps: {
  sql: Sql;
  registry: InstrumentRegistryCheck;
  tokens: RegistryTokens;
  policy: RegistryUrlPolicy;
  adoption?: HoldingAdoption;
}): InstrumentAdmin {
  const { sql, registry, tokens, policy } = deps;

  /**
   * The URL (and, when given, the registry auth), cheapest first: the URL's form, where the token
   * may go, then the addresses the host resolves to now.
   */
  async function checkUrlAndAuth(registryUrl: string, registryAuth: RegistryAuth | undefined): Promise<void> {
    const formal = policy.problem(registryUrl);
    if (formal) throw urlRefusal(formal);
    if (registryAuth) checkRegistryAuth(tokens, registryAuth, registryUrl);
    try {
      await policy.check(registryUrl);
    } catch (e) {
      if (e instanceof RegistryUrlRefusedError) throw urlRefusal(e);
      throw e;
    }
  }

  async function ask(i: { admin: string; id: string; registryUrl: string; registryAuth: RegistryAuth }): Promise<RegistryInstrumentInfo> {
    try {
      return await registry.check(i);
    } catch (e) {
      if (e instanceof RegistryCheckError) throw registryRefusal(e);
      throw e;
    }
  }

  async function record(
    tx: Tx,
    action: InstrumentAction,
    r: InstrumentRecord,
    changed: string[],
    by: string,
    adopted?: InstrumentChangeResult['adopted'],
  ): Promise<void> {
    await appendOutboxEvents(tx, [
      {
        topic: 'instrument.configured',
        aggregateType: 'instrument',
        aggregateId: `${r.admin}/${r.id}`,
        // A URL stored before credentials were refused is shown without them (disabling needs no new URL).
        payload: {
          action,
          admin: r.admin,
          id: r.id,
          changed,
          by,
          config: { ...configOf(r), registryUrl: withoutCredentials(r.registryUrl) },
          adopted: adopted ?? null,
        },
      },
    ]);
  }

  /** The ledger's holdings of a newly onboarded token join the pool (holding-adoption.ts). */
  async function adopt(tx: Tx, i: { admin: string; id: string }, by: string): Promise<InstrumentChangeResult['adopted']> {
    if (!deps.adoption) return undefined;
    try {
      const r = await deps.adoption.adopt(tx, i, by);
      return { holdings: r.adopted, atOffset: r.atOffset };
    } catch (e) {
      throw new AppError(
        'NOT_READY',
        `Cannot read the treasury's holdings of ${i.id} from the ledger to adopt them: ${(e as Error).message}`,
        { retryable: true },
      );
    }
  }

  return {
    list: (filter = {}) => listInstrumentRecords(sql, filter),

    async get(admin, id) {
      const r = await findInstrumentRecord(sql, admin, id);
      if (!r) throw new AppError('NOT_FOUND', `No instrument ${id} of admin ${admin}`);
      return r;
    },

    async add(body, by) {
      if (await findInstrumentRecord(sql, body.admin, body.id)) {
        throw new AppError('STATE_CONFLICT', `Instrument ${body.id} of admin ${body.admin} is already configured: change it with PUT`);
      }
      await checkUrlAndAuth(body.registryUrl, body.registryAuth);
      const info = await ask(body);
      const displayDecimals = body.displayDecimals ?? info.decimals;
      checkDecimals(displayDecimals, info);
      const config: InstrumentConfig = { ...body, displayDecimals };
      return sql.begin(async (tx) => {
        const created = await insertInstrument(tx, config);
        if (!created) throw new AppError('STATE_CONFLICT', `Instrument ${body.id} of admin ${body.admin} was added concurrently`);
        const adopted = await adopt(tx, body, by);
        await record(tx, 'added', created, [...CONFIG_FIELDS], by, adopted);
        return { instrument: created, registry: info, changed: [...CONFIG_FIELDS], ...(adopted ? { adopted } : {}) };
      });
    },

    async change(admin, id, body, by) {
      const current = await findInstrumentRecord(sql, admin, id);
      if (!current) throw new AppError('NOT_FOUND', `No instrument ${id} of admin ${admin}`);
      const { feeReserve, ...rest } = body;
      const next: InstrumentConfig = { ...configOf(current), ...rest, feeReserve: { ...current.feeReserve, ...feeReserve } };
      const changed = CONFIG_FIELDS.filter((f) => !sameValue(current[f], next[f]));
      if (changed.length === 0) return { instrument: current, registry: null, changed: [] };

      // Ask the registry again only when what it vouched for changes; disabling never depends on it.
      const reEnabled = next.enabled && !current.enabled;
      // A new registry auth is proven against the registry too: a token it refuses is a 400 now.
      const needsRegistry =
        next.enabled &&
        (reEnabled || changed.includes('registryUrl') || changed.includes('registryAuth') || changed.includes('displayDecimals'));
      const authAffected = needsRegistry || changed.includes('registryUrl') || changed.includes('registryAuth');
      // Disabling alone stores nothing new and stops the calls: it works whatever the URL, and offline.
      const onlyDisabling = changed.length === 1 && changed[0] === 'enabled' && !next.enabled;
      if (!onlyDisabling) await checkUrlAndAuth(next.registryUrl, authAffected ? next.registryAuth : undefined);
      const info = needsRegistry ? await ask(next) : null;
      if (info) checkDecimals(next.displayDecimals, info);

      return sql.begin(async (tx) => {
        const locked = await lockInstrumentRecord(tx, admin, id);
        if (!locked) throw new AppError('NOT_FOUND', `No instrument ${id} of admin ${admin}`);
        // What the registry vouched for must still be what we overwrite.
        if (locked.updatedAt !== current.updatedAt)
          throw new AppError('STATE_CONFLICT', `Instrument ${id} of admin ${admin} changed concurrently: read it and try again`);
        const updated = (await updateInstrument(tx, next))!;
        const action: InstrumentAction = changed.includes('enabled') ? (next.enabled ? 'enabled' : 'disabled') : 'changed';
        await record(tx, action, updated, changed, by);
        return { instrument: updated, registry: info, changed };
      });
    },
  };
}

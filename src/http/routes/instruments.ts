import { z } from 'zod';
import { createInstrumentAdmin, InstrumentChangeBody, InstrumentCreateBody, type InstrumentChangeResult } from '../../admin/instruments.js';
import type { HoldingAdoption } from '../../admin/holding-adoption.js';
import { createRegistryMetadataCheck, type InstrumentRegistryCheck } from '../../admin/registry-check.js';
import { createRegistryTokens, NO_REGISTRY_CREDENTIALS, type RegistryTokens } from '../../ledger/registry-auth.js';
import {
  createRegistryUrlPolicy,
  STRICT_REGISTRY_URLS,
  withoutCredentials,
  type RegistryUrlPolicy,
} from '../../ledger/registry-url-policy.js';
import type { Sql } from '../../store/db.js';
import type { InstrumentRecord } from '../../store/instruments.js';
import { Timestamp, errorResponses } from '../schemas.js';
import type { App } from '../server.js';

const InstrumentResponse = z.object({
  admin: z.string(),
  id: z.string(),
  registryUrl: z.string(),
  registryAuth: z
    .object({ mode: z.enum(['none', 'ledger', 'credential']), credential: z.string().optional() })
    .describe(
      'How the registry client authenticates: the mode, and for mode credential the name of a REGISTRY_CREDENTIALS entry (never a secret)',
    ),
  displayDecimals: z.number().int(),
  transferPolicy: z.enum(['direct-only', 'direct-or-offer', 'offer-only']),
  utxoPolicy: z.record(z.string(), z.unknown()).describe('The holdings job policy (see POST body)'),
  feeReserve: z
    .object({ rate: z.string(), flat: z.string() })
    .describe("What coin selection covers beyond a withdrawal's amount for the sender's fee: amount + flat + amount × rate"),
  enabled: z.boolean().describe('false: still ingested and credited, but not withdrawn nor managed by the holdings job'),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const ChangeResponse = InstrumentResponse.extend({
  registry: z
    .object({
      adminId: z.string(),
      name: z.string(),
      symbol: z.string(),
      decimals: z.number().int(),
      supportedApis: z.record(z.string(), z.number()),
    })
    .nullable()
    .describe("What the registry's metadata API said, when it was asked"),
  changed: z.array(z.string()).describe('Fields this request changed'),
  adopted: z
    .object({ holdings: z.number().int(), atOffset: z.number().int().nullable() })
    .optional()
    .describe(
      "Onboarding: the treasury's holdings of the token already on the ledger (signed by its admin) that joined the pool, read at this offset",
    ),
});

const Params = z.object({ admin: z.string().min(1).max(256), id: z.string().min(1).max(128) });

/** A URL stored before the registry URL policy refused credentials is shown without them. */
const view = (r: InstrumentRecord): z.infer<typeof InstrumentResponse> => ({ ...r, registryUrl: withoutCredentials(r.registryUrl) });
const changeView = (r: InstrumentChangeResult): z.infer<typeof ChangeResponse> => ({
  ...view(r.instrument),
  registry: r.registry,
  changed: r.changed,
  ...(r.adopted ? { adopted: r.adopted } : {}),
});

export interface InstrumentRouteDeps {
  sql: Sql;
  /** Onboarding adopts the token's holdings already on the ledger (none without a ledger). */
  holdingAdoption?: HoldingAdoption;
  /** The credentials instruments may name and the tokens they send (default: none configured, no ledger). */
  registryTokens?: RegistryTokens;
  /** Which registry URLs instruments may have (the REGISTRY_ALLOW_* settings); default: https to public addresses only. */
  registryPolicy?: RegistryUrlPolicy;
  /** Default: the registry's metadata API over HTTP, with the instrument's registry auth. */
  instrumentRegistry?: InstrumentRegistryCheck;
}

/** Token onboarding (src/admin/instruments.ts): reads need the read scope, changes the admin scope. */
export function registerInstrumentRoutes(app: App, deps: InstrumentRouteDeps): void {
  const tokens = deps.registryTokens ?? createRegistryTokens({ config: NO_REGISTRY_CREDENTIALS, ledger: undefined });
  const policy = deps.registryPolicy ?? createRegistryUrlPolicy({ config: STRICT_REGISTRY_URLS });
  const registry = deps.instrumentRegistry ?? createRegistryMetadataCheck({ tokens, policy, logger: app.log });
  const admin = createInstrumentAdmin({
    sql: deps.sql,
    tokens,
    policy,
    registry,
    ...(deps.holdingAdoption ? { adoption: deps.holdingAdoption } : {}),
  });
  const tags = ['instruments'];
  const byOf = (principal: { name: string } | undefined) => principal?.name ?? 'unknown';

  app.get(
    '/v1/instruments',
    {
      config: { access: 'read' },
      schema: {
        summary: 'List the configured instruments',
        tags,
        querystring: z.object({ enabled: z.enum(['true', 'false']).optional() }),
        response: { 200: z.object({ items: z.array(InstrumentResponse) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => ({
      items: (await admin.list({ enabled: req.query.enabled === undefined ? undefined : req.query.enabled === 'true' })).map(view),
    }),
  );

  app.get(
    '/v1/instruments/:admin/:id',
    {
      config: { access: 'read' },
      schema: { summary: 'One instrument', tags, params: Params, response: { 200: InstrumentResponse, ...errorResponses(401, 403, 404) } },
    },
    async (req) => view(await admin.get(req.params.admin, req.params.id)),
  );

  app.post(
    '/v1/instruments',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Onboard an instrument',
        description:
          "Asks the registry's metadata API (info and instruments/{id}) first: the registry must belong to the admin party, know the instrument and offer the transfer-instruction API.",
        tags,
        body: InstrumentCreateBody,
        response: { 201: ChangeResponse, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (req, reply) => {
      const r = await admin.add(req.body, byOf(req.principal));
      req.log.info({ instrument: `${r.instrument.admin}/${r.instrument.id}`, by: byOf(req.principal) }, 'instrument added');
      return reply.status(201).send(changeView(r));
    },
  );

  app.put(
    '/v1/instruments/:admin/:id',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Change an instrument',
        description:
          'Fields given replace the stored ones, others stay. A new registry URL or registry auth, new display decimals or re-enabling asks the registry again; disabling never does.',
        tags,
        params: Params,
        body: InstrumentChangeBody,
        response: { 200: ChangeResponse, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const r = await admin.change(req.params.admin, req.params.id, req.body, byOf(req.principal));
      req.log.info(
        { instrument: `${req.params.admin}/${req.params.id}`, changed: r.changed, by: byOf(req.principal) },
        'instrument changed',
      );
      return changeView(r);
    },
  );

  for (const [action, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    app.post(
      `/v1/instruments/:admin/:id/${action}`,
      {
        config: { access: 'admin' },
        schema: {
          summary: enabled
            ? 'Enable an instrument (asks the registry again)'
            : 'Disable an instrument: no new withdrawals, no UTXO management; still ingested',
          tags,
          params: Params,
          response: { 200: ChangeResponse, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (req) => {
        const r = await admin.change(req.params.admin, req.params.id, { enabled }, byOf(req.principal));
        req.log.info({ instrument: `${req.params.admin}/${req.params.id}`, enabled, by: byOf(req.principal) }, `instrument ${action}d`);
        return changeView(r);
      },
    );
  }
}

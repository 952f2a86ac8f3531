import type { FastifyInstance, FastifyReply } from 'fastify';
import { encodeBlob } from '../../engine/blob.js';
import { factoryTransferArgument, type FactoryTransferArgument } from '../../engine/daml/choice-arguments.js';
import { decodeCodegenJson, JsonLfDecodeError } from '../../engine/daml/codegen-json.js';
import { TransferFactory_Transfer } from '../../engine/daml/token-standard.js';
import { LedgerError } from '../../engine/errors.js';
import type { Instrument } from '../../engine/instruments.js';
import { factoryContext, instructionContext } from '../../engine/registry-context.js';
import { createArgument, instructionTransfer, templateOf } from '../../engine/templates.js';
import { idString, type Contract } from '../../engine/types.js';
import type { InstructionChoice } from '../../engine/workflows.js';
import type { Json } from '../../util/json.js';
import { microsToIso } from '../../util/time.js';
import type { Books } from '../../control/books.js';
import { HANDLED, register, type WireContext } from '../http.js';
import { requireRegistryJwt } from '../registry-auth.js';
import type { ServerSettings } from '../settings.js';

/** transfer-instruction-v1.yaml's DisclosedContract, as the registry sends it. */
interface DisclosedContractJson {
  templateId: string;
  contractId: string;
  createdEventBlob: string;
  synchronizerId: string;
  debugPackageName?: string;
  debugPayload?: Json;
  debugCreatedAt?: string;
}

const SUPPORTED_APIS = {
  'splice-api-token-metadata-v1': 1,
  'splice-api-token-holding-v1': 1,
  'splice-api-token-transfer-instruction-v1': 1,
};

/**
 * A handler's error as Splice answers it: apps/common/.../admin/http/HttpErrorHandler.scala maps the
 * gRPC status a handler fails with to HTTP (INVALID_ARGUMENT → 400, NOT_FOUND → 404) with body
 * `{"error": <status description>}` (the spec's ErrorResponse).
 */
function registryError(reply: FastifyReply, status: number, error: string): typeof HANDLED {
  reply.code(status).type('application/json').send({ error });
  return HANDLED;
}

/**
 * A body the guardrail-generated route cannot decode (circe): pekko-http's default rejection
 * handler answers MalformedRequestContentRejection with 400 text/plain "The request content was
 * malformed:\n" + the circe DecodingFailure's message.
 */
function malformedBody(reply: FastifyReply, field: string, failure: string): typeof HANDLED {
  reply.code(400).type('text/plain; charset=UTF-8').send(`The request content was malformed:\nDecodingFailure at .${field}: ${failure}`);
  return HANDLED;
}

const wrongType = (v: unknown, expected: string): string => `Got value '${JSON.stringify(v)}' with wrong type, expecting ${expected}`;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type BodyField<T> = { ok: true; value: T } | { ok: false; field: string; failure: string };

/** An optional boolean field of a guardrail request (circe's Decoder[Option[Boolean]]). */
function optionalBoolean(body: Record<string, unknown>, field: string): BodyField<boolean | undefined> {
  const v = body[field];
  if (v === undefined || v === null) return { ok: true, value: undefined };
  return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, field, failure: wrongType(v, "'true' or 'false'") };
}

/** GetFactoryRequest: `choiceArguments` (a JSON object, required), `excludeDebugFields`. */
function decodeFactoryRequest(body: unknown): BodyField<{ choiceArguments: Record<string, unknown>; excludeDebugFields: boolean }> {
  const o = isObject(body) ? body : {};
  const args = o['choiceArguments'];
  if (args === undefined) return { ok: false, field: 'choiceArguments', failure: 'Missing required field' };
  if (!isObject(args)) return { ok: false, field: 'choiceArguments', failure: wrongType(args, 'object') };
  const exclude = optionalBoolean(o, 'excludeDebugFields');
  if (!exclude.ok) return exclude;
  return { ok: true, value: { choiceArguments: args, excludeDebugFields: exclude.value ?? false } };
}

/** GetChoiceContextRequest: `meta` (text to text, optional), `excludeDebugFields`. */
function decodeChoiceContextRequest(body: unknown): BodyField<{ excludeDebugFields: boolean }> {
  const o = isObject(body) ? body : {};
  const meta = o['meta'];
  if (meta !== undefined && meta !== null) {
    if (!isObject(meta)) return { ok: false, field: 'meta', failure: wrongType(meta, 'object') };
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') return { ok: false, field: `meta.${k}`, failure: wrongType(v, 'string') };
    }
  }
  const exclude = optionalBoolean(o, 'excludeDebugFields');
  if (!exclude.ok) return exclude;
  return { ok: true, value: { excludeDebugFields: exclude.value ?? false } };
}

/**
 * Splice's HttpTokenStandardTransferInstructionHandler.getTransferFactory reads `choiceArguments`
 * with the Java codegen (`TransferFactory_Transfer.fromJson(body.choiceArguments.noSpaces)`) and
 * refuses what does not decode with INVALID_ARGUMENT "Field `choiceArguments` does not contain a
 * valid `TransferFactory_Transfer`: $err", err being the JsonLfDecoder.Error.
 */
function decodeChoiceArguments(json: Record<string, unknown>): { ok: true; value: FactoryTransferArgument } | { ok: false; error: string } {
  try {
    return { ok: true, value: factoryTransferArgument(decodeCodegenJson(TransferFactory_Transfer, json)) };
  } catch (e) {
    if (!(e instanceof JsonLfDecodeError)) throw e;
    return { ok: false, error: `Field \`choiceArguments\` does not contain a valid \`TransferFactory_Transfer\`: ${e.javaString()}` };
  }
}

/**
 * Token registries, one per instrument admin, each under its own base URL
 * (<base>/registries/<name>), with the paths of transfer-instruction-v1.yaml and
 * token-metadata-v1.yaml. Public, like Scan / a registry app; with `registryAuth: 'ledger-jwt'`
 * behind a JWT like a validator's Scan proxy (../registry-auth.ts). The routes stay `public`: the
 * Ledger API's own check (Canton's errors, the user must exist) is not the proxy's.
 */
export function registryRoutes(app: FastifyInstance, ctx: WireContext, books: Books, settings: Pick<ServerSettings, 'registryAuth'>): void {
  if (settings.registryAuth === 'ledger-jwt') requireRegistryJwt(app, ctx.auth, '/registries/');
  const { engine } = ctx;
  const ledger = engine.ledger;
  const base = '/registries/:registry/registry';

  const disclosed = (c: Contract, excludeDebug: boolean): DisclosedContractJson => {
    const template = templateOf(c.payload);
    return {
      templateId: idString(template),
      contractId: c.contractId,
      createdEventBlob: encodeBlob(c),
      synchronizerId: ledger.synchronizerId,
      ...(excludeDebug
        ? {}
        : { debugPackageName: template.packageName, debugPayload: createArgument(c.payload), debugCreatedAt: c.createdAt }),
    };
  };
  const instrumentsOf = (registry: string | undefined): Instrument[] => engine.instrumentsOfRegistry(registry ?? '');

  register(app, ctx, {
    method: 'POST',
    url: `${base}/transfer-instruction/v1/transfer-factory`,
    op: 'registry.transferFactory',
    public: true,
    handler: async ({ req, params, reply }) => {
      const insts = instrumentsOf(params['registry']);
      if (insts.length === 0) return registryError(reply, 404, `no registry ${params['registry'] ?? ''}`);
      const body = decodeFactoryRequest(req.body);
      if (!body.ok) return malformedBody(reply, body.field, body.failure);
      const args = decodeChoiceArguments(body.value.choiceArguments);
      if (!args.ok) return registryError(reply, 400, args.error);
      const { transfer } = args.value;
      // One registry per admin here (Scan serves only Amulet, and checks neither the instrument nor
      // expectedAdmin: the factory's Daml does); the double routes on the instrument.
      const inst = insts.find((i) => i.admin === transfer.instrumentId.admin && i.config.id === transfer.instrumentId.id);
      if (!inst)
        return registryError(
          reply,
          404,
          `instrument ${transfer.instrumentId.admin}/${transfer.instrumentId.id} is not managed by this registry`,
        );
      const plan = factoryContext(ledger, inst, transfer);
      return {
        factoryId: plan.factory.contractId,
        transferKind: plan.kind,
        choiceContext: {
          choiceContextData: { values: plan.contextValues },
          disclosedContracts: plan.disclosed.map((c) => disclosed(c, body.value.excludeDebugFields)),
        },
      };
    },
  });

  for (const choice of ['accept', 'reject', 'withdraw'] as const) {
    register(app, ctx, {
      method: 'POST',
      url: `${base}/transfer-instruction/v1/:transferInstructionId/choice-contexts/${choice}`,
      op: `registry.${choice}Context`,
      public: true,
      handler: async ({ req, params, reply }) => {
        const body = decodeChoiceContextRequest(req.body);
        if (!body.ok) return malformedBody(reply, body.field, body.failure);
        const cid = params['transferInstructionId'] ?? '';
        const instruction = ledger.active(cid);
        const t = instruction ? instructionTransfer(instruction) : undefined;
        const registryInsts = instrumentsOf(params['registry']);
        const inst = t ? registryInsts.find((i) => i.admin === t.instrumentId.admin && i.config.id === t.instrumentId.id) : undefined;
        if (!inst) {
          // Scan's wording (HttpTokenStandardTransferInstructionHandler.getTransferInstructionChoiceContext).
          const amulet = registryInsts.some((i) => i.config.family === 'amulet');
          return registryError(
            reply,
            404,
            amulet ? `AmuletTransferInstruction '${cid}' not found.` : `transfer instruction ${cid} not found`,
          );
        }
        const label = (choice.charAt(0).toUpperCase() + choice.slice(1)) as InstructionChoice;
        try {
          const plan = instructionContext(ledger, inst, cid, label);
          return {
            choiceContextData: { values: plan.contextValues },
            disclosedContracts: plan.disclosed.map((c) => disclosed(c, body.value.excludeDebugFields)),
          };
        } catch (e) {
          if (e instanceof LedgerError) return registryError(reply, 404, e.causeText);
          throw e;
        }
      },
    });
  }

  register(app, ctx, {
    method: 'GET',
    url: `${base}/metadata/v1/info`,
    op: 'registry.info',
    public: true,
    handler: async ({ params, reply }) => {
      const inst = instrumentsOf(params['registry'])[0];
      if (!inst) return registryError(reply, 404, `no registry ${params['registry'] ?? ''}`);
      return { adminId: inst.admin, supportedApis: SUPPORTED_APIS };
    },
  });

  const instrumentJson = (inst: Instrument) => ({
    id: inst.config.id,
    name: inst.config.name,
    symbol: inst.config.symbol,
    totalSupply: books.supply()[`${inst.admin}/${inst.config.id}`] ?? '0.0000000000',
    totalSupplyAsOf: microsToIso(ledger.clock.now()),
    decimals: inst.config.decimals,
    supportedApis: SUPPORTED_APIS,
  });

  register(app, ctx, {
    method: 'GET',
    url: `${base}/metadata/v1/instruments`,
    op: 'registry.instruments',
    public: true,
    handler: async ({ params, reply, query }) => {
      const insts = instrumentsOf(params['registry']);
      if (insts.length === 0) return registryError(reply, 404, `no registry ${params['registry'] ?? ''}`);
      const pageSize = Number(query['pageSize'] ?? 25);
      const start = Number(query['pageToken'] ?? 0);
      const page = insts.slice(start, start + pageSize);
      return {
        instruments: page.map(instrumentJson),
        ...(start + pageSize < insts.length ? { nextPageToken: String(start + pageSize) } : {}),
      };
    },
  });

  register(app, ctx, {
    method: 'GET',
    url: `${base}/metadata/v1/instruments/:instrumentId`,
    op: 'registry.instrument',
    public: true,
    handler: async ({ params, reply }) => {
      const inst = instrumentsOf(params['registry']).find((i) => i.config.id === params['instrumentId']);
      if (!inst) return registryError(reply, 404, `instrument ${params['instrumentId'] ?? ''} not found`);
      return instrumentJson(inst);
    },
  });
}

import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { GetChoiceContextRequest, GetFactoryRequest, InstrumentId, type RegistryDisclosedContract } from '../../../ledger/schema/index.js';
import { encodeBlob } from '../../engine/blob.js';
import { LedgerError } from '../../engine/errors.js';
import type { Instrument } from '../../engine/instruments.js';
import { factoryContext, instructionContext } from '../../engine/registry-context.js';
import { createArgument, instructionTransfer, templateOf } from '../../engine/templates.js';
import { idString, type Contract } from '../../engine/types.js';
import type { InstructionChoice } from '../../engine/workflows.js';
import { microsToIso } from '../../util/time.js';
import type { Books } from '../../control/books.js';
import { HANDLED, register, type WireContext } from '../http.js';
import { requireRegistryJwt } from '../registry-auth.js';
import type { ServerSettings } from '../settings.js';

/** The part of TransferFactory_Transfer's argument the registry reads to choose the factory. */
const FactoryChoiceArguments = z.object({
  expectedAdmin: z.string(),
  transfer: z.object({ sender: z.string(), receiver: z.string(), instrumentId: InstrumentId }),
});

const SUPPORTED_APIS = {
  'splice-api-token-metadata-v1': 1,
  'splice-api-token-holding-v1': 1,
  'splice-api-token-transfer-instruction-v1': 1,
};

function registryError(reply: FastifyReply, status: number, error: string): typeof HANDLED {
  reply.code(status).type('application/json').send({ error });
  return HANDLED;
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

  const disclosed = (c: Contract, excludeDebug: boolean): z.input<typeof RegistryDisclosedContract> => {
    const template = templateOf(c.payload);
    return {
      templateId: idString(template),
      contractId: c.contractId,
      createdEventBlob: encodeBlob(c),
      synchronizerId: ledger.synchronizerId,
      ...(excludeDebug ? {} : { debugPackageName: template.packageName, debugPayload: createArgument(c.payload), debugCreatedAt: c.createdAt }),
    };
  };
  const instrumentsOf = (registry: string | undefined): Instrument[] => engine.instrumentsOfRegistry(registry ?? '');

  register(app, ctx, {
    method: 'POST',
    url: `${base}/transfer-instruction/v1/transfer-factory`,
    op: 'registry.transferFactory',
    public: true,
    body: GetFactoryRequest,
    handler: async ({ body, params, reply }) => {
      const insts = instrumentsOf(params['registry']);
      if (insts.length === 0) return registryError(reply, 404, `no registry ${params['registry'] ?? ''}`);
      const args = FactoryChoiceArguments.safeParse(body.choiceArguments);
      if (!args.success) return registryError(reply, 400, `invalid choiceArguments: ${args.error.issues[0]?.message ?? ''}`);
      const { transfer, expectedAdmin } = args.data;
      const inst = insts.find((i) => i.admin === transfer.instrumentId.admin && i.config.id === transfer.instrumentId.id);
      if (!inst) return registryError(reply, 404, `instrument ${transfer.instrumentId.admin}/${transfer.instrumentId.id} is not managed by this registry`);
      if (expectedAdmin !== inst.admin) return registryError(reply, 400, `expectedAdmin ${expectedAdmin} is not the admin of this registry`);
      const plan = factoryContext(ledger, inst, transfer);
      return {
        factoryId: plan.factory.contractId,
        transferKind: plan.kind,
        choiceContext: {
          choiceContextData: { values: plan.contextValues },
          disclosedContracts: plan.disclosed.map((c) => disclosed(c, body.excludeDebugFields ?? false)),
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
      body: GetChoiceContextRequest,
      handler: async ({ body, params, reply }) => {
        const cid = params['transferInstructionId'] ?? '';
        const instruction = ledger.active(cid);
        const t = instruction ? instructionTransfer(instruction) : undefined;
        const inst = t ? instrumentsOf(params['registry']).find((i) => i.admin === t.instrumentId.admin && i.config.id === t.instrumentId.id) : undefined;
        if (!inst) return registryError(reply, 404, `transfer instruction ${cid} not found`);
        const label = (choice.charAt(0).toUpperCase() + choice.slice(1)) as InstructionChoice;
        try {
          const plan = instructionContext(ledger, inst, cid, label);
          return {
            choiceContextData: { values: plan.contextValues },
            disclosedContracts: plan.disclosed.map((c) => disclosed(c, body.excludeDebugFields ?? false)),
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
      return { instruments: page.map(instrumentJson), ...(start + pageSize < insts.length ? { nextPageToken: String(start + pageSize) } : {}) };
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

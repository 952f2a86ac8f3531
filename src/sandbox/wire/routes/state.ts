import type { FastifyInstance } from 'fastify';
import { GetActiveContractsRequest } from '../decode/index.js';
import { acsQuery } from '../formats.js';
import { register, type WireContext } from '../http.js';
import { authorizeEventFormat, collectArray, listOptions } from '../list.js';
import type { UpdateReader } from '../reader.js';
import type { ServerSettings } from '../settings.js';

export function stateRoutes(app: FastifyInstance, ctx: WireContext, reader: UpdateReader, settings: ServerSettings): void {
  register(app, ctx, {
    method: 'GET',
    url: '/v2/version',
    op: 'version',
    handler: async () => ({
      version: '3.4.12',
      features: {
        experimental: { staticTime: { supported: false }, commandInspectionService: { supported: true } },
        userManagement: { supported: true, maxRightsPerUser: 1000, maxUsersPageSize: 1000 },
        partyManagement: { maxPartiesPageSize: 10000 },
        offsetCheckpoint: {
          maxOffsetCheckpointEmissionDelay: {
            seconds: Math.floor(settings.checkpointIntervalMs / 1000),
            nanos: (settings.checkpointIntervalMs % 1000) * 1_000_000,
          },
        },
        packageFeature: { maxVettedPackagesPageSize: 100 },
      },
    }),
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/state/ledger-end',
    op: 'ledgerEnd',
    handler: async () => ({ offset: reader.timeline.ledgerEnd() }),
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/state/latest-pruned-offsets',
    op: 'latestPrunedOffsets',
    handler: async () => {
      const pruned = reader.timeline.prunedUpTo();
      return { participantPrunedUpToInclusive: pruned, allDivulgedContractsPrunedUpToInclusive: pruned };
    },
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/state/connected-synchronizers',
    op: 'connectedSynchronizers',
    handler: async () => ({
      connectedSynchronizers: [
        { synchronizerAlias: 'global', synchronizerId: reader.timeline.synchronizerId, permission: 'PARTICIPANT_PERMISSION_SUBMISSION' },
        ...(reader.timeline.otherSynchronizers?.() ?? []).map((o) => ({
          synchronizerAlias: o.alias,
          synchronizerId: o.id,
          permission: 'PARTICIPANT_PERMISSION_SUBMISSION',
        })),
      ],
    }),
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/state/active-contracts',
    op: 'activeContracts',
    body: GetActiveContractsRequest,
    handler: async ({ claims, body, query, signal }) => {
      const list = listOptions(query, settings, false, signal);
      const q = acsQuery(body);
      authorizeEventFormat(claims, q.eventFormat);
      // JsStateService: never open-ended (the idle timeout applies only when asked for).
      return collectArray(reader.activeContracts(q), list);
    },
  });
}

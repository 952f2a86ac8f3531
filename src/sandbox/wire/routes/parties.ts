import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { PartyDetails } from '../../../ledger/schema/index.js';
import {
  AllocateExternalPartyRequest,
  AllocatePartyRequest,
  GenerateExternalPartyTopologyRequest,
  type Signature,
} from '../decode/index.js';
import { LedgerError, permissionDenied } from '../../engine/errors.js';
import type { PartyRecord } from '../../engine/ledger.js';
import { intParam, register, type WireContext } from '../http.js';

function details(p: PartyRecord): z.input<typeof PartyDetails> {
  return {
    party: p.party,
    isLocal: p.isLocal,
    localMetadata: { resourceVersion: String(p.resourceVersion), annotations: { ...p.annotations } },
    identityProviderId: '',
  };
}

function decodeB64(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/=_-]*$/.test(s))
    throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: ${what} is not base64`);
  return Buffer.from(s, 'base64');
}

function signatureInput(s: Signature) {
  return { signature: decodeB64(s.signature, 'signature'), signedBy: s.signedBy, format: s.format, algorithm: s.signingAlgorithmSpec };
}

export function partyRoutes(app: FastifyInstance, ctx: WireContext): void {
  const { engine } = ctx;
  const ledger = engine.ledger;

  register(app, ctx, {
    method: 'GET',
    url: '/v2/parties',
    op: 'listParties',
    handler: async ({ claims, query }) => {
      claims.requireAdmin();
      const all = [...ledger.parties.values()].sort((a, b) => a.party.localeCompare(b.party));
      const filter = query['filter-party'];
      const selected = filter ? all.filter((p) => p.party.includes(filter)) : all;
      const pageSize = intParam(query['pageSize'], 'pageSize') ?? 10000;
      const start = intParam(query['pageToken'], 'pageToken') ?? 0;
      const page = selected.slice(start, start + pageSize);
      const next = start + pageSize < selected.length ? String(start + pageSize) : '';
      return { partyDetails: page.map(details), nextPageToken: next };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/parties',
    op: 'allocateParty',
    body: AllocatePartyRequest,
    handler: async ({ claims, body }) => {
      claims.requireAdmin();
      if (body.synchronizerId !== undefined && body.synchronizerId !== '' && body.synchronizerId !== ledger.synchronizerId) {
        throw LedgerError.of(
          'INVALID_ARGUMENT',
          `The submitted request has invalid arguments: unknown synchronizer ${body.synchronizerId}`,
        );
      }
      const rec = engine.allocateInternal(body.partyIdHint === '' ? undefined : body.partyIdHint);
      Object.assign(rec.annotations, body.localMetadata?.annotations ?? {});
      if (body.userId) engine.grantRights(body.userId, [{ kind: 'CanActAs', party: rec.party }]);
      return { partyDetails: details(rec) };
    },
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/parties/participant-id',
    op: 'participantId',
    handler: async () => ({ participantId: ledger.participantId }),
  });

  register(app, ctx, {
    method: 'GET',
    url: '/v2/parties/:party',
    op: 'getParty',
    handler: async ({ claims, params, query }) => {
      const wanted = [params['party'] ?? '', ...(query['parties'] ? query['parties'].split(',') : [])].filter((p) => p !== '');
      if (!claims.isAdmin && !wanted.every((p) => claims.canReadAs(p))) throw permissionDenied('not allowed to read these parties');
      return { partyDetails: wanted.flatMap((p) => (ledger.parties.has(p) ? [details(ledger.parties.get(p) as PartyRecord)] : [])) };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/parties/external/generate-topology',
    op: 'generateTopology',
    body: GenerateExternalPartyTopologyRequest,
    handler: async ({ claims, body }) => {
      claims.requireAdmin();
      if (body.synchronizer !== ledger.synchronizerId) {
        throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: unknown synchronizer ${body.synchronizer}`);
      }
      // ApiPartyManagementService.scala: ProtoConverter.required("public_key", …).
      const key = body.publicKey;
      if (key === undefined)
        throw LedgerError.of('INVALID_ARGUMENT', 'The submitted request has invalid arguments: MissingField(public_key)');
      const proposal = engine.generateTopology(body.partyHint, decodeB64(key.keyData, 'keyData'), key.format, key.keySpec);
      return {
        partyId: proposal.partyId,
        publicKeyFingerprint: proposal.fingerprint,
        topologyTransactions: proposal.transactions.map((t) => t.toString('base64')),
        multiHash: proposal.multiHash.toString('base64'),
      };
    },
  });

  register(app, ctx, {
    method: 'POST',
    url: '/v2/parties/external/allocate',
    op: 'allocateExternalParty',
    body: AllocateExternalPartyRequest,
    handler: async ({ claims, body }) => {
      claims.requireAdmin();
      if (body.synchronizer !== ledger.synchronizerId) {
        throw LedgerError.of('INVALID_ARGUMENT', `The submitted request has invalid arguments: unknown synchronizer ${body.synchronizer}`);
      }
      const rec = engine.allocateExternal(
        body.onboardingTransactions.map((t) => ({
          transaction: decodeB64(t.transaction, 'transaction'),
          signatures: (t.signatures ?? []).map(signatureInput),
        })),
        (body.multiHashSignatures ?? []).map(signatureInput),
      );
      return { partyId: rec.party };
    },
  });
}

import { LedgerApiError, type LedgerHttp } from './http.js';
import {
  AllocateExternalPartyRequest,
  AllocateExternalPartyResponse,
  CreateUserRequest,
  CreateUserResponse,
  GenerateExternalPartyTopologyRequest,
  GenerateExternalPartyTopologyResponse,
  GetConnectedSynchronizersResponse,
  GetPartiesResponse,
  GetParticipantIdResponse,
  GetUserResponse,
  GrantUserRightsRequest,
  GrantUserRightsResponse,
  ListUserRightsResponse,
  type ConnectedSynchronizer,
  type PartyDetails,
  type Right,
  type User,
} from './schema/index.js';
import type { z } from 'zod';

/**
 * Party and user management on the JSON Ledger API (what setting up a treasury needs: external
 * party allocation, the daemon's user and its rights). Request bodies are checked against the
 * client's wire schemas before they leave; answers are decoded. Most calls need a token with
 * ParticipantAdmin; reading one's own user and rights does not (Canton's
 * UserManagementServiceAuthorization lets a user read itself).
 */
export class LedgerAdminClient {
  constructor(readonly http: LedgerHttp) {}

  /** GET /v2/parties/{party}: the party's details, undefined when this participant does not know it. */
  async party(party: string): Promise<PartyDetails | undefined> {
    const r = await this.http.request({ method: 'GET', path: `/v2/parties/${encodeURIComponent(party)}`, schema: GetPartiesResponse });
    return r.partyDetails.find((p) => p.party === party);
  }

  async participantId(): Promise<string> {
    return (await this.http.request({ method: 'GET', path: '/v2/parties/participant-id', schema: GetParticipantIdResponse })).participantId;
  }

  /** GET /v2/state/connected-synchronizers (no party: every synchronizer this node is connected to). */
  async connectedSynchronizers(): Promise<ConnectedSynchronizer[]> {
    return (
      (await this.http.request({ method: 'GET', path: '/v2/state/connected-synchronizers', schema: GetConnectedSynchronizersResponse }))
        .connectedSynchronizers ?? []
    );
  }

  /** POST /v2/parties/external/generate-topology: the topology transactions and the multi-hash to sign. */
  generateTopology(request: z.input<typeof GenerateExternalPartyTopologyRequest>): Promise<GenerateExternalPartyTopologyResponse> {
    return this.http.request({
      method: 'POST',
      path: '/v2/parties/external/generate-topology',
      body: GenerateExternalPartyTopologyRequest.parse(request),
      schema: GenerateExternalPartyTopologyResponse,
    });
  }

  /** POST /v2/parties/external/allocate: the transactions unchanged, with the multi-hash signature. */
  async allocateExternalParty(request: z.input<typeof AllocateExternalPartyRequest>): Promise<string> {
    return (
      await this.http.request({
        method: 'POST',
        path: '/v2/parties/external/allocate',
        body: AllocateExternalPartyRequest.parse(request),
        schema: AllocateExternalPartyResponse,
      })
    ).partyId;
  }

  /** GET /v2/users/{id}, undefined for USER_NOT_FOUND. */
  async user(userId: string): Promise<User | undefined> {
    try {
      return (await this.http.request({ method: 'GET', path: `/v2/users/${encodeURIComponent(userId)}`, schema: GetUserResponse })).user;
    } catch (e) {
      if (e instanceof LedgerApiError && e.code === 'USER_NOT_FOUND') return undefined;
      throw e;
    }
  }

  async createUser(request: z.input<typeof CreateUserRequest>): Promise<User> {
    return (
      await this.http.request({ method: 'POST', path: '/v2/users', body: CreateUserRequest.parse(request), schema: CreateUserResponse })
    ).user;
  }

  async rights(userId: string): Promise<Right[]> {
    return (
      (await this.http.request({ method: 'GET', path: `/v2/users/${encodeURIComponent(userId)}/rights`, schema: ListUserRightsResponse }))
        .rights ?? []
    );
  }

  /** POST /v2/users/{id}/rights: the rights the user did not have yet. */
  async grantRights(userId: string, rights: z.input<typeof GrantUserRightsRequest>['rights']): Promise<Right[]> {
    const body = GrantUserRightsRequest.parse({ userId, rights, identityProviderId: '' });
    return (
      (
        await this.http.request({
          method: 'POST',
          path: `/v2/users/${encodeURIComponent(userId)}/rights`,
          body,
          schema: GrantUserRightsResponse,
        })
      ).newlyGrantedRights ?? []
    );
  }
}
